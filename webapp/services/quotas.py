"""Quotas: the SMS segments an administrator allows a user, per month (renewed on the 1st, in the
user's time zone) or as a fixed credit. Segments are taken when messages are queued (compose,
campaigns, the API: messages.queue_outbound), in the messages' transaction, by one conditional
UPDATE: on PostgreSQL its row lock makes a second send at the same moment wait and read the
first one's count, on SQLite the write lock does, so two sends can never both take the last
segments. A user without a quota row sends without limit.

Alerts at 90 % and 100 % are given once per period: shown on the dashboard, and e-mailed by the
worker when SMTP is configured."""
import logging
from dataclasses import dataclass
from datetime import date, datetime, timezone

from flask import render_template
from flask_babel import force_locale, format_number
from flask_babel import gettext as _
from flask_babel import ngettext
from redis.exceptions import RedisError
from sqlalchemy import case, select, update

from .. import clock, mail, tasks
from ..extensions import db
from ..models import Quota, User
from . import public_address

log = logging.getLogger(__name__)

WARNING, EXHAUSTED = 90, 100  # the alerts, in percent of the quota used


@dataclass
class Usage:
    kind: str
    segments: int
    used: int
    renews_on: date | None  # the day, in the user's zone, a monthly quota starts again; None for a credit

    @property
    def left(self) -> int:
        return max(self.segments - self.used, 0)

    @property
    def percent(self) -> int:
        return min(100, int(100 * self.used / self.segments)) if self.segments else 100

    @property
    def level(self) -> int:
        """0, WARNING or EXHAUSTED: how close to its end the quota is."""
        if self.used >= self.segments:
            return EXHAUSTED
        return WARNING if self.used * 100 >= WARNING * self.segments else 0

    def as_json(self) -> dict:
        return {"kind": self.kind, "segments": self.segments, "used": self.used, "left": self.left,
                "renews_on": self.renews_on}


class QuotaExceeded(Exception):
    def __init__(self, usage: Usage, needed: int):
        super().__init__(f"{needed} segments needed, {usage.left} left")
        self.usage, self.needed = usage, needed

    def reason(self) -> str:
        """Why the send is refused, in the reader's language."""
        return refusal(self.usage, self.needed)


def refusal(usage: Usage, needed: int) -> str:
    numbers = dict(needed=format_number(needed), left=format_number(usage.left), segments=format_number(usage.segments))
    if usage.kind == Quota.MONTHLY:
        from ..templating import local_day
        return ngettext("Not sent: this send needs %(needed)s SMS segment and your quota of %(segments)s per month "
                        "has %(left)s left. It renews on %(date)s; your administrator can raise it.",
                        "Not sent: this send needs %(needed)s SMS segments and your quota of %(segments)s per month "
                        "has %(left)s left. It renews on %(date)s; your administrator can raise it.",
                        needed, date=local_day(usage.renews_on), **numbers)
    return ngettext("Not sent: this send needs %(needed)s SMS segment and your credit of %(segments)s has %(left)s "
                    "left. Ask your administrator for more.",
                    "Not sent: this send needs %(needed)s SMS segments and your credit of %(segments)s has %(left)s "
                    "left. Ask your administrator for more.", needed, **numbers)


def current_start(user, kind: str) -> datetime:
    at = clock.now()
    return clock.period_start(clock.MONTH, clock.owner_zone(user), at) if kind == Quota.MONTHLY else at


def usage_of(quota: Quota, user) -> Usage:
    """The quota as it stands now: a monthly one whose month is over counts nothing used."""
    used = quota.used
    renews_on = None
    if quota.kind == Quota.MONTHLY:
        zone, at = clock.owner_zone(user), clock.now()
        if quota.period_start < clock.period_start(clock.MONTH, zone, at):
            used = 0
        renews_on = clock.next_period_start(clock.MONTH, zone, at).replace(tzinfo=timezone.utc).astimezone(zone).date()
    return Usage(quota.kind, quota.segments, used, renews_on)


def quota_of(user_id: int) -> Quota | None:
    return db.session.scalar(select(Quota).where(Quota.user_id == user_id).execution_options(populate_existing=True))


def usage(user) -> Usage | None:
    quota = quota_of(user.id)
    return usage_of(quota, user) if quota is not None else None


def take(user_id: int, segments: int) -> int | None:
    """Takes `segments` from the user's quota, in the session's transaction (not committed).
    Raises QuotaExceeded when they are not all left. Returns the alert this send brings
    (WARNING or EXHAUSTED), given once per period, or None."""
    user = db.session.get(User, user_id)  # its time zone: usually in the session already
    month_start = clock.period_start(clock.MONTH, clock.owner_zone(user), clock.now())
    renewed = (Quota.kind == Quota.MONTHLY) & (Quota.period_start < month_start)
    used_after = case((renewed, segments), else_=Quota.used + segments)
    row = db.session.execute(
        update(Quota).where(Quota.user_id == user.id, used_after <= Quota.segments)
        .values(used=used_after, alerted=case((renewed, 0), else_=Quota.alerted),
                period_start=case((renewed, month_start), else_=Quota.period_start))
        .returning(Quota.used, Quota.segments, Quota.alerted)).first()
    if row is None:
        quota = quota_of(user.id)
        if quota is None:
            return None
        raise QuotaExceeded(usage_of(quota, user), segments)
    used, allowed, alerted = row
    level = Usage(Quota.CREDIT, allowed, used, None).level
    if level > alerted:
        db.session.execute(update(Quota).where(Quota.user_id == user.id).values(alerted=level))
        return level
    return None


def note_refused(user_id: int) -> int | None:
    """A send refused for want of segments: the user is told the quota is used up, once per
    period. Commits; returns EXHAUSTED when this is the first time."""
    noted = db.session.execute(update(Quota).where(Quota.user_id == user_id, Quota.alerted < EXHAUSTED)
                               .values(alerted=EXHAUSTED)).rowcount
    db.session.commit()
    return EXHAUSTED if noted else None


def mail_alert_later(user_id: int, level: int | None) -> None:
    """Once the alert is committed: the worker e-mails it, when SMTP is configured."""
    if level is None or not mail.is_configured():
        return
    try:
        tasks.send_quota_alert(user_id, level)
    except RedisError as error:
        log.warning("broker unavailable, the quota alert for user %d is not e-mailed: %s", user_id, error)


def mail_alert(user_id: int, level: int) -> None:
    """The worker's job: tells the user their quota is 90 % used, or used up."""
    user = db.session.get(User, user_id)
    quota = quota_of(user_id)
    if user is None or quota is None or user.disabled:
        return
    with force_locale(user.locale or "en"):
        shown = usage_of(quota, user)
        subject = (_("Your SMS Desk quota is used up") if level >= EXHAUSTED
                   else _("Your SMS Desk quota is %(percent)d %% used", percent=WARNING))
        body = render_template("email/quota_alert.txt", usage=shown, level=level, exhausted=EXHAUSTED, email=user.email,
                               link=public_address.current_public_base_url() + "/")
    mail.send_mail(user.email, subject, body)


# ---- set by an administrator ----

NONE = "none"


def set_quota(user: User, kind: str, segments: int | None, count_from_zero: bool = False) -> None:
    """kind: Quota.MONTHLY, Quota.CREDIT or NONE (no quota). A change of kind, or count_from_zero,
    starts counting again; otherwise what was used stays used. Commits."""
    quota = quota_of(user.id)
    if kind == NONE:
        if quota is not None:
            db.session.delete(quota)
        db.session.commit()
        return
    if quota is None:
        quota = Quota(user_id=user.id, used=0, alerted=0)
        db.session.add(quota)
    elif quota.kind != kind or count_from_zero:
        quota.used, quota.alerted = 0, 0
    if quota.kind != kind or count_from_zero or quota.period_start is None:
        quota.period_start = current_start(user, kind)
    quota.kind, quota.segments = kind, segments
    shown = usage_of(quota, user)
    if shown.level < quota.alerted:  # more was given: the alerts may come again
        quota.alerted = shown.level
    db.session.commit()


def usage_by_user(users: list[User]) -> dict[int, Usage]:
    quotas = db.session.scalars(select(Quota).where(Quota.user_id.in_([user.id for user in users]))).all() \
        if users else []
    by_id = {user.id: user for user in users}
    return {quota.user_id: usage_of(quota, by_id[quota.user_id]) for quota in quotas}
