"""A message's timeline as the message page shows it: a provider that stays busy gives one line
for its repeated attempts ("attempts 1 to 4 failed: …"), not two lines per attempt."""
from dataclasses import dataclass

from .. import statuses
from ..models import MessageEvent
from ..reasons import ATTEMPT, ATTEMPT_FAILED, Reason, loaded


@dataclass
class RepeatedAttempts:
    """Attempts that each failed for the same reason and were each tried again."""
    first: MessageEvent
    last: MessageEvent
    first_attempt: int
    last_attempt: int
    reason: object  # the failure's own reason

    @property
    def summary(self) -> Reason:
        return Reason("Attempts %(first)d to %(last)d failed: %(reason)s", first=self.first_attempt,
                      last=self.last_attempt, reason=self.reason)


def failed_attempt(event) -> Reason | None:
    reason = loaded(event.reason) if isinstance(event, MessageEvent) else None
    return reason if isinstance(reason, Reason) and reason.msgid == ATTEMPT_FAILED else None


def is_new_attempt(event) -> bool:
    if not isinstance(event, MessageEvent) or event.status != statuses.SENDING:
        return False
    reason = loaded(event.reason)
    return isinstance(reason, Reason) and reason.msgid == ATTEMPT


NOT_A_FAILURE = object()


def failure_of(entry):
    """The reason an attempt failed, for a failed attempt or a run of them."""
    if isinstance(entry, RepeatedAttempts):
        return entry.reason
    failed = failed_attempt(entry)
    return failed.params.get("reason") if failed else NOT_A_FAILURE


def extended(run, event: MessageEvent, failed: Reason) -> RepeatedAttempts:
    if isinstance(run, RepeatedAttempts):
        run.last, run.last_attempt = event, failed.params["number"]
        return run
    return RepeatedAttempts(run, event, failed_attempt(run).params["number"], failed.params["number"],
                            failed.params.get("reason"))


def timeline_entries(events: list[MessageEvent]) -> list:
    """The events, with each run of attempts that failed alike folded into one RepeatedAttempts."""
    entries = []
    for event in events:
        failed = failed_attempt(event)
        run = entries[-2] if len(entries) >= 2 and is_new_attempt(entries[-1]) else None
        if failed and run is not None and failure_of(run) == failed.params.get("reason"):
            entries.pop()  # the "Attempt n" line folds into the run
            entries[-1] = extended(run, event, failed)
            continue
        entries.append(event)
    return entries
