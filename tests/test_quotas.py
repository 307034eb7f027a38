"""Quotas: the SMS segments an administrator allows a user, per month or as a credit, taken when
messages are queued (compose, campaigns, the API), refused beyond with the reason, shown on the
dashboard with alerts at 90 % and 100 % (e-mailed once each, through a real local SMTP server)."""
import threading
from html import unescape

import pytest
from sqlalchemy import func, select

from webapp.extensions import db
from webapp.models import Campaign, Message, Quota
from webapp.services import quotas
from webapp.services.messages import queue_outbound

from .conftest import confirm_sending, login, make_phone, make_user, post_form, run_queued_jobs
from .mail_support import smtp_server  # noqa: F401 (a fixture)

LONG_TEXT = "x" * 400  # 3 segments (153 characters each)


@pytest.fixture
def admin(app):
    return make_user("admin@example.org", admin=True)


def set_quota(client, user, kind, segments, **extra):
    return post_form(client, f"/admin/users/{user.id}/quota", dict(kind=kind, segments=str(segments), **extra))


def give_quota(user, kind, segments):
    quotas.set_quota(user, kind, segments)


def sent_count() -> int:
    return db.session.scalar(select(func.count()).select_from(Message))


def used(user) -> int:
    return quotas.usage(user).used


def page(response) -> str:
    return unescape(response.get_data(as_text=True))


def compose_one(client, phone, body, number="0612345678"):
    return post_form(client, "/compose", {"phone_id": phone.id, "numbers": number, "body": body})


def test_the_administrator_sets_a_monthly_quota_and_the_users_list_shows_its_use(app, client, admin, user):
    login(client, admin)
    answer = set_quota(client, user, "month", 1000)
    assert answer.status_code == 302
    give_back = client.get("/admin/users").get_data(as_text=True)
    assert "0 / 1,000 per month" in give_back
    quota = db.session.get(Quota, user.id)
    assert (quota.kind, quota.segments, quota.used) == ("month", 1000, 0)
    assert set_quota(client, user, "month", "").status_code == 200  # a number is needed
    set_quota(client, user, "none", "")
    assert db.session.get(Quota, user.id) is None


def test_compose_takes_segments_and_refuses_beyond_the_quota_with_the_reason(logged_in, user):
    phone = make_phone(user)
    give_quota(user, "month", 3)
    assert compose_one(logged_in, phone, "Hi").status_code == 302
    assert used(user) == 1
    refused = compose_one(logged_in, phone, LONG_TEXT)
    assert refused.status_code == 200
    assert ("Not sent: this send needs 3 SMS segments and your quota of 3 per month has 2 left. "
            "It renews on") in page(refused)
    assert sent_count() == 1 and used(user) == 1
    assert compose_one(logged_in, phone, "x" * 200).status_code == 302  # 2 segments: exactly what was left
    assert used(user) == 3


def test_a_fixed_credit_is_not_renewed_and_says_to_ask_for_more(logged_in, user):
    phone = make_phone(user)
    give_quota(user, "credit", 1)
    compose_one(logged_in, phone, "Hi")
    refused = compose_one(logged_in, phone, "Hi again")
    assert "your credit of 1 has 0 left. Ask your administrator for more." in page(refused)


def test_a_campaign_beyond_the_quota_is_refused_and_its_draft_kept_until_the_quota_is_raised(logged_in, user):
    phone = make_phone(user)
    give_quota(user, "month", 4)
    numbers = "\n".join(f"06123456{index:02d}" for index in range(5))
    review = post_form(logged_in, "/compose", {"phone_id": phone.id, "numbers": numbers, "body": "Hi"})
    assert ("Your quota has 4 SMS segments left: too few for this campaign, which will be refused."
            in page(logged_in.get(review.headers["Location"])))
    refused = confirm_sending(logged_in, review)
    assert "this send needs 5 SMS segments and your quota of 4 per month has 4 left" in page(refused)
    assert sent_count() == 0 and db.session.scalar(select(func.count()).select_from(Campaign)) == 0
    give_quota(user, "month", 5)
    sent = confirm_sending(logged_in, review)
    assert sent.status_code == 302 and sent_count() == 5 and used(user) == 5


def test_the_api_refuses_beyond_the_quota_with_403_and_the_reason(api, user):
    make_phone(user)
    give_quota(user, "credit", 2)
    answer = api.post("/api/v1/messages", json={"to": ["+33612345678", "+33612345679", "+33612345670"],
                                                 "text": "Hi"})
    assert answer.status_code == 403
    problem = answer.get_json()
    assert problem["type"].endswith("/quota-exceeded")
    assert "this send needs 3 SMS segments and your credit of 2 has 2 left" in problem["detail"]
    assert sent_count() == 0
    french = api.post("/api/v1/messages", json={"to": ["+33612345678"], "text": LONG_TEXT},
                      headers={"Accept-Language": "fr"}).get_json()
    assert "Non envoyé" in french["detail"]
    assert api.post("/api/v1/messages", json={"to": ["+33612345678"], "text": "Hi"}).status_code == 201


def test_two_campaigns_confirmed_at_the_same_moment_cannot_both_take_the_last_segments(app, logged_in, user):
    phone = make_phone(user)
    give_quota(user, "month", 7)
    reviews = [post_form(logged_in, "/compose", {"phone_id": phone.id, "body": f"Campaign {index}",
                                                  "numbers": "\n".join(f"0612{index}456{n:02d}" for n in range(5))})
               for index in range(2)]
    clients = [logged_in, login(app.test_client(), user)]  # two browsers of the user's
    start = threading.Barrier(2)
    answers = [None, None]

    def confirm(index):
        with app.app_context():
            start.wait()
            answers[index] = confirm_sending(clients[index], reviews[index])

    threads = [threading.Thread(target=confirm, args=(index,)) for index in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    db.session.expire_all()
    assert sorted(answer.status_code for answer in answers) == [200, 302]
    assert sent_count() == 5 and used(user) == 5
    refused = next(answer for answer in answers if answer.status_code == 200)
    assert "this send needs 5 SMS segments and your quota of 7 per month has 2 left" in page(refused)


def test_many_sends_at_once_never_take_more_than_the_quota(app, user):
    phone = make_phone(user)
    give_quota(user, "credit", 100)
    start = threading.Barrier(8)
    outcomes = []

    def send(index):
        with app.app_context():
            start.wait()
            try:
                queue_outbound(db.session.get(type(phone), phone.id),
                               [f"+336123{index}{n:04d}" for n in range(30)], "Hi")
                outcomes.append("sent")
            except quotas.QuotaExceeded:
                outcomes.append("refused")
            finally:
                db.session.remove()

    threads = [threading.Thread(target=send, args=(index,)) for index in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    db.session.expire_all()
    assert sorted(outcomes) == ["refused"] * 5 + ["sent"] * 3
    assert sent_count() == 90 and used(user) == 90


def test_a_monthly_quota_renews_on_the_first_of_the_next_month_in_the_users_zone(app, logged_in, user, tmp_path):
    clock_file = tmp_path / "clock"
    clock_file.write_text("2026-12-31T22:30:00")  # 23:30 in Paris
    app.config["CLOCK_FILE"] = str(clock_file)
    phone = make_phone(user)
    give_quota(user, "month", 1)
    compose_one(logged_in, phone, "Hi")
    refused = compose_one(logged_in, phone, "Hi again")
    assert "It renews on Jan 1, 2027" in page(refused)
    clock_file.write_text("2026-12-31T23:00:00")  # midnight in Paris
    assert "0 of 1 SMS segments used this month" in page(logged_in.get("/"))
    assert compose_one(logged_in, phone, "Happy new year").status_code == 302
    assert used(user) == 1 and sent_count() == 2


def test_the_dashboard_shows_the_use_and_alerts_at_90_and_100_percent(logged_in, user):
    phone = make_phone(user)
    give_quota(user, "month", 10)
    queue_outbound(phone, [f"+3361234567{n}" for n in range(8)], "Hi")
    board = page(logged_in.get("/"))
    assert 'data-quota-level="0"' in board and "8 of 10 SMS segments used this month (80%)" in board
    queue_outbound(phone, ["+33698765432"], "Hi")
    board = page(logged_in.get("/"))
    assert 'data-quota-level="90"' in board and "Your quota is almost used up" in board
    assert "1 SMS segment is left." in board
    queue_outbound(phone, ["+33698765433"], "Hi")
    board = page(logged_in.get("/"))
    assert 'data-quota-level="100"' in board and "Your quota is used up" in board
    assert "New sends are refused until the quota renews" in board
    french = logged_in.get("/", headers={"Accept-Language": "fr"}).get_data(as_text=True)
    assert "Votre quota est épuisé" in unescape(french)


def test_the_alerts_are_e_mailed_once_each_when_smtp_is_configured(app, user, smtp_server):
    app.config["SMTP_URL"] = smtp_server.url
    phone = make_phone(user)
    give_quota(user, "month", 10)
    queue_outbound(phone, [f"+3361234567{n}" for n in range(9)], "Hi")  # 90 %
    run_queued_jobs(only="webapp.jobs.send_quota_alert")
    [warning] = smtp_server.received()
    assert warning["Subject"] == "Your SMS Desk quota is 90 % used" and warning["To"] == user.email
    assert "has used 9 of its 10 SMS segments for this month (1 left)" in warning.get_body(("plain",)).get_content()
    queue_outbound(phone, ["+33698765432"], "Hi")  # 100 %
    with pytest.raises(quotas.QuotaExceeded):
        queue_outbound(phone, ["+33698765433"], "Hi")  # refused: told already
    run_queued_jobs(only="webapp.jobs.send_quota_alert")
    mails = smtp_server.received()
    assert [mail["Subject"] for mail in mails] == ["Your SMS Desk quota is 90 % used", "Your SMS Desk quota is used up"]
    assert "SMS Desk refuses new sends until the quota renews on" in mails[1].get_body(("plain",)).get_content()


def test_a_refused_send_alerts_once_when_the_quota_is_not_quite_used(app, user, smtp_server):
    app.config["SMTP_URL"] = smtp_server.url
    phone = make_phone(user)
    give_quota(user, "credit", 5)
    for _attempt in range(2):
        with pytest.raises(quotas.QuotaExceeded):
            queue_outbound(phone, ["+33698765433"], "x" * 1000)
    run_queued_jobs(only="webapp.jobs.send_quota_alert")
    assert [mail["Subject"] for mail in smtp_server.received()] == ["Your SMS Desk quota is used up"]


def test_no_e_mail_without_smtp(user):
    phone = make_phone(user)
    give_quota(user, "month", 1)
    queue_outbound(phone, ["+33698765432"], "Hi")
    assert run_queued_jobs(only="webapp.jobs.send_quota_alert") == 0


def test_each_user_has_their_own_quota_and_sees_only_their_own(app, client, admin, user, other_user):
    give_quota(user, "month", 2)
    grace_phone = make_phone(other_user)
    queue_outbound(grace_phone, ["+33698765432", "+33698765433", "+33698765434"], "Hi")  # no quota: not limited
    assert used(user) == 0
    login(client, other_user)
    assert "data-quota-level" not in client.get("/").get_data(as_text=True)
    assert client.get(f"/admin/users/{user.id}/quota").status_code == 404
    denied = client.post(f"/admin/users/{user.id}/quota", data={"kind": "none"})
    assert denied.status_code in (400, 404) and db.session.get(Quota, user.id) is not None
    assert "0 of 2 SMS segments used this month" in page(login(app.test_client(), user).get("/"))
