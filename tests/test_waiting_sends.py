"""Messages a worker holds unclaimed, waiting for a share of its senders: the sweep leaves them
to it while it lives, it hands them back when it stops, and the sweep still finds every lost one."""
from datetime import timedelta

from sqlalchemy import update

from webapp import broker, statuses
from webapp.extensions import db
from webapp.models import Message, utcnow
from webapp.send_pool import SendPool
from webapp.services import sweeps
from webapp.services.messages import queue_outbound

from .conftest import make_phone, reload_message, wait_for
from .test_fair_sending import numbers


def job_of(message_id) -> str:
    return reload_message(message_id).send_job_id


def lose_its_job(message_id) -> None:
    broker.redis_connection().lrem(broker.job_queue().key, 1, job_of(message_id))


def enqueued_long_ago(message_ids) -> None:
    db.session.execute(update(Message).where(Message.id.in_(message_ids))
                       .values(enqueued_at=utcnow() - timedelta(minutes=1)))
    db.session.commit()


def one_sending_the_others_waiting(message_ids) -> bool:
    return [reload_message(message_id).status for message_id in message_ids] == \
        [statuses.SENDING] + [statuses.QUEUED] * (len(message_ids) - 1)


def queued_job_ids() -> set[str]:
    return {job_id.decode() for job_id in broker.redis_connection().lrange(broker.job_queue().key, 0, -1)}


def test_a_phones_second_job_waits_behind_its_first_and_both_are_sent_in_order(app, user):
    phone = make_phone(user, answer_delay_seconds="0.2")
    first, second = queue_outbound(phone, numbers(3), "First"), queue_outbound(phone, numbers(3, 10), "Second")
    pool = SendPool(app, 4, "host:1:pool")  # a phone holds one sender of four: the others wait
    try:
        pool.send_job(first)
        pool.send_job(second)
        wait_for(lambda: all(reload_message(id_).status == statuses.SENT for id_ in first + second), timeout=10,
                 message="all six sent")
    finally:
        pool.shutdown()
    claimed_at = [next(event.created_at for event in reload_message(id_).events if event.status == statuses.SENDING)
                  for id_ in first + second]
    assert claimed_at == sorted(claimed_at)


def test_messages_waiting_in_a_live_worker_are_not_enqueued_again(live_server, user, start_worker):
    """A slow phone's backlog waits in the worker (one sender of four is its share); a lost
    message, found by the same sweeps, shows that two sweeps went by."""
    slow_ids = queue_outbound(make_phone(user, name="Slow", answer_delay_seconds="5"), numbers(4), "Slowly")
    [lost_id] = queue_outbound(make_phone(user, name="Other"), numbers(1, 100), "Lost")
    lose_its_job(lost_id)
    db.session.execute(update(Message).where(Message.id == lost_id)
                       .values(enqueued_at=utcnow() + timedelta(hours=1)))  # not looked at yet
    db.session.commit()
    start_worker(SEND_CONCURRENCY="4")
    wait_for(lambda: one_sending_the_others_waiting(slow_ids), message="the slow phone's backlog waiting")
    waiting = {message_id: job_of(message_id) for message_id in slow_ids[1:]}
    lost_job = job_of(lost_id)
    enqueued_long_ago([lost_id, *waiting])
    wait_for(lambda: job_of(lost_id) != lost_job, message="the lost message enqueued again")
    assert {message_id: job_of(message_id) for message_id in waiting} == waiting


def test_a_stopping_worker_hands_its_waiting_messages_back(live_server, user, start_worker):
    """At once, not a sweep later (this worker never sweeps)."""
    slow_ids = queue_outbound(make_phone(user, name="Slow", answer_delay_seconds="5"), numbers(3), "Slowly")
    worker = start_worker(SEND_CONCURRENCY="4", SWEEP_INTERVAL_SECONDS="600")
    wait_for(lambda: one_sending_the_others_waiting(slow_ids), message="the slow phone's backlog waiting")
    before = {message_id: job_of(message_id) for message_id in slow_ids[1:]}
    worker.stop()
    after = {message_id: job_of(message_id) for message_id in slow_ids[1:]}
    assert all(after[message_id] != before[message_id] for message_id in after)
    assert set(after.values()) <= queued_job_ids()
    assert reload_message(slow_ids[0]).status in {statuses.SENT, statuses.DELIVERED}


def test_a_lost_message_behind_five_thousand_queued_ones_is_enqueued_again_within_two_sweeps(app, user):
    phone = make_phone(user)
    backlog = queue_outbound(phone, numbers(5000), "Backlog")  # their jobs are in the queue
    [lost_id] = queue_outbound(phone, numbers(1, 9000), "Lost")
    lose_its_job(lost_id)
    lost_job, backlog_job = job_of(lost_id), job_of(backlog[-1])
    enqueued_long_ago([*backlog, lost_id])
    sweeps.requeue_lost_messages()
    sweeps.requeue_lost_messages()
    assert job_of(lost_id) != lost_job
    assert job_of(backlog[-1]) == backlog_job


def test_a_sweep_looks_at_part_of_the_queued_messages_and_the_next_goes_on_from_there(app, user):
    phone = make_phone(user)
    lost = queue_outbound(phone, numbers(5), "Lost")
    for message_id in lost:
        lose_its_job(message_id)
    jobs = {message_id: job_of(message_id) for message_id in lost}
    enqueued_long_ago(lost)
    for _ in range(4):
        sweeps.requeue_lost_messages(page_size=2, most_per_sweep=3)
    assert all(job_of(message_id) != jobs[message_id] for message_id in lost)
