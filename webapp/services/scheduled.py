"""What is to be sent later: the user's scheduled messages and campaigns, held here or by a
provider, listed; those SMS Desk holds are edited (text, time) and canceled until they go."""
from dataclasses import dataclass
from datetime import datetime

from flask_babel import gettext as _
from sqlalchemy import func, select

from .. import statuses
from ..extensions import db
from ..folding import folded
from ..models import Campaign, Message, Phone, utcnow
from ..personalization import Template
from ..providers import provider_class
from ..reasons import Reason
from ..sms_text import text_cost
from . import status_store
from .messages import text_too_long
from .status_store import Line

MOST_SHOWN = 200
TEXT_CHANGED = Reason("Its text was changed before it was sent.")
TIME_CHANGED = Reason("Its time was changed before it was sent.")


@dataclass
class ScheduledSend:
    """One row of the list: a single message, or a campaign's messages still scheduled."""
    scheduled_at: datetime
    body: str
    phone: Phone
    count: int  # messages still scheduled
    held_here: bool  # SMS Desk holds them, so they can be edited
    held_late: bool  # found after their time: waiting for the user
    message_id: int | None = None
    remote_number: str | None = None
    campaign: Campaign | None = None

    @property
    def provider(self) -> str:
        return str(provider_class(self.phone.provider_key).company)


def scheduled_sends(user, limit: int = MOST_SHOWN) -> list[ScheduledSend]:
    """The user's messages to be sent later, soonest first: each campaign as one row."""
    single = db.session.scalars(select(Message).where(
        Message.user_id == user.id, Message.status == statuses.SCHEDULED, Message.campaign_id.is_(None))
        .order_by(Message.scheduled_at, Message.id).limit(limit)).all()
    rows = [ScheduledSend(message.scheduled_at, message.body, message.phone, 1, message.attempt_count == 0,
                          message.held_late_at is not None, message_id=message.id,
                          remote_number=message.remote_number) for message in single]
    grouped = db.session.execute(
        select(Message.campaign_id, func.min(Message.scheduled_at), func.count(), func.min(Message.attempt_count),
               func.max(Message.held_late_at))
        .where(Message.user_id == user.id, Message.status == statuses.SCHEDULED, Message.campaign_id.is_not(None))
        .group_by(Message.campaign_id).order_by(func.min(Message.scheduled_at)).limit(limit)).all()
    campaigns = {campaign.id: campaign for campaign in db.session.scalars(
        select(Campaign).where(Campaign.id.in_([row[0] for row in grouped])))} if grouped else {}
    rows += [ScheduledSend(at, campaigns[campaign_id].body, campaigns[campaign_id].phone, count, fewest == 0,
                           late is not None, campaign=campaigns[campaign_id])
             for campaign_id, at, count, fewest, late in grouped]
    return sorted(rows, key=lambda row: (row.scheduled_at or utcnow(), row.message_id or 0))[:limit]


def campaign_schedule(campaign: Campaign) -> datetime | None:
    """When its messages still scheduled are to go (the soonest), for its page."""
    return db.session.scalar(select(func.min(Message.scheduled_at)).where(
        Message.campaign_id == campaign.id, Message.status == statuses.SCHEDULED))


def held_message(user, message_id: int) -> Message | None:
    """One of the user's messages that SMS Desk holds for later, not part of a campaign."""
    message = db.session.scalar(select(Message).where(Message.id == message_id, Message.user_id == user.id))
    held = message is not None and message.status == statuses.SCHEDULED and message.attempt_count == 0
    return message if held else None


def held_messages_of(campaign: Campaign) -> list[int]:
    messages = Message.__table__
    return db.session.scalars(select(messages.c.id).where(messages.c.campaign_id == campaign.id,
                                                          status_store.held_here(messages))).all()


def has_held_messages(campaign: Campaign) -> bool:
    messages = Message.__table__
    return db.session.scalar(select(messages.c.id).where(messages.c.campaign_id == campaign.id,
                                                         status_store.held_here(messages)).limit(1)) is not None


def may_edit_text(campaign: Campaign) -> bool:
    """A campaign's text is edited only when it has no placeholders: each recipient's own text
    was made from them when it was confirmed."""
    return not Template.of(campaign.body).fields


@dataclass
class Edited:
    problems: dict[str, list[str]]
    changed: int = 0  # messages changed
    gone: bool = False  # none was held any more: they went (or were canceled) meanwhile


def edit(phone: Phone, message_ids: list[int], body: str | None, scheduled_at: datetime | None,
         current_body: str, current_at: datetime | None) -> Edited:
    """New text (None: unchanged) and time (naive UTC) for messages held here; the rules of
    compose: a text the provider accepts, a time in the future. Commits."""
    problems = {}
    text_changed = body is not None and body != current_body
    if text_changed:
        too_long = text_too_long(provider_class(phone.provider_key), body)
        if too_long:
            problems["body"] = [too_long]
        elif not body.strip():
            problems["body"] = [_("Write the text of the SMS.")]
    time_changed = scheduled_at is not None and scheduled_at != current_at
    if time_changed and scheduled_at <= utcnow():
        problems["send_at"] = [_("Choose a time in the future.")]
    if problems:
        return Edited(problems)
    changed = set()
    if text_changed:
        cost = text_cost(body)
        changed.update(status_store.edit_held(message_ids, Line(TEXT_CHANGED), body=body, body_folded=folded(body),
                                              encoding=cost.encoding, segment_count=cost.segments))
    if time_changed:
        changed.update(status_store.edit_held(message_ids, Line(TIME_CHANGED), scheduled_at=scheduled_at))
    db.session.commit()
    return Edited({}, len(changed), gone=(text_changed or time_changed) and not changed)


def edit_message(message: Message, body: str, scheduled_at: datetime) -> Edited:
    return edit(message.phone, [message.id], body, scheduled_at, message.body, message.scheduled_at)


def edit_campaign(campaign: Campaign, body: str | None, scheduled_at: datetime) -> Edited:
    """Its messages still held here; its text only when it has no placeholders."""
    body = body if may_edit_text(campaign) else None
    edited = edit(campaign.phone, held_messages_of(campaign), body, scheduled_at, campaign.body,
                  campaign_schedule(campaign))
    if edited.changed and body is not None and body != campaign.body:
        campaign.body = body
        db.session.commit()
    return edited
