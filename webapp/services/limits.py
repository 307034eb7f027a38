"""A phone's daily and monthly limits, enforced by the worker as it claims messages to send.

The claim takes what still fits in the phone's day and month, in id order; the rest stays queued,
without a job (enqueued_at None, so the lost-job sweep leaves it alone), and the phone is paused
until the next day or month starts in its owner's time zone. The sweep then resumes it: its
held messages get jobs again. Counting is a compare-and-set on the row's version, so that
senders claiming at the same moment (threads, workers, PostgreSQL or SQLite) never both take
the last segments.

can_send_now is what the pools' failover asks: does this phone take these segments now, and if
not, when does it resume."""
import functools
import logging
import time
from dataclasses import dataclass
from datetime import datetime

from flask_babel import format_number
from flask_babel import gettext as _
from flask_babel import ngettext
from sqlalchemy import bindparam, case, func, or_, select, update

from .. import clock, statuses
from ..extensions import db
from ..models import Message, Phone, PhoneLimit, User

log = logging.getLogger(__name__)

COMPARE_AND_SET_TRIES = 20


def limit_of(phone_id: int) -> PhoneLimit | None:
    return db.session.scalar(select(PhoneLimit).where(PhoneLimit.phone_id == phone_id)
                             .execution_options(populate_existing=True))


def claim_view(phone_id: int):
    """The limit's columns and its owner's time zone (`timezone`), in one read, for the claim."""
    return db.session.execute(select(*PhoneLimit.__table__.c, User.timezone)
                              .join(Phone, Phone.id == PhoneLimit.phone_id).join(User, User.id == Phone.user_id)
                              .where(PhoneLimit.phone_id == phone_id)).first()


def is_limited(limit: PhoneLimit | None) -> bool:
    return limit is not None and (limit.per_day is not None or limit.per_month is not None)


@dataclass
class Standing:
    """A phone's counts as they stand now (a period over counts nothing)."""
    day_start: datetime
    day_used: int
    month_start: datetime
    month_used: int
    at: datetime
    zone: object

    def reached(self, limit: PhoneLimit, cost: int) -> str | None:
        """The limit `cost` more would go past: clock.MONTH, clock.DAY, or None when it fits."""
        if limit.per_month is not None and self.month_used + cost > limit.per_month:
            return clock.MONTH
        if limit.per_day is not None and self.day_used + cost > limit.per_day:
            return clock.DAY
        return None

    def resumes_at(self, period: str) -> datetime:
        return clock.next_period_start(period, self.zone, self.at)


def standing(limit: PhoneLimit, zone) -> Standing:
    at = clock.now()
    day_start, month_start = clock.period_start(clock.DAY, zone, at), clock.period_start(clock.MONTH, zone, at)
    return Standing(day_start, limit.day_used if limit.day_start == day_start else 0,
                    month_start, limit.month_used if limit.month_start == month_start else 0, at, zone)


def cost_of(limit: PhoneLimit, segments: int) -> int:
    return segments if limit.counts == PhoneLimit.SEGMENTS else 1


def is_paused(limit: PhoneLimit, now: datetime) -> bool:
    return limit.paused_until is not None and limit.paused_until > now


def can_send_now(phone: Phone, segments: int, messages: int = 1) -> datetime | None:
    """None when the phone can send `messages` SMS of `segments` segments in all now; otherwise
    when it resumes (naive UTC, by the limits' clock). Reserves nothing."""
    limit = limit_of(phone.id)
    if not is_limited(limit):
        return None
    now = standing(limit, clock.owner_zone(phone.user))
    if is_paused(limit, now.at):
        return limit.paused_until
    reached = now.reached(limit, segments if limit.counts == PhoneLimit.SEGMENTS else messages)
    return now.resumes_at(reached) if reached else None


def take_for_claim(phone: Phone, message_ids: list[int]) -> list[int]:
    """The ids, in order, that the phone's limits let it send now, counted as sent; the others
    are held until the phone resumes. In the claim's transaction (does not commit)."""
    if not message_ids or not is_limited(phone.limit):
        return message_ids
    if take_all(phone, message_ids, owner_zone_of(phone)):
        return message_ids
    limit = claim_view(phone.id)
    if not is_limited(limit):
        return message_ids
    segments = dict(db.session.execute(select(Message.id, Message.segment_count).where(
        Message.id.in_(message_ids))).all()) if limit.counts == PhoneLimit.SEGMENTS else {}
    zone = clock.zone_named(limit.timezone)
    for _try in range(COMPARE_AND_SET_TRIES):
        now = standing(limit, zone)
        taken, reached = [], None
        if is_paused(limit, now.at):
            reached = limit.paused_by
        for message_id in message_ids if reached is None else []:
            cost = cost_of(limit, segments.get(message_id, 1))
            reached = now.reached(limit, cost)
            if reached:
                break
            now.day_used += cost
            now.month_used += cost
            taken.append(message_id)
        values = dict(day_start=now.day_start, day_used=now.day_used, month_start=now.month_start,
                      month_used=now.month_used, version=limit.version + 1)
        if reached:
            values.update(paused_until=limit.paused_until if is_paused(limit, now.at) else now.resumes_at(reached),
                          paused_by=reached)
        written = db.session.execute(update(PhoneLimit).where(PhoneLimit.phone_id == phone.id,
                                                              PhoneLimit.version == limit.version).values(**values)
                                     .execution_options(synchronize_session=False)).rowcount
        if written:
            break
        limit = claim_view(phone.id)  # another sender counted meanwhile: count again from its figures
    else:
        log.warning("phone %d: its counts kept changing, nothing claimed this time", phone.id)
        taken = []
    held = message_ids[len(taken):]  # taken is where the counting stopped
    if held:
        db.session.execute(update(Message).where(Message.id.in_(held), Message.status == statuses.QUEUED)
                           .values(enqueued_at=None, send_job_id=None).execution_options(synchronize_session=False))
    return taken


def take_all(phone: Phone, message_ids: list[int], zone) -> bool:
    """The usual case in one statement: the phone is not paused and all of them fit, counted."""
    at = clock.now()
    by_segments = phone.limit.counts == PhoneLimit.SEGMENTS
    parameters = dict(phone=phone.id, new_day_start=clock.period_start(clock.DAY, zone, at),
                      new_month_start=clock.period_start(clock.MONTH, zone, at))
    parameters.update(ids=message_ids) if by_segments else parameters.update(count=len(message_ids))
    return db.session.execute(take_all_statement(by_segments), parameters).rowcount == 1


@functools.cache
def take_all_statement(by_segments: bool):
    """Built once (building it cost more than running it, for a claim of one SMS)."""
    limits, messages = PhoneLimit.__table__.c, Message.__table__.c
    cost = (select(func.coalesce(func.sum(messages.segment_count), 0))
            .where(messages.id.in_(bindparam("ids", expanding=True))).scalar_subquery()
            if by_segments else bindparam("count"))
    day_after = case((limits.day_start == bindparam("new_day_start"), limits.day_used), else_=0) + cost
    month_after = case((limits.month_start == bindparam("new_month_start"), limits.month_used), else_=0) + cost
    return (update(PhoneLimit.__table__)
            .where(limits.phone_id == bindparam("phone"), limits.paused_until.is_(None),
                   or_(limits.per_day.is_(None), day_after <= limits.per_day),
                   or_(limits.per_month.is_(None), month_after <= limits.per_month))
            .values(day_used=day_after, day_start=bindparam("new_day_start"), month_used=month_after,
                    month_start=bindparam("new_month_start"), version=limits.version + 1))


ZONE_KEPT_SECONDS = 60.0
_zones: dict[int, tuple[float, object]] = {}  # user id: (until when, zone), for the claims


def owner_zone_of(phone: Phone):
    """The owner's time zone, kept a minute: a claim of a single SMS should not read the user."""
    kept = _zones.get(phone.user_id)
    if kept is not None and kept[0] > time.monotonic():
        return kept[1]
    zone = clock.zone_named(db.session.scalar(select(User.timezone).where(User.id == phone.user_id)))
    _zones[phone.user_id] = (time.monotonic() + ZONE_KEPT_SECONDS, zone)
    return zone


def resume_phones() -> int:
    """The sweep's step: phones whose pause is over get their held messages' jobs back. Returns how many."""
    from .sweeps import enqueue_again
    now = clock.now()
    phone_rows = db.session.execute(select(PhoneLimit.phone_id, Phone.user_id).join(Phone).where(
        PhoneLimit.paused_until <= now)).all()
    resumed = 0
    for phone_id, user_id in phone_rows:
        db.session.execute(update(PhoneLimit).where(PhoneLimit.phone_id == phone_id, PhoneLimit.paused_until <= now)
                           .values(paused_until=None, paused_by=None, version=PhoneLimit.version + 1))
        held = db.session.scalars(select(Message.id).where(
            Message.user_id == user_id, Message.phone_id == phone_id, Message.status == statuses.QUEUED,
            Message.enqueued_at.is_(None)).order_by(Message.id)).all()
        enqueue_again(list(held))  # commits
        resumed += len(held)
    if resumed:
        log.info("resumed %d messages held by phone limits", resumed)
    return resumed


# ---- what people read ----

@dataclass
class Pause:
    phone: Phone
    limit: PhoneLimit

    @property
    def resumes_at(self) -> datetime:
        return self.limit.paused_until

    def reason(self) -> str:
        count = self.limit.per_day if self.limit.paused_by == clock.DAY else self.limit.per_month
        from ..templating import local_time
        amount = (ngettext("%(count)s segment", "%(count)s segments", count, count=format_number(count))
                  if self.limit.counts == PhoneLimit.SEGMENTS else
                  ngettext("%(count)s SMS", "%(count)s SMS", count, count=format_number(count)))
        if self.limit.paused_by == clock.MONTH:
            return _("Paused: %(phone)s reached its monthly limit of %(amount)s; it resumes on %(time)s.",
                     phone=self.phone.name, amount=amount, time=local_time(self.resumes_at))
        return _("Paused: %(phone)s reached its daily limit of %(amount)s; it resumes on %(time)s.",
                 phone=self.phone.name, amount=amount, time=local_time(self.resumes_at))


def pause_of(phone: Phone) -> Pause | None:
    limit = limit_of(phone.id)
    if limit is None or not is_paused(limit, clock.now()):
        return None
    return Pause(phone, limit)


def pause_holding(message: Message) -> Pause | None:
    """Why a queued message waits, when its phone's limit holds it."""
    if message.status != statuses.QUEUED or message.enqueued_at is not None or not message.is_outbound:
        return None
    return pause_of(message.phone)


def pauses_of_campaign(campaign_id: int) -> list[Pause]:
    """The paused phones its queued messages wait for."""
    phone_ids = db.session.scalars(select(Message.phone_id).where(
        Message.campaign_id == campaign_id, Message.status == statuses.QUEUED,
        Message.enqueued_at.is_(None)).distinct()).all()
    pauses = [pause_of(db.session.get(Phone, phone_id)) for phone_id in phone_ids]
    return [pause for pause in pauses if pause is not None]


# ---- set on the phone's form ----

def save_limits(phone: Phone, per_day: int | None, per_month: int | None, counts: str) -> None:
    """Commits. A limit raised lifts the pause at the next sweep; counts already made stay."""
    limit = limit_of(phone.id)
    if limit is None:
        if per_day is None and per_month is None:
            return
        limit = PhoneLimit(phone_id=phone.id, day_used=0, month_used=0, version=0)
        db.session.add(limit)
    if limit.counts is not None and limit.counts != counts:
        limit.day_used, limit.month_used = 0, 0  # counted in the other unit
    limit.per_day, limit.per_month, limit.counts = per_day, per_month, counts
    if limit.paused_until is not None and not still_reached(limit, phone):
        limit.paused_until = clock.now()  # resumed by the next sweep
    limit.version = (limit.version or 0) + 1
    db.session.commit()


def still_reached(limit: PhoneLimit, phone: Phone) -> bool:
    now = standing(limit, clock.owner_zone(phone.user))
    return now.reached(limit, 1) is not None
