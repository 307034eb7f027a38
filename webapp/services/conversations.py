"""Conversations: one row per user and remote number (webapp.models.Conversation), with the last
message and the number of unread incoming SMS. The one writer of that table.

The status store calls note_messages in the transaction that writes messages, so the list and the
unread badge never group the messages themselves (a million of them, from 100,000 numbers).
Every query starts from the user's id; lists are paginated by the last message's id (keyset).
"""
from dataclasses import dataclass

from flask import current_app
from sqlalchemy import case, exists, func, or_, select, update

from .. import statuses
from ..extensions import db
from ..models import Conversation, Message
from ..numbers import national_prefix_as_e164
from . import contacts
from .history import HistoryFilters, filtered_messages, whole_number

PAGE_SIZE = 50
# A text found in fewer messages than this is searched through them (an index finds them); a
# more common one by walking the conversations, newest first, until a page is full.
TEXT_PROBE = 2000
TOAST_TEXT_LENGTH = 80


# ---- kept in step with the messages ----

def upsert_statement(insert, rows: list[dict]):
    """insert: the database's INSERT … ON CONFLICT (sqlalchemy.dialects' sqlite.insert or postgresql.insert)."""
    statement = insert(Conversation).values(rows)
    table = Conversation.__table__.c
    newer = statement.excluded.last_message_id > table.last_message_id
    return statement.on_conflict_do_update(
        index_elements=[table.user_id, table.remote_number],
        set_={"last_message_id": case((newer, statement.excluded.last_message_id), else_=table.last_message_id),
              "unread_count": table.unread_count + statement.excluded.unread_count})


def note_messages(messages: list[tuple[int, str, int, bool]], insert) -> None:
    """(user id, remote number, message id, incoming) of messages just written, in their
    transaction: each conversation's last message moves to the newest, and its incoming SMS
    count as unread. insert: the database's upserting INSERT, which the status store chose at
    start-up."""
    summed: dict[tuple[int, str], dict] = {}
    for user_id, number, message_id, incoming in messages:
        row = summed.setdefault((user_id, number), dict(user_id=user_id, remote_number=number,
                                                        last_message_id=message_id, unread_count=0))
        row["last_message_id"] = max(row["last_message_id"], message_id)
        row["unread_count"] += 1 if incoming else 0
    # in one order, so that two sends to the same numbers lock their rows alike (PostgreSQL)
    rows = [summed[key] for key in sorted(summed)]
    for start in range(0, len(rows), 500):  # within SQLite's limit of bound parameters
        db.session.execute(upsert_statement(insert, rows[start:start + 500]))


def rebuild() -> None:
    """From the messages, for rows written around the status store (the bench's bulk load):
    what the migration does. Incoming SMS already stored count as read."""
    db.session.execute(Conversation.__table__.delete())
    db.session.execute(Conversation.__table__.insert().from_select(
        ["user_id", "remote_number", "last_message_id", "unread_count"],
        select(Message.user_id, Message.remote_number, func.max(Message.id), 0)
        .group_by(Message.user_id, Message.remote_number)))
    db.session.commit()


# ---- read and unread ----

def unread_total(user) -> int:
    """The partial index holds only the conversations with unread SMS."""
    return db.session.scalar(select(func.coalesce(func.sum(Conversation.unread_count), 0)).where(
        Conversation.user_id == user.id, Conversation.unread_count > 0))


def unread_in(user, number: str) -> int:
    return db.session.scalar(select(Conversation.unread_count).where(
        Conversation.user_id == user.id, Conversation.remote_number == number)) or 0


def mark_read(user, number: str, up_to_id: int) -> None:
    """The conversation was shown up to that message: the incoming SMS after it (arrived since
    the page was read) stay unread. Commits, when there was something to read: a conversation
    opened takes no write lock for nothing (SQLite has one for the whole database)."""
    if not unread_in(user, number):
        return
    after = (select(func.count()).where(Message.user_id == user.id, Message.remote_number == number,
                                        Message.direction == Message.INBOUND, Message.id > up_to_id)
             .scalar_subquery())
    db.session.execute(update(Conversation).where(
        Conversation.user_id == user.id, Conversation.remote_number == number, Conversation.unread_count > 0)
        .values(unread_count=after))
    db.session.commit()


def mark_unread(user, number: str) -> bool:
    """By hand: the conversation shows as unread (one, if none of its SMS was) until opened again."""
    result = db.session.execute(update(Conversation).where(
        Conversation.user_id == user.id, Conversation.remote_number == number)
        .values(unread_count=case((Conversation.unread_count > 0, Conversation.unread_count), else_=1)))
    db.session.commit()
    return result.rowcount == 1


def mark_all_read(user, number: str) -> bool:
    result = db.session.execute(update(Conversation).where(
        Conversation.user_id == user.id, Conversation.remote_number == number).values(unread_count=0))
    db.session.commit()
    return result.rowcount == 1


# ---- the list ----

@dataclass
class Search:
    number: str | None = None
    text: str | None = None


def number_condition(typed: str):
    """A whole number is found exactly; one begun in national form ("0612") as the E.164 numbers
    it begins (+33612…, not +33630612…); any other digits anywhere in the number."""
    region = current_app.config["DEFAULT_PHONE_REGION"]
    number = whole_number(typed)
    if number:
        return Conversation.remote_number == number
    prefix = national_prefix_as_e164(typed, region)
    if prefix:
        return Conversation.remote_number.startswith(prefix, autoescape=True)
    return Conversation.remote_number.contains(typed.strip(), autoescape=True)


def text_condition(user, typed: str):
    """Conversations with a message holding the text. A rare text is looked up through the text
    index, and its few numbers listed; a common one is checked conversation by conversation, and
    the walk stops as soon as a page is full."""
    matching, _ = filtered_messages(user, HistoryFilters(text=typed))
    found = db.session.scalars(select(matching.subquery().c.remote_number).limit(TEXT_PROBE)).all()
    if len(found) < TEXT_PROBE:
        return Conversation.remote_number.in_(set(found))
    return exists().where(Message.user_id == Conversation.user_id,
                          Message.remote_number == Conversation.remote_number,
                          Message.body.icontains(typed.strip(), autoescape=True))


def conversations_page(user, search: Search = Search(), before_id: int | None = None, limit: int = PAGE_SIZE):
    """Newest activity first; returns the page and the last message id to continue from, or None
    on the last page."""
    query = select(Conversation).where(Conversation.user_id == user.id)
    if search.number and search.number.strip():
        query = query.where(number_condition(search.number))
    if search.text and search.text.strip():  # or a contact's name, or a sender's name (INFO-BANK)
        query = query.where(or_(text_condition(user, search.text),
                                Conversation.remote_number.in_(contacts.numbers_found_by(user.id, search.text)),
                                Conversation.remote_number.icontains(search.text.strip(), autoescape=True)))
    if before_id:
        query = query.where(Conversation.last_message_id < before_id)
    rows = db.session.scalars(query.order_by(Conversation.last_message_id.desc()).limit(limit + 1)).all()
    next_before = rows[limit - 1].last_message_id if len(rows) > limit else None
    return rows[:limit], next_before


# ---- what a page's inbox poll learns ----

def newest_incoming_id(user) -> int:
    return db.session.scalar(select(func.max(Message.id)).where(
        Message.user_id == user.id, Message.status == statuses.RECEIVED)) or 0


def incoming_after(user, after_id: int, limit: int = 5) -> list[Message]:
    """The newest incoming SMS since after_id, oldest first (the index on user and status holds them)."""
    rows = db.session.scalars(select(Message).where(
        Message.user_id == user.id, Message.status == statuses.RECEIVED, Message.id > after_id)
        .order_by(Message.id.desc()).limit(limit)).all()
    return list(reversed(rows))


@dataclass
class InboxNews:
    unread: int
    last_id: int  # the newest incoming SMS the page now knows of
    incoming: list[Message]


def news(user, after_id: int | None) -> InboxNews:
    """What a page learns: the unread count, and the SMS received since the newest it knew of
    (after_id; None for a page that knows of none yet, which learns only where to start)."""
    if after_id is None:
        return InboxNews(unread_total(user), newest_incoming_id(user), [])
    incoming = incoming_after(user, after_id)
    return InboxNews(unread_total(user), max([after_id] + [message.id for message in incoming]), incoming)


def unread_ids(user, numbers: set[str]) -> set[int]:
    """Which incoming SMS of these conversations are unread: the newest `unread_count` of each
    (a conversation is read up to a message; those after it are unread)."""
    if not numbers:
        return set()
    counts = dict(db.session.execute(select(Conversation.remote_number, Conversation.unread_count).where(
        Conversation.user_id == user.id, Conversation.remote_number.in_(numbers),
        Conversation.unread_count > 0)).all())
    unread = set()
    for number, count in counts.items():
        unread.update(db.session.scalars(select(Message.id).where(
            Message.user_id == user.id, Message.remote_number == number, Message.direction == Message.INBOUND)
            .order_by(Message.id.desc()).limit(count)))
    return unread
