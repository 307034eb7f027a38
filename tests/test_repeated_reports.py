"""A report sent again, by a provider that did not hear our answer or by a replay, is stored once."""
from sqlalchemy import func, select

from webapp import statuses
from webapp.extensions import db
from webapp.models import MessageEvent, OutboxEvent

from .conftest import make_phone, reload_message
from .test_callbacks import path_of, sent_message
from .test_provider_twilio import sent_via_twilio


def timeline_and_outbox(message_id):
    return (db.session.execute(select(MessageEvent.status, MessageEvent.provider_status)
                               .where(MessageEvent.message_id == message_id).order_by(MessageEvent.id)).all(),
            db.session.scalar(select(func.count(OutboxEvent.id)).where(OutboxEvent.message_id == message_id)))


def test_a_hundred_identical_reports_add_one_timeline_line_and_one_event(client, user):
    phone = make_phone(user)
    message = sent_message(phone)
    _lines, events_before = timeline_and_outbox(message.id)
    for _ in range(100):
        response = client.post(path_of(phone, "status"), data={"message_id": "SIM1", "status": "DELIVERED"})
        assert response.status_code == 200
    lines, events = timeline_and_outbox(message.id)
    assert [line for line in lines if line.provider_status] == [(statuses.DELIVERED, "DELIVERED")]
    assert events == events_before + 1


def test_a_report_that_says_something_new_is_still_noted(client, user):
    phone = make_phone(user)
    message = sent_message(phone)
    for report in ({"status": "DELIVERED"}, {"status": "DELIVERED"}, {"status": "SENT"}, {"status": "SENT"},
                   {"status": "DELIVERED", "note": "again"}):
        client.post(path_of(phone, "status"), data={"message_id": "SIM1", **report})
    lines, _events = timeline_and_outbox(message.id)
    assert [line for line in lines if line.provider_status] == [
        (statuses.DELIVERED, "DELIVERED"), (None, "SENT"), (None, "DELIVERED")]


def test_a_signed_twilio_callback_replayed_five_times_is_accepted_and_stored_once(twilio, live_server, user):
    _phone, message = sent_via_twilio(user, twilio)
    lines_before, events_before = timeline_and_outbox(message.id)
    assert twilio.send_status(message.provider_message_id, "delivered").status_code == 204
    for _ in range(4):
        assert twilio.replay().status_code == 204
    lines, events = timeline_and_outbox(message.id)
    assert lines[len(lines_before):] == [(statuses.DELIVERED, "delivered")]
    assert events == events_before + 1
    assert reload_message(message.id).status == statuses.DELIVERED
