"""Messages: composing and queueing outbound SMS, storing inbound ones, opt-outs.

Status changes go through the status store (status_store.py); provider reports through reports.py.
"""
import hashlib
import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask import current_app
from flask_babel import format_date, format_number
from flask_babel import gettext as _
from flask_babel import ngettext
from redis.exceptions import RedisError
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from .. import statuses, tasks
from ..extensions import db
from ..models import ComposeSubmission, Message, OptOut, Phone, utcnow
from ..numbers import InvalidNumber, normalize_all, to_e164
from ..providers import provider_class
from ..providers.base import Capability, InboundSms
from ..reasons import Reason
from ..sms_text import TextCost, text_cost
from . import opt_outs, quotas, status_store
from .reports import find_by_provider_id
from .status_store import Line

log = logging.getLogger(__name__)

MAX_INVALID_NUMBERS_SHOWN = 20


@dataclass
class Composed:
    """What came of a compose action: the messages queued, or the problems that stopped it, each
    for the field it is about (phone, numbers, body, flash, send_at, quota)."""
    message_ids: list[int] = field(default_factory=list)
    problems: dict[str, list[str]] = field(default_factory=dict)
    repeated: bool = False  # the submission had been made already: these are the messages it queued then
    left_out: int = 0  # numbers that opted out, not sent to
    opted_out: str | None = None  # the one number typed, which opted out: sent to only once the user confirms it
    # the numbers left out of the send, each as {"recipient", "code", "reason": a stored Reason's data}
    rejected: list[dict] = field(default_factory=list)
    key_reused: bool = False  # the submission token came with another request (an API call's other body)
    scheduled_at: datetime | None = None  # naive UTC: when they are to be sent, if later

    def refuse(self, about: str, problem: str) -> None:
        self.problems.setdefault(about, []).append(problem)

    def reject(self, recipient: str, code: str, reason: Reason) -> None:
        self.rejected.append({"recipient": recipient, "code": code, "reason": reason.as_data()})


INVALID_NUMBER, OPTED_OUT = "invalid_number", "opted_out"


def compose(user, phone_id: int | None, typed_numbers: list[str], body: str, flash: bool = False,
            scheduled_at: datetime | None = None, submission_token: str | None = None,
            send_to_opted_out: str | None = None, request_hash: str | None = None,
            leave_out_invalid: bool = False, rejected: list[dict] | None = None,
            pool_id: int | None = None) -> Composed:
    """Every rule about sending: a phone of the user's, valid numbers, none opted out, options the
    phone offers, a text its provider accepts, a date in the future. Queues one message per number when nothing is wrong.
    scheduled_at is naive UTC. submission_token: the form's one-time token (an API's
    Idempotency-Key): a submission made with it already, or being made at this moment, sends
    nothing more and answers the messages it queued. send_to_opted_out: the one number the user
    confirmed sending to although it opted out. request_hash: the API call's body, kept with its
    Idempotency-Key: the same key with another body sends nothing (key_reused). leave_out_invalid:
    invalid numbers are left out, each in `rejected` (the API), instead of refusing the whole send
    (the form, where the user corrects a typo). rejected: recipients the caller left out already
    (an API call's unknown contact ids), answered with the others. pool_id: one of the user's
    pools instead of a phone, whose worker chooses the phone at send time."""
    earlier = earlier_submission(user.id, submission_token, request_hash)
    if earlier is not None:
        return earlier
    composed = Composed(rejected=list(rejected or []), scheduled_at=scheduled_at)
    phone, pool_phones = sending_phones(user, phone_id, pool_id)
    if phone is None:
        composed.refuse("phone", _("Choose one of your phones."))
        return composed
    numbers, invalid = normalize_all(typed_numbers, current_app.config["DEFAULT_PHONE_REGION"])
    if leave_out_invalid:
        for error in invalid:
            composed.reject(error.typed, INVALID_NUMBER, Reason("%(number)s is not a valid number: %(reason)s.",
                                                                number=error.typed, reason=error.reason))
        invalid = [] if numbers else invalid[:1]  # nothing valid at all: the send is refused
    for error in invalid[:MAX_INVALID_NUMBERS_SHOWN]:
        composed.refuse("numbers", _("%(number)s is not a valid number: %(reason)s.",
                                     number=error.typed, reason=error.reason))
    if len(invalid) > MAX_INVALID_NUMBERS_SHOWN:
        composed.refuse("numbers", ngettext("… and %(num)d more invalid number.", "… and %(num)d more invalid numbers.",
                                            len(invalid) - MAX_INVALID_NUMBERS_SHOWN))
    numbers = leave_out_opted_out(composed, phone.user_id, numbers, send_to_opted_out)
    if not numbers and not invalid and not composed.problems:
        composed.refuse("numbers", _("Enter at least one number."))
    refuse_what_a_phone_cannot_send(composed, pool_phones, body, flash, scheduled_at)
    if composed.problems:
        return composed
    try:
        composed.message_ids = queue_outbound(phone, numbers, body, flash=flash, scheduled_at=scheduled_at,
                                              submission_token=submission_token, request_hash=request_hash,
                                              answer={"rejected": composed.rejected}, pool_id=pool_id)
    except SubmittedMeanwhile:
        return earlier_submission(user.id, submission_token, request_hash)
    except quotas.QuotaExceeded as exceeded:
        composed.refuse("quota", exceeded.reason())
    return composed


def sending_phones(user, phone_id: int | None, pool_id: int | None) -> tuple[Phone | None, list[Phone]]:
    """The phone a message is stored under until it is sent, and every phone that may send it: the
    one phone, or a pool's (stored under its first until its worker chooses). (None, []) when the
    user has no such phone or pool."""
    from .phones import user_phone_or_none
    from .pools import pool_phones, user_pool_or_none
    if pool_id is not None:
        pool = user_pool_or_none(user, pool_id)
        phones = pool_phones(pool) if pool is not None else []
        return (phones[0] if phones else None), phones
    phone = user_phone_or_none(user, phone_id) if phone_id is not None else None
    return phone, [phone] if phone else []


def refuse_what_a_phone_cannot_send(composed: Composed, phones: list[Phone], body: str, flash: bool,
                                    scheduled_at: datetime | None) -> None:
    """Options and a text every phone that may send it accepts: a pool's phone chosen at send time must."""
    for phone in phones:
        checked = Composed()
        refuse_unoffered_options(checked, phone, flash, scheduled_at)
        too_long = text_too_long(provider_class(phone.provider_key), body)
        if too_long:
            checked.refuse("body", too_long)
        for about, problems in checked.problems.items():
            for problem in problems:
                if problem not in composed.problems.get(about, []):
                    composed.refuse(about, problem)


def text_too_long(provider, body: str) -> str | None:
    """Why the phone's provider would refuse the text, naming its limit; None when it accepts it.
    A text is refused, never cut: a cut one would say something else."""
    length, limit = text_cost(body).length, provider.max_text_length
    if length <= limit:
        return None
    problem = _("This text counts %(length)s characters and %(provider)s accepts at most %(limit)s: "
                "shorten it by %(over)s. SMS Desk never cuts a text.", length=format_number(length),
                provider=provider.company, limit=format_number(limit), over=format_number(length - limit))
    if length != len(body):
        problem += " " + _("Some characters count two: € [ ] { } ^ ~ \\ | and emoji.")
    return problem


def refuse_unoffered_options(composed: Composed, phone: Phone, flash: bool, scheduled_at: datetime | None) -> None:
    """Flash only from a phone whose provider offers it; a later date from any phone (held here
    until then when its provider cannot schedule), in the future."""
    provider = provider_class(phone.provider_key)
    if flash and not provider.has(Capability.FLASH, phone.settings or {}):
        composed.refuse("flash", _("This phone cannot send flash SMS."))
    if scheduled_at is not None and scheduled_at <= utcnow():
        composed.refuse("send_at", _("Choose a time in the future."))


def scheduled_by_provider(phone: Phone) -> bool:
    """A message for later from this phone goes to its provider at once, which sends it then;
    from any other phone SMS Desk holds it, scheduled, and queues it when its time comes."""
    return provider_class(phone.provider_key).has(Capability.SCHEDULED_SEND, phone.settings or {})


def leave_out_opted_out(composed: Composed, user_id: int, numbers: list[str], confirmed: str | None) -> list[str]:
    """Numbers that opted out are left out of a send to several, and counted. A single number that
    opted out is sent to only when the user confirmed that very number (the one-off reply the law
    allows); until then the problem names the opt-out."""
    opted_out = opt_outs.opted_out_numbers(user_id, numbers)
    if len(numbers) == 1 and opted_out:
        [number] = numbers
        if confirmed == number:
            return numbers
        composed.opted_out = number
        since = format_date(opted_out[number].opted_out_at)
        if opted_out[number].source in (OptOut.KEYWORD, OptOut.PROVIDER):
            composed.refuse("numbers", _("%(number)s replied STOP on %(date)s and no longer wants your SMS.",
                                         number=number, date=since))
        else:
            composed.refuse("numbers", _("%(number)s is on your opt-out list since %(date)s.",
                                         number=number, date=since))
        return []
    kept = [number for number in numbers if number not in opted_out]
    composed.left_out = len(numbers) - len(kept)
    for number in numbers:
        if number in opted_out:
            composed.reject(number, OPTED_OUT, Reason("%(number)s opted out of your SMS on %(date)s.", number=number,
                                                      date=opted_out[number].opted_out_at.date().isoformat()))
    if numbers and not kept:
        composed.refuse("numbers", _("Every one of these numbers opted out: nothing to send."))
    return kept


# ---- one send per submission ----

SUBMISSIONS_KEPT = timedelta(days=1)


class SubmittedMeanwhile(Exception):
    """Another request with the same submission token committed first."""


def submission_key(token: str) -> str:
    """Tokens of any length in a sized column, and none kept as sent."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def earlier_submission(user_id: int, token: str | None, request_hash: str | None = None) -> Composed | None:
    """What the submission made with this token in the last day queued, or None. With a
    request_hash (an API call's), one made with another request is refused: key_reused."""
    if not token:
        return None
    earlier = db.session.execute(select(ComposeSubmission).where(
        ComposeSubmission.user_id == user_id, ComposeSubmission.token == submission_key(token),
        ComposeSubmission.created_at >= utcnow() - SUBMISSIONS_KEPT)).scalar()
    if earlier is None:
        return None
    if request_hash is not None and earlier.request_hash != request_hash:
        return Composed(key_reused=True)
    return Composed(message_ids=earlier.message_ids, repeated=True, rejected=(earlier.answer or {}).get("rejected", []))


def remember_submission(user_id: int, token: str, message_ids: list[int], request_hash: str | None = None,
                        answer: dict | None = None) -> None:
    """In the messages' transaction, so that they are written with their token or not at all."""
    db.session.execute(delete(ComposeSubmission).where(ComposeSubmission.user_id == user_id,
                                                       ComposeSubmission.created_at < utcnow() - SUBMISSIONS_KEPT))
    db.session.add(ComposeSubmission(user_id=user_id, token=submission_key(token), message_ids=message_ids,
                                     request_hash=request_hash, answer=answer))


def queue_outbound(phone: Phone, numbers: list[str], body: str, flash: bool = False,
                   scheduled_at: datetime | None = None, submission_token: str | None = None,
                   request_hash: str | None = None, answer: dict | None = None,
                   texts: list[tuple[str, TextCost]] | None = None, campaign_id: int | None = None,
                   pool_id: int | None = None) -> list[int]:
    """Writes one queued message per number (E.164, checked by compose), commits, and only then
    enqueues their jobs. If the broker is down the messages stay queued and the sweep enqueues
    them later. scheduled_at (naive UTC): a phone whose provider schedules gets them at once,
    to send then; from any other phone they are held here, scheduled, and the sweep queues them
    at their time (sweeps.queue_due_scheduled).
    texts: each number's own text and its cost (a campaign's placeholders filled), else `body`
    for all. pool_id: the pool whose worker chooses each message's phone (`phone` is its first).
    Raises SubmittedMeanwhile, having written nothing, when another request made the same
    submission first, and QuotaExceeded, having rolled back, when the user's quota has not
    their segments left."""
    cost = text_cost(body)
    texts = texts or [(body, cost)] * len(numbers)
    alert = take_from_quota(phone, sum(text_cost_of.segments for _text, text_cost_of in texts))
    now = utcnow()
    batch = uuid.uuid4().hex
    job_ids = [tasks.new_send_job_id() for _ in range(0, len(numbers), tasks.SEND_JOB_SIZE)]
    rows = [dict(user_id=phone.user_id, phone_id=phone.id, direction=Message.OUTBOUND, remote_number=number,
                 body=text, encoding=text_cost_of.encoding, segment_count=text_cost_of.segments,
                 attempt_count=0, created_at=now, enqueued_at=now, compose_batch=batch,
                 flash=flash, scheduled_at=scheduled_at, status_poll_count=0, campaign_id=campaign_id, pool_id=pool_id,
                 send_job_id=job_ids[position // tasks.SEND_JOB_SIZE])
            for position, (number, (text, text_cost_of)) in enumerate(zip(numbers, texts))]
    # a pool's worker chooses the phone when it sends: held here, whatever its first phone can do
    hold_here = scheduled_at is not None and (pool_id is not None or not scheduled_by_provider(phone))
    if hold_here:
        for row in rows:
            row.update(send_job_id=None, enqueued_at=None)
    message_ids = status_store.add_queued(rows, statuses.SCHEDULED if hold_here else statuses.QUEUED)
    if submission_token:
        remember_submission(phone.user_id, submission_token, message_ids, request_hash, answer)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        if submission_token and earlier_submission(phone.user_id, submission_token):
            raise SubmittedMeanwhile() from None
        raise
    quotas.mail_alert_later(phone.user_id, alert)
    if hold_here:
        return message_ids
    size = tasks.SEND_JOB_SIZE
    try:
        tasks.enqueue_sends({job_id: message_ids[index * size:(index + 1) * size]
                             for index, job_id in enumerate(job_ids)})
    except RedisError as error:
        log.warning("broker unavailable, %d messages wait for the sweep: %s", len(message_ids), error)
    return message_ids


def take_from_quota(phone: Phone, segments: int) -> int | None:
    """The user's quota, taken in the messages' transaction; refused, nothing of the send is kept."""
    try:
        return quotas.take(phone.user_id, segments)
    except quotas.QuotaExceeded:
        db.session.rollback()
        quotas.mail_alert_later(phone.user_id, quotas.note_refused(phone.user_id))
        raise


def normalized_sender(sender: str) -> str:
    """Senders are stored in E.164 when they are numbers, so that replies land in the same conversation."""
    try:
        return to_e164(sender, current_app.config["DEFAULT_PHONE_REGION"])
    except InvalidNumber:
        return sender.strip()[:32]  # an alphanumeric sender name


def record_inbound(phone, inbound: InboundSms) -> Message:
    """Stores an incoming SMS once, however many times the provider delivers it, with the opt-out
    change its keyword makes (STOP, START). `phone` is a Phone or a callback's CallbackPhone: its
    id and user_id are read."""
    existing = find_by_provider_id(phone.id, Message.INBOUND, inbound.provider_message_id)
    if existing is not None:
        return existing
    cost = text_cost(inbound.text)
    try:
        message = status_store.add_received(
            user_id=phone.user_id, phone_id=phone.id, remote_number=normalized_sender(inbound.sender),
            body=inbound.text, encoding=cost.encoding, segment_count=cost.segments,
            provider_message_id=inbound.provider_message_id, created_at=inbound.received_at or utcnow(),
            payload=inbound.payload)
    except IntegrityError:  # the same SMS delivered twice at the same moment
        db.session.rollback()
        return find_by_provider_id(phone.id, Message.INBOUND, inbound.provider_message_id)
    keyword_change = opt_outs.apply_keyword(phone, message)
    try:
        db.session.commit()
    except IntegrityError:  # its STOP was recorded meanwhile (the provider's notice of it): store the SMS alone
        db.session.rollback()
        return record_inbound(phone, inbound)
    if keyword_change is not None:
        opt_outs.finish_keyword_change(phone, message, keyword_change)
    return message


CANCELED, PROVIDER_ASKED, TOO_LATE = "canceled", "provider asked", "too late"


def held_here(message: Message) -> bool:
    """Scheduled, and held by SMS Desk until its time (see status_store.held_here)."""
    return (message.is_outbound and message.status in statuses.TRANSITIONS[statuses.SCHEDULE]
            and message.attempt_count == 0)


def held_for_later_by_provider(message: Message) -> bool:
    """A message for a later date, at a provider that can cancel it until then."""
    return (message.scheduled_at is not None and message.scheduled_at > utcnow() and not held_here(message)
            and provider_class(message.phone.provider_key).has(Capability.CANCEL, message.phone.settings or {}))


def cancelable_statuses(message: Message) -> list[str]:
    """The statuses in which the message may be canceled: before it leaves (held here for later
    too), and, held by its provider for a later date, while the provider holds it."""
    if not message.is_outbound:
        return []
    held = held_for_later_by_provider(message)
    return [status for status in statuses.OUTBOUND_STATUSES
            if statuses.cancelable_here(status) or (held and statuses.cancelable_at_provider(status))
            or (held_here(message) and status == message.status)]


def cancel(message: Message) -> str:
    """Cancels it here if it has not left, else asks its provider if the provider holds it for
    later: CANCELED, PROVIDER_ASKED or TOO_LATE. Raises RedisError when the worker cannot be asked."""
    if cancel_queued(message):
        return CANCELED
    if statuses.cancelable_at_provider(message.status) and held_for_later_by_provider(message):
        tasks.cancel_at_provider(message.id)
        return PROVIDER_ASKED
    return TOO_LATE


def cancel_queued(message: Message) -> bool:
    """Queued, or held here for later: canceled. Commits."""
    moved = status_store.cancel_unsent_message(message.id, Reason("Canceled before it was sent."))
    db.session.commit()
    db.session.refresh(message)
    return moved


SENT_NOW = Reason("Sent now at the user's request, before its time.")
SENT_NOW_LATE = Reason("Sent at the user's request, after its time had passed.")


def send_now(message: Message) -> bool:
    """A message held here for later is queued now (the user's "Send now", its time passed or
    not). False when it is no longer held here. Commits, then enqueues."""
    late = message.scheduled_at is not None and message.scheduled_at <= utcnow()
    job_id = tasks.new_send_job_id()
    moved = status_store.queue_scheduled([message.id], job_id, Line(SENT_NOW_LATE if late else SENT_NOW))
    db.session.commit()
    db.session.refresh(message)
    if moved:
        try:
            tasks.enqueue_sends({job_id: moved})
        except RedisError as error:
            log.warning("broker unavailable, message %d waits for the sweep: %s", message.id, error)
    return bool(moved)
