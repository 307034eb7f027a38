"""Fair sending: a phone that answers slowly holds only its share of the worker's senders."""
from sqlalchemy import func, select

from webapp import broker, statuses
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


def slow_users_phones(count: int, messages_each: int) -> list[list[int]]:
    """Users with a phone each answering in 5 s, their messages queued (their jobs first in the queue)."""
    return [queue_outbound(make_phone(make_user(f"slow{index}@example.org"), name=f"Slow {index}",
                                      answer_delay_seconds="5"), numbers(messages_each, 1000 * index), "Slowly")
            for index in range(count)]


def statuses_of(message_ids) -> set[str]:
    return {reload_message(message_id).status for message_id in message_ids}


def test_a_new_users_messages_find_a_sender_while_slow_phones_of_others_hold_the_rest(live_server, start_worker):
    """Eight senders; four users' slow phones (two senders each at most) would hold them all: one
    is kept, so the fast user's messages are all sent before any slow phone has answered."""
    slow_ids = [id_ for ids in slow_users_phones(4, 6) for id_ in ids]
    fast_ids = queue_outbound(make_phone(make_user("fast@example.org"), name="Fast"), numbers(5), "Quickly")
    start_worker(SEND_CONCURRENCY="8")
    wait_for(lambda: all_final(fast_ids), timeout=60, message="the fast user's messages final")
    assert statuses_of(slow_ids) <= {statuses.QUEUED, statuses.SENDING}


def requests_started(message_ids) -> dict[int, bool]:
    """For the messages in `sending`: whether their worker noted that their provider request started."""
    claimed = [reload_message(message_id) for message_id in message_ids]
    claimed = [message for message in claimed if message.status == statuses.SENDING]
    started = {}
    for message in claimed:
        started.update(broker.send_starts(message.claimed_by, {message.id: message.status_changed_at}))
    return started


def test_no_message_is_claimed_before_a_sender_is_there_for_it(live_server, start_worker):
    """Four senders, five users' slow phones: four messages are sent, the fifth user's wait queued."""
    slow_ids = [id_ for ids in slow_users_phones(5, 2) for id_ in ids]
    start_worker(SEND_CONCURRENCY="4")
    wait_for(lambda: not broker.redis_connection().llen(broker.job_queue().key)
             and list(requests_started(slow_ids).values()).count(True) == 4, message="four requests under way")
    assert all(requests_started(slow_ids).values())
