"""A phone's daily and monthly limits: past them its SMS stay queued, saying why and when they
resume, and go on the next day (or month), by a clock the test moves (CLOCK_FILE); with the real
worker, a campaign pauses at the limit and resumes the next day."""
import threading
from datetime import datetime
from html import unescape

import pytest
from sqlalchemy import select

from webapp import statuses
from webapp.extensions import db
from webapp.models import Campaign, Message, Phone, PhoneLimit
from webapp.services import limits, sending
from webapp.services.messages import queue_outbound

from .conftest import confirm_sending, make_phone, post_form, run_queued_jobs, wait_for

NUMBERS = [f"+3361234560{n}" for n in range(6)]


@pytest.fixture
def clock_file(app, tmp_path):
    path = tmp_path / "clock"
    path.write_text("2026-12-03T10:00:00")  # 11:00 in Paris, the users' default zone
    app.config["CLOCK_FILE"] = str(path)
    return path


def set_clock(path, moment: str) -> None:
    path.write_text(moment)


def limited_phone(user, per_day=None, per_month=None, counts="segments", **settings) -> Phone:
    phone = make_phone(user, **settings)
    limits.save_limits(phone, per_day, per_month, counts)
    return phone


def statuses_by_number() -> dict[str, str]:
    db.session.expire_all()
    return dict(db.session.execute(select(Message.remote_number, Message.status)).all())


def count_of(status: str) -> int:
    return list(statuses_by_number().values()).count(status)


def sweep() -> None:
    from webapp import jobs
    jobs.sweep()


def test_past_its_daily_limit_a_phone_holds_its_sms_says_why_and_resumes_the_next_day(logged_in, user, clock_file):
    phone = limited_phone(user, per_day=3)
    ids = queue_outbound(phone, NUMBERS[:5], "Hi")
    run_queued_jobs()
    assert count_of(statuses.SENT) + count_of(statuses.DELIVERED) == 3 and count_of(statuses.QUEUED) == 2
    held = ids[3]
    page = unescape(logged_in.get(f"/messages/{held}").get_data(as_text=True))
    assert "Paused: Test phone reached its daily limit of 3 segments; it resumes on 12/4/26, 12:00" in page
    sweep()  # the same day: nothing moves, and the sweep does not take them for lost
    assert run_queued_jobs() == 0 and count_of(statuses.QUEUED) == 2
    set_clock(clock_file, "2026-12-03T23:00:00")  # midnight in Paris
    sweep()
    run_queued_jobs()
    assert count_of(statuses.QUEUED) == 0
    assert "Paused" not in logged_in.get(f"/messages/{held}").get_data(as_text=True)
    limit = db.session.get(PhoneLimit, phone.id)
    assert (limit.day_used, limit.paused_until) == (2, None)


def test_a_limit_counted_in_segments_counts_a_long_sms_several_times(user, clock_file):
    phone = limited_phone(user, per_day=4)
    queue_outbound(phone, NUMBERS[:2], "x" * 200)  # 2 segments each
    queue_outbound(phone, NUMBERS[2:3], "Hi")
    run_queued_jobs()
    assert count_of(statuses.QUEUED) == 1


def test_a_monthly_limit_counted_in_messages_resumes_on_the_first(logged_in, user, clock_file):
    phone = limited_phone(user, per_month=2, counts="messages")
    queue_outbound(phone, NUMBERS[:3], "x" * 400)  # 3 segments each: one message each all the same
    run_queued_jobs()
    assert count_of(statuses.QUEUED) == 1
    held = db.session.scalar(select(Message.id).where(Message.status == statuses.QUEUED))
    page = unescape(logged_in.get(f"/messages/{held}").get_data(as_text=True))
    assert "reached its monthly limit of 2 SMS; it resumes on 1/1/27" in page
    set_clock(clock_file, "2026-12-04T10:00:00")  # the next day: still December
    sweep()
    assert run_queued_jobs() == 0
    set_clock(clock_file, "2026-12-31T23:00:00")
    sweep()
    run_queued_jobs()
    assert count_of(statuses.QUEUED) == 0


def test_senders_claiming_at_the_same_moment_never_send_more_than_the_limit(app, user, clock_file):
    phone = limited_phone(user, per_day=10)
    batches = [queue_outbound(phone, [f"+336123{index}{n:04d}" for n in range(6)], "Hi") for index in range(4)]
    start = threading.Barrier(4)

    def claim(ids):
        with app.app_context():
            start.wait()
            sending.claim_for_phone(db.session.get(Phone, phone.id), ids, "racer")
            db.session.commit()
            db.session.remove()

    threads = [threading.Thread(target=claim, args=(ids,)) for ids in batches]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert count_of(statuses.SENDING) == 10 and count_of(statuses.QUEUED) == 14
    assert db.session.get(PhoneLimit, phone.id).day_used == 10


def test_can_send_now_says_when_a_phone_resumes(user, clock_file):
    phone = limited_phone(user, per_day=2)
    assert limits.can_send_now(phone, 2) is None
    assert limits.can_send_now(phone, 3) == datetime(2026, 12, 3, 23, 0)
    queue_outbound(phone, NUMBERS[:3], "Hi")
    run_queued_jobs()
    assert limits.can_send_now(phone, 1) == datetime(2026, 12, 3, 23, 0)  # paused
    assert limits.can_send_now(make_phone(user, name="Free"), 1000) is None


def test_the_limits_are_set_on_the_phones_form_and_raising_one_lifts_the_pause(logged_in, user, clock_file):
    phone = make_phone(user)
    form = {"name": "Front desk", "setting_delivery_delay_seconds": "0.2", "setting_answer_delay_seconds": "0",
            "limit_per_day": "1", "limit_per_month": "", "limit_counts": "messages"}
    assert post_form(logged_in, f"/phones/{phone.id}/edit", form).status_code == 302
    limit = db.session.get(PhoneLimit, phone.id)
    assert (limit.per_day, limit.per_month, limit.counts) == (1, None, "messages")
    assert 'name="limit_per_day" type="number" value="1"' in logged_in.get(f"/phones/{phone.id}/edit").get_data(
        as_text=True)
    queue_outbound(db.session.get(Phone, phone.id), NUMBERS[:2], "Hi")
    run_queued_jobs()
    assert count_of(statuses.QUEUED) == 1
    post_form(logged_in, f"/phones/{phone.id}/edit", dict(form, limit_per_day="5"))
    sweep()
    run_queued_jobs()
    assert count_of(statuses.QUEUED) == 0


def test_a_phone_without_limits_is_not_counted(user):
    phone = make_phone(user)
    queue_outbound(phone, NUMBERS, "Hi")
    run_queued_jobs()
    assert count_of(statuses.QUEUED) == 0 and db.session.get(PhoneLimit, phone.id) is None


def test_another_users_paused_phone_is_neither_shown_nor_resumed_by_theirs(app, logged_in, user, other_user,
                                                                          clock_file):
    mine = limited_phone(user, per_day=1)
    theirs = limited_phone(other_user, per_day=1, name="Theirs")
    queue_outbound(mine, NUMBERS[:2], "Hi")
    their_ids = queue_outbound(theirs, NUMBERS[2:4], "Hi")
    run_queued_jobs()
    assert logged_in.get(f"/messages/{their_ids[1]}").status_code == 404
    limits.save_limits(db.session.get(Phone, mine.id), 5, None, "segments")
    sweep()
    run_queued_jobs()
    assert statuses_by_number()[NUMBERS[3]] == statuses.QUEUED and statuses_by_number()[NUMBERS[1]] != statuses.QUEUED


# ---- with the real worker ----

def test_a_campaign_pauses_at_its_phones_daily_limit_and_resumes_the_next_day(live_server, start_worker, logged_in,
                                                                             user, clock_file):
    start_worker(CLOCK_FILE=str(clock_file))
    phone = limited_phone(user, per_day=3)
    numbers = "\n".join(number for number in NUMBERS[:5])
    review = post_form(logged_in, "/compose", {"phone_id": phone.id, "numbers": numbers, "body": "Hi"})
    location = confirm_sending(logged_in, review).headers["Location"]
    wait_for(lambda: count_of(statuses.DELIVERED) == 3, message="the day's 3 delivered")
    assert count_of(statuses.QUEUED) == 2
    page = unescape(logged_in.get(location).get_data(as_text=True))
    assert ("Paused: Test phone reached its daily limit of 3 segments; it resumes on 12/4/26, 12:00\u202fAM. "
            "Its SMS stay queued until then.") in page
    assert logged_in.get(location + "/progress").get_json()["paused"]
    set_clock(clock_file, "2026-12-03T23:00:05")  # past midnight in Paris
    wait_for(lambda: count_of(statuses.DELIVERED) == 5, message="the rest delivered the next day")
    assert "Paused" not in logged_in.get(location).get_data(as_text=True)
    campaign = db.session.scalar(select(Campaign))
    assert campaign.recipient_count == 5
