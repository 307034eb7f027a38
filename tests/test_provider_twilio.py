"""The Twilio phone against a fake Twilio that checks auth and signs its webhooks as Twilio does."""
import pytest
import requests
from sqlalchemy import select

from webapp import broker, statuses, tasks
from webapp.extensions import db
from webapp.models import Message
from webapp.reasons import shown
from webapp.services import polling
from webapp.services.messages import queue_outbound
from webapp.services.phones import callback_url, record_connection_check

from .conftest import make_phone, send_now, reload_message, wait_for
from .fakes.twilio import OMITTED, FakeTwilio, webhook_reply_problem

TWILIO_NUMBER = "+15005550006"


@pytest.fixture
def twilio(app):
    with FakeTwilio(numbers=(TWILIO_NUMBER,)) as fake:
        app.config["TWILIO_API_BASE_URL"] = fake.base_url
        yield fake


def twilio_phone(user, fake, **overrides):
    settings = dict(account_sid=fake.account_sid, auth_token=fake.auth_token, number=TWILIO_NUMBER)
    settings.update(overrides)
    return make_phone(user, provider_key="twilio", name="Twilio", **settings)



def sent_via_twilio(user, fake, number="+33698765432"):
    phone = twilio_phone(user, fake)
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
    _, message = sent_via_twilio(user, twilio)
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
    _, message = sent_via_twilio(user, twilio)
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
