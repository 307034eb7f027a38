"""Reading messages back: history with filters, conversations, the dashboard's counts.

Every query starts from the current user's id, so another user's rows are never reachable.
Lists are paginated by id (keyset), which stays fast deep into a long history.
"""
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone

from sqlalchemy import Integer, column, func, select, table, text
from sqlalchemy.orm import joinedload

from .. import statuses
from ..extensions import db
from ..folding import folded
from ..models import Message, utcnow
from ..templating import local_to_utc, user_zone
from .phones import user_phones

PAGE_SIZE = 50


@dataclass
class HistoryFilters:
    phone_id: int | None = None
    status: str | None = None
    direction: str | None = None
    number: str | None = None
    text: str | None = None
    date_from: date | None = None
    date_to: date | None = None


def _utc_start_of(day: date) -> datetime:
    """Midnight in the user's time zone, as the naive UTC the database holds."""
    return local_to_utc(datetime.combine(day, time.min))


def whole_number(typed: str) -> str | None:
    from flask import current_app
    from ..numbers import InvalidNumber, to_e164
    try:
        return to_e164(typed, current_app.config["DEFAULT_PHONE_REGION"])
    except InvalidNumber:
        return None


def number_condition(typed: str):
    """A whole number is looked up exactly (an index finds it); one begun in national form ("0612")
    as the E.164 numbers it begins (+33612…, not +33630612…); any other digits anywhere in the number."""
    from flask import current_app
    from ..numbers import national_prefix_as_e164
    number = whole_number(typed)
    if number:
        return Message.remote_number == number
    prefix = national_prefix_as_e164(typed, current_app.config["DEFAULT_PHONE_REGION"])
    if prefix:
        return begins_with(Message.remote_number, prefix)
    return Message.remote_number.contains(typed.strip(), autoescape=True)


def begins_with(column, prefix: str):
    """The numbers that begin with "+digits", as a range the (user, number) index reads: ":" comes
    just after "9". SQLite's LIKE 'prefix%' cannot use that index and read the whole history when
    few numbers matched."""
    return (column >= prefix) & (column < prefix + ":")


# SQLite's full-text table of trigrams over the message bodies (migration 0007); rowid is the message id
messages_text = table("messages_text", column("rowid", Integer), column("messages_text"))


def uses_text_table() -> bool:
    return db.session.scalar(text("SELECT 1 FROM sqlite_master WHERE name = 'messages_text'")) is not None


def with_text(query, typed: str, narrow_already: bool):
    """The query narrowed to the messages whose text contains what was typed, whatever its case and
    accents (both sides folded: "ASSEMBLEE" finds "assemblée"), and the column to order and bound it by.

    On SQLite the trigram table drives the search, newest first, so that order and bounds must be
    on its rowid. A search of fewer than 3 characters, or within one number's messages (which its
    index already narrows), reads the messages themselves.
    On PostgreSQL each search is planned for its own text: a trigram index scan when it is rare, a
    walk down the newest messages when it is common. psycopg prepares a statement run 5 times on a
    connection, after which PostgreSQL may plan once for any text and walk for all (2 s)."""
    typed = folded(typed.strip())
    dialect = db.session.get_bind().dialect.name
    if dialect == "sqlite" and len(typed) >= 3 and not narrow_already and uses_text_table():
        phrase = '"' + typed.replace('"', '""') + '"'
        query = query.join(messages_text, messages_text.c.rowid == Message.id)
        return query.where(messages_text.c.messages_text.match(phrase)), messages_text.c.rowid
    if dialect == "postgresql":
        db.session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))  # for this transaction
    return query.where(Message.body_folded.contains(typed, autoescape=True)), Message.id


def filtered_messages(user, filters: HistoryFilters):
    """The user's messages that pass the filters, and the column to order and bound them by."""
    query = select(Message).where(Message.user_id == user.id)
    if filters.phone_id:
        query = query.where(Message.phone_id == filters.phone_id)
    if filters.status:
        query = query.where(Message.status == filters.status)
    if filters.direction:
        query = query.where(Message.direction == filters.direction)
    if filters.number:
        query = query.where(number_condition(filters.number))
    if filters.date_from:
        query = query.where(Message.created_at >= _utc_start_of(filters.date_from))
    if filters.date_to:
        query = query.where(Message.created_at < _utc_start_of(filters.date_to + timedelta(days=1)))
    if filters.text and folded(filters.text.strip()):
        return with_text(query, filters.text, narrow_already=bool(filters.number and whole_number(filters.number)))
    return query, Message.id


def newest_id_of(user):
    """Bounds a walk along the message ids to this user's rows. Without it, PostgreSQL may walk
    backwards through every newer message of other users before reaching the first of this one's
    (861 ms instead of 0.7 ms with a million messages each)."""
    return select(func.max(Message.id)).where(Message.user_id == user.id).scalar_subquery()


def history_page(user, filters: HistoryFilters, before_id: int | None = None, limit: int = PAGE_SIZE):
    """Newest first; returns the page and the id to continue from, or None on the last page."""
    query, message_id = filtered_messages(user, filters)
    if before_id:
        query = query.where(message_id < before_id)
    else:
        query = query.where(message_id <= newest_id_of(user))
    rows = db.session.scalars(query.order_by(message_id.desc()).limit(limit + 1)).all()
    next_before = rows[limit - 1].id if len(rows) > limit else None
    return rows[:limit], next_before


def newer_page(user, filters: HistoryFilters, after_id: int, limit: int = PAGE_SIZE):
    """The page just newer than after_id, newest first, and the id its own "newer" link continues
    after, or None when it reaches the newest message."""
    query, message_id = filtered_messages(user, filters)
    query = query.where(message_id > after_id, message_id <= newest_id_of(user))
    rows = db.session.scalars(query.order_by(message_id).limit(limit + 1)).all()
    next_after = rows[limit - 1].id if len(rows) > limit else None
    return list(reversed(rows[:limit])), next_after


COUNT_CAP = 10_000
# a text search's matches are checked one by one in the trigram index, so its count stops sooner
# (README, Performance)
TEXT_COUNT_CAP = 1_000


def filtered_total(user, filters: HistoryFilters) -> tuple[int, bool]:
    """How many messages pass the filters, counting no further than a cap (a million rows would
    take seconds to count); and whether there are more."""
    cap = TEXT_COUNT_CAP if filters.text and folded(filters.text.strip()) else COUNT_CAP
    query, message_id = filtered_messages(user, filters)
    found = query.with_only_columns(message_id).where(message_id <= newest_id_of(user)).limit(cap + 1)
    total = db.session.scalar(select(func.count()).select_from(found.subquery()))
    return min(total, cap), total > cap


EXPORT_BATCH = 2000


def export_rows(user, filters: HistoryFilters):
    """Every message that passes the filters, newest first, read in keyset batches so that a
    million rows never sit in memory; each batch in its own short read, so that no transaction
    stays open for the whole download."""
    before_id = None
    while True:
        rows, before_id = history_page(user, filters, before_id=before_id, limit=EXPORT_BATCH)
        yield from rows
        db.session.rollback()
        if before_id is None:
            return


EXPORT_COLUMNS = ("date", "direction", "phone", "number", "status", "text", "error_reason")


def spreadsheet_safe(value: str) -> str:
    """A text a spreadsheet would run as a formula (=, +, -, @ first) is given a leading quote."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def export_csv_lines(user, filters: HistoryFilters):
    """The filtered history as CSV lines, newest first; dates in the user's time zone, the reason
    of a failure in their language."""
    from .. import reasons
    from .opt_outs import csv_line
    zone = user_zone()
    phone_names = {phone.id: phone.name for phone in user_phones(user)}
    yield csv_line(EXPORT_COLUMNS)
    for message in export_rows(user, filters):
        local = message.created_at.replace(tzinfo=timezone.utc).astimezone(zone)
        yield csv_line((local.strftime("%Y-%m-%d %H:%M:%S"), message.direction,
                        spreadsheet_safe(phone_names.get(message.phone_id, "")), message.remote_number,
                        message.status, spreadsheet_safe(message.body),
                        spreadsheet_safe(reasons.shown(message.error_reason))))


def messages_after(user, filters: HistoryFilters, after_id: int, limit: int = 200):
    query, message_id = filtered_messages(user, filters)
    query = query.where(message_id > after_id, message_id <= newest_id_of(user))
    return db.session.scalars(query.order_by(message_id).limit(limit)).all()


def user_message(user, message_id: int) -> Message | None:
    # with its timeline in the same query, so that its status and its events agree
    return db.session.scalar(select(Message).options(joinedload(Message.events))
                             .where(Message.id == message_id, Message.user_id == user.id))


def message_statuses(user, message_ids: list[int]) -> list[Message]:
    if not message_ids:
        return []
    return db.session.scalars(select(Message).where(Message.user_id == user.id,
                                                    Message.id.in_(message_ids[:500]))).all()


def conversation(user, number: str, before_id: int | None = None, limit: int = 100):
    """Oldest first, ending with the newest message."""
    query = select(Message).where(Message.user_id == user.id, Message.remote_number == number)
    if before_id:
        query = query.where(Message.id < before_id)
    rows = db.session.scalars(query.order_by(Message.id.desc()).limit(limit + 1)).all()
    earlier = rows[limit - 1].id if len(rows) > limit else None
    return list(reversed(rows[:limit])), earlier


def conversation_after(user, number: str, after_id: int, limit: int = 200):
    return db.session.scalars(select(Message).where(
        Message.user_id == user.id, Message.remote_number == number, Message.id > after_id)
        .order_by(Message.id).limit(limit)).all()


# Written as expressions so that SQLite's planner takes the (user, date) index: given the bare
# columns it prefers the (user, status) index for the grouping, and reads every message of the user.
def _unindexed(column):
    return column.concat("") if column.type.python_type is str else column + 0


def status_counts(user, since: datetime) -> dict[str, int]:
    """{status: how many of the user's messages created since then}, the statuses with none left out.
    One count per status, each a range of the index on (user, status, created_at), in one statement:
    grouping the range of (user, created_at) sorts a week of messages (see README, Performance)."""
    counts = [select(func.count()).where(Message.user_id == user.id, Message.status == status,
                                         Message.created_at >= since).scalar_subquery().label(status)
              for status in ALL_STATUSES]
    row = db.session.execute(select(*counts)).one()
    return {status: count for status, count in zip(ALL_STATUSES, row) if count}


ALL_STATUSES = (*statuses.OUTBOUND_STATUSES, statuses.RECEIVED)


def status_counts_plainly(user, since: datetime) -> dict[str, int]:
    """What status_counts answers, written plainly (for the test that both agree)."""
    return dict(db.session.execute(select(Message.status, func.count()).where(
        Message.user_id == user.id, Message.created_at >= since).group_by(Message.status)).all())


def phone_health(user) -> list[dict]:
    """Each phone's last connection test, last callback and failures over the last day."""
    since = utcnow() - timedelta(days=1)
    phone_id = _unindexed(Message.phone_id)
    failures = dict(db.session.execute(select(phone_id, func.count()).where(
        Message.user_id == user.id, _unindexed(Message.status) == statuses.FAILED, Message.created_at >= since)
        .group_by(phone_id)).all())
    return [{"phone": phone, "failures_today": failures.get(phone.id, 0)} for phone in user_phones(user)]
