"""The Odyssey Messaging phone against a fake Odyssey API."""
import pytest
from sqlalchemy import func, select

from webapp import statuses
from webapp.extensions import db
from webapp.models import Message
from webapp.reasons import shown
from webapp.services.messages import queue_outbound
from webapp.services.phones import callback_url, record_connection_check

from .conftest import make_phone, send_now, reload_message, wait_for
from .fakes.odyssey import FakeOdyssey


@pytest.fixture
def odyssey(app, live_server):
    with FakeOdyssey(senders=("SMSDesk",)) as fake:
        app.config["ODYSSEY_API_BASE_URL"] = fake.base_url
        yield fake


def odyssey_phone(user, fake, **overrides):
    settings = dict(login=fake.login, password=fake.password, sender="")
    settings.update(overrides)
    phone = make_phone(user, provider_key="odyssey", name="Odyssey", **settings)
    fake.status_url = callback_url(phone, "status")  # what the user pastes in Configurer → CallBack API
    fake.inbound_url = callback_url(phone, "inbound")
    return phone



def test_a_send_posts_the_job_odyssey_expects(odyssey, user):
    phone = odyssey_phone(user, odyssey)
    [message_id] = queue_outbound(phone, ["+33612345678"], "Bonjour")
    message = send_now(message_id)
    assert message.status == statuses.SENT
    request = odyssey.sends()[-1]
    assert request.auth == (odyssey.login, odyssey.password)
    assert request.json == {"JobType": "SMS", "Text": "Bonjour", "TrackingID": f"{phone.public_id}-{message_id}",
                            "AdhocRecipients": [{"Name": f"{phone.public_id}-{message_id}",
                                                 "Address": "0033612345678"}]}
    assert odyssey.last_job.ignored_fields == []  # no field Odyssey does not know
    assert message.provider_message_id == str(odyssey.last_job.job_number)


def test_a_sender_name_goes_in_parameter_sender(odyssey, user):
    phone = odyssey_phone(user, odyssey, sender="SMSDesk")
    [message_id] = queue_outbound(phone, ["+33612345678"], "Hi")
    assert send_now(message_id).status == statuses.SENT
    assert odyssey.sends()[-1].json["Parameter"] == {"Sender": "SMSDesk"}


def test_a_sender_odyssey_does_not_accept_fails_with_its_reason(odyssey, user):
    phone = odyssey_phone(user, odyssey, sender="Unknown")
    [message_id] = queue_outbound(phone, ["+33612345678"], "Hi")
    message = send_now(message_id)
    assert message.status == statuses.FAILED
    assert shown(message.error_reason).startswith("Odyssey refused: The request is invalid.")


def test_the_connection_test_and_wrong_credentials(odyssey, user):
    phone = odyssey_phone(user, odyssey)
    record_connection_check(phone)
    assert phone.last_check_ok and "Odyssey accepted" in shown(phone.last_check_message)
    wrong = odyssey_phone(user, odyssey, password="not-it")
    record_connection_check(wrong)
    assert wrong.last_check_ok is False and "refused the login or the password" in shown(wrong.last_check_message)
    [message_id] = queue_outbound(wrong, ["+33612345678"], "Hi")
    assert send_now(message_id).status == statuses.FAILED


@pytest.mark.parametrize("outcome, expected", [
    ("S", statuses.DELIVERED), ("B", statuses.SENT), ("F", statuses.FAILED), ("X", statuses.FAILED),
])
def test_status_events_map_to_our_statuses(odyssey, user, outcome, expected):
    phone = odyssey_phone(user, odyssey)
    [message_id] = queue_outbound(phone, ["+33612345678"], "Hi")
    message = send_now(message_id)
    response = odyssey.send_status(int(message.provider_message_id), outcome)
    assert response.status_code == 200 and response.content == b""
    assert reload_message(message_id).status == expected


@pytest.mark.parametrize("offset", ["+0100", "-0500", ""])
def test_an_incoming_sms_with_any_date_form_is_stored_once(odyssey, user, offset):
    odyssey_phone(user, odyssey)
    from datetime import datetime
    moment = datetime(2026, 3, 1, 12, 30)
    for _ in range(2):
        response = odyssey.send_inbound("0033698765432", "Oui, merci", when=moment, offset=offset)
        assert response.status_code == 200
    [message] = db.session.scalars(select(Message)).all()
    assert (message.remote_number, message.body, message.created_at) == ("+33698765432", "Oui, merci", moment)


def test_other_event_types_are_acknowledged_and_ignored(odyssey, user):
    odyssey_phone(user, odyssey)
    for event_type in (4, 5, 10):  # 1, an opt-out, is recorded
        assert odyssey.send_event(event_type, JobNumber=1).status_code == 200
    assert db.session.scalar(select(func.count(Message.id))) == 0


@pytest.mark.parametrize("body, reason", [
    (b"not json", "the body is not JSON"),
    (b"[1, 2]", "not a JSON object"),
    (b'{"JobNumber": 1}', "missing field EventType"),
    (b'{"EventType": "9", "JobNumber": 1, "Outcome": "S"}', "field EventType has the wrong type"),
    (b'{"EventType": 9, "Outcome": "S"}', "missing field JobNumber"),
    (b'{"EventType": 9, "JobNumber": 1, "Outcome": 5}', "field Outcome has the wrong type"),
    (b'{"EventType": 8, "Message": "hi", "EventDateTime": "/Date(1)/"}', "missing field From"),
    (b'{"EventType": 8, "From": "0033698765432", "Message": "hi", "EventDateTime": "yesterday"}',
     "unreadable date"),
])
def test_malformed_callbacks_answer_400_and_change_nothing(odyssey, user, body, reason):
    phone = odyssey_phone(user, odyssey)
    [message_id] = queue_outbound(phone, ["+33612345678"], "Hi")
    send_now(message_id)
    for url in (odyssey.status_url, odyssey.inbound_url):
        response = odyssey.post_raw(url, body)
        assert response.status_code == 400 and reason in response.text
    assert reload_message(message_id).status == statuses.SENT
    assert db.session.scalar(select(func.count(Message.id))) == 1


def test_an_sms_sent_through_the_worker_is_delivered_by_odysseys_callback(odyssey, start_worker, user):
    odyssey.auto_status = True
    phone = odyssey_phone(user, odyssey)
    start_worker(ODYSSEY_API_BASE_URL=odyssey.base_url)
    [message_id] = queue_outbound(phone, ["+33612345678"], "Through the worker")
    wait_for(lambda: reload_message(message_id).status == statuses.DELIVERED, message="delivered")
