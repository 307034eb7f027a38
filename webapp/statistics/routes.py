"""The statistics page: what the SMS of a range of days did, as tables, charts drawn from the same
numbers, and each chart's numbers as CSV."""
from flask import Blueprint, Response, render_template, request
from flask_babel import format_date
from flask_babel import gettext as _
from flask_login import current_user, login_required

from .. import statuses
from ..services import statistics as statistics_service
from ..services.opt_outs import csv_line

bp = Blueprint("statistics", __name__, url_prefix="/statistics")

CSV_TABLES = {
    "daily": statistics_service.daily_csv_rows,
    "phones": statistics_service.phones_csv_rows,
    "failures": statistics_service.failures_csv_rows,
}


def asked_range() -> tuple[statistics_service.DayRange | None, str | None]:
    """The range in the address, or (None, why it is refused)."""
    try:
        return statistics_service.parse_range(request.args.get("start"), request.args.get("end")), None
    except statistics_service.RangeError as error:
        return None, str(error.args[0])


def chart_data(figures: statistics_service.Statistics) -> dict:
    """The numbers of the tables, for the charts drawn over them, with their words in the reader's language."""
    days = figures.days
    sent = [{"label": statuses.label(status), "status": status, "stack": "sent",
             "data": [day.sent.get(status, 0) for day in days]} for status in figures.daily_statuses]
    received = {"label": statuses.label(statuses.RECEIVED), "status": statuses.RECEIVED, "stack": "received",
                "data": [day.received for day in days]}
    phones = figures.phones
    return {
        "daily": {"labels": [format_date(day.day, "d MMM") for day in days], "datasets": sent + [received],
                  "axis": _("SMS")},
        "phones": {"labels": [phone.name for phone in phones],
                   "rate": [None if phone.delivery_rate is None else round(phone.delivery_rate * 100, 1)
                            for phone in phones],
                   "segments": [phone.segments for phone in phones],
                   "rate_label": _("Delivery rate (%)"), "segments_label": _("Segments billed")},
    }


@bp.route("/")
@login_required
def index():
    day_range, problem = asked_range()
    if problem:
        return render_template("statistics/index.html", problem=problem, figures=None,
                               typed=request.args), 400
    figures = statistics_service.statistics(current_user, day_range)
    return render_template("statistics/index.html", problem=None, typed=request.args,
                           figures=figures, chart_data=chart_data(figures))


@bp.route("/<any(daily, phones, failures):table>.csv")
@login_required
def csv(table):
    day_range, problem = asked_range()
    if problem:
        return Response(problem + "\n", status=400, content_type="text/plain; charset=utf-8")
    figures = statistics_service.statistics(current_user, day_range, daily=table == "daily", phones=table != "daily")
    body = "".join(csv_line(row) for row in CSV_TABLES[table](figures))
    filename = f"sms-{table}-{day_range.first.isoformat()}-{day_range.last.isoformat()}.csv"
    return Response(body, content_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f"attachment; filename={filename}"})
