"""The send pipeline, run by the worker: claim, send, record; and the sweeps that keep it whole.

No message is lost: rows are written before their job, and the sweep re-enqueues queued rows
whose job vanished. None is sent twice: the claim (queued -> sending) is atomic, and a message
found in `sending` after its worker died is never retried blindly.
"""
import functools
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from flask import current_app
from flask_babel import ngettext
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import bindparam, delete, insert, select, update

from .. import broker, statuses
from ..extensions import db
from ..models import EarlyStatusEvent, Message, MessageEvent, Phone, utcnow
from ..providers.base import OutboundSms, ProviderError
from . import messages as message_service
from .accounts import in_language, in_users_language
from .phones import adapter_for, callback_url

log = logging.getLogger(__name__)

INTERRUPTED_REASON = _l("interrupted, may have been sent")


# A wait for a phone's rate limit longer than this goes back to the broker rather than holding a sender.
LONGEST_SENDER_WAIT = 1.0


def send_message(message_id: int, worker_name: str) -> None:
    message = db.session.get(Message, message_id)
    if message is None or message.status != statuses.QUEUED:
        return  # a duplicate job, or already canceled
    with in_users_language(message.phone.user):
        claim_and_send(message, worker_name)


def claim_and_send(message: Message, worker_name: str) -> None:
    phone = message.phone
    if phone.deleted_at is not None:
        cancel_for_deleted_phone(message)
        return
    try:
        adapter = adapter_for(phone)
    except RuntimeError as error:
        fail_for_unreadable_secrets(message, error)
        db.session.commit()
        return
    if phone.rate_limit_per_second and not wait_for_send_slot(message, phone):
        return
    batch, sms_list = claim_batch(message, phone, adapter.max_batch_size, worker_name)
    if not batch:
        return  # another worker has it
    # no database connection is held while the provider answers
    try:
        results = adapter.send_batch(sms_list)
        if len(results) != len(batch):
            raise ProviderError(_("internal error while sending"), maybe_sent=True)
    except ProviderError as error:
        results = [error] * len(batch)
    except Exception:
        log.exception("sending message %s failed unexpectedly", message.id)
        results = [ProviderError(_("internal error while sending"), maybe_sent=True)] * len(batch)
    for claimed, result in zip(batch, results):
        try:
            if isinstance(result, ProviderError):
                record_send_failure(claimed, result)
            else:
                record_send_success(claimed, result, adapter)
        except Exception:
            # never leave it in "sending" while this worker lives: the sweep would wait for ever
            log.exception("could not record the send of message %s", claimed.id)
            db.session.rollback()
            record_send_failure(claimed, ProviderError(_("internal error while sending"), maybe_sent=True))


def fail_for_unreadable_secrets(message: Message, error: RuntimeError) -> None:
    """Sending cannot work until the phone's secrets are saved again."""
    if message_service.move_status(message, statuses.FAILED, by_provider=False, expected=statuses.QUEUED,
                                   error_reason=str(error)):
        message_service.add_event(message.id, statuses.FAILED, reason=str(error))


def wait_for_send_slot(message: Message, phone) -> bool:
    """Books the phone's next send slot, before the claim, so that a crash while waiting leaves the
    message queued rather than "maybe sent". A long wait goes back to the broker. False: wait later."""
    db.session.rollback()  # hold no database connection while waiting
    wait = broker.booked_send_slot_wait(message.id)
    if wait is None:
        wait = broker.reserve_send_slot(phone.id, phone.rate_limit_per_second)
        if wait > LONGEST_SENDER_WAIT:
            broker.book_send_slot(message.id, wait)
            send_later(message, wait)
            return False
    if wait > 0:
        time.sleep(wait)
    return True


def claim_batch(message: Message, phone, max_size: int, worker_name: str):
    """Claims the message (queued -> sending) and, for providers that take several destinations in
    one call, the other queued messages of the same compose action. Returns the claimed messages
    and what to send, built before the commit so that no connection is held during the send."""
    candidates = [message]
    if max_size > 1 and message.compose_batch:
        candidates += db.session.scalars(select(Message).where(
            Message.compose_batch == message.compose_batch, Message.phone_id == message.phone_id,
            Message.status == statuses.QUEUED, Message.id != message.id)
            .order_by(Message.id).limit(max_size - 1)).all()
    claimed = []
    for candidate in sorted(candidates, key=lambda candidate: candidate.id):  # one lock order for everyone
        attempt = candidate.attempt_count + 1
        if message_service.move_status(candidate, statuses.SENDING, by_provider=False, expected=statuses.QUEUED,
                                       attempt_count=attempt, claimed_by=worker_name):
            message_service.add_event(candidate.id, statuses.SENDING, reason=_("Attempt %(number)d", number=attempt))
            claimed.append(candidate)
    sms_list = [outbound_sms(candidate, phone) for candidate in claimed]
    db.session.commit()
    return claimed, sms_list


def outbound_sms(message: Message, phone) -> OutboundSms:
    send_at = message.scheduled_at.replace(tzinfo=timezone.utc) if message.scheduled_at else None
    return OutboundSms(message_id=message.id, destination=message.remote_number, text=message.body,
                       status_callback_url=callback_url(phone, "status"), attempt=message.attempt_count,
                       reference=f"{phone.public_id}-{message.id}", flash=message.flash, send_at=send_at)


def record_send_success(message: Message, result, adapter, commit: bool = True) -> None:
    answer = dict(provider_message_id=result.provider_message_id,
                  next_status_poll_at=first_status_poll_at(adapter, message.scheduled_at, utcnow()))
    moved = message_service.move_status(message, result.status, by_provider=True, expected=statuses.SENDING,
                                        **answer)
    if not moved:
        # the sweep judged the send interrupted while the provider was still answering: what the
        # provider answered is the truth, and its later reports must find the message
        db.session.refresh(message)
        moved = message_service.move_status(message, result.status, by_provider=True, **answer)
        if not moved and message.provider_message_id is None:
            db.session.execute(update(Message).where(Message.id == message.id).values(
                provider_message_id=result.provider_message_id).execution_options(synchronize_session=False))
            message.provider_message_id = result.provider_message_id
    message_service.add_event(message.id, result.status if moved else None, provider_status=result.provider_status,
                              payload=result.payload)
    if commit:
        db.session.commit()
        message_service.apply_early_status_events(message)


def record_send_failure(message: Message, error: ProviderError, commit: bool = True):
    """Returns the retry to enqueue once committed (job id, message id, delay), if any; with
    commit=True it is enqueued here."""
    attempt = message.attempt_count
    max_attempts = current_app.config["SEND_MAX_ATTEMPTS"]
    retry = None
    if error.transient and attempt < max_attempts:
        delay = current_app.config["SEND_RETRY_BASE_SECONDS"] * 2 ** (attempt - 1)
        job_id = broker.new_send_job_id()
        requeued = message_service.move_status(message, statuses.QUEUED, by_provider=False,
                                               expected=statuses.SENDING, claimed_by=None, send_job_id=job_id,
                                               enqueued_at=utcnow() + timedelta(seconds=delay))
        reason = _("Attempt %(number)d failed: %(reason)s. Next try in %(delay)d s.", number=attempt,
                   reason=error.reason, delay=round(delay)) if requeued else error.reason
        message_service.add_event(message.id, statuses.QUEUED if requeued else None, error_code=error.code,
                                  payload=error.payload, reason=reason)
        retry = (job_id, message.id, delay) if requeued else None
    else:
        new_status = statuses.UNKNOWN if error.maybe_sent else statuses.FAILED
        reason = error.reason
        if error.transient:
            reason = _("%(reason)s (gave up after %(number)d attempts)", reason=error.reason, number=attempt)
        moved = message_service.move_status(message, new_status, by_provider=False, expected=statuses.SENDING,
                                            error_code=error.code, error_reason=reason)
        message_service.add_event(message.id, new_status if moved else None, error_code=error.code, reason=reason,
                                  payload=error.payload)
    if commit:
        db.session.commit()
        if retry:
            enqueue_later(*retry)
    return retry


@dataclass
class Delivery:
    """One call to a provider: claimed messages of one phone, ready to send without the database."""
    adapter: object
    locale: str
    sms_list: list
    phone_id: int


@functools.lru_cache(maxsize=None)
def claim_statement():
    """Built once: per-message ORM statements cost more CPU than the provider's HTTP call."""
    messages = Message.__table__
    return (update(messages)
            .where(messages.c.id.in_(bindparam("ids", expanding=True)), messages.c.status == statuses.QUEUED)
            .values(status=statuses.SENDING, status_changed_at=bindparam("now"),
                    attempt_count=messages.c.attempt_count + 1, claimed_by=bindparam("worker"))
            .returning(messages.c.id, messages.c.remote_number, messages.c.body, messages.c.attempt_count,
                       messages.c.flash, messages.c.scheduled_at))


def claim_job(message_ids: list[int], worker_name: str):
    """Claims a send job's queued messages in one transaction, for senders that then need no
    database. Returns the deliveries, and the ids to send one by one (rate-limited phones, whose
    messages are claimed only when their slot comes)."""
    queued = db.session.execute(select(Message.id, Message.phone_id).where(
        Message.id.in_(message_ids), Message.status == statuses.QUEUED).order_by(Message.id)).all()
    ids_by_phone = {}
    for message_id, phone_id in queued:
        ids_by_phone.setdefault(phone_id, []).append(message_id)
    deliveries, one_by_one = [], []
    for phone_id, ids in ids_by_phone.items():
        phone = db.session.get(Phone, phone_id)
        if phone.rate_limit_per_second:
            one_by_one += ids
        elif phone.deleted_at is not None:
            for message_id in ids:
                cancel_for_deleted_phone(db.session.get(Message, message_id), commit=False)
        else:
            deliveries += claim_for_phone(phone, ids, worker_name)
    db.session.commit()
    return deliveries, one_by_one


def claim_for_phone(phone: Phone, message_ids: list[int], worker_name: str) -> list[Delivery]:
    try:
        adapter = adapter_for(phone)
    except RuntimeError as error:  # its secrets cannot be read: fails until they are saved again
        for message_id in message_ids:
            fail_for_unreadable_secrets(db.session.get(Message, message_id), error)
        return []
    now = utcnow()
    claimed = db.session.execute(claim_statement(), dict(ids=message_ids, now=now, worker=worker_name)).all()
    if not claimed:
        return []  # another worker has them
    claimed.sort(key=lambda row: row.id)
    locale = phone.user.locale or current_app.config["BABEL_DEFAULT_LOCALE"]
    with in_language(locale):
        db.session.execute(insert(MessageEvent.__table__), [
            message_service.event_row(row.id, statuses.SENDING, at=now,
                                      reason=_("Attempt %(number)d", number=row.attempt_count)) for row in claimed])
    sms_list = [outbound_sms(row, phone) for row in claimed]
    size = adapter.max_batch_size
    return [Delivery(adapter, locale, sms_list[start:start + size], phone.id)
            for start in range(0, len(sms_list), size)]


def send_delivery(delivery: Delivery) -> list:
    """Runs in a sender thread, with no database: one SendResult or ProviderError per message."""
    try:
        results = delivery.adapter.send_batch(delivery.sms_list)
        if len(results) == len(delivery.sms_list):
            return results
        raise ProviderError(_("internal error while sending"), maybe_sent=True)
    except ProviderError as error:
        return [error] * len(delivery.sms_list)
    except Exception:
        log.exception("sending messages %s failed unexpectedly", [sms.message_id for sms in delivery.sms_list])
        return [ProviderError(_("internal error while sending"), maybe_sent=True)] * len(delivery.sms_list)


def record_deliveries(done: list) -> None:
    """Records many senders' results in one transaction: [(delivery, results)]."""
    try:
        retries = record_together(done)
        db.session.commit()
    except Exception:
        log.exception("could not record %d deliveries together; recording them one by one", len(done))
        db.session.rollback()
        retries = []
        for delivery, results in done:
            try:
                retries += record_delivery(delivery, results)
                db.session.commit()
            except Exception:
                log.exception("could not record messages %s", [sms.message_id for sms in delivery.sms_list])
                db.session.rollback()  # still "sending": the sweep makes them "unknown, may have been sent"
    for retry in retries:
        enqueue_later(*retry)
    apply_waiting_early_events(done)


def record_together(done: list) -> list:
    """The common case, accepted sends of messages still in `sending`, in three statements; the
    rest one by one. Does not commit. Returns the retries to enqueue once committed."""
    now = utcnow()
    moved = move_sent_messages([(delivery.adapter, sms, result) for delivery, results in done
                                for sms, result in zip(delivery.sms_list, results)
                                if not isinstance(result, ProviderError)
                                and statuses.provider_may_move(statuses.SENDING, result.status)], now)
    timeline, retries = [], []
    for delivery, results in done:
        with in_language(delivery.locale):
            for sms, result in zip(delivery.sms_list, results):
                if sms.message_id in moved:
                    timeline.append(message_service.event_row(sms.message_id, result.status, at=now,
                                                              provider_status=result.provider_status,
                                                              payload=result.payload))
                else:
                    retries += record_result(db.session.get(Message, sms.message_id), result, delivery.adapter)
    if timeline:
        db.session.execute(insert(MessageEvent.__table__), timeline)
    return retries


@functools.lru_cache(maxsize=None)
def record_sent_statement():
    messages = Message.__table__
    return (update(messages)
            .where(messages.c.id == bindparam("message_id"), messages.c.status == statuses.SENDING)
            .values(status=bindparam("new_status"), status_changed_at=bindparam("now"),
                    provider_message_id=bindparam("provider_id"), next_status_poll_at=bindparam("first_poll")))


def move_sent_messages(accepted: list, now: datetime) -> set[int]:
    """[(adapter, sms, SendResult)] -> the ids of those that were still `sending`, now moved."""
    if not accepted:
        return set()
    changes = [dict(message_id=sms.message_id, new_status=result.status, now=now,
                    provider_id=result.provider_message_id,
                    first_poll=first_status_poll_at(adapter, sms.send_at and sms.send_at.replace(tzinfo=None), now))
               for adapter, sms, result in accepted]
    updated = db.session.execute(record_sent_statement(), changes).rowcount
    if updated != len(changes):  # some were moved by someone else meanwhile (the sweep): find which
        wanted = {change["message_id"]: (change["new_status"], change["provider_id"]) for change in changes}
        rows = db.session.execute(select(Message.id, Message.status, Message.provider_message_id)
                                  .where(Message.id.in_(wanted)))
        return {row.id for row in rows if (row.status, row.provider_message_id) == wanted[row.id]}
    return {change["message_id"] for change in changes}


def first_status_poll_at(adapter, scheduled_at: datetime | None, now: datetime) -> datetime | None:
    """When to first ask the provider, for providers that report only when asked."""
    first_poll = adapter.status_poll_delay(0) if adapter.polls_statuses else None
    if first_poll is None:
        return None
    poll_from = scheduled_at if scheduled_at and scheduled_at > now else now
    return poll_from + timedelta(seconds=first_poll)


def apply_waiting_early_events(done: list) -> None:
    """Reports that outran the send (kept as early events) apply now that the provider ids are stored."""
    provider_ids_by_phone = {}
    for delivery, results in done:
        provider_ids_by_phone.setdefault(delivery.phone_id, []).extend(
            result.provider_message_id for result in results if not isinstance(result, ProviderError))
    for phone_id, provider_ids in provider_ids_by_phone.items():
        waiting = db.session.scalars(select(EarlyStatusEvent.provider_message_id).distinct().where(
            EarlyStatusEvent.phone_id == phone_id, EarlyStatusEvent.provider_message_id.in_(provider_ids))).all()
        for provider_message_id in waiting:
            message = message_service.find_outbound(phone_id, provider_message_id)
            if message is not None:
                message_service.apply_early_status_events(message)


def record_delivery(delivery: Delivery, results: list) -> list:
    retries = []
    with in_language(delivery.locale):
        for sms, result in zip(delivery.sms_list, results):
            retries += record_result(db.session.get(Message, sms.message_id), result, delivery.adapter)
    return retries


def record_result(message: Message, result, adapter) -> list:
    """One send's result, judged against the message as it now is. Does not commit."""
    if not isinstance(result, ProviderError):
        record_send_success(message, result, adapter, commit=False)
        return []
    retry = record_send_failure(message, result, commit=False)
    return [retry] if retry else []


def send_later(message: Message, delay: float) -> None:
    """Back to the broker for a while; the message stays queued, carried by a new job."""
    job_id = broker.new_send_job_id()
    db.session.execute(update(Message).where(Message.id == message.id).values(
        send_job_id=job_id, enqueued_at=utcnow() + timedelta(seconds=delay))
        .execution_options(synchronize_session=False))
    db.session.commit()
    enqueue_later(job_id, message.id, delay)


def enqueue_later(job_id: str, message_id: int, delay: float) -> None:
    try:
        broker.enqueue_send_later(job_id, message_id, delay)
    except Exception as broker_error:  # the sweep will enqueue it
        log.warning("could not schedule message %s again: %s", message_id, broker_error)


def cancel_for_deleted_phone(message: Message, commit: bool = True) -> None:
    if message_service.move_status(message, statuses.CANCELED, by_provider=False, expected=statuses.QUEUED):
        message_service.add_event(message.id, statuses.CANCELED, reason=_("Its phone was deleted."))
    if commit:
        db.session.commit()


def requeue_lost_messages(batch_size: int = 5000) -> int:
    """Queued messages whose job vanished (broker restarted or wiped) get a new one."""
    due_before = utcnow() - timedelta(seconds=current_app.config["REQUEUE_AFTER_SECONDS"])
    candidates = db.session.execute(select(Message.id, Message.send_job_id).where(
        Message.status == statuses.QUEUED, Message.enqueued_at < due_before)
        .order_by(Message.id).limit(batch_size)).all()
    if not candidates:
        return 0
    gone = broker.jobs_not_pending({job_id for _, job_id in candidates if job_id})
    lost = [message_id for message_id, job_id in candidates if job_id is None or job_id in gone]
    jobs = {}
    for start in range(0, len(lost), broker.SEND_JOB_SIZE):
        job_id = broker.new_send_job_id()
        jobs[job_id] = lost[start:start + broker.SEND_JOB_SIZE]
        db.session.execute(update(Message).where(Message.id.in_(jobs[job_id]), Message.status == statuses.QUEUED)
                           .values(send_job_id=job_id, enqueued_at=utcnow())
                           .execution_options(synchronize_session=False))
    db.session.commit()
    if jobs:
        broker.enqueue_sends(jobs)
        log.info("re-enqueued %d messages whose job was lost", len(lost))
    return len(lost)


def forget_unmatched_early_events(max_age: timedelta = timedelta(days=2)) -> int:
    """Reports for provider ids that never turned up (a provider's test call, say) are not kept for ever."""
    result = db.session.execute(delete(EarlyStatusEvent).where(EarlyStatusEvent.received_at < utcnow() - max_age)
                                .execution_options(synchronize_session=False))
    db.session.commit()
    return result.rowcount


def mark_interrupted_sends() -> int:
    """A message left in `sending` by a worker that died, or for longer than any send can take,
    may or may not have reached the provider."""
    grace = timedelta(seconds=broker.heartbeat_ttl() * 2)
    longest_send = timedelta(seconds=2 * (current_app.config["PROVIDER_CONNECT_TIMEOUT"]
                                          + current_app.config["PROVIDER_READ_TIMEOUT"]) + 30)
    stuck = db.session.scalars(select(Message).where(
        Message.status == statuses.SENDING, Message.status_changed_at < utcnow() - grace)).all()
    if not stuck:
        return 0
    live_workers = broker.live_worker_names()
    count = 0
    for message in stuck:
        if message.claimed_by in live_workers and message.status_changed_at > utcnow() - longest_send:
            continue
        with in_users_language(message.phone.user):
            reason = str(INTERRUPTED_REASON)
        if message_service.move_status(message, statuses.UNKNOWN, by_provider=False, expected=statuses.SENDING,
                                       error_reason=reason):
            message_service.add_event(message.id, statuses.UNKNOWN, reason=reason)
            count += 1
        db.session.commit()
    return count


POLL_BATCH_SIZE = 100
POLL_LEASE = timedelta(minutes=2)


def enqueue_due_status_polls(limit: int = 2000) -> int:
    """Messages whose provider we ask for their status, grouped in one job per phone and batch."""
    due = db.session.execute(select(Message.id, Message.phone_id).join(Phone).where(
        Phone.deleted_at.is_(None), Message.next_status_poll_at <= utcnow(),
        Message.status.in_([statuses.SCHEDULED, statuses.SENT, statuses.UNKNOWN]))
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
            broker.enqueue_job("webapp.jobs.poll_statuses", phone_id, message_ids[start:start + POLL_BATCH_SIZE])
    return len(due)


def poll_statuses(phone, message_ids: list[int]) -> None:
    adapter = adapter_for(phone)
    messages = db.session.scalars(select(Message).where(
        Message.id.in_(message_ids), Message.phone_id == phone.id, Message.provider_message_id.isnot(None))).all()
    if not messages:
        return
    with in_users_language(phone.user):
        try:
            events = adapter.fetch_statuses([message.provider_message_id for message in messages])
        except ProviderError as error:
            log.warning("could not poll statuses of phone %s: %s", phone.id, error.reason)
            events = []
        for event in events:
            message_service.record_status_event(phone.id, event)
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
        reason = ngettext("no delivery report after %(num)d check", "no delivery report after %(num)d checks",
                          polls_done)
        if message_service.move_status(message, statuses.UNKNOWN, by_provider=False, error_reason=reason):
            message_service.add_event(message.id, statuses.UNKNOWN, reason=reason)
    db.session.commit()


def enqueue_inbound_polls(interval_seconds: float) -> int:
    """Phones whose provider must be asked for incoming SMS, each at most once per interval."""
    from ..models import Phone
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
            broker.enqueue_job("webapp.jobs.poll_inbound", phone_id)
            count += 1
    return count


def poll_inbound(phone) -> int:
    """Each incoming SMS is stored before the provider is told to forget it, so a crash in between
    loses nothing (and storing it twice is prevented by its provider id)."""
    adapter = adapter_for(phone)
    if not adapter.polls_inbound or not adapter.wants_inbound_polling():
        return 0
    stored = 0
    for inbound in adapter.list_inbound():
        message_service.record_inbound(phone, inbound)
        adapter.acknowledge_inbound(inbound.provider_message_id)
        stored += 1
    return stored


def cancel_at_provider(message: Message) -> bool:
    """Asks the provider to cancel a message it holds for a later date."""
    adapter = adapter_for(message.phone)
    with in_users_language(message.phone.user):
        try:
            canceled = adapter.cancel([message.provider_message_id]).get(message.provider_message_id, False)
        except ProviderError as error:
            message_service.add_event(message.id, None, error_code=error.code,
                                      reason=_("Could not cancel: %(reason)s", reason=error.reason))
            db.session.commit()
            return False
        if canceled and message_service.move_status(message, statuses.CANCELED, by_provider=True,
                                                    expected=statuses.SCHEDULED):
            message_service.add_event(message.id, statuses.CANCELED, reason=_("Canceled at the provider."))
        elif not canceled:
            message_service.add_event(message.id, None, reason=_("The provider could not cancel it: it has "
                                                                 "probably been sent already."))
        db.session.commit()
        return canceled
