"""What the dashboard shows, in the order a user acts on it: unread conversations, recent failures,
the next step of a new user, then the counts (each the size of a history filter it links to).

Every query starts from the user's id and reads an index: the partial index of unread
conversations, (user, status, id) for the newest failures, (user, created_at, status) for the counts.
"""
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from sqlalchemy import exists, select

from .. import statuses
from ..extensions import db
from ..models import Conversation, Message
from ..templating import local_to_utc, user_zone
from . import contacts, history, phone_health, quotas, webhooks

SHOWN = 5
WEEK_DAYS = 7  # today and the 6 days before, as whole days: the history's date filter can show them


@dataclass
class Period:
    key: str
    date_from: date
    date_to: date
    counts: dict[str, int]


@dataclass
class Dashboard:
    unread: list[Conversation]
    failures: list[Message]
    names: dict[str, str]
    periods: list[Period]
    phones: list[dict]
    next_step: str | None  # "add_phone", "send_first_sms", or None once both are done
    disabled_webhooks: list = field(default_factory=list)  # endpoints SMS Desk disabled after 24 h of failures
    unhealthy_phones: list = field(default_factory=list)  # phone_health.PhoneHealth of those pools skip
    quota: quotas.Usage | None = None  # the administrator's limit on the user's sends, if any
    statuses: tuple = field(default=statuses.OUTBOUND_STATUSES + (statuses.RECEIVED,))


def utc_start_of(day: date) -> datetime:
    return local_to_utc(datetime.combine(day, time.min))


def unread_conversations(user, limit: int = SHOWN) -> list[Conversation]:
    return db.session.scalars(select(Conversation).where(
        Conversation.user_id == user.id, Conversation.unread_count > 0)
        .order_by(Conversation.last_message_id.desc()).limit(limit)).all()


def recent_failures(user, since: datetime, limit: int = SHOWN) -> list[Message]:
    """The newest failed SMS, if they failed after since. Bounding the query itself by date would
    make it read every failure of the user when none is recent."""
    rows = db.session.scalars(select(Message).where(
        Message.user_id == user.id, Message.status == statuses.FAILED)
        .order_by(Message.id.desc()).limit(limit)).all()
    return [message for message in rows if message.created_at >= since]


def has_sent(user) -> bool:
    return db.session.scalar(select(exists().where(
        Message.user_id == user.id, Message.direction == Message.OUTBOUND)))


def next_step(user, phones: list) -> str | None:
    if not phones:
        return "add_phone"
    if not has_sent(user):
        return "send_first_sms"
    return None


def periods(user) -> list[Period]:
    today = datetime.now(user_zone()).date()
    week_start = today - timedelta(days=WEEK_DAYS - 1)
    return [Period(key, start, today, history.status_counts(user, utc_start_of(start)))
            for key, start in (("today", today), ("week", week_start))]


def dashboard(user) -> Dashboard:
    unread = unread_conversations(user)
    week = periods(user)
    failures = recent_failures(user, utc_start_of(week[1].date_from))
    numbers = [row.remote_number for row in unread] + [message.remote_number for message in failures]
    phones = history.phone_health(user)
    return Dashboard(unread=unread, failures=failures, names=contacts.names_by_number(user.id, numbers),
                     periods=week, phones=phones, next_step=next_step(user, [row["phone"] for row in phones]),
                     disabled_webhooks=webhooks.disabled_by_failures(user.id), quota=quotas.usage(user),
                     unhealthy_phones=phone_health.unhealthy_phones([row["phone"] for row in phones]))
