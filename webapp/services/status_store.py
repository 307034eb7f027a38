"""The status store: the one owner of messages.status.

Every write of a message's status goes through here, whichever path makes it (a new message, a
claim, a send's answer, a provider's report, a poll, the sweep, a cancel, a deleted phone), and
writes in the same transaction the message's timeline row and one outbox event. The statuses a
move may come from are taken from the tables in webapp/statuses.py, never written by hand.

Single moves go through the ORM session; the pipeline's and the callbacks' batches through
statements built once. How a batch of provider reports is written, and how a conversation row is
upserted with its messages, depends on the database, and is chosen once, by init_app.
"""
import contextlib
import fcntl
import functools
import json
from dataclasses import dataclass
from datetime import datetime

from flask import current_app
from sqlalchemy import and_, bindparam, insert, or_, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url

from .. import statuses
from ..extensions import db
from ..models import Message, MessageEvent, OutboxEvent, utcnow
from ..providers.base import StatusEvent
from ..reasons import ATTEMPT, Reason, stored
from . import conversations

PIPELINE, PROVIDER = statuses.PIPELINE, statuses.PROVIDER


MAX_PAYLOAD_BYTES = 16 * 1024  # of a provider's payload kept per timeline row


def payload_text(payload) -> str | None:
    """The payload as stored: its first 16 KB, ending with a note that says so when it was longer.
    A provider (or anyone who knows a callback URL) may post megabytes, and every page that
    shows the message would read them back."""
    if payload is not None and not isinstance(payload, str):
        payload = json.dumps(payload, ensure_ascii=False, default=str)
    return cut_to_size(payload) if payload is not None else None


def stored_reason(reason) -> str | None:
    """A reason as stored; the provider's own words are cut like payloads."""
    text = stored(reason)
    return cut_to_size(text) if text is not None else None


def cut_to_size(text: str, limit: int = MAX_PAYLOAD_BYTES) -> str:
    encoded = text.encode("utf-8", "surrogatepass")
    if len(encoded) <= limit:
        return text
    note = f"… [payload cut at {limit // 1024} KB of {-(-len(encoded) // 1024)} KB]"
    kept = encoded[:limit - len(note.encode())].decode("utf-8", "ignore")  # not half a character
    return kept + note


def clipped(value, length: int):
    """Providers' codes go into sized columns: PostgreSQL refuses what is longer."""
    return value[:length] if isinstance(value, str) else value


@dataclass(frozen=True)
class Line:
    """What a timeline row says besides the status it moved to. reason: a Reason, translated when
    shown, or the provider's own words."""
    reason: Reason | str | None = None
    provider_status: str | None = None
    error_code: str | None = None
    payload: object = None
    at: datetime | None = None

    @classmethod
    def of_report(cls, event: StatusEvent) -> "Line":
        return cls(event.reason, event.provider_status, event.error_code, event.payload, event.occurred_at)


def timeline_row(message_id: int | None, status: str | None, line: Line = Line(), now: datetime | None = None) -> dict:
    return dict(message_id=message_id, status=status, provider_status=clipped(line.provider_status, 64),
                error_code=clipped(line.error_code, 40), reason=stored_reason(line.reason), payload=payload_text(line.payload),
                created_at=line.at or now or utcnow())


def outbox_row(kind: str, user_id: int, message_id: int | None = None, status: str | None = None,
               at: datetime | None = None, data: dict | None = None) -> dict:
    return dict(kind=kind, user_id=user_id, message_id=message_id, status=status, created_at=at or utcnow(),
                data=json.dumps(data, ensure_ascii=False, default=str) if data is not None else None)


def status_changed_row(user_id: int, message_id: int, status: str, at: datetime) -> dict:
    return outbox_row(OutboxEvent.MESSAGE_STATUS_CHANGED, user_id, message_id, status, at)


def write_rows(database, timeline: list[dict], outbox: list[dict]) -> None:
    if timeline:
        database.execute(insert(MessageEvent.__table__), timeline)
    if outbox:
        database.execute(insert(OutboxEvent.__table__), outbox)


def note(message_id: int, line: Line) -> None:
    """A timeline line that moves nothing (a report too late to count, a refused cancel)."""
    db.session.add(MessageEvent(**timeline_row(message_id, None, line)))


def note_report(message_id: int, status: str, line: Line) -> None:
    """A provider's report (saying `status`) that moves nothing is noted, unless it repeats the
    message's last line: providers send a report again until they get an answer, Twilio replays
    its callbacks."""
    if not repeats_last_line(message_id, status, line):
        note(message_id, line)


def repeats_last_line(message_id: int, status: str, line: Line) -> bool:
    """The same provider status, error code and payload; and the same status, if the last line
    moved the message (a noted line keeps no status)."""
    row = timeline_row(message_id, None, line)
    last = db.session.execute(select(MessageEvent.status, MessageEvent.provider_status, MessageEvent.error_code,
                                     MessageEvent.payload)
                              .where(MessageEvent.message_id == message_id)
                              .order_by(MessageEvent.id.desc()).limit(1)).first()
    return (last is not None and last.status in (None, status)
            and (last.provider_status, last.error_code, last.payload)
            == (row["provider_status"], row["error_code"], row["payload"]))


def record_event(kind: str, user_id: int, **details) -> None:
    """An outbox event that is not a status change (an opt-out), in the session's transaction."""
    db.session.execute(insert(OutboxEvent.__table__), [outbox_row(kind, user_id, **details)])


# ---- new messages ----

def add_queued(rows: list[dict], status: str = statuses.QUEUED) -> list[int]:
    """Writes new outbound messages, queued (or scheduled: held here until their time, see
    held_here), with their timeline and outbox rows; does not commit."""
    assert status in (statuses.QUEUED, statuses.SCHEDULED)
    now = utcnow()
    for row in rows:
        row.update(status=status, status_changed_at=now)
    message_ids = list(db.session.scalars(insert(Message).returning(Message.id, sort_by_parameter_order=True), rows))
    write_rows(db.session, [timeline_row(message_id, status, now=now) for message_id in message_ids],
               [status_changed_row(row["user_id"], message_id, status, now)
                for row, message_id in zip(rows, message_ids)])
    conversations.note_messages([(row["user_id"], row["remote_number"], message_id, False)
                                 for row, message_id in zip(rows, message_ids)], report_moves().upsert)
    return message_ids


def add_received(payload=None, **columns) -> Message:
    """Writes an incoming SMS; flushes, so that a duplicate provider id raises IntegrityError here."""
    message = Message(direction=Message.INBOUND, status=statuses.RECEIVED, status_changed_at=columns["created_at"],
                      **columns)
    db.session.add(message)
    db.session.flush()
    write_rows(db.session, [timeline_row(message.id, statuses.RECEIVED, Line(payload=payload, at=message.created_at))],
               [outbox_row(OutboxEvent.MESSAGE_RECEIVED, message.user_id, message.id, statuses.RECEIVED,
                           message.created_at)])
    conversations.note_messages([(message.user_id, message.remote_number, message.id, True)], report_moves().upsert)
    return message


# ---- one message ----

@dataclass(frozen=True)
class Claim:
    """Which worker's attempt holds a message in `sending`. A move made on behalf of a claim (its
    send's answer, the sweep's judgement of it) compares it: once the message was taken back and
    claimed again, the old claim's answer moves nothing."""
    worker: str | None
    attempt: int

    @classmethod
    def of(cls, message: Message) -> "Claim":
        return cls(message.claimed_by, message.attempt_count)


def move(message: Message, new_status: str, *, by: str, expected: str | None = None, line: Line = Line(),
         claim: Claim | None = None, **changes) -> bool:
    """Compare-and-set: moves the message only if `by` may make that move and nobody moved it
    since we read it (or from `expected`), and it is still held by `claim` if one is given.
    Writes its timeline and outbox rows; does not commit."""
    current = expected or message.status
    if not statuses.may_move(current, new_status, by):
        return False
    if "error_code" in changes:
        changes["error_code"] = clipped(changes["error_code"], 40)
    if "error_reason" in changes:
        changes["error_reason"] = stored_reason(changes["error_reason"])
    now = utcnow()
    still_held = (Message.claimed_by == claim.worker, Message.attempt_count == claim.attempt) if claim else ()
    result = db.session.execute(
        update(Message).where(Message.id == message.id, Message.status == current, *still_held)
        .values(status=new_status, status_changed_at=now, **changes)
        .execution_options(synchronize_session=False))
    if result.rowcount != 1:
        return False
    message.status = new_status
    for name, value in changes.items():
        setattr(message, name, value)
    write_rows(db.session, [timeline_row(message.id, new_status, line, now)],
               [status_changed_row(message.user_id, message.id, new_status, now)])
    return True


def keep_provider_id(message: Message, provider_message_id: str) -> None:
    """A provider's answer that came too late to move the status still names the message, so
    that its later reports find it."""
    db.session.execute(update(Message).where(Message.id == message.id, Message.provider_message_id.is_(None))
                       .values(provider_message_id=provider_message_id).execution_options(synchronize_session=False))
    message.provider_message_id = provider_message_id


# ---- the pipeline's batches ----

@functools.lru_cache(maxsize=None)
def claim_statement():
    """Built once: per-message ORM statements cost more CPU than the provider's HTTP call."""
    messages = Message.__table__
    return (update(messages)
            .where(messages.c.id.in_(bindparam("ids", expanding=True)),
                   messages.c.status.in_(statuses.sources(statuses.SENDING, PIPELINE)))
            .values(status=statuses.SENDING, status_changed_at=bindparam("now"),
                    attempt_count=messages.c.attempt_count + 1, claimed_by=bindparam("worker"))
            .returning(messages.c.id, messages.c.user_id, messages.c.remote_number, messages.c.body,
                       messages.c.attempt_count, messages.c.flash, messages.c.scheduled_at,
                       messages.c.attempts_before_resend))


def claim(message_ids: list[int], worker_name: str) -> list:
    """Moves the messages that are still queued to sending, for `worker_name`; returns their rows
    (those another worker took are left out), by id. Does not commit."""
    now = utcnow()
    claimed = sorted(db.session.execute(claim_statement(), dict(ids=message_ids, now=now, worker=worker_name)).all(),
                     key=lambda row: row.id)
    write_rows(db.session,
               [timeline_row(row.id, statuses.SENDING, Line(Reason(ATTEMPT, number=row.attempt_count)), now)
                for row in claimed],
               [status_changed_row(row.user_id, row.id, statuses.SENDING, now) for row in claimed])
    return claimed


@dataclass(frozen=True)
class Accepted:
    """A provider's answer that it took a message, for the claim it answers."""
    message_id: int
    user_id: int
    claim: Claim
    status: str  # sent, or scheduled when the provider sends it later
    provider_message_id: str
    provider_status: str | None = None
    payload: object = None
    first_poll_at: datetime | None = None


@functools.lru_cache(maxsize=None)
def accepted_statement():
    messages = Message.__table__
    return (update(messages)
            .where(messages.c.id == bindparam("message_id"), messages.c.status == statuses.SENDING,
                   messages.c.claimed_by == bindparam("worker"), messages.c.attempt_count == bindparam("attempt"))
            .values(status=bindparam("new_status"), status_changed_at=bindparam("now"),
                    provider_message_id=bindparam("provider_id"), next_status_poll_at=bindparam("first_poll")))


def record_accepted(answers: list[Accepted]) -> set[int]:
    """The common case of a send's answers, in a few statements: messages still in `sending` for
    the claim answered move to what the provider answered. Returns the ids moved; the others
    (moved meanwhile by the sweep, taken back and claimed again, or an answer that may not move
    from sending) are for the caller to judge one by one with move(). Does not commit."""
    answers = [answer for answer in answers if statuses.provider_may_move(statuses.SENDING, answer.status)]
    if not answers:
        return set()
    now = utcnow()
    changes = [dict(message_id=answer.message_id, worker=answer.claim.worker, attempt=answer.claim.attempt,
                    new_status=answer.status, now=now, provider_id=answer.provider_message_id,
                    first_poll=answer.first_poll_at) for answer in answers]
    updated = db.session.execute(accepted_statement(), changes).rowcount
    moved = {change["message_id"] for change in changes}
    if updated != len(changes):  # some were moved by someone else meanwhile (the sweep): find which
        moved = set(db.session.scalars(select(Message.id).where(Message.id.in_(moved),
                                                                 Message.status_changed_at == now)))
    written = [answer for answer in answers if answer.message_id in moved]
    write_rows(db.session,
               [timeline_row(answer.message_id, answer.status, Line(provider_status=answer.provider_status,
                                                                    payload=answer.payload), now)
                for answer in written],
               [status_changed_row(answer.user_id, answer.message_id, answer.status, now) for answer in written])
    return moved


# ---- SMS Desk's own schedule ----

def held_here(messages=Message.__table__):
    """Scheduled messages SMS Desk holds until their time: never claimed (a provider holds those
    it accepted for later, which were claimed to be sent to it)."""
    return and_(messages.c.status.in_(list(statuses.TRANSITIONS[statuses.SCHEDULE])), messages.c.attempt_count == 0)


def queue_scheduled(message_ids: list[int], job_id: str, line: Line, *conditions) -> list[int]:
    """Messages held here (and meeting `conditions`) go to the queue, carried by job_id: their
    time came, or the user said to send them now. A compare-and-set, so that two sweeps, or a
    sweep and a click, queue each one once. Returns the ids moved. Does not commit."""
    now = utcnow()
    messages = Message.__table__
    moved = db.session.execute(
        update(messages).where(messages.c.id.in_(message_ids), held_here(messages), *conditions)
        .values(status=statuses.QUEUED, status_changed_at=now, send_job_id=job_id, enqueued_at=now,
                held_late_at=None)
        .returning(messages.c.id, messages.c.user_id)).all()
    write_rows(db.session, [timeline_row(row.id, statuses.QUEUED, line, now) for row in moved],
               [status_changed_row(row.user_id, row.id, statuses.QUEUED, now) for row in moved])
    return sorted(row.id for row in moved)


def edit_held(message_ids: list[int], line: Line, **changes) -> list[int]:
    """The text (body, body_folded, encoding, segment_count) or the time (scheduled_at) of
    messages still held here, changed by their user; a new time clears a hold for lateness. A
    compare-and-set: one queued meanwhile (its time came) is left as it went. Returns the ids
    changed. Does not commit."""
    if "scheduled_at" in changes:
        changes["held_late_at"] = None
    messages = Message.__table__
    edited = db.session.execute(update(messages).where(messages.c.id.in_(message_ids), held_here(messages))
                                .values(**changes).returning(messages.c.id)).scalars().all()
    write_rows(db.session, [timeline_row(message_id, None, line) for message_id in edited], [])
    return sorted(edited)


def hold_late(message_ids: list[int], line: Line) -> list[int]:
    """Messages held here whose time passed long ago (SMS Desk was stopped) stay scheduled, held
    until the user sends them or cancels them; their timeline says why. Returns the ids held. Does
    not commit."""
    now = utcnow()
    messages = Message.__table__
    held = db.session.execute(
        update(messages).where(messages.c.id.in_(message_ids), held_here(messages), messages.c.held_late_at.is_(None))
        .values(held_late_at=now).returning(messages.c.id)).scalars().all()
    write_rows(db.session, [timeline_row(message_id, None, line, now) for message_id in held], [])
    return sorted(held)


def cancel_unsent_of_phone(phone_id: int, reason: Reason) -> int:
    """A deleted phone's messages that have not left yet are canceled. Does not commit."""
    return _cancel_unsent(Message.__table__.c.phone_id == phone_id, reason)


def cancel_unsent_of_campaign(campaign_id: int, reason: Reason) -> int:
    """A campaign's messages that have not left yet are canceled. Does not commit."""
    return _cancel_unsent(Message.__table__.c.campaign_id == campaign_id, reason)


def cancel_unsent_message(message_id: int, reason: Reason) -> bool:
    """A user's cancel of a message that has not left (queued, or held here for later). Does not commit."""
    return _cancel_unsent(Message.__table__.c.id == message_id, reason) == 1


def _cancel_unsent(condition, reason: Reason) -> int:
    """Queued messages, and those held here for later."""
    sources = statuses.sources(statuses.CANCELED, PIPELINE)
    now = utcnow()
    messages = Message.__table__
    canceled = db.session.execute(
        update(messages).where(condition, or_(messages.c.status.in_(sources), held_here(messages)))
        .values(status=statuses.CANCELED, status_changed_at=now)
        .returning(messages.c.id, messages.c.user_id)).all()
    write_rows(db.session, [timeline_row(row.id, statuses.CANCELED, Line(reason), now) for row in canceled],
               [status_changed_row(row.user_id, row.id, statuses.CANCELED, now) for row in canceled])
    return len(canceled)


def queue_again(user_id: int, message_ids: list[int], job_id: str, from_statuses: list[str], line: Line) -> list[int]:
    """A user's "send it again" of messages (at most one job's) in one of from_statuses: each
    goes back to queued for a new attempt, carried by job_id, with a timeline line; the attempts
    it had are kept (their count becomes the base of the new ones), the provider's id and the
    failure are cleared, so that a late report of the earlier attempt finds nothing. Returns the
    ids moved. Does not commit."""
    sources = [status for status in from_statuses if statuses.may_move(status, statuses.QUEUED, statuses.RESEND)]
    if not message_ids or not sources:
        return []
    now = utcnow()
    messages = Message.__table__
    moved = db.session.execute(
        update(messages).where(messages.c.id.in_(message_ids), messages.c.user_id == user_id,
                               messages.c.direction == Message.OUTBOUND, messages.c.status.in_(sources))
        .values(status=statuses.QUEUED, status_changed_at=now, attempts_before_resend=messages.c.attempt_count,
                claimed_by=None, provider_message_id=None, error_code=None, error_reason=None,
                send_job_id=job_id, enqueued_at=now, next_status_poll_at=None, status_poll_count=0)
        .returning(messages.c.id)).scalars().all()
    write_rows(db.session, [timeline_row(message_id, statuses.QUEUED, line, now) for message_id in moved],
               [status_changed_row(user_id, message_id, statuses.QUEUED, now) for message_id in moved])
    return sorted(moved)


# ---- provider reports, many at once ----

class ReportMoves:
    """Moves for a batch of provider reports, grouped by phones, status, recipient and failure:
    one UPDATE per group, then the timeline and outbox rows of all groups, in the caller's
    transaction. SQLite. Also the database's INSERT … ON CONFLICT (`upsert`), for the rows written
    with messages (their conversations)."""
    each_statement_commits = False
    upsert = staticmethod(sqlite.insert)

    def __init__(self, turn_path: str | None = None):
        self._turn_path, self._turn_file = turn_path, None

    @contextlib.contextmanager
    def taking_turns(self):
        """The web processes' writers wait for each other on a lock file, which wakes the next one
        as soon as it is free, where SQLite's own busy wait sleeps 1, 2, 5, 10... ms between tries
        (see the README's Performance section)."""
        if self._turn_path is None:
            yield
            return
        if self._turn_file is None:
            self._turn_file = open(self._turn_path, "a")
        fcntl.flock(self._turn_file, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(self._turn_file, fcntl.LOCK_UN)

    def move_group(self, database, group: dict, reports: list, index_by_id: dict) -> list:
        statement = move_reported_statement(group["number"] is not None, group["new_status"] == statuses.FAILED,
                                            len(group["phones"]) > 1)
        return database.execute(statement, group).all()

    def finish(self, database, reports: list, written: list[tuple[int, int, int]], now: datetime) -> None:
        """written: (message id, index of its report, user id) of each message moved."""
        write_rows(database, [reported_timeline_row(message_id, reports[index][1], now)
                              for message_id, index, _user_id in written],
                   [status_changed_row(user_id, message_id, reports[index][1].status, now)
                    for message_id, index, user_id in written])


class OneStatementReportMoves(ReportMoves):
    """PostgreSQL: a group's move, its timeline rows and its outbox rows in one statement, which
    commits on its own (see the README's Performance section)."""
    each_statement_commits = True
    upsert = staticmethod(postgresql.insert)

    def taking_turns(self):
        return contextlib.nullcontext()

    def move_group(self, database, group: dict, reports: list, index_by_id: dict) -> list:
        statement = move_with_timeline_statement(group["number"] is not None,
                                                 group["new_status"] == statuses.FAILED, len(group["phones"]) > 1)
        timeline = [dict(reported_timeline_row(None, reports[index][1], group["now"]),
                         provider_message_id=provider_message_id)
                    for provider_message_id, index in index_by_id.items()]
        return database.execute(statement, dict(group, timeline=json.dumps(timeline, default=str))).all()

    def finish(self, database, reports: list, written: list[tuple[int, int, int]], now: datetime) -> None:
        pass  # written by each group's statement


def init_app(app) -> None:
    url = make_url(app.config["SQLALCHEMY_DATABASE_URI"])
    if url.get_backend_name() == "postgresql":
        moves = OneStatementReportMoves()
    else:
        in_a_file = url.database not in (None, "", ":memory:")
        moves = ReportMoves(url.database + ".write-turn" if in_a_file else None)
    app.extensions["smsdesk_report_moves"] = moves


def report_moves() -> ReportMoves:
    return current_app.extensions["smsdesk_report_moves"]


@functools.lru_cache(maxsize=None)
def move_reported_statement(with_recipient: bool, failed: bool, several_phones: bool):
    """Built once: most of a callback's cost was Python building and running statements. A phone
    whose callbacks it shares with none (every provider but OVH) keeps a plain equality."""
    messages = Message.__table__
    phone = messages.c.phone_id.in_(bindparam("phones", expanding=True)) if several_phones \
        else messages.c.phone_id == bindparam("phone")
    query = update(messages).where(
        phone, messages.c.direction == Message.OUTBOUND,
        messages.c.provider_message_id.in_(bindparam("reported_ids", expanding=True)),
        messages.c.status.in_(bindparam("sources", expanding=True)))
    if with_recipient:
        query = query.where(messages.c.remote_number == bindparam("number"))
    changes = {"status": bindparam("new_status"), "status_changed_at": bindparam("now")}
    if failed:
        changes.update(error_code=bindparam("code"), error_reason=bindparam("why"))
    return query.values(**changes).returning(messages.c.id, messages.c.provider_message_id, messages.c.user_id)


@functools.lru_cache(maxsize=None)
def move_with_timeline_statement(with_recipient: bool, failed: bool, several_phones: bool):
    """The reports' columns travel as one JSON text: psycopg escapes a text array's elements
    character by character, which cost more than the rest of the statement."""
    failure = ", error_code = :code, error_reason = :why" if failed else ""
    phone = "phone_id = ANY(CAST(:phones AS integer[]))" if several_phones else "phone_id = :phone"
    recipient = " AND remote_number = :number" if with_recipient else ""
    return text(f"""
        WITH moved AS (
            UPDATE messages SET status = :new_status, status_changed_at = :now{failure}
            WHERE {phone} AND direction = '{Message.OUTBOUND}'{recipient}
              AND provider_message_id = ANY(CAST(:reported_ids AS varchar[]))
              AND status = ANY(CAST(:sources AS varchar[]))
            RETURNING id, provider_message_id, user_id),
        timeline AS (
            INSERT INTO message_events (message_id, status, provider_status, error_code, reason, payload, created_at)
            SELECT moved.id, :new_status, reported.provider_status, reported.error_code, reported.reason,
                   reported.payload, reported.created_at
            FROM moved JOIN json_to_recordset(CAST(:timeline AS json)) AS reported(
                provider_message_id varchar, provider_status varchar, error_code varchar, reason text,
                payload text, created_at timestamp) USING (provider_message_id)),
        outbox AS (
            INSERT INTO events (kind, user_id, message_id, status, created_at)
            SELECT '{OutboxEvent.MESSAGE_STATUS_CHANGED}', moved.user_id, moved.id, :new_status, :now FROM moved)
        SELECT id, provider_message_id, user_id FROM moved""")


def reported_timeline_row(message_id: int | None, event: StatusEvent, now: datetime) -> dict:
    return timeline_row(message_id, event.status, Line.of_report(event), now)


def move_reported(reports: list[tuple[tuple[int, ...], StatusEvent, str | None]], database=None,
                  moved: list | None = None) -> list[int | None]:
    """[(phone ids, report, normalized recipient or None)]: each message of one of the phones that
    exists and may move to its reported status moves, with its timeline and outbox rows. Returns, per
    report, the id of the message it moved, or None when the caller must judge it one by one (an unknown id, a backward
    move, the same message twice). Runs in `database` (a connection) or the session, without
    committing. A `moved` list given is filled in as each statement returns: where each statement
    commits on its own, what was written before an error stays known."""
    database = database or db.session
    moves = report_moves()
    now = utcnow()
    moved = [None] * len(reports) if moved is None else moved
    groups = {}
    for index, (phone_ids, event, number) in enumerate(reports):
        failed = event.status == statuses.FAILED
        key = (phone_ids, event.status, number, clipped(event.error_code, 40) if failed else None,
               event.reason if failed else None)
        groups.setdefault(key, {}).setdefault(event.provider_message_id, index)
    written = []
    for (phone_ids, status, number, code, why), index_by_id in groups.items():
        sources = statuses.sources(status, PROVIDER)
        if not sources:
            continue
        group = dict(phone=phone_ids[0], phones=list(phone_ids), reported_ids=list(index_by_id), sources=sources,
                     new_status=status, now=now, number=number, code=code, why=stored_reason(why))
        for message_id, provider_message_id, user_id in moves.move_group(database, group, reports, index_by_id):
            index = index_by_id[provider_message_id]
            moved[index] = message_id
            written.append((message_id, index, user_id))
    moves.finish(database, reports, written, now)
    return moved
