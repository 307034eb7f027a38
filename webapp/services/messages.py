"""Recording what happens to messages: queueing, provider reports, inbound SMS."""
import functools
import json
import logging
import uuid
from dataclasses import asdict
from datetime import datetime

from flask_babel import gettext as _
from redis.exceptions import RedisError
from sqlalchemy import bindparam, delete, insert, select, text, update
from sqlalchemy.exc import IntegrityError

from .. import broker, statuses
from ..extensions import db
from ..models import EarlyStatusEvent, Message, MessageEvent, OptOut, Phone, utcnow
from ..numbers import InvalidNumber, to_e164
from ..providers.base import InboundSms, OptOutNotice, StatusEvent
from ..sms_text import text_cost

log = logging.getLogger(__name__)


def payload_text(payload) -> str | None:
    if payload is None or isinstance(payload, str):
        return payload
    return json.dumps(payload, ensure_ascii=False, default=str)


def clipped(value, length: int):
    """Providers' codes go into sized columns: PostgreSQL refuses what is longer."""
    return value[:length] if isinstance(value, str) else value


def event_row(message_id: int, status: str | None, *, provider_status=None, error_code=None,
              reason=None, payload=None, at: datetime | None = None) -> dict:
    return dict(message_id=message_id, status=status, provider_status=clipped(provider_status, 64),
                error_code=clipped(error_code, 40), reason=reason, payload=payload_text(payload),
                created_at=at or utcnow())


def add_event(message_id: int, status: str | None, **details) -> None:
    db.session.add(MessageEvent(**event_row(message_id, status, **details)))


def queue_outbound(phone: Phone, numbers: list[str], body: str, flash: bool = False,
                   scheduled_at: datetime | None = None) -> list[int]:
    """Writes one queued message per number, commits, and only then enqueues their jobs.

    If the broker is down the messages stay queued and the sweep enqueues them later.
    scheduled_at (naive UTC) is for phones whose provider sends at a later date.
    """
    cost = text_cost(body)
    now = utcnow()
    batch = uuid.uuid4().hex
    job_ids = [broker.new_send_job_id() for _ in range(0, len(numbers), broker.SEND_JOB_SIZE)]
    rows = [dict(user_id=phone.user_id, phone_id=phone.id, direction=Message.OUTBOUND, remote_number=number,
                 body=body, encoding=cost.encoding, segment_count=cost.segments, status=statuses.QUEUED,
                 attempt_count=0, created_at=now, status_changed_at=now, enqueued_at=now, compose_batch=batch,
                 flash=flash, scheduled_at=scheduled_at, status_poll_count=0,
                 send_job_id=job_ids[position // broker.SEND_JOB_SIZE])
            for position, number in enumerate(numbers)]
    message_ids = list(db.session.scalars(insert(Message).returning(Message.id, sort_by_parameter_order=True),
                                          rows))
    db.session.execute(insert(MessageEvent), [dict(message_id=message_id, status=statuses.QUEUED, created_at=now)
                                              for message_id in message_ids])
    db.session.commit()
    size = broker.SEND_JOB_SIZE
    try:
        broker.enqueue_sends({job_id: message_ids[index * size:(index + 1) * size]
                              for index, job_id in enumerate(job_ids)})
    except RedisError as error:
        log.warning("broker unavailable, %d messages wait for the sweep: %s", len(message_ids), error)
    return message_ids


def move_status(message: Message, new_status: str, *, by_provider: bool, expected: str | None = None,
                **changes) -> bool:
    """Compare-and-set: moves the message only if nobody moved it since we read it."""
    current = expected or message.status
    allowed = statuses.provider_may_move if by_provider else statuses.pipeline_may_move
    if not allowed(current, new_status):
        return False
    if "error_code" in changes:
        changes["error_code"] = clipped(changes["error_code"], 40)
    result = db.session.execute(
        update(Message).where(Message.id == message.id, Message.status == current)
        .values(status=new_status, status_changed_at=utcnow(), **changes)
        .execution_options(synchronize_session=False))
    if result.rowcount != 1:
        return False
    message.status = new_status
    for name, value in changes.items():
        setattr(message, name, value)
    return True


def apply_status_event(message: Message, event: StatusEvent) -> bool:
    """Applies one provider report; one that would move the status backwards is kept on the
    timeline but changes nothing. Commits."""
    failure = {"error_code": event.error_code, "error_reason": event.reason} if event.status == statuses.FAILED else {}
    for _attempt in range(3):
        moved = move_status(message, event.status, by_provider=True, **failure)
        if moved or not statuses.provider_may_move(message.status, event.status):
            break
        db.session.refresh(message)  # someone else moved it meanwhile: judge again
    add_event(message.id, event.status if moved else None, provider_status=event.provider_status,
              error_code=event.error_code, reason=event.reason, payload=event.payload, at=event.occurred_at)
    db.session.commit()
    return moved


def find_by_provider_id(phone_id: int, direction: str, provider_message_id: str) -> Message | None:
    return db.session.scalar(select(Message).where(
        Message.phone_id == phone_id, Message.direction == direction,
        Message.provider_message_id == provider_message_id))


def find_outbound(phone_id: int, provider_message_id: str, recipient: str | None = None) -> Message | None:
    message = find_by_provider_id(phone_id, Message.OUTBOUND, provider_message_id)
    if message is not None and recipient and message.remote_number != normalized_sender(recipient):
        return None  # a report about another recipient of that provider id
    return message


@functools.lru_cache(maxsize=None)
def move_reported_statement(with_recipient: bool, failed: bool):
    """Built once: most of a callback's cost was Python building and running statements."""
    messages = Message.__table__
    query = update(messages).where(
        messages.c.phone_id == bindparam("phone"), messages.c.direction == Message.OUTBOUND,
        messages.c.provider_message_id.in_(bindparam("reported_ids", expanding=True)),
        messages.c.status.in_(bindparam("sources", expanding=True)))
    if with_recipient:
        query = query.where(messages.c.remote_number == bindparam("number"))
    changes = {"status": bindparam("new_status"), "status_changed_at": bindparam("now")}
    if failed:
        changes.update(error_code=bindparam("code"), error_reason=bindparam("why"))
    return query.values(**changes).returning(messages.c.id, messages.c.provider_message_id)


@functools.lru_cache(maxsize=None)
def move_with_timeline_statement(with_recipient: bool, failed: bool):
    """On PostgreSQL, the move and its timeline rows in one statement, so that it commits alone.
    The reports' columns travel as one JSON text: psycopg escapes a text array's elements
    character by character, which cost more than the rest of the statement."""
    failure = ", error_code = :code, error_reason = :why" if failed else ""
    recipient = " AND remote_number = :number" if with_recipient else ""
    return text(f"""
        WITH moved AS (
            UPDATE messages SET status = :new_status, status_changed_at = :now{failure}
            WHERE phone_id = :phone AND direction = '{Message.OUTBOUND}'{recipient}
              AND provider_message_id = ANY(CAST(:reported_ids AS varchar[]))
              AND status = ANY(CAST(:sources AS varchar[]))
            RETURNING id, provider_message_id),
        timeline AS (
            INSERT INTO message_events (message_id, status, provider_status, error_code, reason, payload, created_at)
            SELECT moved.id, :new_status, reported.provider_status, reported.error_code, reported.reason,
                   reported.payload, reported.created_at
            FROM moved JOIN json_to_recordset(CAST(:timeline AS json)) AS reported(
                provider_message_id varchar, provider_status varchar, error_code varchar, reason text,
                payload text, created_at timestamp) USING (provider_message_id))
        SELECT id, provider_message_id FROM moved""")


def move_reported_messages(reports: list[tuple[int, StatusEvent]], connection=None,
                           moved: list | None = None) -> list[int | None]:
    """The common case of many reports in a few statements, without committing: each message
    that exists and may move to its reported status moves, with its timeline row. Returns, per
    report, the id of the message it moved, or None when record_status_event must judge it
    (an unknown id, a backward move, the same message twice). Runs in `connection`, or the
    session's transaction. A `moved` list given is filled in as each statement returns: on a
    connection that commits each statement, what was written before an error stays known."""
    database = connection or db.session
    in_one_statement = (connection or db.session.get_bind()).dialect.name == "postgresql"
    now = utcnow()
    moved = [None] * len(reports) if moved is None else moved
    groups = {}
    for index, (phone_id, event) in enumerate(reports):
        failed = event.status == statuses.FAILED
        key = (phone_id, event.status, normalized_sender(event.recipient) if event.recipient else None,
               clipped(event.error_code, 40) if failed else None, event.reason if failed else None)
        groups.setdefault(key, {}).setdefault(event.provider_message_id, index)
    for (phone_id, status, number, code, why), index_by_id in groups.items():
        sources = statuses.provider_sources(status)
        if not sources:
            continue
        parameters = dict(phone=phone_id, reported_ids=list(index_by_id), sources=sources, new_status=status,
                          now=now, number=number, code=code, why=why)
        if in_one_statement:
            statement = move_with_timeline_statement(number is not None, status == statuses.FAILED)
            parameters["timeline"] = json.dumps([
                dict(timeline_row(None, reports[index][1], now), provider_message_id=provider_message_id)
                for provider_message_id, index in index_by_id.items()], default=str)
        else:
            statement = move_reported_statement(number is not None, status == statuses.FAILED)
        for message_id, provider_message_id in database.execute(statement, parameters):
            moved[index_by_id[provider_message_id]] = message_id
    if not in_one_statement:
        timeline = [timeline_row(message_id, event, now)
                    for (_phone_id, event), message_id in zip(reports, moved) if message_id is not None]
        if timeline:
            database.execute(insert(MessageEvent.__table__), timeline)
    return moved


def timeline_row(message_id: int | None, event: StatusEvent, now: datetime) -> dict:
    return event_row(message_id, event.status, provider_status=event.provider_status, error_code=event.error_code,
                     reason=event.reason, payload=event.payload, at=event.occurred_at or now)


def record_status_event(phone_id: int, event: StatusEvent) -> None:
    """Applies a provider's report, and commits."""
    [moved] = move_reported_messages([(phone_id, event)])
    db.session.commit()
    if moved is None:
        judge_status_event(phone_id, event)


def judge_status_event(phone_id: int, event: StatusEvent) -> None:
    """A report the common case could not apply: kept on the timeline if it would move the
    status backwards, kept for later if its message is not known yet. Commits."""
    message = find_outbound(phone_id, event.provider_message_id, event.recipient)
    if message is not None:
        apply_status_event(message, event)
        return
    # The report outran the worker that is storing this provider id: keep it for later.
    stored = asdict(event)
    stored["occurred_at"] = event.occurred_at.isoformat() if event.occurred_at else None
    stored["payload"] = payload_text(event.payload)
    db.session.add(EarlyStatusEvent(phone_id=phone_id, provider_message_id=event.provider_message_id,
                                    event=stored))
    db.session.commit()
    # The worker may have stored the id between our look-up and our insert; both sides check after writing.
    message = find_outbound(phone_id, event.provider_message_id, event.recipient)
    if message is not None:
        apply_early_status_events(message)


def apply_early_status_events(message: Message) -> None:
    early_events = db.session.scalars(select(EarlyStatusEvent).where(
        EarlyStatusEvent.phone_id == message.phone_id,
        EarlyStatusEvent.provider_message_id == message.provider_message_id).order_by(EarlyStatusEvent.id)).all()
    for early in early_events:
        # whoever deletes the row applies it, so it is applied once
        claimed = db.session.execute(delete(EarlyStatusEvent).where(EarlyStatusEvent.id == early.id)
                                     .execution_options(synchronize_session=False)).rowcount
        if not claimed:
            db.session.rollback()
            continue
        stored = dict(early.event)
        stored["occurred_at"] = datetime.fromisoformat(stored["occurred_at"]) if stored["occurred_at"] else None
        apply_status_event(message, StatusEvent(**stored))


def normalized_sender(sender: str) -> str:
    """Senders are stored in E.164 when they are numbers, so that replies land in the same conversation."""
    from flask import current_app
    try:
        return to_e164(sender, current_app.config["DEFAULT_PHONE_REGION"])
    except InvalidNumber:
        return sender.strip()[:32]  # an alphanumeric sender name


def record_inbound(phone, inbound: InboundSms) -> Message:
    """Stores an incoming SMS once, however many times the provider delivers it. `phone` is a
    Phone or a callback's CallbackPhone: its id and user_id are read."""
    existing = find_by_provider_id(phone.id, Message.INBOUND, inbound.provider_message_id)
    if existing is not None:
        return existing
    cost = text_cost(inbound.text)
    received_at = inbound.received_at or utcnow()
    message = Message(user_id=phone.user_id, phone_id=phone.id, direction=Message.INBOUND,
                      remote_number=normalized_sender(inbound.sender), body=inbound.text,
                      encoding=cost.encoding, segment_count=cost.segments, status=statuses.RECEIVED,
                      provider_message_id=inbound.provider_message_id, created_at=received_at,
                      status_changed_at=received_at)
    db.session.add(message)
    try:
        db.session.flush()
    except IntegrityError:  # the same SMS delivered twice at the same moment
        db.session.rollback()
        return find_by_provider_id(phone.id, Message.INBOUND, inbound.provider_message_id)
    add_event(message.id, statuses.RECEIVED, payload=inbound.payload, at=received_at)
    db.session.commit()
    return message


def record_opt_out(phone, notice: OptOutNotice) -> None:
    """The number replied STOP: kept once per user, with the first date it was seen. `phone` as
    for record_inbound."""
    number = normalized_sender(notice.number)
    if db.session.scalar(select(OptOut.id).where(OptOut.user_id == phone.user_id, OptOut.number == number)):
        return
    db.session.add(OptOut(user_id=phone.user_id, phone_id=phone.id, number=number,
                          opted_out_at=notice.opted_out_at or utcnow(), payload=payload_text(notice.payload)))
    try:
        db.session.commit()
    except IntegrityError:  # the same STOP reported twice at once
        db.session.rollback()


def opted_out_numbers(user_id: int, numbers: list[str]) -> dict[str, datetime]:
    rows = db.session.execute(select(OptOut.number, OptOut.opted_out_at).where(
        OptOut.user_id == user_id, OptOut.number.in_(numbers))).all()
    return dict(rows)


def cancel_queued(message: Message) -> bool:
    moved = move_status(message, statuses.CANCELED, by_provider=False, expected=statuses.QUEUED)
    if moved:
        add_event(message.id, statuses.CANCELED, reason=_("Canceled before it was sent."))
    db.session.commit()
    return moved
