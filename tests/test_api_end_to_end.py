"""An integrator's idempotent send, over HTTP, with the real worker."""
import requests
from sqlalchemy import func, select

from webapp import broker, statuses
from webapp.extensions import db
from webapp.models import Message
from webapp.providers.simulator import MEMORY_PREFIX
from webapp.services import phones as phone_service

from .api_support import key_for
from .conftest import SHORT_PROVIDER_DEADLINES, make_phone, reload_message, wait_for


def test_an_idempotent_send_repeated_after_a_worker_crash_sends_once(live_server, user, start_worker):
    """The worker dies while its provider request is under way; the integrator, who saw no
    delivery, repeats the call with the same Idempotency-Key. The repeat answers the first call's
    message, and the next worker finds that message at the provider: one SMS, sent once."""
    phone = make_phone(user, answer_delay_seconds="30")  # the simulator's longest, 5 s
    headers = {"Authorization": f"Bearer {key_for(user)}", "Idempotency-Key": "absence-2026-12-02-ada"}
    body = {"to": ["+33612345671"], "text": "Ada is absent this morning", "phone_id": phone.id}
    first = requests.post(f"{live_server}/api/v1/messages", json=body, headers=headers, timeout=10)
    assert first.status_code == 201, first.text
    [message_id] = [message["id"] for message in first.json()["messages"]]
    worker = start_worker(SEND_CONCURRENCY="1")
    wait_for(lambda: broker.redis_connection().keys(MEMORY_PREFIX + "sent:*"), message="taken by the simulator")
    worker.kill()

    again = requests.post(f"{live_server}/api/v1/messages", json=body, headers=headers, timeout=10)
    assert again.status_code == 200 and again.json() == first.json()
    phone_service.save_phone(phone, phone.name, None, {"delivery_delay_seconds": "0.2", "answer_delay_seconds": "0"})
    start_worker(**SHORT_PROVIDER_DEADLINES)
    wait_for(lambda: reload_message(message_id).status in (statuses.SENT, statuses.DELIVERED), timeout=40,
             message="the message found at the provider")
    assert db.session.scalar(select(func.count(Message.id)).where(Message.user_id == user.id)) == 1
    assert reload_message(message_id).attempt_count == 1
    assert len(broker.redis_connection().keys(MEMORY_PREFIX + "sent:*")) == 1
    third = requests.post(f"{live_server}/api/v1/messages", json=body, headers=headers, timeout=10)
    assert third.json()["messages"] == first.json()["messages"]
