"""Asking providers, run by the worker: statuses of sent messages and incoming SMS, for providers
that report only when asked, and cancels of messages a provider holds for a later date."""
import logging
from datetime import timedelta

from sqlalchemy import select, update

from .. import statuses, tasks
from ..extensions import db
from ..models import Message, Phone, utcnow
from ..providers.base import ProviderError
from ..reasons import Reason as _
from ..reasons import plural
from . import reports, status_store
from .messages import record_inbound
from .phones import adapter_for
from .status_store import Line

log = logging.getLogger(__name__)

POLL_BATCH_SIZE = 100
POLL_LEASE = timedelta(minutes=2)


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
    try:
        events = adapter.fetch_statuses([message.provider_message_id for message in messages])
    except ProviderError as error:
        log.warning("could not poll statuses of phone %s: %s", phone.id, error.reason)
        events = []
    for event in events:
        reports.record_status_event(phone.id, event)
    for message in messages:
        db.session.refresh(message)
        schedule_next_status_poll(adapter, message)


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
    """Phones whose provider must be asked for incoming SMS, each at most once per interval."""
    from .. import broker
    from ..providers import PROVIDERS
    polling_keys = [key for key, provider in PROVIDERS.items() if provider.polls_inbound]
    if not polling_keys:
        return 0
    phones = db.session.scalars(select(Phone.id).where(Phone.provider_key.in_(polling_keys),
                                                      Phone.deleted_at.is_(None))).all()
    connection = broker.redis_connection()
    count = 0
    for phone_id in phones:
        if connection.set(f"smsdesk:inbound-poll:{phone_id}", "1", nx=True, px=int(interval_seconds * 1000)):
            tasks.poll_inbound(phone_id)
            count += 1
    return count


def poll_inbound(phone: Phone) -> int:
    """Each incoming SMS is stored before the provider is told to forget it, so a crash in between
    loses nothing (and storing it twice is prevented by its provider id)."""
    adapter = adapter_for(phone)
    if not adapter.polls_inbound or not adapter.wants_inbound_polling():
        return 0
    stored = 0
    for inbound in adapter.list_inbound():
        record_inbound(phone, inbound)
        adapter.acknowledge_inbound(inbound.provider_message_id)
        stored += 1
    return stored


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
