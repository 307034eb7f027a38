"""What templates share: status labels, dates in the user's time zone, the navigation."""
from flask_babel import format_datetime, get_locale

from . import statuses
from .providers.base import CAPABILITY_LABELS


def local_time(value, format="short"):
    return format_datetime(value, format) if value else ""


def init_app(app):
    app.jinja_env.filters["local_time"] = local_time
    app.jinja_env.globals.update(
        status_label=lambda status: statuses.LABELS.get(status, status),
        capability_labels=CAPABILITY_LABELS,
        current_locale=lambda: str(get_locale()),
    )
