"""What templates share: status labels, dates in the user's time zone, the navigation."""
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from flask import request, url_for
from flask_babel import format_date, format_datetime, format_number, format_percent, get_locale, get_timezone

from . import reasons, statuses
from .providers.base import CAPABILITY_LABELS
from .services.public_address import current_public_base_url
from .services.timeline import timeline_entries


def user_zone() -> ZoneInfo:
    """The user's time zone as a zoneinfo zone: Flask-Babel hands out pytz zones, which give
    local mean time offsets (New York -4:56) when put in a datetime with replace()."""
    return ZoneInfo(str(get_timezone()))


def local_to_utc(moment: datetime) -> datetime:
    """A naive date and time typed by the user, as the naive UTC the database holds."""
    return moment.replace(tzinfo=user_zone()).astimezone(timezone.utc).replace(tzinfo=None)


def utc_to_local(moment: datetime) -> datetime:
    """A naive UTC time from the database as the naive time of the user's zone (a form's value)."""
    return moment.replace(tzinfo=timezone.utc).astimezone(user_zone()).replace(tzinfo=None)


def local_time(value, format="short"):
    return format_datetime(value, format) if value else ""


def local_day(value, format="medium") -> str:
    """A date (already a day of the user's zone), written in their language."""
    return format_date(value, format) if value else ""


def add_contact_url(number: str) -> str:
    """The contact form for this number, which comes back to the page it was opened from."""
    return url_for("contacts.create", number=number, next=request.path)


def percent(value) -> str:
    """A share to one decimal, written as the reader's language writes it (97.5%, 97,5 %)."""
    pattern = get_locale().percent_formats[None].pattern.replace("0", "0.#", 1)
    return format_percent(value, pattern)


def init_app(app):
    app.jinja_env.filters["local_time"] = local_time
    app.jinja_env.filters["reason"] = reasons.shown
    app.jinja_env.filters["format_number"] = format_number
    app.jinja_env.filters["local_day"] = local_day
    app.jinja_env.filters["percent"] = percent
    app.jinja_env.filters["from_iso"] = datetime.fromisoformat  # a time kept in a JSON column
    app.jinja_env.globals.update(
        status_label=statuses.label,
        status_glyph=statuses.glyph,
        timeline_entries=timeline_entries,
        capability_labels=CAPABILITY_LABELS,
        current_locale=lambda: str(get_locale()),
        add_contact_url=add_contact_url,
        public_base_url=current_public_base_url,
    )
