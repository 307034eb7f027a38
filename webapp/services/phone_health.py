"""A phone's health: how its last sends went, its last error, and its credits where its provider
tells them (the connection test's facts). A pool skips an unhealthy phone; the phone list and the
dashboard say which phones are unhealthy and why.

Unhealthy: at least UNHEALTHY_FAILURES of its last RECENT_SENDS attempts failed for a reason of the
provider's own (unreachable, busy, no answer, its account refused) within RECENT. A refusal that is
the recipient's (an invalid number, an opt-out) is a send that went well, as far as the phone goes.
"""
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update

from ..extensions import db
from ..models import Phone, utcnow
from ..providers.base import ProviderError
from .status_store import stored_reason

RECENT_SENDS = 10
UNHEALTHY_FAILURES = 5
RECENT = timedelta(hours=1)


@dataclass(frozen=True)
class Health:
    sends: int  # attempts within RECENT, of the last RECENT_SENDS
    failures: int  # those that failed for the provider's own reason

    @property
    def healthy(self) -> bool:
        return self.failures < UNHEALTHY_FAILURES

    @property
    def failure_rate(self) -> float | None:
        return self.failures / self.sends if self.sends else None


def health_of(phone: Phone, now: datetime | None = None) -> Health:
    since = (now or utcnow()) - RECENT
    recent = [failed for at, failed in (phone.recent_sends or [])[:RECENT_SENDS]
              if datetime.fromisoformat(at) >= since]
    return Health(len(recent), sum(1 for failed in recent if failed))


def is_healthy(phone: Phone) -> bool:
    return health_of(phone).healthy


def is_providers_own(result) -> bool:
    """Whether a send's result is a failure of the phone's provider: unreachable, busy, no answer,
    or a refusal for its account's own reason. The recipient's refusals are not."""
    return isinstance(result, ProviderError) and (result.transient or result.maybe_sent or result.phones_own)


def record_sends(outcomes: dict[int, list]) -> None:
    """{phone id: [SendResult or ProviderError, oldest first]} of a round of sends: each phone's
    window moves on, and its last error is kept. Two workers recording the same phone at the same
    moment may lose one's round: a health is a trend, not a count. Commits."""
    now = utcnow()
    for phone_id, results in outcomes.items():
        row = db.session.execute(select(Phone.recent_sends).where(Phone.id == phone_id)).first()
        if row is None or not results:
            continue
        new = [[now.isoformat(), is_providers_own(result)] for result in reversed(results)]
        changes = dict(recent_sends=(new + list(row.recent_sends or []))[:RECENT_SENDS])
        failures = [result for result in results if is_providers_own(result)]
        if failures:
            changes.update(last_error=stored_reason(failures[-1].reason), last_error_at=now)
        db.session.execute(update(Phone).where(Phone.id == phone_id).values(**changes)
                           .execution_options(synchronize_session=False))
    db.session.commit()


CREDIT_LABELS = ("Credits", "Balance")  # the connection test's facts that say what is left to spend


@dataclass(frozen=True)
class PhoneHealth:
    """What the phone list and the dashboard say of a phone's health."""
    phone: Phone
    recent: Health
    last_error: str | None  # a stored Reason
    last_error_at: datetime | None
    credits: str | None  # as the provider told it at the last connection test, None where unknown

    @property
    def healthy(self) -> bool:
        return self.recent.healthy


def credits_of(phone: Phone) -> str | None:
    from ..reasons import Reason, loaded
    for label, value in (phone.last_check_facts or {}).items():
        reason = loaded(label)
        if isinstance(reason, Reason) and reason.msgid in CREDIT_LABELS:
            return value
    return None


def phone_health(phone: Phone, now: datetime | None = None) -> PhoneHealth:
    return PhoneHealth(phone, health_of(phone, now), phone.last_error, phone.last_error_at, credits_of(phone))


def unhealthy_phones(phones: list[Phone]) -> list[PhoneHealth]:
    now = utcnow()
    return [health for health in (phone_health(phone, now) for phone in phones) if not health.healthy]
