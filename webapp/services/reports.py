"""Provider status reports: from callbacks, polls and early reports, into the status store.

Callbacks' reports are written many per transaction through a group commit (webapp/group_commit.py):
written by each request thread in its own transaction, a report cost three statements and a
commit, and on SQLite the request threads queued for the write lock. A callback still answers only
once its reports are committed, so a 2xx still means stored.
"""
import contextlib
import logging
from dataclasses import asdict
from datetime import datetime

from flask import current_app
from sqlalchemy import delete, select

from .. import reasons, statuses
from ..extensions import db
from ..group_commit import GroupCommit, Pending
from ..models import EarlyStatusEvent, Message
from ..providers.base import StatusEvent
from . import status_store
from .status_store import Line, payload_text

log = logging.getLogger(__name__)


def as_phone_ids(phones: int | tuple[int, ...]) -> tuple[int, ...]:
    """Reports arrive for one phone, or for the phones whose callbacks land together (see
    Provider.callback_scope), the one whose URL was called first."""
    return phones if isinstance(phones, tuple) else (phones,)


def find_by_provider_id(phone_id: int, direction: str, provider_message_id: str) -> Message | None:
    return db.session.scalar(select(Message).where(
        Message.phone_id == phone_id, Message.direction == direction,
        Message.provider_message_id == provider_message_id))


def find_outbound(phones: int | tuple[int, ...], provider_message_id: str,
                  recipient: str | None = None) -> Message | None:
    from .messages import normalized_sender
    message = db.session.scalar(select(Message).where(
        Message.phone_id.in_(as_phone_ids(phones)), Message.direction == Message.OUTBOUND,
        Message.provider_message_id == provider_message_id).order_by(Message.id).limit(1))
    if message is not None and recipient and message.remote_number != normalized_sender(recipient):
        return None  # a report about another recipient of that provider id
    return message


def with_recipients(reports: list[tuple]) -> list[tuple[tuple[int, ...], StatusEvent, str | None]]:
    from .messages import normalized_sender
    return [(as_phone_ids(phones), event, normalized_sender(event.recipient) if event.recipient else None)
            for phones, event in reports]


def record_status_event(phones: int | tuple[int, ...], event: StatusEvent) -> None:
    """Applies a provider's report, and commits."""
    [moved] = status_store.move_reported(with_recipients([(phones, event)]))
    db.session.commit()
    if moved is None:
        judge_status_event(phones, event)


def apply_status_event(message: Message, event: StatusEvent) -> bool:
    """Applies one provider report; one that would move the status backwards is kept on the
    timeline but changes nothing. Commits."""
    failure = {"error_code": event.error_code, "error_reason": event.reason} if event.status == statuses.FAILED else {}
    line = Line.of_report(event)
    for _attempt in range(3):
        moved = status_store.move(message, event.status, by=statuses.PROVIDER, line=line, **failure)
        if moved or not statuses.provider_may_move(message.status, event.status):
            break
        db.session.refresh(message)  # someone else moved it meanwhile: judge again
    if not moved:
        status_store.note_report(message.id, event.status, line)
    db.session.commit()
    return moved


def judge_status_event(phones: int | tuple[int, ...], event: StatusEvent) -> None:
    """A report the common case could not apply: kept on the timeline if it would move the
    status backwards, kept for later (under the phone whose URL it came to) if its message is not
    known yet. Commits."""
    message = find_outbound(phones, event.provider_message_id, event.recipient)
    if message is not None:
        apply_status_event(message, event)
        return
    # The report outran the worker that is storing this provider id: keep it for later.
    stored = asdict(event)
    stored["occurred_at"] = event.occurred_at.isoformat() if event.occurred_at else None
    stored["payload"] = payload_text(event.payload)
    stored["reason"] = reasons.stored(event.reason)
    db.session.add(EarlyStatusEvent(phone_id=as_phone_ids(phones)[0], provider_message_id=event.provider_message_id,
                                    event=stored))
    db.session.commit()
    # The worker may have stored the id between our look-up and our insert; both sides check after writing.
    message = find_outbound(phones, event.provider_message_id, event.recipient)
    if message is not None:
        apply_early_status_events(message)


def apply_early_status_events(message: Message, phone_ids: tuple[int, ...] | None = None) -> None:
    """The reports kept for the message's provider id, come to its phone or to one of the phones
    whose callbacks land with its own (phone_ids, when the caller knows them)."""
    if phone_ids is None:
        from .phones import scope_ids_of
        phone_ids = scope_ids_of(message.phone)
    early_events = db.session.scalars(select(EarlyStatusEvent).where(
        EarlyStatusEvent.phone_id.in_(phone_ids),
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


# ---- callbacks' reports, written together ----

class ReportWriter:
    """The group commit of one web process, and the connection its batches keep on PostgreSQL."""

    def __init__(self, batch_limit: int = 200, wait_seconds: float = 30.0):
        self._connection = None
        self._group = GroupCommit(self._write, self._release_connection, batch_limit, wait_seconds)

    def write(self, phones: int | tuple[int, ...], events: list[StatusEvent]) -> None:
        """Returns once the events are committed; raises what writing them raised. phones: as for
        as_phone_ids."""
        self._group.submit((phones, events))

    def _write(self, batch: list[Pending]) -> None:
        write_batch([(pending.item[0], pending.item[1], pending.done) for pending in batch], self._kept_connection)

    def _kept_connection(self):
        """Where each statement commits on its own, one connection for batches that follow one
        another: taking one from the pool and setting it to autocommit cost a sixth of a batch.
        Only the leading callback uses it; it goes back to the pool when no callback is waiting."""
        if self._connection is not None and self._connection.invalidated:
            self._release_connection()
        if self._connection is None and status_store.report_moves().each_statement_commits:
            self._connection = reports_connection()
        return self._connection

    def _release_connection(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.close()


def report_writer() -> ReportWriter:
    writer = current_app.extensions.get("smsdesk_report_writer")
    if writer is None:  # setdefault: two threads may get here at once, one writer is kept
        writer = current_app.extensions.setdefault("smsdesk_report_writer", ReportWriter())
    return writer


def reports_connection():
    """A Core connection: the ORM session cost a third of the writer's time."""
    if status_store.report_moves().each_statement_commits:
        return db.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
    return db.engine.begin()


def kept_or_new(kept_connection):
    return contextlib.nullcontext(kept_connection) if kept_connection is not None else reports_connection()


def write_batch(batch: list[tuple[int | tuple, list[StatusEvent], object]], kept_connection=lambda: None) -> None:
    """[(phone id or ids, reports, future)]: writes the reports together, judges one by one those the
    common case could not apply, and answers each future. In the connection the writer keeps
    between batches if `kept_connection()` gives one, else in a new one."""
    reports = with_recipients([(phones, event) for phones, events, _done in batch for event in events])
    moved = [None] * len(reports)
    kept = None
    try:
        kept = kept_connection()
        with status_store.report_moves().taking_turns(), kept_or_new(kept) as connection:
            status_store.move_reported(reports, connection, moved)
    except Exception:
        log.exception("could not write %d status reports together; writing them one by one", len(reports))
        if kept is not None:
            kept.invalidate()  # it may be broken: the next batch takes another
        if not status_store.report_moves().each_statement_commits:  # rolled back with its transaction
            moved = [None] * len(reports)
    position = 0
    for phones, events, done in batch:
        try:
            for event, message_id in zip(events, moved[position:position + len(events)]):
                if message_id is None:
                    judge_status_event(phones, event)
            done.set_result(None)
        except Exception as error:
            db.session.rollback()
            done.set_exception(error)
        position += len(events)
