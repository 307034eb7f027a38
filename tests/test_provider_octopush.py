"""The Octopush phone against a fake Octopush v1 API."""
import pytest
import requests
from sqlalchemy import func, select

from webapp import statuses
from webapp.extensions import db
from webapp.models import Message, OptOut, Phone
from webapp.reasons import shown
from webapp.services.messages import queue_outbound
from webapp.services.phones import callback_url, record_connection_check

from .conftest import make_phone, send_now, post_form, reload_message, wait_for
from .fakes.octopush import FakeOctopush, reply_problem


@pytest.fixture
def octopush(app, live_server):
    with FakeOctopush(virtual_number="+33644630000", balance=12.5) as fake:
        app.config["OCTOPUSH_API_BASE_URL"] = fake.base_url
        yield fake


def octopush_phone(user, fake, **overrides):
    settings = dict(api_login=fake.api_login, api_key=fake.api_key, virtual_number=fake.virtual_number,
                    message_type="sms_premium", sender="")
    settings.update(overrides)
    phone = make_phone(user, provider_key="octopush", name="Octopush", **settings)
    fake.status_url = callback_url(phone, "status")  # what the user pastes in the "Callbacks" menu
    fake.inbound_url = callback_url(phone, "inbound")
    return phone



def test_a_send_posts_the_campaign_octopush_expects(octopush, user):
    phone = octopush_phone(user, octopush)
    [message_id] = queue_outbound(phone, ["+33612345678"], "Bonjour")
    message = send_now(message_id)
    assert message.status == statuses.SENT
    request = octopush.sends()[-1]
    assert request.headers["api-login"] == octopush.api_login and request.headers["api-key"] == octopush.api_key
    assert request.json == {"recipients": [{"phone_number": "+33612345678"}], "text": "Bonjour",
                            "type": "sms_premium", "purpose": "alert",
                            "request_id": f"{phone.public_id}-{message_id}", "with_replies": True}
    assert octopush.last_campaign.unknown_fields == []
    assert message.provider_message_id == octopush.last_campaign.ticket


def test_a_sender_name_replaces_replies(octopush, user):
    phone = octopush_phone(user, octopush, sender="SMSDesk", message_type="sms_low_cost")
    [message_id] = queue_outbound(phone, ["+33612345678"], "Hi")
    assert send_now(message_id).status == statuses.SENT
    sent = octopush.sends()[-1].json
    assert sent["sender"] == "SMSDesk" and sent["type"] == "sms_low_cost" and "with_replies" not in sent


def test_a_retry_after_a_lost_answer_is_refused_by_octopush_and_not_sent_twice(octopush, user):
    phone = octopush_phone(user, octopush)
    [message_id] = queue_outbound(phone, ["+33612345678"], "Once")
    # the first attempt reached Octopush; its answer was lost and the message went back to the queue
    from webapp.services.phones import adapter_for
    from webapp.providers.base import OutboundSms
    adapter_for(phone).send(OutboundSms(message_id, "+33612345678", "Once", "", reference=f"{phone.public_id}-{message_id}"))
    message = send_now(message_id)
    assert message.status == statuses.UNKNOWN
    assert "already received this SMS" in shown(message.error_reason)
    assert len(octopush.campaigns) == 1


def test_wrong_credentials_are_explained_and_the_balance_is_shown(octopush, user, logged_in):
    phone = octopush_phone(user, octopush)
    record_connection_check(phone)
    assert phone.last_check_ok
    assert {shown(label): value for label, value in phone.last_check_facts.items()} == {"Balance": "12.5 EUR"}
    assert "12.5 EUR" in logged_in.get(f"/phones/{phone.id}").get_data(as_text=True)
    wrong = octopush_phone(user, octopush, api_key="wrong")
    record_connection_check(wrong)
    assert wrong.last_check_ok is False and "refused the login or the API key" in shown(wrong.last_check_message)


@pytest.mark.parametrize("octopush_status, expected", [
    ("ACK", statuses.SENT), ("DELIVERED", statuses.DELIVERED), ("READ", statuses.DELIVERED),
    ("NOT_DELIVERED", statuses.FAILED), ("NOT_ALLOWED", statuses.FAILED), ("BAD_DESTINATION", statuses.FAILED),
    ("BLACKLISTED_NUMBER", statuses.FAILED), ("UNKNOWN_DELIVERY", statuses.SENT), ("UNDEFINED", statuses.SENT),
])
def test_delivery_reports_map_to_our_statuses_and_answer_fast_and_empty(octopush, user, octopush_status,
                                                                        expected):
    phone = octopush_phone(user, octopush)
    [message_id] = queue_outbound(phone, ["+33612345678"], "Hi")
    message = send_now(message_id)
    response = octopush.send_dlr(message.provider_message_id, "+33612345678", octopush_status)
    assert reply_problem(response) is None
    message = reload_message(message_id)
    assert message.status == expected
    if expected == statuses.FAILED:
        assert message.error_code == octopush_status and shown(message.error_reason)


def test_a_report_is_matched_on_ticket_and_number(octopush, user):
    phone = octopush_phone(user, octopush)
    [message_id] = queue_outbound(phone, ["+33612345678"], "Hi")
    message = send_now(message_id)
    octopush.send_dlr(message.provider_message_id, "+33699999999", "DELIVERED")  # another recipient
    assert reload_message(message_id).status == statuses.SENT


def test_an_incoming_sms_is_stored_once(octopush, user):
    octopush_phone(user, octopush)
    for _ in range(2):
        response = octopush.send_inbound("+33698765432", "Oui !", reception_date="2026-03-01 10:15:00")
        assert reply_problem(response) is None
    [message] = db.session.scalars(select(Message)).all()
    assert (message.remote_number, message.body, str(message.created_at)) == (
        "+33698765432", "Oui !", "2026-03-01 09:15:00")  # Paris winter time is UTC+1


def test_stop_records_the_opt_out_and_compose_refuses_the_number(octopush, user, logged_in):
    phone = octopush_phone(user, octopush)
    response = octopush.send_stop("+33698765432", stop_date="2026-03-01 10:15:00")
    assert reply_problem(response) is None
    octopush.send_stop("+33698765432")  # told twice, kept once
    assert db.session.scalar(select(func.count(OptOut.id))) == 1
    page = post_form(logged_in, "/compose", {"phone_id": phone.id, "numbers": "06 98 76 54 32", "body": "Hi"})
    assert "+33698765432 replied STOP on" in page.get_data(as_text=True)
    assert db.session.scalar(select(func.count(Message.id))) == 0


@pytest.mark.parametrize("body, reason", [
    (b"<xml/>", "the body is not JSON"),
    (b'"DELIVERED"', "not a JSON object"),
    (b'{"message_id": "sms_1", "number": "+33612345678", "delivery_date": "2026-03-01 10:00:00"}',
     "missing field status"),
    (b'{"message_id": 5, "number": "+33612345678", "status": "DELIVERED"}', "field message_id has the wrong type"),
    (b'{"message_id": "sms_1", "number": "+33612345678", "status": "DELIVERED", "delivery_date": "soon"}',
     "unreadable date"),
    (b'{"number": "+33612345678", "text": 12, "reception_date": "2026-03-01 10:00:00"}', "field text has the wrong type"),
    (b'{"text": "hi", "reception_date": "2026-03-01 10:00:00"}', "missing field number"),
    (b'{"hello": "world"}', "neither a delivery report"),
])
def test_malformed_callbacks_answer_400_and_change_nothing(octopush, user, body, reason):
    phone = octopush_phone(user, octopush)
    [message_id] = queue_outbound(phone, ["+33612345678"], "Hi")
    send_now(message_id)
    response = octopush.post_raw(octopush.status_url, body)
    assert response.status_code == 400 and reason in response.text
    assert reload_message(message_id).status == statuses.SENT
    assert db.session.scalar(select(func.count(Message.id))) == 1
    assert db.session.scalar(select(func.count(OptOut.id))) == 0


def test_an_sms_sent_through_the_worker_is_delivered_by_octopushs_callback(octopush, start_worker, user):
    octopush.auto_dlr = True
    phone = octopush_phone(user, octopush)
    start_worker(OCTOPUSH_API_BASE_URL=octopush.base_url)
    [message_id] = queue_outbound(phone, ["+33612345678"], "Through the worker")
    wait_for(lambda: reload_message(message_id).status == statuses.DELIVERED, message="delivered")


# ---- lost answers: Octopush refuses a repeated request_id, so a send whose answer was lost is sent again

def worker_for(start_worker, octopush, **env):
    return start_worker(OCTOPUSH_API_BASE_URL=octopush.base_url, **env)


def reasons_of(message):
    return [shown(event.reason) for event in message.events if event.reason]


def request_ids(octopush):
    return [request.json["request_id"] for request in octopush.sends()]


@pytest.mark.parametrize("lose_it", [lambda fake: fake.drop_next(), lambda fake: fake.fail_next(502)],
                         ids=["dropped before Octopush answered", "a 502"])
def test_a_send_whose_answer_never_came_is_sent_again_and_delivered_once(octopush, start_worker, user, lose_it):
    octopush.auto_dlr = True
    phone = octopush_phone(user, octopush)
    lose_it(octopush)
    worker_for(start_worker, octopush)
    [message_id] = queue_outbound(phone, ["+33612345678"], "Lost on the way")
    wait_for(lambda: reload_message(message_id).status == statuses.DELIVERED, message="delivered")
    message = reload_message(message_id)
    [campaign] = octopush.accepted_for("+33612345678")
    assert message.provider_message_id == campaign.ticket and message.attempt_count == 2
    assert request_ids(octopush) == [f"{phone.public_id}-{message_id}"] * 2
    [retried] = [reason for reason in reasons_of(message) if "Attempt 1 failed" in reason]
    assert "sending it again cannot send it twice" in retried and "Next try in" in retried


@pytest.mark.parametrize("lose_it", [lambda fake: fake.answer_late_next(2.5),
                                     lambda fake: fake.drop_next(after_accepting=True)],
                         ids=["a read timeout", "dropped after Octopush accepted it"])
def test_an_sms_octopush_accepted_without_our_knowing_ends_sent_once_and_says_why_reports_cannot_match(
        octopush, start_worker, user, logged_in, lose_it):
    phone = octopush_phone(user, octopush)
    lose_it(octopush)
    worker_for(start_worker, octopush, PROVIDER_READ_TIMEOUT="1")
    [message_id] = queue_outbound(phone, ["+33612345678"], "Sent, ticket lost")
    wait_for(lambda: reload_message(message_id).status == statuses.SENT, message="sent")
    message = reload_message(message_id)
    assert len(octopush.accepted_for("+33612345678")) == 1
    assert request_ids(octopush) == [f"{phone.public_id}-{message_id}"] * 2
    assert octopush.sends()[-1].status == 400  # the repeat, refused with code 120
    assert message.attempt_count == 2 and message.provider_message_id is None and message.error_reason is None
    assert "delivery reports cannot be matched" in reasons_of(message)[-1]
    assert "code 120" in reasons_of(message)[-1]
    page = logged_in.get(f"/messages/{message_id}").get_data(as_text=True)
    assert "Attempt 1 failed" in page and "this SMS&#39;s delivery reports cannot be matched" in page


def test_answers_lost_every_time_are_tried_a_bounded_number_of_times_and_end_unknown(octopush, start_worker,
                                                                                      user, app, logged_in):
    phone = octopush_phone(user, octopush)
    octopush.drop_next(times=50)
    worker_for(start_worker, octopush)
    [message_id] = queue_outbound(phone, ["+33612345678"], "Never answered")
    wait_for(lambda: reload_message(message_id).status == statuses.UNKNOWN, message="unknown")
    message = reload_message(message_id)
    attempts = app.config["SEND_MAX_ATTEMPTS"]
    assert message.attempt_count == attempts and len(octopush.sends()) == attempts
    assert octopush.accepted_for("+33612345678") == []
    assert f"gave up after {attempts} attempts" in shown(message.error_reason)
    assert len([reason for reason in reasons_of(message) if "sending it again" in reason]) == attempts - 1
    page = logged_in.get(f"/messages/{message_id}").get_data(as_text=True)
    assert f"Attempts 1 to {attempts - 1} failed: the connection to Octopush broke before it answered" in page
    french = logged_in.get(f"/messages/{message_id}", headers={"Accept-Language": "fr"}).get_data(as_text=True)
    assert "le renvoyer ne peut pas l’envoyer deux fois" in french


@pytest.mark.parametrize("refusal, times, attempts, words", [
    (401, 1, 2, "refused the login or the API key"),
    (503, 50, 5, "unavailable (HTTP 503) (gave up after 5 attempts)"),
], ids=["the key changed meanwhile", "busy until the attempts ran out"])
def test_a_refusal_after_a_lost_answer_leaves_the_sms_unknown_not_failed(octopush, start_worker, user, refusal,
                                                                         times, attempts, words):
    phone = octopush_phone(user, octopush)
    octopush.answer_late_next(2.5)
    worker_for(start_worker, octopush, PROVIDER_READ_TIMEOUT="1")
    [message_id] = queue_outbound(phone, ["+33612345678"], "Sent, then refused")
    wait_for(lambda: octopush.sends(), message="the first attempt")
    octopush.fail_next(refusal, times=times)  # the retries'
    wait_for(lambda: reload_message(message_id).status == statuses.UNKNOWN, message="unknown")
    message = reload_message(message_id)
    assert len(octopush.accepted_for("+33612345678")) == 1 and message.attempt_count == attempts
    reason = shown(message.error_reason)
    assert words in reason and "an earlier attempt's answer was lost, so it may have been sent" in reason


def test_a_refusal_after_attempts_that_sent_nothing_fails_the_sms(octopush, user):
    phone = octopush_phone(user, octopush)
    [message_id] = queue_outbound(phone, ["+33612345678"], "Busy, then refused")
    octopush.fail_next(503)  # refused before doing anything
    assert send_now(message_id).status == statuses.QUEUED
    octopush.fail_next(401)
    message = send_now(message_id)
    assert (message.status, message.attempt_count) == (statuses.FAILED, 2)
    assert "earlier attempt" not in shown(message.error_reason)


# ---- callbacks: Octopush tests a callback page with a GET and an empty POST (spec §3.4)

@pytest.mark.parametrize("kind", ["status", "inbound"])
def test_octopushs_test_of_a_callback_page_is_answered_200_with_nothing(octopush, user, kind):
    phone = octopush_phone(user, octopush)
    url = callback_url(phone, kind)
    assert reply_problem(requests.get(url, timeout=5)) is None
    assert reply_problem(octopush.post_raw(url, b"", content_type=None)) is None
    assert reply_problem(octopush.post_raw(url, b"")) is None
    malformed = octopush.post_raw(url, b'{"message_id": "sms_1", "number"')
    assert malformed.status_code == 400 and "the body is not JSON" in malformed.text
    assert db.session.scalar(select(func.count(Message.id))) == 0


# ---- the message purpose: Octopush's documents disagree on its default, so it is always sent

def test_the_form_explains_the_purpose_and_the_chosen_one_is_sent(octopush, user, logged_in):
    form = logged_in.get("/phones/new/octopush").get_data(as_text=True)
    assert "Alert (transactional)" in form and "Wholesale (marketing)" in form
    assert "Alert: transactional SMS" in form and "Wholesale: marketing" in form
    response = post_form(logged_in, "/phones/new/octopush", {
        "name": "Octopush", "setting_api_login": octopush.api_login, "setting_api_key": octopush.api_key,
        "setting_virtual_number": octopush.virtual_number, "setting_message_type": "sms_premium",
        "setting_purpose": "wholesale", "setting_sender": ""})
    assert response.status_code == 302, response.get_data(as_text=True)
    [phone] = db.session.scalars(select(Phone)).all()
    [message_id] = queue_outbound(phone, ["+33612345678"], "Offers of the week. STOP au 30101")
    assert send_now(message_id).status == statuses.SENT
    assert octopush.last_campaign.purpose == "wholesale" and octopush.last_campaign.unknown_fields == []
