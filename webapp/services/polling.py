"""Asking providers, run by the worker: statuses of sent messages and incoming SMS, for providers
that report only when asked, and cancels of messages a provider holds for a later date."""
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select, update

from .. import broker, statuses, tasks
from ..extensions import db
from ..models import Message, Phone, utcnow
from ..providers import PROVIDERS
from ..providers.base import ProviderError
from ..reasons import Reason as _
from ..reasons import plural
from ..reasons import stored as stored_reason
from . import reports, status_store
from .messages import record_inbound
from .phones import adapter_for, asking_modes
from .status_store import Line

log = logging.getLogger(__name__)

POLL_BATCH_SIZE = 100
POLL_LEASE = timedelta(minutes=2)
CLOCK_MARGIN = timedelta(minutes=10)  # the provider dates what it received by its own clock
FIRST_INBOUND_LOOK_BACK = timedelta(days=1)
LONGEST_POLL_WAIT = 2.0  # seconds a poll waits for a slot of the phone's rate limit; longer: asked later
INBOUND_POLL_JOB_SIZE = 50  # phones asked in one job: a job's bookkeeping in the broker costs more than an ask


def enqueue_due_status_polls(limit: int = 2000) -> int:
    """Messages whose provider we ask for their status, grouped in one job per phone and batch."""
    due = db.session.execute(select(Message.id, Message.phone_id).join(Phone).where(
        Phone.deleted_at.is_(None), Message.next_status_poll_at <= utcnow(),
        Message.status.in_(statuses.POLLED_STATUSES))
        .order_by(Message.next_status_poll_at).limit(limit)).all()
    if not due:
        return 0
    # leased: not picked again before the job has had time to run
    db.session.execute(update(Message).where(Message.id.in_([row.id for row in due]))
                       .values(next_status_poll_at=utcnow() + POLL_LEASE).execution_options(synchronize_session=False))
    db.session.commit()
    by_phone = {}
    for row in due:
        by_phone.setdefault(row.phone_id, []).append(row.id)
    for phone_id, message_ids in by_phone.items():
        for start in range(0, len(message_ids), POLL_BATCH_SIZE):
            tasks.poll_statuses(phone_id, message_ids[start:start + POLL_BATCH_SIZE])
    return len(due)


def poll_statuses(phone: Phone, message_ids: list[int]) -> None:
    adapter = adapter_for(phone)
    messages = db.session.scalars(select(Message).where(
        Message.id.in_(message_ids), Message.phone_id == phone.id, Message.provider_message_id.isnot(None))).all()
    if not messages:
        return
    asked_at, error, events = utcnow(), None, []
    before = {message.id: message.status for message in messages}
    # one request per message where the phone's rate limit counts them, else all in one call
    groups = [[message] for message in messages] if phone.rate_limit_per_second else [messages]
    asked = []
    try:
        for group in groups:
            if not got_request_slot(phone):
                break  # the others are asked again once their lease is over
            asked += group
            events += adapter.fetch_statuses([message.provider_message_id for message in group])
    except ProviderError as failure:
        log.warning("could not poll statuses of phone %s: %s", phone.id, failure.reason)
        error = failure.reason
    for event in events:
        reports.record_status_event(phone.id, event)
    for message in asked:
        db.session.refresh(message)
        schedule_next_status_poll(adapter, message)
    changed = sum(1 for message in asked if message.status != before[message.id])
    note_poll(phone, "statuses", asked_at, found=changed, error=error)


def schedule_next_status_poll(adapter, message: Message) -> None:
    polls_done = message.status_poll_count + 1
    delay = None if message.is_final else adapter.status_poll_delay(polls_done)
    counted_from = max(message.created_at, message.scheduled_at or message.created_at)
    next_at = counted_from + timedelta(seconds=delay) if delay is not None else None
    if next_at is not None and next_at < utcnow():
        next_at = utcnow() + timedelta(seconds=1)
    db.session.execute(update(Message).where(Message.id == message.id).values(
        status_poll_count=polls_done, next_status_poll_at=next_at).execution_options(synchronize_session=False))
    if delay is None and not message.is_final and adapter.unknown_when_polls_run_out:
        reason = plural("no delivery report after %(num)d check", "no delivery report after %(num)d checks",
                        polls_done)
        status_store.move(message, statuses.UNKNOWN, by=statuses.PIPELINE, line=Line(reason), error_reason=reason)
    db.session.commit()


def enqueue_inbound_polls(interval_seconds: float) -> int:
    """Phones whose provider is asked for incoming SMS, each at most once per interval: one query,
    which finds nothing for phones that are told (so they cost nothing), and one job per
    INBOUND_POLL_JOB_SIZE phones."""
    keys = [key for key, provider in PROVIDERS.items() if provider.polls_inbound]
    by_settings = [key for key in keys if PROVIDERS[key].inbound_polling_by_settings]
    asking = [key for key in keys if PROVIDERS[key].calls_from_internet]
    now = utcnow()
    due = db.session.scalars(select(Phone.id).where(
        Phone.deleted_at.is_(None), Phone.provider_key.in_(keys),
        or_(Phone.provider_key.in_(by_settings),
            and_(Phone.provider_key.in_(asking), Phone.polling_mode.in_(asking_modes()))),
        or_(Phone.next_inbound_poll_at.is_(None), Phone.next_inbound_poll_at <= now))
        .order_by(Phone.id)).all()
    if not due:
        return 0
    db.session.execute(update(Phone).where(Phone.id.in_(due)).values(
        next_inbound_poll_at=now + timedelta(seconds=interval_seconds)).execution_options(synchronize_session=False))
    db.session.commit()
    for start in range(0, len(due), INBOUND_POLL_JOB_SIZE):
        tasks.poll_inbound(due[start:start + INBOUND_POLL_JOB_SIZE])
    return len(due)


def lists_inbound(adapter) -> bool:
    return adapter.polls_inbound and (adapter.wants_inbound_polling() or (adapter.asks and adapter.lists_inbound_for(adapter.settings)))


@dataclass
class PollNote:
    """What one ask found, for the phone's page (see note_polls)."""
    phone_id: int
    kind: str  # "inbound" or "statuses"
    asked_at: datetime
    found: int = 0
    error: object = None  # the reason the ask failed


def poll_inbound_of_phones(phone_ids: list[int]) -> None:
    """One job's phones, asked in turn; what the asks found is written in one statement. A phone
    whose ask breaks (its secrets unreadable, say) does not keep the others from being asked."""
    phones = db.session.scalars(select(Phone).where(Phone.id.in_(phone_ids), Phone.deleted_at.is_(None))
                                .order_by(Phone.id)).all()
    notes = []
    for phone_id, phone in [(phone.id, phone) for phone in phones]:
        try:
            notes.append(ask_for_inbound(phone))
        except Exception:
            log.exception("could not ask phone %s for its incoming SMS", phone_id)
            db.session.rollback()
    note_polls([note for note in notes if note is not None])


def poll_inbound(phone: Phone) -> int:
    """One phone's incoming SMS: the number of new ones."""
    note = ask_for_inbound(phone)
    if note is None:
        return 0
    note_polls([note])
    return note.found


def ask_for_inbound(phone: Phone) -> PollNote | None:
    """Each incoming SMS is stored before the provider is told to forget it (where it is), so a
    crash in between loses nothing; one listed again is recognised by its provider id. None when
    the phone was not asked."""
    adapter = adapter_for(phone)
    if not lists_inbound(adapter):
        return None
    if not got_request_slot(phone):
        return None
    phone_id, asked_at = phone.id, utcnow()
    try:
        listed = adapter.list_inbound(inbound_listed_since(phone))
    except ProviderError as error:
        log.warning("could not list incoming SMS of phone %s: %s", phone_id, error.reason)
        return PollNote(phone_id, "inbound", asked_at, error=error.reason)
    known = known_inbound_ids(phone, [inbound.provider_message_id for inbound in listed])
    stored = 0
    for inbound in listed:
        if inbound.provider_message_id not in known:
            record_inbound(phone, inbound)
            known.add(inbound.provider_message_id)
            stored += 1
        adapter.acknowledge_inbound(inbound.provider_message_id)
    return PollNote(phone_id, "inbound", asked_at, found=stored)


def got_request_slot(phone: Phone) -> bool:
    """Polls share the phone's rate limit with its sends: False when the next slot is too far off."""
    if not phone.rate_limit_per_second:
        return True
    db.session.rollback()  # hold no database connection while waiting
    wait = broker.reserve_send_slot(phone.id, phone.rate_limit_per_second)
    if wait > LONGEST_POLL_WAIT:
        return False
    time.sleep(max(wait, 0))
    return True


def inbound_listed_since(phone: Phone) -> datetime:
    """From a little before the last answered ask (the provider's clock may differ from ours), or
    for a first ask the last day."""
    last = ((phone.poll_found or {}).get("inbound") or {}).get("answered_at")
    since = datetime.fromisoformat(last) if last else utcnow() - FIRST_INBOUND_LOOK_BACK
    return max(since - CLOCK_MARGIN, phone.created_at - CLOCK_MARGIN)


def known_inbound_ids(phone: Phone, provider_ids: list[str]) -> set[str]:
    if not provider_ids:
        return set()
    return set(db.session.scalars(select(Message.provider_message_id).where(
        Message.phone_id == phone.id, Message.direction == Message.INBOUND,
        Message.provider_message_id.in_(provider_ids))))


def note_poll(phone: Phone, kind: str, asked_at: datetime, found: int = 0, error=None) -> None:
    note_polls([PollNote(phone.id, kind, asked_at, found, error)])


def note_polls(notes: list[PollNote]) -> None:
    """What the phones' pages show: when SMS Desk last asked and what it found, per kind
    ("inbound", "statuses"); answered_at is the last ask that got an answer. Read again just
    before, and written in one statement for all the phones. Commits."""
    if not notes:
        return
    noted = dict(db.session.execute(select(Phone.id, Phone.poll_found).where(
        Phone.id.in_([note.phone_id for note in notes]))).all())
    rows = []
    for note in notes:
        found = dict(noted.get(note.phone_id) or {})
        answered_at = ((found.get(note.kind) or {}).get("answered_at") if note.error is not None
                       else note.asked_at.isoformat())
        found[note.kind] = {"asked_at": note.asked_at.isoformat(), "found": note.found,
                            "error": stored_reason(note.error) if note.error is not None else None,
                            "answered_at": answered_at}
        noted[note.phone_id] = found
        rows.append({"id": note.phone_id, "poll_found": found, "polled_at": note.asked_at})
    db.session.execute(update(Phone), rows)
    db.session.commit()


def cancel_at_provider(message: Message) -> bool:
    """Asks the provider to cancel a message it holds for a later date."""
    adapter = adapter_for(message.phone)
    try:
        canceled = adapter.cancel([message.provider_message_id]).get(message.provider_message_id, False)
    except ProviderError as error:
        status_store.note(message.id, Line(_("Could not cancel: %(reason)s", reason=error.reason),
                                           error_code=error.code, payload=error.payload))
        db.session.commit()
        return False
    if not canceled:
        status_store.note(message.id, Line(_("The provider could not cancel it: it has probably been sent "
                                             "already.")))
    else:
        status_store.move(message, statuses.CANCELED, by=statuses.PROVIDER, expected=statuses.SCHEDULED,
                          line=Line(_("Canceled at the provider.")))
    db.session.commit()
    return canceled
