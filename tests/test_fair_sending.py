"""Fair sending: a phone that answers slowly holds only its share of the worker's senders."""
from sqlalchemy import func, select

from webapp import statuses
from webapp.extensions import db
from webapp.models import Message
from webapp.services.messages import queue_outbound

from .conftest import make_phone, make_user, reload_message, wait_for


def numbers(count: int, start: int = 0) -> list[str]:
    return [f"+336123{index:05d}" for index in range(start, start + count)]


def all_final(message_ids) -> bool:
    return all(statuses.is_final(reload_message(message_id).status) for message_id in message_ids)


def not_sent_yet(phone) -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count(Message.id)).where(
        Message.phone_id == phone.id, Message.status.in_([statuses.QUEUED, statuses.SENDING])))


def test_a_slow_phone_does_not_keep_another_users_messages_waiting(live_server, start_worker, user):
    """Four senders: the slow phone may hold one of them; another user's phone gets its own."""
    start_worker(SEND_CONCURRENCY="4")
    slow = make_phone(user, name="Slow", answer_delay_seconds="5")
    slow_ids = queue_outbound(slow, numbers(8), "Slowly")  # its job is first in the queue
    fast = make_phone(make_user("grace@example.org"), name="Fast")
    fast_ids = queue_outbound(fast, numbers(10, 100), "Quickly")
    wait_for(lambda: all_final(fast_ids), timeout=60, message="the fast phone's messages final")
    assert not_sent_yet(slow) > 0
    assert all(reload_message(message_id).status != statuses.UNKNOWN for message_id in slow_ids)


def test_a_simulator_saved_with_a_long_answer_delay_answers_within_the_bound(live_server, worker, user):
    phone = make_phone(user, answer_delay_seconds="999")  # saved before the form refused it
    [message_id] = queue_outbound(phone, ["+33612345678"], "Not in 999 s")
    wait_for(lambda: reload_message(message_id).status == statuses.DELIVERED, timeout=30, message="delivered")
