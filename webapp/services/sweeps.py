"""The sweeps that keep the send pipeline whole, run by one worker at a time.

No message is lost: rows are written before their job, and the sweep re-enqueues queued rows
whose job vanished. None is sent twice: a message found in `sending` after its worker died is
sent again only where the broker's record says its request never started, or its provider says
it never got it; otherwise it becomes unknown.
"""
import logging
from dataclasses import dataclass, field
from datetime import timedelta, timezone

from flask import current_app
from sqlalchemy import delete, select, update

from .. import broker, statuses, tasks
from ..extensions import db
from ..models import EarlyStatusEvent, Message, Phone, utcnow
from ..providers import provider_class
from ..providers.base import NOT_SENT, ProviderError, SendResult
from ..reasons import N_, Reason
from . import reports, status_store, webhooks
from .phones import adapter_for
from .sending import first_status_poll_at, outbound_sms, owners_of, unusable_id_error
from .status_store import Claim, Line

log = logging.getLogger(__name__)

INTERRUPTED_REASON = Reason("interrupted, may have been sent")
INTERRUPTED_BEFORE_SENDING = Reason("interrupted before its request left; queued again")
FOUND_AT_PROVIDER = N_("interrupted while sending; %(provider)s says it received it")
NOT_AT_PROVIDER = N_("interrupted while sending; %(provider)s never received it, so it is queued again")
FIND_SENT_LEASE_SECONDS = 120
FIND_SENT_JOB_SIZE = 10


REQUEUE_CURSOR_KEY = "smsdesk:requeue-cursor"


def requeue_lost_messages(page_size: int = 5000, most_per_sweep: int = 50_000) -> int:
    """Queued messages whose job no worker will run (broker restarted or wiped, a worker killed
    as it took the job), two sweeps in a row, get a new one. Messages a live worker holds waiting
    for its senders are not lost. A sweep looks at most at `most_per_sweep` of them, in id order,
    and the next one goes on from there."""
    candidates = candidates_from_cursor(page_size, most_per_sweep)
    held = broker.held_by_live_workers([message_id for message_id, _ in candidates])
    candidates = [(message_id, job_id) for message_id, job_id in candidates if message_id not in held]
    job_ids = {job_id for _, job_id in candidates if job_id}
    gone = broker.lost_twice(job_ids, broker.jobs_not_pending(job_ids) if job_ids else set())
    lost = [message_id for message_id, job_id in candidates if job_id is None or job_id in gone]
    enqueue_again(lost)
    if lost:
        log.info("re-enqueued %d messages whose job was lost", len(lost))
    return len(lost)


def candidates_from_cursor(page_size: int, most: int) -> list[tuple[int, str | None]]:
    """Queued messages enqueued long enough ago, (id, job id), in pages (keyset by id): those
    after where the last sweep stopped, then those before, until `most`."""
    connection = broker.redis_connection()
    cursor = int(connection.get(REQUEUE_CURSOR_KEY) or 0)
    candidates = []
    for after, until in ((cursor, None), (0, cursor)):
        while len(candidates) < most:
            limit = min(page_size, most - len(candidates))
            page = queued_page(after, until, limit)
            candidates += page
            if len(page) < limit:
                break
            after = page[-1][0]
    if len(candidates) >= most:
        connection.set(REQUEUE_CURSOR_KEY, candidates[-1][0])
    return candidates


def queued_page(after: int, until: int | None, limit: int) -> list[tuple[int, str | None]]:
    due_before = utcnow() - timedelta(seconds=current_app.config["REQUEUE_AFTER_SECONDS"])
    query = select(Message.id, Message.send_job_id).where(
        Message.status == statuses.QUEUED, Message.enqueued_at < due_before, Message.id > after)
    if until is not None:
        query = query.where(Message.id <= until)
    return db.session.execute(query.order_by(Message.id).limit(limit)).all()


def enqueue_again(message_ids: list[int]) -> None:
    """Queued messages get new jobs. Commits, then enqueues."""
    jobs = {}
    for start in range(0, len(message_ids), tasks.SEND_JOB_SIZE):
        job_id = tasks.new_send_job_id()
        jobs[job_id] = message_ids[start:start + tasks.SEND_JOB_SIZE]
        db.session.execute(update(Message).where(Message.id.in_(jobs[job_id]), Message.status == statuses.QUEUED)
                           .values(send_job_id=job_id, enqueued_at=utcnow())
                           .execution_options(synchronize_session=False))
    db.session.commit()
    if jobs:
        tasks.enqueue_sends(jobs)


TIME_CAME = Reason("Its time came: queued to be sent.")
HELD_LATE = Reason("Held: its time passed while SMS Desk was stopped. Send it now or cancel it.")


def queue_due_scheduled(most_per_sweep: int = 50_000) -> int:
    """Messages SMS Desk holds for later whose time came are queued, each once (a compare-and-set
    from scheduled), committed, then enqueued: a broker wiped or a worker killed after the commit
    leaves them queued, for requeue_lost_messages. Those found more than SCHEDULED_HOLD_AFTER_SECONDS
    late (SMS Desk was stopped at their time) are held for the user instead. Returns how many were
    queued."""
    now = utcnow()
    late = now - timedelta(seconds=current_app.config["SCHEDULED_HOLD_AFTER_SECONDS"])
    messages = Message.__table__
    due = db.session.execute(select(messages.c.id, messages.c.scheduled_at).where(
        status_store.held_here(messages), messages.c.scheduled_at <= now, messages.c.held_late_at.is_(None))
        .order_by(messages.c.scheduled_at, messages.c.id).limit(most_per_sweep)).all()
    too_late = [message_id for message_id, scheduled_at in due if scheduled_at < late]
    if too_late:
        status_store.hold_late(too_late, Line(HELD_LATE))
        log.warning("held %d scheduled messages found more than %s late", len(too_late), now - late)
    on_time = [message_id for message_id, scheduled_at in due if scheduled_at >= late]
    jobs = {}
    for start in range(0, len(on_time), tasks.SEND_JOB_SIZE):
        job_id = tasks.new_send_job_id()
        queued = status_store.queue_scheduled(on_time[start:start + tasks.SEND_JOB_SIZE], job_id, Line(TIME_CAME),
                                              messages.c.scheduled_at <= now, messages.c.held_late_at.is_(None))
        if queued:
            jobs[job_id] = queued
    db.session.commit()
    if jobs:
        tasks.enqueue_sends(jobs)
        log.info("queued %d scheduled messages whose time came", sum(map(len, jobs.values())))
    return sum(map(len, jobs.values()))


def forget_unmatched_early_events(max_age: timedelta = timedelta(days=2)) -> int:
    """Reports for provider ids that never turned up (a provider's test call, say) are not kept for ever."""
    result = db.session.execute(delete(EarlyStatusEvent).where(EarlyStatusEvent.received_at < utcnow() - max_age)
                                .execution_options(synchronize_session=False))
    db.session.commit()
    return result.rowcount


def mark_interrupted_sends() -> int:
    """A message left in `sending` by a worker that died, or for longer than any send can take.
    Where the broker's record says its request never started, it is queued again; where it may
    have left, the provider is asked when it can be (in a job), and otherwise it becomes unknown.
    Each is judged for the claim it was found in: one taken back and claimed again meanwhile is
    not moved. Returns how many were judged here."""
    stuck = db.session.scalars(select(Message).where(
        Message.status == statuses.SENDING,
        Message.status_changed_at < utcnow() - timedelta(seconds=broker.heartbeat_ttl() * 2))).all()
    if not stuck:
        return 0
    claims = {message.id: Claim.of(message) for message in stuck}  # before any commit reloads them
    live_workers = broker.live_worker_names()
    by_dead_worker, judged = {}, Judgement()
    for message in stuck:
        if message.claimed_by not in live_workers:
            by_dead_worker.setdefault(message.claimed_by, []).append(message)
        elif message.status_changed_at < utcnow() - longest_send():
            judged.unknown.append(message)
    for worker_name, messages in by_dead_worker.items():
        judged.add(judge_dead_workers_sends(worker_name or "", messages))
    count = sum(mark_interrupted(message, claims[message.id]) for message in judged.unknown)
    count += queue_again(judged.unsent, claims, INTERRUPTED_BEFORE_SENDING)
    ask_provider(judged.to_ask, claims)
    return count


@dataclass
class Judgement:
    """What becomes of messages found in `sending`; those in none wait for a later sweep."""
    unsent: list = field(default_factory=list)  # taken back before their request started: queued again
    to_ask: list = field(default_factory=list)  # their provider can tell whether it got them
    unknown: list = field(default_factory=list)

    def add(self, other: "Judgement") -> None:
        self.unsent += other.unsent
        self.to_ask += other.to_ask
        self.unknown += other.unknown


def judge_dead_workers_sends(worker_name: str, messages: list[Message]) -> Judgement:
    """A message whose request had not started is taken back. The others are judged only once no
    answer to their request can still be on its way (a worker whose heartbeat merely lapsed, or
    whose start was noted as the sweep looked): asked before that, a provider could say it never
    got a message whose request is still arriving, which would then be sent twice."""
    started = broker.send_starts(worker_name, {message.id: message.status_changed_at for message in messages})
    taken_back = broker.revoke_send_starts(worker_name, [message.id for message in messages
                                                         if started[message.id] is False])
    answered_by_now = utcnow() - longest_request()
    judged = Judgement()
    for message in messages:
        if message.id in taken_back:
            judged.unsent.append(message)
        elif message.status_changed_at >= answered_by_now:
            continue  # its request may still be under way
        elif message.phone.deleted_at is None and provider_class(message.phone.provider_key).finds_sends:
            judged.to_ask.append(message)
        else:
            judged.unknown.append(message)
    return judged


def longest_request() -> timedelta:
    """The longest a provider request can take from its claim (its overall deadline, see
    providers/http.py), with the slack allowed a worker's heartbeat for the moments between the
    claim and the request."""
    config = current_app.config
    return timedelta(seconds=config["PROVIDER_CONNECT_TIMEOUT"] + config["PROVIDER_READ_TIMEOUT"]
                     + 2 * broker.heartbeat_ttl())


def longest_send() -> timedelta:
    """Longer than any send by a live worker can keep a message in `sending`."""
    config = current_app.config
    return timedelta(seconds=2 * (config["PROVIDER_CONNECT_TIMEOUT"] + config["PROVIDER_READ_TIMEOUT"]) + 30)


def mark_interrupted(message: Message, claim: Claim, reason: Reason = INTERRUPTED_REASON) -> bool:
    moved = status_store.move(message, statuses.UNKNOWN, by=statuses.PIPELINE, expected=statuses.SENDING,
                              claim=claim, line=Line(reason), error_reason=reason)
    db.session.commit()
    return moved


def queue_again(messages: list[Message], claims: dict[int, Claim], reason: Reason) -> int:
    """Messages whose interrupted request never reached the provider go back to the queue, if
    still held by the claim judged."""
    queued = [message.id for message in messages
              if status_store.move(message, statuses.QUEUED, by=statuses.PIPELINE, expected=statuses.SENDING,
                                   claim=claims[message.id], line=Line(reason), claimed_by=None)]
    enqueue_again(queued)  # commits
    return len(queued)


def ask_provider(messages: list[Message], claims: dict[int, Claim]) -> None:
    """Jobs of a few messages ask each phone's provider (most answer about one message per
    question, so several workers share the questions). Each message is leased, so that later
    sweeps leave it to its job until the lease runs out (the job's worker died too)."""
    leased = broker.lease([f"smsdesk:finding-sent:{message.id}" for message in messages], FIND_SENT_LEASE_SECONDS)
    by_phone = {}
    for message, mine in zip(messages, leased):
        if mine:
            claim = claims[message.id]
            by_phone.setdefault(message.phone_id, []).append([message.id, claim.worker, claim.attempt])
    for phone_id, sends in by_phone.items():
        for start in range(0, len(sends), FIND_SENT_JOB_SIZE):
            tasks.find_interrupted_sends(phone_id, sends[start:start + FIND_SENT_JOB_SIZE])


def find_interrupted_sends(phone: Phone, sends: list) -> None:
    """Run in a job: the phone's provider tells, for each interrupted send, whether it got it.
    sends: [message id, claimed by, attempt] of each, as the sweep judged them."""
    claims = {message_id: Claim(worker, attempt) for message_id, worker, attempt in sends}
    adapter = adapter_for(phone)
    messages = db.session.scalars(select(Message).where(
        Message.id.in_(claims), Message.phone_id == phone.id, Message.status == statuses.SENDING)).all()
    unsent = []
    for message in messages:
        claim = claims[message.id]
        if Claim.of(message) != claim:
            continue  # taken back and claimed again since: the new attempt is its worker's
        began = message.status_changed_at.replace(tzinfo=timezone.utc)
        try:
            found = adapter.find_sent(outbound_sms(message, phone), began)
        except ProviderError as error:
            log.warning("could not ask whether message %s was sent: %s", message.id, error.reason)
            found = None
        if found == NOT_SENT:
            unsent.append(message)
        elif isinstance(found, SendResult):
            record_found(adapter, message, claim, found)
        else:
            mark_interrupted(message, claim)
    queue_again(unsent, claims, Reason(NOT_AT_PROVIDER, provider=adapter.company))


def record_found(adapter, message: Message, claim: Claim, found: SendResult) -> None:
    """The provider has the message: it is sent, if the answer names it by an id of its own."""
    phone_id = message.phone_id
    owners = owners_of(phone_id, [found.provider_message_id]) if found.provider_message_id else {}
    unusable = unusable_id_error(adapter.company, phone_id, message.id, found, owners)
    if unusable is not None:
        mark_interrupted(message, claim, unusable.reason)
        return
    line = Line(Reason(FOUND_AT_PROVIDER, provider=adapter.company), found.provider_status, payload=found.payload)
    status_store.move(message, found.status, by=statuses.PROVIDER, expected=statuses.SENDING, claim=claim,
                      line=line, provider_message_id=found.provider_message_id,
                      next_status_poll_at=first_status_poll_at(adapter, message.scheduled_at, utcnow()))
    db.session.commit()
    reports.apply_early_status_events(message)


def pick_up_webhook_deliveries() -> int:
    """Outbox events not yet fanned out (the workers' dispatch loop does it every half second),
    and endpoints whose next delivery is due with no job to deliver it: the broker wiped or
    restarted, a worker killed during a delivery, a retry's time come."""
    webhooks.dispatch()
    return webhooks.enqueue_due()
