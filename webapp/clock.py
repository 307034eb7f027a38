"""The time limits and quotas count by: the real time, or, when CLOCK_FILE names a file (the
end-to-end tests'), the naive UTC date and time written in it, which the test moves on while the
worker runs. Periods (a day, a month) are the owner's, in their time zone."""
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

from flask import current_app

from .models import utcnow

DAY, MONTH = "day", "month"


def now() -> datetime:
    path = current_app.config.get("CLOCK_FILE")
    if not path:
        return utcnow()
    return datetime.fromisoformat(Path(path).read_text().strip())


def owner_zone(user) -> ZoneInfo:
    return zone_named(user.timezone)


def zone_named(name: str | None) -> ZoneInfo:
    """A user's time zone (None: the install's default)."""
    return ZoneInfo(name or current_app.config["BABEL_DEFAULT_TIMEZONE"])


def _as_utc(local: datetime) -> datetime:
    return local.astimezone(timezone.utc).replace(tzinfo=None)


def period_start(period: str, zone: ZoneInfo, at: datetime) -> datetime:
    """The start of the day or month holding `at` (naive UTC), in `zone`, as naive UTC."""
    local = at.replace(tzinfo=timezone.utc).astimezone(zone)
    start = local.replace(hour=0, minute=0, second=0, microsecond=0)
    if period == MONTH:
        start = start.replace(day=1)
    return _as_utc(start.replace(tzinfo=zone))


def next_period_start(period: str, zone: ZoneInfo, at: datetime) -> datetime:
    """The start of the day or month after the one holding `at`, as naive UTC."""
    local = at.replace(tzinfo=timezone.utc).astimezone(zone)
    if period == MONTH:
        year, month = (local.year + 1, 1) if local.month == 12 else (local.year, local.month + 1)
        following = datetime(year, month, 1)
    else:
        following = datetime.combine(local.date() + timedelta(days=1), datetime.min.time())
    return _as_utc(following.replace(tzinfo=zone))
