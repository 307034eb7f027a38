"""The statistics page: a range of the user's local days, SMS sent per day by status and received
per day, each phone's delivery rate, failure reasons and segments billed, each chart's numbers as
CSV; only the user's own SMS."""
import csv
import io
import re
from datetime import datetime, timedelta

import pytest

from webapp import statuses
from webapp.extensions import db
from webapp.models import Message, utcnow

from .conftest import make_phone, make_user


def stored(phone, status, created_at, segments=1, error_code=None, error_reason=None, number="+33612345678"):
    """A message as the pipeline leaves it, created at a chosen moment (naive UTC)."""
    direction = Message.INBOUND if status == statuses.RECEIVED else Message.OUTBOUND
    message = Message(user_id=phone.user_id, phone_id=phone.id, direction=direction, remote_number=number,
                      body="Hello", encoding="GSM-7", segment_count=segments, status=status,
                      error_code=error_code, error_reason=error_reason, created_at=created_at,
                      status_changed_at=created_at)
    db.session.add(message)
    db.session.commit()
    return message


def in_zone(user, zone="Europe/Paris"):
    user.timezone = zone
    db.session.commit()


def page(client, language="en", **range_args):
    response = client.get("/statistics/", query_string=range_args, headers={"Accept-Language": language})
    return response.status_code, response.get_data(as_text=True)


def day_row(html, day):
    """{status: count} of a day's row in the table of SMS per day."""
    row = re.search(rf'<tr data-day="{day}">(.*?)</tr>', html, re.S)
    assert row, day
    return {status: int(count) for status, count in re.findall(r'data-status="([\w-]+)">(\d+)<', row.group(1))}


def phone_cell(html, phone_id, figure):
    row = re.search(rf'<tr data-phone="{phone_id}">(.*?)</tr>', html, re.S)
    assert row, phone_id
    return re.search(rf'data-figure="{figure}"[^>]*>([^<]*)<', row.group(1)).group(1)


def csv_rows(client, table, **range_args):
    response = client.get(f"/statistics/{table}.csv", query_string=range_args)
    assert response.status_code == 200 and response.mimetype == "text/csv"
    return list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))


def test_sent_sms_are_counted_per_local_day_and_status_and_received_ones_apart(logged_in, user):
    in_zone(user)
    phone = make_phone(user)
    stored(phone, statuses.DELIVERED, datetime(2026, 11, 30, 10, 0))
    stored(phone, statuses.DELIVERED, datetime(2026, 11, 30, 23, 30))  # 00:30 on 1 December in Paris
    stored(phone, statuses.FAILED, datetime(2026, 12, 1, 9, 0))
    stored(phone, statuses.QUEUED, datetime(2026, 12, 1, 9, 5))
    stored(phone, statuses.RECEIVED, datetime(2026, 12, 1, 12, 0))
    stored(phone, statuses.DELIVERED, datetime(2026, 12, 3, 12, 0))  # after the range
    code, html = page(logged_in, start="2026-11-30", end="2026-12-02")
    assert code == 200
    assert day_row(html, "2026-11-30") == {"delivered": 1, "failed": 0, "queued": 0, "sent-total": 1, "received": 0}
    assert day_row(html, "2026-12-01") == {"delivered": 1, "failed": 1, "queued": 1, "sent-total": 3, "received": 1}
    assert day_row(html, "2026-12-02") == {"delivered": 0, "failed": 0, "queued": 0, "sent-total": 0, "received": 0}
    assert 'data-day="2026-12-03"' not in html
    assert '<strong data-total="sent">4 SMS sent</strong>' in html
    assert '<strong data-total="received">1 received</strong>' in html


def test_days_stay_local_across_a_change_to_winter_time(logged_in, user):
    in_zone(user)  # Paris leaves summer time (UTC+2) for UTC+1 at 03:00 on 25 October 2026
    phone = make_phone(user)
    stored(phone, statuses.SENT, datetime(2026, 10, 24, 22, 30))  # 00:30 on the 25th, summer time
    stored(phone, statuses.SENT, datetime(2026, 10, 25, 22, 30))  # 23:30 on the 25th, winter time
    stored(phone, statuses.SENT, datetime(2026, 10, 25, 23, 30))  # 00:30 on the 26th
    stored(phone, statuses.SENT, datetime(2026, 10, 24, 21, 30))  # 23:30 on the 24th: before the range
    rows = {row["day"]: row for row in csv_rows(logged_in, "daily", start="2026-10-25", end="2026-10-26")}
    assert list(rows) == ["2026-10-25", "2026-10-26"]
    assert rows["2026-10-25"]["sent"] == "2" and rows["2026-10-26"]["sent"] == "1"


def test_each_phone_shows_its_delivery_rate_failure_reasons_and_segments(logged_in, user):
    ovh = make_phone(user, name="OVH line")
    twilio = make_phone(user, name="Twilio line")
    day = datetime(2026, 12, 1, 10, 0)
    for _ in range(3):
        stored(ovh, statuses.DELIVERED, day, segments=2)
    stored(ovh, statuses.FAILED, day, error_code="30006", error_reason="Landline or unreachable carrier")
    stored(ovh, statuses.CANCELED, day, segments=5)  # never sent: not billed, not in the rate
    stored(twilio, statuses.SENT, day, segments=3)
    stored(twilio, statuses.FAILED, day, error_code="21610", error_reason="Unsubscribed recipient")
    stored(twilio, statuses.FAILED, day, error_code="21610", error_reason="Unsubscribed recipient")
    stored(twilio, statuses.RECEIVED, day)
    code, html = page(logged_in, start="2026-12-01", end="2026-12-01")
    assert phone_cell(html, ovh.id, "rate") == "75%" and phone_cell(html, ovh.id, "segments") == "7"
    assert phone_cell(html, twilio.id, "rate") == "0%" and phone_cell(html, twilio.id, "segments") == "5"
    assert phone_cell(html, twilio.id, "received") == "1"
    assert phone_cell(html, "total", "segments") == "12"
    failures = html[html.index('data-table="failures"'):]
    assert "Landline or unreachable carrier (30006)" in failures
    assert re.search(r"Unsubscribed recipient \(21610\)</td>\s*<td class=\"number\">2</td>", failures)

    phones = {row["phone"]: row for row in csv_rows(logged_in, "phones", start="2026-12-01", end="2026-12-01")}
    assert phones["OVH line"]["delivery_rate"] == "0.7500" and phones["OVH line"]["segments"] == "7"
    assert phones["total"]["segments"] == "12" and phones["total"]["sent"] == "8"
    reasons = csv_rows(logged_in, "failures", start="2026-12-01", end="2026-12-01")
    assert {"phone": "Twilio line", "error_code": "21610", "reason": "Unsubscribed recipient", "count": "2"} in reasons


def test_the_range_is_the_last_30_days_unless_chosen(logged_in, user):
    phone = make_phone(user)
    stored(phone, statuses.DELIVERED, utcnow() - timedelta(days=40))
    stored(phone, statuses.DELIVERED, utcnow())
    code, html = page(logged_in)
    assert code == 200 and html.count("<tr data-day=") == 30
    assert '<strong data-total="sent">1 SMS sent</strong>' in html
    daily = csv_rows(logged_in, "daily")
    assert len(daily) == 30 and sum(int(row["sent_total"]) for row in daily) == 1


@pytest.mark.parametrize("range_args, problem", [
    ({"start": "2026-12-10", "end": "2026-12-01"}, "The end date comes before the start date."),
    ({"start": "yesterday"}, "The start date “yesterday” is not a date: write it as 2026-12-31."),
    ({"start": "2026-12-01", "end": "2026-13-45"}, "The end date “2026-13-45” is not a date"),
    ({"start": "2024-01-01", "end": "2026-12-01"}, "Choose at most 366 days."),
])
def test_a_range_that_makes_no_sense_is_refused_with_a_clear_message(logged_in, user, range_args, problem):
    code, html = page(logged_in, **range_args)
    assert code == 400 and problem in html.replace("&#34;", '"')
    assert "data-day=" not in html
    response = logged_in.get("/statistics/daily.csv", query_string=range_args)
    assert response.status_code == 400 and problem in response.get_data(as_text=True)


def test_the_page_and_its_messages_are_in_french(logged_in, user):
    phone = make_phone(user)
    stored(phone, statuses.DELIVERED, datetime(2026, 12, 1, 10, 0))
    code, html = page(logged_in, "fr", start="2026-12-01", end="2026-12-01")
    assert "Statistiques" in html and "SMS par jour" in html and "Taux de remise" in html
    assert "Télécharger en CSV" in html
    code, html = page(logged_in, "fr", start="2026-12-02", end="2026-12-01")
    assert "La date de fin précède la date de début." in html


def test_the_menu_links_to_the_statistics(logged_in, user):
    assert 'href="/statistics/"' in logged_in.get("/").get_data(as_text=True)


def test_a_user_sees_only_their_own_sms(logged_in, user):
    phone = make_phone(user, name="Ada's phone")
    stored(phone, statuses.DELIVERED, datetime(2026, 12, 1, 10, 0))
    bob = make_user("bob@example.org")
    bobs_phone = make_phone(bob, name="Bob's phone")
    for status in (statuses.DELIVERED, statuses.FAILED, statuses.RECEIVED):
        stored(bobs_phone, status, datetime(2026, 12, 1, 10, 0), error_reason="Bob's reason")
    code, html = page(logged_in, start="2026-12-01", end="2026-12-01")
    assert day_row(html, "2026-12-01") == {"delivered": 1, "sent-total": 1, "received": 0}
    assert "Bob" not in html
    for table in ("daily", "phones", "failures"):
        body = logged_in.get(f"/statistics/{table}.csv?start=2026-12-01&end=2026-12-01").get_data(as_text=True)
        assert "Bob" not in body
    assert [row["phone"] for row in csv_rows(logged_in, "phones", start="2026-12-01", end="2026-12-01")] == \
        ["Ada's phone", "total"]


def test_the_counts_by_index_ranges_agree_with_reading_every_message(app, user):
    """daily_counts and phone_counts are tuned statements (README, Performance): the plain ones
    must give the same figures, across a change of summer time too."""
    from flask import g
    from flask_babel import refresh

    from webapp.services import statistics as statistics_service
    in_zone(user, "America/New_York")  # leaves summer time at 02:00 on 1 November 2026
    phones = [make_phone(user, name="A"), make_phone(user, name="B")]
    moment = datetime(2026, 10, 30, 6, 0)  # 02:00 in New York; the last one 22:13 on 2 November
    kinds = (statuses.DELIVERED, statuses.FAILED, statuses.RECEIVED, statuses.SENT, statuses.CANCELED)
    for index in range(120):
        stored(phones[index % 2], kinds[index % len(kinds)], moment + timedelta(minutes=47 * index),
               segments=1 + index % 3)
    day_range = statistics_service.DayRange(datetime(2026, 10, 30).date(), datetime(2026, 11, 2).date())
    with app.test_request_context():
        user.signed_in_session_id = "this request"  # the signed-in user, whose time zone the days are in
        g._login_user = user
        refresh()
        assert str(statistics_service.user_zone()) == "America/New_York"
        tuned = statistics_service.daily_counts(user, day_range)
        assert tuned == statistics_service.daily_counts_plainly(user, day_range)
        assert sum(day.sent_total + day.received for day in tuned) == 120
        assert statistics_service.phone_counts(user, day_range, [phone.id for phone in phones]) == \
            statistics_service.phone_counts_plainly(user, day_range)
