"""Sending, run by the worker: claim, send, record. Every send takes this one path, a campaign's
thousands as a single message: the claim (queued -> sending) in one statement for a job's
messages, the provider's calls with no database connection held, and the answers recorded
together, with the error policy (retry, "may have been sent", permanent failure) written once,
in record_send_failure.

None is sent twice: the claim is atomic, so a duplicate job finds nothing to claim.
"""
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from flask import current_app
from redis.exceptions import RedisError
from sqlalchemy import select, update

from .. import broker, statuses, tasks
from ..extensions import db
from ..models import EarlyStatusEvent, Message, Phone, utcnow
from ..crypto import SecretsUnreadable
from ..providers.base import OutboundSms, ProviderError, SendResult
from ..reasons import ATTEMPT_FAILED, SENT_AGAIN
from ..reasons import Reason as _
from ..reasons import plural
from . import limits, opt_outs, phone_health, pools, reports, status_store
from .phones import adapter_for, callback_scope_ids, callback_url
from .status_store import Claim, Line
from .timeline import failed_attempt

log = logging.getLogger(__name__)

PIPELINE, PROVIDER = statuses.PIPELINE, statuses.PROVIDER

BROKER_UNAVAILABLE = _("SMS Desk could not reach its broker, so it did not send it yet")
TAKEN_BACK = _("this worker was judged stopped and the message queued again, so it did not send it")


class BrokerUnavailable(ProviderError):
    """The broker could not note that the request starts, so it did not start: not an attempt."""

    def __init__(self):
        super().__init__(BROKER_UNAVAILABLE, transient=True)


class TakenBack(ProviderError):
    """The sweep took the message back from this worker's claim: whoever holds it now sends it."""

    def __init__(self):
        super().__init__(TAKEN_BACK, transient=True)


# A wait for a phone's rate limit longer than this goes back to the broker rather than holding a sender.
LONGEST_SENDER_WAIT = 1.0


@dataclass
class Delivery:
    """One call to a provider: claimed messages of one phone, ready to send without the database."""
    adapter: object
    sms_list: list
    phone_id: int
    user_id: int
    worker_name: str  # whose claim, and whose record of send starts (see broker.note_send_starts)

    def claim_of(self, sms: OutboundSms) -> Claim:
        return Claim(self.worker_name, sms.attempt)


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
        if phone.deleted_at is None and phone.rate_limit_per_second:
            one_by_one += ids
        else:
            deliveries += claim_for_phone(phone, ids, worker_name)
    db.session.commit()
    return deliveries, one_by_one


def choose_pool_phones(message_ids: list[int]) -> None:
    """The messages sent to a pool get their phone, before they are grouped by phone and claimed."""
    if pools.choose_phones(message_ids):
        db.session.commit()


def claim_for_phone(phone: Phone, message_ids: list[int], worker_name: str) -> list[Delivery]:
    """Does not commit."""
    if phone.deleted_at is not None:
        for message_id in message_ids:
            status_store.move(db.session.get(Message, message_id), statuses.CANCELED, by=PIPELINE,
                              expected=statuses.QUEUED, line=Line(_("Its phone was deleted.")))
        return []
    try:
        adapter = adapter_for(phone)
    except SecretsUnreadable as error:  # fails until they are saved again
        for message_id in message_ids:
            status_store.move(db.session.get(Message, message_id), statuses.FAILED, by=PIPELINE,
                              expected=statuses.QUEUED, line=Line(error.reason), error_reason=error.reason)
        return []
    message_ids = limits.take_for_claim(phone, opt_outs.cancel_opted_out_since_composed(message_ids))
    claimed = status_store.claim(message_ids, worker_name) if message_ids else []
    sms_list = [outbound_sms(row, phone) for row in claimed]
    size = adapter.max_batch_size
    return [Delivery(adapter, sms_list[start:start + size], phone.id, phone.user_id, worker_name)
            for start in range(0, len(sms_list), size)]


def outbound_sms(message, phone: Phone) -> OutboundSms:
    """send_at only while its time is to come: one held here is queued once its time came, and a
    retry after the time passed is sent now."""
    later = message.scheduled_at is not None and message.scheduled_at > utcnow()
    send_at = message.scheduled_at.replace(tzinfo=timezone.utc) if later else None
    return OutboundSms(message_id=message.id, destination=message.remote_number, text=message.body,
                       status_callback_url=callback_url(phone, "status"), attempt=message.attempt_count,
                       reference=send_reference(phone, message), flash=message.flash, send_at=send_at)


def send_reference(phone: Phone, message) -> str:
    """Ours, the same for every attempt of a send (a provider that refuses a repeated reference
    then cannot send it twice), and new when the user sends the message again."""
    reference = f"{phone.public_id}-{message.id}"
    return f"{reference}-r{message.attempts_before_resend}" if message.attempts_before_resend else reference


def send_message(message_id: int, worker_name: str) -> None:
    """One message, through the same claim, send and record as a job's: a rate-limited phone's
    (claimed only once its slot comes), or any message run by a plain `rq worker`. For providers
    that take several destinations in one call, the other queued messages of its compose action
    go with it."""
    message = db.session.get(Message, message_id)
    if message is None or message.status != statuses.QUEUED:
        return  # a duplicate job, or already canceled
    if message.pool_id is not None:
        choose_pool_phones([message_id])
    phone = message.phone
    if phone.rate_limit_per_second and can_send(phone) and not wait_for_send_slot(message, phone):
        return
    deliveries = claim_for_phone(phone, [message_id] + companions(message, phone), worker_name)
    db.session.commit()
    record_deliveries([(delivery, send_delivery(delivery)) for delivery in deliveries])


def can_send(phone: Phone) -> bool:
    """Not deleted, and its secrets readable: otherwise its messages are canceled or failed at once."""
    if phone.deleted_at is not None:
        return False
    try:
        adapter_for(phone)
    except SecretsUnreadable:
        return False
    return True


def companions(message: Message, phone: Phone) -> list[int]:
    from ..providers import provider_class
    room = provider_class(phone.provider_key).max_batch_size - 1
    if room <= 0 or not message.compose_batch:
        return []
    return db.session.scalars(select(Message.id).where(
        Message.compose_batch == message.compose_batch, Message.phone_id == message.phone_id,
        Message.status == statuses.QUEUED, Message.id != message.id).order_by(Message.id).limit(room)).all()


def wait_for_send_slot(message: Message, phone: Phone) -> bool:
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


def send_delivery(delivery: Delivery) -> list:
    """Runs in a sender thread, with no database: one SendResult or ProviderError per message.
    The broker is told first that these requests start, so that should the worker die, the sweep
    sends again those whose request never started; without the broker's word, nothing is sent."""
    message_ids = [sms.message_id for sms in delivery.sms_list]
    try:
        taken_back = broker.note_send_starts(delivery.worker_name, message_ids)
    except RedisError as error:
        log.warning("not sending messages %s: the broker is unavailable (%s)", message_ids, error)
        return [BrokerUnavailable()] * len(message_ids)
    if taken_back:  # this worker was judged dead, and the sweep queued them again
        log.warning("not sending messages %s: the sweep took them back", sorted(taken_back))
    to_send = [sms for sms in delivery.sms_list if sms.message_id not in taken_back]
    results = iter(provider_results(delivery.adapter, to_send) if to_send else [])
    results = [TakenBack() if sms.message_id in taken_back else next(results) for sms in delivery.sms_list]
    log_outcome(delivery, results)
    return results


def log_outcome(delivery: Delivery, results: list) -> None:
    """One line per call to a provider: which messages it took, which it refused and why."""
    accepted = [sms.message_id for sms, result in zip(delivery.sms_list, results)
                if not isinstance(result, ProviderError)]
    refused = {sms.message_id: result.reason for sms, result in zip(delivery.sms_list, results)
               if isinstance(result, ProviderError) and not isinstance(result, (TakenBack, BrokerUnavailable))}
    if accepted:
        log.info("phone %d accepted messages %s", delivery.phone_id, accepted)
    for message_id, reason in refused.items():
        log.info("phone %d did not send message %d: %s", delivery.phone_id, message_id, reason)


def provider_results(adapter, sms_list: list) -> list:
    try:
        results = adapter.send_batch(sms_list)
        if len(results) == len(sms_list):
            return results
        raise ProviderError(_("internal error while sending"), maybe_sent=True)
    except ProviderError as error:
        return [error] * len(sms_list)
    except Exception:
        log.exception("sending messages %s failed unexpectedly", [sms.message_id for sms in sms_list])
        return [ProviderError(_("internal error while sending"), maybe_sent=True)] * len(sms_list)


def record_deliveries(done: list[tuple[Delivery, list]]) -> None:
    """Records many senders' results in one transaction: [(delivery, results)]."""
    try:
        done = with_usable_ids(done)
    except Exception:  # without it, an answer with no usable id would make its message sent
        log.exception("could not check the ids of %d deliveries", len(done))
        db.session.rollback()
        for delivery, _results in done:
            mark_unrecorded(delivery)
        return
    try:
        retries = record_together(done)
        db.session.commit()
    except Exception:
        log.exception("could not record %d deliveries together; recording them one by one", len(done))
        db.session.rollback()
        retries = []
        for delivery, results in done:
            try:
                recorded = record_each(delivery, zip(delivery.sms_list, results))
                db.session.commit()
                retries += recorded
            except Exception:
                log.exception("could not record messages %s", [sms.message_id for sms in delivery.sms_list])
                db.session.rollback()
                mark_unrecorded(delivery)
    enqueue_later(retries)
    apply_waiting_early_events(done)
    record_opted_out_refusals(done)
    record_health(done)


def record_health(done: list[tuple[Delivery, list]]) -> None:
    """Each phone's health moves on with the answers of its sends (not those never sent)."""
    outcomes = {}
    for delivery, results in done:
        outcomes.setdefault(delivery.phone_id, []).extend(
            result for result in results if not isinstance(result, (TakenBack, BrokerUnavailable)))
    try:
        phone_health.record_sends(outcomes)
    except Exception:
        log.exception("could not record the health of phones %s", sorted(outcomes))
        db.session.rollback()


def record_opted_out_refusals(done: list[tuple[Delivery, list]]) -> None:
    """A provider that refused a message because its recipient opted out with it (Twilio's 21610)
    has told us of an opt-out; recorded once the answers are."""
    for delivery, results in done:
        for sms, result in zip(delivery.sms_list, results):
            if isinstance(result, ProviderError) and result.code in delivery.adapter.opted_out_error_codes:
                opt_outs.record_refusal(delivery.user_id, delivery.phone_id, sms.destination, result.code,
                                        result.reason)


def with_usable_ids(done: list[tuple[Delivery, list]]) -> list[tuple[Delivery, list]]:
    """An accepted send whose answer cannot name its message is a failure to know, whatever the
    provider: no id (its reports could never find it), or an id the provider also gave another
    message (kept by the first one only). Such messages may have been sent: unknown."""
    owners = stored_owners(done)
    checked = []
    for delivery, results in done:
        answers = []
        for sms, result in zip(delivery.sms_list, results):
            if isinstance(result, SendResult):
                result = unusable_id_error(delivery.adapter.company, delivery.phone_id, sms.message_id, result,
                                           owners) or result
            answers.append(result)
        checked.append((delivery, answers))
    return checked


def unusable_id_error(company: str, phone_id: int, message_id: int, result: SendResult, owners: dict):
    """The failure to know that an accepted send is when its answer cannot name its message, or
    None. owners: {(phone id, provider id): message id}, which this fills in as ids are handed out."""
    if not result.provider_message_id:
        return ProviderError(_("%(company)s accepted it without giving its id, so its reports cannot be matched",
                               company=company), maybe_sent=True, payload=result.payload)
    owner = owners.setdefault((phone_id, result.provider_message_id), message_id)
    if owner != message_id:
        return ProviderError(_("%(company)s gave it the id of another message (%(provider_id)s), so its reports "
                               "cannot be matched", company=company, provider_id=result.provider_message_id),
                             maybe_sent=True, payload=result.payload)
    return None


def stored_owners(done: list[tuple[Delivery, list]]) -> dict:
    """The messages that already have one of the provider ids answered: {(phone id, provider id): message id}."""
    ids_by_phone = {}
    for delivery, results in done:
        ids_by_phone.setdefault(delivery.phone_id, set()).update(
            result.provider_message_id for result in results
            if isinstance(result, SendResult) and result.provider_message_id)
    owners = {}
    for phone_id, provider_ids in ids_by_phone.items():
        owners.update(owners_of(phone_id, provider_ids))
    return owners


def owners_of(phone_id: int, provider_ids) -> dict:
    """{(phone id, provider id): message id} of the phone's messages that have one of those ids."""
    return {(phone_id, provider_id): message_id for message_id, provider_id in db.session.execute(
        select(Message.id, Message.provider_message_id).where(
            Message.phone_id == phone_id, Message.direction == Message.OUTBOUND,
            Message.provider_message_id.in_(provider_ids)))}


def mark_unrecorded(delivery: Delivery) -> None:
    """Sends whose answer could not be recorded may have been sent: unknown at once, rather than
    left in `sending` for the sweep."""
    reason = _("internal error while sending")
    try:
        for sms in delivery.sms_list:
            status_store.move(db.session.get(Message, sms.message_id), statuses.UNKNOWN, by=PIPELINE,
                              expected=statuses.SENDING, claim=delivery.claim_of(sms), line=Line(reason),
                              error_reason=reason)
        db.session.commit()
    except Exception:
        log.exception("could not mark messages %s unknown", [sms.message_id for sms in delivery.sms_list])
        db.session.rollback()  # still "sending": the sweep makes them "unknown, may have been sent"


def record_together(done: list[tuple[Delivery, list]]) -> list:
    """The common case, accepted sends of messages still in `sending`, in a few statements; the
    rest one by one. Does not commit. Returns the retries to enqueue once committed."""
    now = utcnow()
    moved = status_store.record_accepted([
        status_store.Accepted(sms.message_id, delivery.user_id, delivery.claim_of(sms), result.status,
                              result.provider_message_id, result.provider_status, result.payload,
                              first_status_poll_at(delivery.adapter, sms.send_at, now))
        for delivery, results in done for sms, result in zip(delivery.sms_list, results)
        if isinstance(result, SendResult)])
    retries = []
    for delivery, results in done:
        retries += record_each(delivery, [(sms, result) for sms, result in zip(delivery.sms_list, results)
                                          if sms.message_id not in moved])
    return retries


def record_each(delivery: Delivery, answers) -> list:
    """[(sms, its result)], each judged against its message as it now is. Does not commit."""
    retries = []
    for sms, result in answers:
        message = db.session.get(Message, sms.message_id)
        if isinstance(result, ProviderError):
            retry = record_send_failure(message, result, delivery.claim_of(sms), delivery.adapter.idempotent_send)
            retries += [retry] if retry else []
        else:
            record_send_success(message, result, delivery.adapter, delivery.claim_of(sms))
    return retries


def record_send_success(message: Message, result: SendResult, adapter, claim: Claim) -> None:
    answer = dict(provider_message_id=result.provider_message_id,
                  next_status_poll_at=first_status_poll_at(adapter, message.scheduled_at, utcnow()))
    line = Line(provider_status=result.provider_status, payload=result.payload)
    if status_store.move(message, result.status, by=PROVIDER, expected=statuses.SENDING, claim=claim, line=line,
                         **answer):
        return
    # the sweep judged the send interrupted while the provider was still answering: what the
    # provider answered is the truth, and its later reports must find the message
    db.session.refresh(message)
    if status_store.move(message, result.status, by=PROVIDER, line=line, **answer):
        return
    if message.provider_message_id is None:
        status_store.keep_provider_id(message, result.provider_message_id)
    status_store.note(message.id, line)


def record_send_failure(message: Message, error: ProviderError, claim: Claim, idempotent_send: bool = False):
    """The failure of the attempt `claim` moves the message only while that claim holds it.
    idempotent_send: the provider refuses a repeated reference, so a lost answer is sent again.
    Returns the retry to enqueue once committed (job id, message id, delay), if any. Does not commit."""
    if isinstance(error, TakenBack):  # the sweep queued it again: its next attempt is someone else's
        status_store.note(message.id, Line(error.reason))
        return None
    if isinstance(error, BrokerUnavailable):
        return queue_unsent(message, error, claim)
    if error.already_accepted:
        record_already_accepted(message, error, claim)
        return None
    attempt = claim.attempt - (message.attempts_before_resend or 0)  # since the user last sent it again
    sent_again = idempotent_send and error.answer_lost
    if (error.transient or sent_again) and attempt < current_app.config["SEND_MAX_ATTEMPTS"]:
        delay = current_app.config["SEND_RETRY_BASE_SECONDS"] * 2 ** (attempt - 1)
        job_id = tasks.new_send_job_id()
        reason = _(SENT_AGAIN, reason=error.reason) if sent_again else error.reason
        line = Line(_(ATTEMPT_FAILED, number=attempt, reason=reason, delay=round(delay)),
                    error_code=error.code, payload=error.payload)
        if status_store.move(message, statuses.QUEUED, by=PIPELINE, expected=statuses.SENDING, claim=claim,
                             line=line, claimed_by=None, send_job_id=job_id,
                             enqueued_at=utcnow() + timedelta(seconds=delay)):
            return job_id, message.id, delay
        status_store.note(message.id, Line(error.reason, error_code=error.code, payload=error.payload))
        return None
    new_status = statuses.UNKNOWN if error.maybe_sent else statuses.FAILED
    reason = error.reason
    if error.transient or sent_again:
        reason = plural("%(reason)s (gave up after %(num)d attempt)", "%(reason)s (gave up after %(num)d attempts)", attempt,
                        reason=error.reason)
    if (error.transient or error.phones_own) and not sent_again and message.pool_id is not None:
        retry = fail_over(message, error, claim, reason)
        if retry is not None:
            return retry
    if new_status == statuses.FAILED and idempotent_send and attempt > 1 and an_answer_was_lost(message):
        new_status = statuses.UNKNOWN
        reason = _("%(reason)s; an earlier attempt's answer was lost, so it may have been sent", reason=reason)
    line = Line(reason, error_code=error.code, payload=error.payload)
    if not status_store.move(message, new_status, by=PIPELINE, expected=statuses.SENDING, claim=claim, line=line,
                             error_code=error.code, error_reason=reason):
        status_store.note(message.id, line)
    return None


def fail_over(message: Message, error: ProviderError, claim: Claim, reason):
    """A pool's message its phone's provider refused for a reason of its own (nothing was sent)
    goes to the pool's next phone: its failed attempt stays in its timeline, and it is queued again
    from there, with attempts and a reference of its own. Returns its retry, or None when no phone
    is left. Does not commit."""
    if error.maybe_sent or an_answer_was_lost(message):
        return None
    next_phone = pools.next_phone(message)
    if next_phone is None:
        return None
    job_id, from_phone_id = tasks.new_send_job_id(), message.phone_id
    line = Line(pools.failover_line(message, reason, next_phone), error_code=error.code, payload=error.payload)
    if not status_store.move(message, statuses.QUEUED, by=PIPELINE, expected=statuses.SENDING, claim=claim,
                             line=line, claimed_by=None, send_job_id=job_id, enqueued_at=utcnow(),
                             phone_id=next_phone.id, attempts_before_resend=claim.attempt):
        return None
    log.info("message %d failed over from phone %d to phone %d", message.id, from_phone_id, next_phone.id)
    return job_id, message.id, 0


def an_answer_was_lost(message: Message) -> bool:
    """Whether an earlier attempt was sent again because its answer was lost: that one may have sent it."""
    for event in message.events:
        failed = failed_attempt(event)
        lost = failed.params.get("reason") if failed else None
        if isinstance(lost, _) and lost.msgid == SENT_AGAIN:
            return True
    return False


def record_already_accepted(message: Message, error: ProviderError, claim: Claim) -> None:
    """The provider refused a repeat of a request it had accepted: an earlier attempt sent it.
    Sent, with no provider id; the reason says why its reports cannot be matched. Does not commit."""
    line = Line(error.reason, error_code=error.code, payload=error.payload)
    if not status_store.move(message, statuses.SENT, by=PROVIDER, expected=statuses.SENDING, claim=claim, line=line):
        status_store.note(message.id, line)


def queue_unsent(message: Message, error: BrokerUnavailable, claim: Claim):
    """Queued again as if never claimed, to be sent once the broker is back. Returns its retry,
    as record_send_failure does. Does not commit."""
    delay = current_app.config["SEND_RETRY_BASE_SECONDS"]
    job_id = tasks.new_send_job_id()
    if status_store.move(message, statuses.QUEUED, by=PIPELINE, expected=statuses.SENDING, claim=claim,
                         line=Line(error.reason), claimed_by=None, attempt_count=claim.attempt - 1,
                         send_job_id=job_id, enqueued_at=utcnow() + timedelta(seconds=delay)):
        return job_id, message.id, delay
    return None


def first_status_poll_at(adapter, scheduled_at: datetime | None, now: datetime) -> datetime | None:
    """When to first ask the provider, for providers that report only when asked."""
    first_poll = adapter.status_poll_delay(0) if adapter.polls_statuses else None
    if first_poll is None:
        return None
    if scheduled_at is not None and scheduled_at.tzinfo is not None:
        scheduled_at = scheduled_at.astimezone(timezone.utc).replace(tzinfo=None)
    poll_from = scheduled_at if scheduled_at and scheduled_at > now else now
    return poll_from + timedelta(seconds=first_poll)


def apply_waiting_early_events(done: list) -> None:
    """Reports that outran the send (kept as early events) apply now that the provider ids are stored."""
    provider_ids_by_phone = {}
    for delivery, results in done:
        provider_ids_by_phone.setdefault(delivery.phone_id, []).extend(
            result.provider_message_id for result in results if isinstance(result, SendResult))
    adapters = {delivery.phone_id: delivery.adapter for delivery, _results in done}
    for phone_id, provider_ids in provider_ids_by_phone.items():
        # kept under this phone, or under another whose callback URLs OVH calls for both
        phone_ids = callback_scope_ids(phone_id, adapters[phone_id])
        waiting = db.session.scalars(select(EarlyStatusEvent.provider_message_id).distinct().where(
            EarlyStatusEvent.phone_id.in_(phone_ids), EarlyStatusEvent.provider_message_id.in_(provider_ids))).all()
        for provider_message_id in waiting:
            message = reports.find_outbound(phone_id, provider_message_id)
            if message is not None:
                reports.apply_early_status_events(message, phone_ids)


def send_later(message: Message, delay: float) -> None:
    """Back to the broker for a while; the message stays queued, carried by a new job."""
    job_id = tasks.new_send_job_id()
    db.session.execute(update(Message).where(Message.id == message.id).values(
        send_job_id=job_id, enqueued_at=utcnow() + timedelta(seconds=delay))
        .execution_options(synchronize_session=False))
    db.session.commit()
    enqueue_later([(job_id, message.id, delay)])


def enqueue_later(retries: list[tuple[str, int, float]]) -> None:
    """[(job id, message id, delay)]. Those the broker does not take, the sweep enqueues."""
    for done, (job_id, message_id, delay) in enumerate(retries):
        try:
            tasks.enqueue_send_later(job_id, message_id, delay)
        except Exception as broker_error:
            log.warning("could not schedule %d messages again: %s", len(retries) - done, broker_error)
            return
