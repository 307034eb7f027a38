"""The Twilio phone against a fake Twilio that checks auth and signs its webhooks as Twilio does."""
import re
from datetime import datetime, timedelta, timezone

import pytest
import requests
from sqlalchemy import select

from webapp import broker, statuses, tasks
from webapp.extensions import db
from webapp.models import Message, Phone
from webapp.reasons import shown
from webapp.services import polling
from webapp.services.messages import queue_outbound
from webapp.services.phones import callback_url, record_connection_check

from .conftest import (TWILIO_NUMBER, post_form, reload_message, run_queued_jobs, send_now, twilio_phone,
                       wait_for)
from .fakes.twilio import OMITTED, webhook_reply_problem




def sent_via_twilio(user, fake, number="+33698765432", **overrides):
    phone = twilio_phone(user, fake, **overrides)
    [message_id] = queue_outbound(phone, [number], "Hello")
    message = send_now(message_id)
    assert message.status == statuses.SENT
    return phone, message


def test_a_send_posts_the_form_twilio_expects_and_keeps_its_sid(twilio, user):
    phone, message = sent_via_twilio(user, twilio)
    request = twilio.requests[-1]
    assert (request.method, request.path) == ("POST", f"/2010-04-01/Accounts/{twilio.account_sid}/Messages.json")
    assert request.auth == (twilio.account_sid, twilio.auth_token)
    assert request.form == {"To": "+33698765432", "From": TWILIO_NUMBER, "Body": "Hello",
                            "StatusCallback": callback_url(phone, "status")}
    assert message.provider_message_id == twilio.last_message.sid


@pytest.mark.parametrize("setting, value, says", [
    ("auth_token", "0" * 32, "Twilio refused the Account SID or the Auth Token"),
    ("number", "+15005550009", "This Twilio number cannot send SMS"),
])
def test_a_refused_send_fails_at_once_with_the_reason_in_words(twilio, user, setting, value, says):
    phone = twilio_phone(user, twilio, **{setting: value})
    [message_id] = queue_outbound(phone, ["+33698765432"], "Hello")
    message = send_now(message_id)
    assert message.status == statuses.FAILED and message.attempt_count == 1
    assert says in shown(message.error_reason)


def test_an_invalid_destination_shows_twilios_code_and_message(twilio, user):
    phone = twilio_phone(user, twilio)
    [message_id] = queue_outbound(phone, ["+33698765432"], "Hello")
    message = db.session.get(Message, message_id)
    message.remote_number = "5551234567"  # what our own validation would have refused
    db.session.commit()
    message = send_now(message_id)
    assert (message.status, message.error_code) == (statuses.FAILED, "21211")
    assert "not valid" in shown(message.error_reason) and "5551234567" in shown(message.error_reason)


@pytest.mark.parametrize("status_code", [429, 503])
def test_a_busy_twilio_is_retried(twilio, user, status_code):
    phone = twilio_phone(user, twilio)
    twilio.fail_next(status_code)
    [message_id] = queue_outbound(phone, ["+33698765432"], "Hello")
    assert send_now(message_id).status == statuses.QUEUED
    assert send_now(message_id).status == statuses.SENT


@pytest.mark.parametrize("status_code", [500, 502, 504])
def test_a_twilio_error_that_may_come_after_the_send_is_not_retried(twilio, user, status_code):
    phone = twilio_phone(user, twilio)
    twilio.fail_next(status_code)
    [message_id] = queue_outbound(phone, ["+33698765432"], "Hello")
    message = send_now(message_id)
    assert message.status == statuses.UNKNOWN and f"HTTP {status_code}" in shown(message.error_reason)
    assert send_now(message_id).status == statuses.UNKNOWN  # a second job does nothing


def test_an_answer_trickled_past_the_deadline_leaves_the_message_unknown(app, twilio, user):
    """Each piece of the answer comes well within the read timeout, but the whole takes longer than
    connect + read timeouts: the sender stops waiting, and the message may have been sent."""
    app.config.update(PROVIDER_CONNECT_TIMEOUT=0.5, PROVIDER_READ_TIMEOUT=1.0)
    app.extensions.pop("smsdesk_provider_http", None)
    twilio.answer_trickle = 4.0  # ten pieces, 0.4 s apart
    phone = twilio_phone(user, twilio)
    [message_id] = queue_outbound(phone, ["+33698765432"], "Hello")
    message = send_now(message_id)
    assert message.status == statuses.UNKNOWN and message.provider_message_id is None
    assert "Twilio did not answer in time" in shown(message.error_reason)
    assert len(twilio.messages) == 1  # it did reach Twilio: unknown, not failed


def test_the_connection_test_fetches_the_account(twilio, user):
    phone = twilio_phone(user, twilio)
    record_connection_check(phone)
    assert phone.last_check_ok and "SMS Desk test account" in shown(phone.last_check_message)
    assert twilio.requests[-1].path == f"/2010-04-01/Accounts/{twilio.account_sid}.json"
    wrong = twilio_phone(user, twilio, auth_token="1" * 32)
    record_connection_check(wrong)
    assert wrong.last_check_ok is False and "Auth Token" in shown(wrong.last_check_message)


@pytest.mark.parametrize("twilio_status, error_code, expected", [
    ("queued", None, statuses.SENT), ("sending", None, statuses.SENT), ("sent", None, statuses.SENT),
    ("delivered", None, statuses.DELIVERED), ("read", None, statuses.DELIVERED),
    ("undelivered", "30003", statuses.FAILED), ("failed", "30008", statuses.FAILED),
    ("canceled", None, statuses.FAILED), ("partially_delivered", None, statuses.SENT),
    ("receiving", None, statuses.SENT),  # an unknown report cannot undo "sent"
])
def test_status_callbacks_map_to_our_statuses(twilio, live_server, user, twilio_status, error_code, expected):
    _, message = sent_via_twilio(user, twilio)
    response = twilio.send_status(message.provider_message_id, twilio_status, error_code)
    assert response.status_code == 204 and webhook_reply_problem(response, inbound=False) is None
    message = reload_message(message.id)
    assert message.status == expected
    assert message.events[-1].provider_status == twilio_status
    if error_code:
        assert message.error_code == error_code


def test_an_undelivered_sms_says_why_on_its_page(twilio, live_server, logged_in, user):
    _, message = sent_via_twilio(user, twilio)
    twilio.undeliver(message.provider_message_id, error_code="30003")
    page = logged_in.get(f"/messages/{message.id}").get_data(as_text=True)
    assert "The handset is unreachable" in page and "30003" in page


@pytest.mark.parametrize("signature", [None, "forged-signature=", "RSOYDt4T1cUTdK1PDd93/VVr8B8="])
def test_a_callback_without_a_valid_signature_is_refused_and_changes_nothing(twilio, live_server, user,
                                                                              signature):
    phone, message = sent_via_twilio(user, twilio)
    response = twilio.send_status(message.provider_message_id, "delivered", signature=signature)
    assert response.status_code == 403
    inbound = twilio.send_inbound(callback_url(phone, "inbound"), "+33698765432", TWILIO_NUMBER, "Hi",
                                  signature=signature)
    assert inbound.status_code == 403
    assert reload_message(message.id).status == statuses.SENT
    assert db.session.scalar(select(Message).where(Message.direction == Message.INBOUND)) is None


def test_a_signature_made_with_another_accounts_token_is_refused(twilio, live_server, user):
    phone, message = sent_via_twilio(user, twilio)
    url = callback_url(phone, "status")
    form = {"MessageSid": message.provider_message_id, "MessageStatus": "delivered"}
    forged = twilio.sign(url, form, token="f" * 32)
    assert twilio.post_signed(url, form, signature=forged).status_code == 403


def test_the_public_url_is_the_one_checked_behind_a_proxy(app, twilio, live_server, user):
    app.config["PUBLIC_BASE_URL"] = "https://sms.example.org"
    phone, message = sent_via_twilio(user, twilio)
    public_url = callback_url(phone, "status")
    local_url = public_url.replace("https://sms.example.org", live_server)
    form = {"MessageSid": message.provider_message_id, "MessageStatus": "delivered", "AccountSid": "x"}
    for signed_url in (public_url, public_url.replace("sms.example.org", "sms.example.org:443")):
        response = requests.post(local_url, data=form, headers={"X-Twilio-Signature": twilio.sign(signed_url, form)})
        assert response.status_code == 204
    # the local address the proxy forwarded to is not what Twilio signed
    response = requests.post(local_url, data=form, headers={"X-Twilio-Signature": twilio.sign(local_url, form)})
    assert response.status_code == 403
    assert reload_message(message.id).status == statuses.DELIVERED


def test_an_incoming_sms_is_stored_once_and_answered_with_empty_twiml(twilio, live_server, user):
    phone = twilio_phone(user, twilio)
    response = twilio.send_inbound(callback_url(phone, "inbound"), "+33698765432", TWILIO_NUMBER, "Je viens !")
    assert response.status_code == 200 and webhook_reply_problem(response) is None
    assert response.headers["Content-Type"].startswith("text/xml") and "<Response>" in response.text
    assert twilio.replay().status_code == 200  # Twilio retries the same webhook
    [message] = db.session.scalars(select(Message)).all()
    assert (message.remote_number, message.body, message.direction) == ("+33698765432", "Je viens !",
                                                                         Message.INBOUND)
    assert message.provider_message_id.startswith("SM")


def test_a_message_that_got_no_callback_is_polled_after_the_delay(app, twilio, user):
    app.config["TWILIO_STATUS_POLL_AFTER_SECONDS"] = 0
    _, message = sent_via_twilio(user, twilio, polling_mode="never")
    twilio.messages[message.provider_message_id].resource["status"] = "delivered"  # no callback came
    assert polling.enqueue_due_status_polls() == 1
    [job] = [job for job in broker.job_queue().jobs if job.func_name == tasks.POLL_STATUSES]
    job.perform()  # what the worker does with the job
    message = reload_message(message.id)
    assert message.status == statuses.DELIVERED and message.status_poll_count == 1
    assert message.next_status_poll_at is None  # final: no more polls
    assert twilio.requests[-1].path.endswith(f"/Messages/{message.provider_message_id}.json")


def test_polls_back_off_and_stop(app, twilio, user):
    app.config["TWILIO_STATUS_POLL_AFTER_SECONDS"] = 60
    _, message = sent_via_twilio(user, twilio, polling_mode="never")
    assert (message.next_status_poll_at - message.created_at).total_seconds() >= 60
    assert polling.enqueue_due_status_polls() == 0  # not yet due
    from webapp.services.phones import adapter_for
    adapter = adapter_for(message.phone)
    assert [adapter.status_poll_delay(done) for done in range(5)] == [60, 180, 720, 4320, None]


def test_an_sms_sent_by_the_worker_is_delivered_by_twilios_signed_callbacks(twilio, live_server, start_worker,
                                                                            user):
    twilio.auto_callbacks = True
    phone = twilio_phone(user, twilio)
    start_worker(TWILIO_API_BASE_URL=twilio.base_url)
    [message_id] = queue_outbound(phone, ["+33698765432"], "Through the worker")
    wait_for(lambda: reload_message(message_id).status == statuses.DELIVERED, message="delivered")
    assert [event.status for event in reload_message(message_id).events] == [
        statuses.QUEUED, statuses.SENDING, statuses.SENT, None, statuses.DELIVERED]  # "sent" again changes nothing


def unfinished(phone) -> list[str]:
    db.session.expire_all()
    return db.session.scalars(select(Message.status).where(
        Message.phone_id == phone.id, Message.status.in_([statuses.QUEUED, statuses.SENDING]))).all()


@pytest.mark.parametrize("answer_sid", [None, OMITTED], ids=["null sid", "no sid"])
def test_an_answer_without_a_sid_leaves_the_messages_unknown(twilio, live_server, start_worker, user, answer_sid):
    twilio.answer_sid = answer_sid
    phone = twilio_phone(user, twilio)
    worker = start_worker(TWILIO_API_BASE_URL=twilio.base_url)
    message_ids = queue_outbound(phone, [f"+3369876543{digit}" for digit in range(3)], "Which one?")
    wait_for(lambda: not unfinished(phone), message="every message answered")
    for message_id in message_ids:
        message = reload_message(message_id)
        assert message.status == statuses.UNKNOWN and message.provider_message_id is None
        assert "Twilio accepted it without giving its id" in shown(message.error_reason)
    assert "Traceback" not in worker.output()


def test_an_answer_without_a_sid_is_not_sent_when_the_ids_cannot_be_checked(twilio, user, monkeypatch):
    """The database refused the question that checks the answers' ids: unknown, never "sent" with no id."""
    from sqlalchemy.exc import OperationalError
    from webapp.services import sending

    def database_refuses(_done):
        raise OperationalError("SELECT ...", {}, Exception("database is locked"))
    twilio.answer_sid = None
    phone = twilio_phone(user, twilio)
    [message_id] = queue_outbound(phone, ["+33698765430"], "Which one?")
    monkeypatch.setattr(sending, "stored_owners", database_refuses)
    message = send_now(message_id)
    assert (message.status, message.provider_message_id) == (statuses.UNKNOWN, None)


def test_one_sid_answered_for_many_messages_is_kept_by_the_first_only(twilio, live_server, start_worker, user):
    twilio.answer_sid = "SM" + "d" * 32
    phone = twilio_phone(user, twilio)
    worker = start_worker(TWILIO_API_BASE_URL=twilio.base_url)
    message_ids = queue_outbound(phone, [f"+336987654{index:02d}" for index in range(20)], "Same sid")
    wait_for(lambda: not unfinished(phone), message="every message answered")
    messages = [reload_message(message_id) for message_id in message_ids]
    assert [message.provider_message_id for message in messages if message.status == statuses.SENT] == [
        twilio.answer_sid]
    others = [message for message in messages if message.status != statuses.SENT]
    assert len(others) == 19 and all(message.status == statuses.UNKNOWN for message in others)
    assert all(f"the id of another message ({twilio.answer_sid})" in shown(message.error_reason)
               for message in others)
    assert "IntegrityError" not in worker.output()


# ---- logins and senders Twilio's console hands out

SERVICE_SID = "MG" + "5" * 32


@pytest.fixture
def api_key(twilio):
    return twilio.add_api_key()


def api_key_phone(user, fake, key, **overrides):
    return twilio_phone(user, fake, **dict(dict(api_key_sid=key.sid, api_key_secret=key.secret), **overrides))


def test_a_phone_with_an_api_key_sends_through_the_worker_and_its_callbacks_verify_with_the_auth_token(
        twilio, api_key, live_server, start_worker, user):
    twilio.auto_callbacks = True
    phone = api_key_phone(user, twilio, api_key)
    start_worker(TWILIO_API_BASE_URL=twilio.base_url)
    [message_id] = queue_outbound(phone, ["+33698765432"], "With an API key")
    wait_for(lambda: reload_message(message_id).status == statuses.DELIVERED, message="delivered")
    [send] = [request for request in twilio.requests if request.method == "POST"]
    assert send.path == f"/2010-04-01/Accounts/{twilio.account_sid}/Messages.json"
    assert send.auth == (api_key.sid, api_key.secret)
    assert all(callback.status_code == 204 for callback in twilio.callbacks)  # signed with the Auth Token
    inbound = twilio.send_inbound(callback_url(phone, "inbound"), "+33698765432", TWILIO_NUMBER, "Bien reçu")
    assert inbound.status_code == 200
    assert db.session.scalar(select(Message.body).where(Message.direction == Message.INBOUND)) == "Bien reçu"


def test_a_callback_signed_with_the_api_key_secret_is_refused(twilio, api_key, live_server, user):
    phone = api_key_phone(user, twilio, api_key)
    [message_id] = queue_outbound(phone, ["+33698765432"], "Hello")
    message = send_now(message_id)
    url = callback_url(phone, "status")
    form = {"MessageSid": message.provider_message_id, "MessageStatus": "delivered", "AccountSid": twilio.account_sid}
    assert twilio.post_signed(url, form, signature=twilio.sign(url, form, token=api_key.secret)).status_code == 403
    inbound_url = callback_url(phone, "inbound")
    inbound = {"MessageSid": "SM" + "7" * 32, "From": "+33698765432", "To": TWILIO_NUMBER, "Body": "Hi"}
    assert twilio.post_signed(inbound_url, inbound,
                              signature=twilio.sign(inbound_url, inbound, token=api_key.secret)).status_code == 403
    assert reload_message(message_id).status == statuses.SENT
    assert twilio.post_signed(url, form).status_code == 204  # the Auth Token's signature is the one
    assert reload_message(message_id).status == statuses.DELIVERED


def test_a_refused_api_key_says_so_and_the_connection_test_checks_both_logins(twilio, api_key, user):
    phone = api_key_phone(user, twilio, api_key)
    record_connection_check(phone)
    assert phone.last_check_ok and "API key and the Auth Token" in shown(phone.last_check_message)
    assert [request.auth for request in twilio.requests] == [(api_key.sid, api_key.secret),
                                                              (twilio.account_sid, twilio.auth_token)]
    wrong_secret = api_key_phone(user, twilio, api_key, api_key_secret="0" * 32)
    [message_id] = queue_outbound(wrong_secret, ["+33698765432"], "Hello")
    message = send_now(message_id)
    assert message.status == statuses.FAILED and "refused the API key SID or its secret" in shown(message.error_reason)
    wrong_token = api_key_phone(user, twilio, api_key, auth_token="1" * 32)
    record_connection_check(wrong_token)
    assert wrong_token.last_check_ok is False and "Auth Token" in shown(wrong_token.last_check_message)


def test_a_messaging_service_sends_its_sid_instead_of_a_from_number(twilio, live_server, start_worker, user):
    twilio.messaging_services = (SERVICE_SID,)
    twilio.auto_callbacks = True
    phone = twilio_phone(user, twilio, number=SERVICE_SID)
    start_worker(TWILIO_API_BASE_URL=twilio.base_url)
    [message_id] = queue_outbound(phone, ["+33698765432"], "Through a service")
    wait_for(lambda: reload_message(message_id).status == statuses.DELIVERED, message="delivered")
    assert twilio.last_message.params == {"To": "+33698765432", "MessagingServiceSid": SERVICE_SID,
                                          "Body": "Through a service", "StatusCallback": callback_url(phone, "status")}


def test_a_messaging_service_schedules_at_twilio_and_is_canceled_from_the_messages_page(twilio, user, logged_in):
    user.timezone = "UTC"
    db.session.commit()
    twilio.messaging_services = (SERVICE_SID,)
    phone = twilio_phone(user, twilio, number=SERVICE_SID)
    assert '"schedule": true' in logged_in.get("/compose").get_data(as_text=True).replace("&#34;", '"')
    send_at = (datetime.now(timezone.utc) + timedelta(hours=2)).replace(second=0, microsecond=0)
    response = post_form(logged_in, "/compose", {"phone_id": phone.id, "numbers": "+33698765432", "body": "Later",
                                                 "send_at": send_at.strftime("%Y-%m-%dT%H:%M")})
    assert response.status_code == 302
    message = send_now(db.session.scalar(select(Message.id)))
    assert message.status == statuses.SCHEDULED
    assert (twilio.last_message.params["ScheduleType"], twilio.last_message.params["SendAt"]) == (
        "fixed", send_at.strftime("%Y-%m-%dT%H:%M:%SZ"))
    assert "Cancel this SMS" in logged_in.get(f"/messages/{message.id}").get_data(as_text=True)
    post_form(logged_in, f"/messages/{message.id}", {}, action=f"/messages/{message.id}/cancel")
    run_queued_jobs()
    assert reload_message(message.id).status == statuses.CANCELED
    assert twilio.messages[message.provider_message_id].status == "canceled"


def test_a_time_twilio_cannot_schedule_fails_saying_its_window(twilio, user):
    twilio.messaging_services = (SERVICE_SID,)
    phone = twilio_phone(user, twilio, number=SERVICE_SID)
    too_soon = datetime.now(timezone.utc).replace(tzinfo=None) + timedelta(minutes=2)
    [message_id] = queue_outbound(phone, ["+33698765432"], "Soon", scheduled_at=too_soon)
    message = send_now(message_id)
    assert (message.status, message.error_code) == (statuses.FAILED, "35115")
    assert "from 5 minutes to 35 days ahead" in shown(message.error_reason)


def test_a_number_phone_does_not_schedule_at_twilio_so_sms_desk_holds_the_sms(twilio, user, logged_in):
    phone = twilio_phone(user, twilio)
    response = post_form(logged_in, "/compose", {"phone_id": phone.id, "numbers": "+33698765432", "body": "x",
                                                 "send_at": "2099-01-01T10:00"})
    assert response.status_code == 302
    message = db.session.scalar(select(Message))
    assert message.status == statuses.SCHEDULED and message.attempt_count == 0
    assert [request for request in twilio.requests if request.method == "POST"] == []  # nothing sent yet


def test_an_interrupted_messaging_service_send_is_found_by_its_service(twilio, user):
    """Twilio's list cannot filter on the service, and the sender of such a message is the number it picked."""
    from webapp.providers.base import SendResult
    from webapp.services import sending
    from webapp.services.phones import adapter_for
    twilio.messaging_services = (SERVICE_SID,)
    phone = twilio_phone(user, twilio, number=SERVICE_SID)
    [message_id] = queue_outbound(phone, ["+33698765432"], "Did it leave?")
    began = datetime.now(timezone.utc)
    auth = (twilio.account_sid, twilio.auth_token)
    requests.post(twilio.messages_url, auth=auth, data={"To": "+33698765432", "From": TWILIO_NUMBER,
                                                        "Body": "Did it leave?"})  # not through the service
    ours = requests.post(twilio.messages_url, auth=auth, data={"To": "+33698765432", "Body": "Did it leave?",
                                                               "MessagingServiceSid": SERVICE_SID}).json()
    answer = adapter_for(phone).find_sent(sending.outbound_sms(reload_message(message_id), phone), began)
    assert isinstance(answer, SendResult) and answer.provider_message_id == ours["sid"]


def test_an_alphanumeric_sender_is_sent_as_from_and_the_phone_offers_no_replies(twilio, live_server, start_worker,
                                                                                user, logged_in):
    twilio.auto_callbacks = True
    phone = twilio_phone(user, twilio, number="Mon Ecole")
    start_worker(TWILIO_API_BASE_URL=twilio.base_url)
    [message_id] = queue_outbound(phone, ["+33698765432"], "From a name")
    wait_for(lambda: reload_message(message_id).status == statuses.DELIVERED, message="delivered")
    assert twilio.last_message.params["From"] == "Mon Ecole"
    page = logged_in.get(f"/phones/{phone.id}").get_data(as_text=True)
    assert callback_url(phone, "inbound") not in page and callback_url(phone, "status") in page
    assert "A message comes in" not in page and "cannot reply" in page
    assert re.search(r"Receive SMS</td><td><span class=\"muted\">", page)
    assert re.search(r"Delivery reports</td><td><span class=\"ok\">", page)


@pytest.mark.parametrize("sender, inbound_step, sender_line, schedules", [
    (TWILIO_NUMBER, "A message comes in", f"{TWILIO_NUMBER}: recipients can reply to it.", False),  # as saved before
    (SERVICE_SID, "Send a webhook", f"The Messaging Service {SERVICE_SID}: Twilio picks a sender", True),
])
def test_a_phone_that_receives_shows_where_to_paste_its_inbound_url(twilio, user, logged_in, sender, inbound_step,
                                                                   sender_line, schedules):
    phone = twilio_phone(user, twilio, number=sender)
    page = logged_in.get(f"/phones/{phone.id}").get_data(as_text=True)
    inbound_steps = [step for step in re.findall(r"<li>(.*?)</li>", page, re.S) if inbound_step in step]
    assert len(inbound_steps) == 1 and callback_url(phone, "inbound") in inbound_steps[0]
    assert re.search(r"Receive SMS</td><td><span class=\"ok\">", page) and sender_line in page
    assert bool(re.search(r"Scheduled sending</td><td><span class=\"ok\">", page)) is schedules


@pytest.mark.parametrize("settings, can", [
    ({"account_sid": "AC" + "a" * 32, "number": TWILIO_NUMBER}, {"send", "receive", "delivery_tracking"}),
    ({"number": "12345"}, {"send", "receive", "delivery_tracking"}),  # a short code
    ({"number": SERVICE_SID}, {"send", "receive", "delivery_tracking", "scheduled_send", "cancel"}),
    ({"number": "Mon Ecole"}, {"send", "delivery_tracking"}),
    ({}, {"send", "receive", "delivery_tracking"}),
])
def test_what_a_twilio_phone_can_do_follows_its_sender(settings, can):
    from webapp.providers.twilio import TwilioProvider
    assert {capability.value for capability in TwilioProvider.capabilities_for(settings)} == can


def add_form(account_sid="AC" + "a" * 32, auth_token="b" * 32, api_key_sid="", api_key_secret="",
             number=TWILIO_NUMBER):
    return {"name": "Twilio", "setting_account_sid": account_sid, "setting_auth_token": auth_token,
            "setting_api_key_sid": api_key_sid, "setting_api_key_secret": api_key_secret, "setting_number": number}


@pytest.mark.parametrize("fields, says", [
    ({"account_sid": "SK" + "a" * 32}, "An Account SID is AC followed by 32 letters and digits."),
    ({"api_key_sid": "AC" + "a" * 32, "api_key_secret": "c" * 32},
     "An API key SID is SK followed by 32 letters and digits."),
    ({"api_key_sid": "SK" + "a" * 31, "api_key_secret": "c" * 32},
     "An API key SID is SK followed by 32 letters and digits."),
    ({"number": "MG" + "a" * 30}, "A Messaging Service SID is MG followed by 32 letters and digits."),
    ({"number": "Twelve chars"}, "A sender ID has up to 11 letters"),
    ({"number": "+33 757"}, "Write the number with its country code"),
    ({"api_key_sid": "SK" + "a" * 32}, "Paste the API key&#39;s secret too"),
    ({"api_key_secret": "c" * 32}, "Fill in the SID (SK…) of the API key"),
])
def test_the_add_form_says_which_login_or_sender_is_malformed(logged_in, fields, says):
    response = post_form(logged_in, "/phones/new/twilio", add_form(**fields))
    assert response.status_code == 200 and says in response.get_data(as_text=True)
    assert db.session.scalar(select(Phone)) is None


@pytest.mark.parametrize("sender", ["+33757000000", SERVICE_SID, "Mon Ecole", "A&B-C_D+E"])
def test_the_add_form_takes_each_sender_and_an_api_key(logged_in, sender):
    response = post_form(logged_in, "/phones/new/twilio", add_form(api_key_sid="SK" + "c" * 32,
                                                                  api_key_secret="d" * 32, number=sender))
    assert response.status_code == 302
    phone = db.session.scalar(select(Phone))
    assert phone.settings["number"] == sender and phone.settings["api_key_sid"] == "SK" + "c" * 32


def test_editing_keeps_a_saved_api_key_secret_left_blank(logged_in, twilio, api_key, user):
    phone = api_key_phone(user, twilio, api_key)
    response = post_form(logged_in, f"/phones/{phone.id}/edit", add_form(
        account_sid=twilio.account_sid, auth_token="", api_key_sid=api_key.sid, number="Mon Ecole"))
    assert response.status_code == 302
    [message_id] = queue_outbound(db.session.get(Phone, phone.id), ["+33698765432"], "Still the key")
    assert send_now(message_id).status == statuses.SENT
    assert (twilio.requests[-1].auth, twilio.last_message.params["From"]) == ((api_key.sid, api_key.secret),
                                                                               "Mon Ecole")
