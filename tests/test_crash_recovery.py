"""What a crash leaves behind: a worker killed during its sends, a broker restarted without its
queue, a web server down while the provider posts its reports."""
import time
import zlib
from datetime import timedelta

import pytest
from sqlalchemy import update

from webapp import broker, statuses, tasks
from webapp.extensions import db
from webapp.models import Message, utcnow
from webapp.providers.simulator import MEMORY_PREFIX
from webapp.reasons import loaded, shown
from webapp.send_pool import SendPool
from webapp.services import phones as phone_service
from webapp.services import polling, sending, sweeps
from webapp.services.messages import queue_outbound

from .conftest import (SHORT_PROVIDER_DEADLINES, TWILIO_NUMBER, make_phone, reload_message, run_queued_jobs,
                       send_now, twilio_phone, wait_for)
from .fakes.octopush import FakeOctopush
from .fakes.twilio import FakeTwilio

DEAD_WORKER = "host:1234:dead"


def status_of(message_id):
    return reload_message(message_id).status


def reasons_of(message_id):
    return [shown(event.reason) for event in reload_message(message_id).events if event.reason]


def claimed_by_a_dead_worker(message_ids, requests_started=()):
    """A worker that started two minutes ago claimed the messages a minute ago, began the
    requests of `requests_started`, and died."""
    started_key = broker.send_starts_keys(DEAD_WORKER)[0]
    broker.redis_connection().hset(started_key, broker.SINCE_FIELD, repr(time.time() - 120))
    deliveries, _one_by_one = sending.claim_job(message_ids, DEAD_WORKER)
    if requests_started:
        broker.note_send_starts(DEAD_WORKER, list(requests_started))
    db.session.execute(update(Message).where(Message.id.in_(message_ids))
                       .values(status_changed_at=utcnow() - timedelta(minutes=1)))
    db.session.commit()
    return deliveries


def sweep_and_run_its_jobs():
    sweeps.mark_interrupted_sends()
    run_queued_jobs()


# ---- a worker killed during its sends ----

def test_a_worker_killed_mid_job_leaves_unknown_only_what_may_have_left(live_server, user, start_worker):
    """One sender, three messages: the first one's request is under way when the worker is killed,
    the two others wait their turn (the phone's share is one sender). The first is found at the
    provider, the two others are sent by the next worker; none is unknown, none is sent twice."""
    phone = make_phone(user, answer_delay_seconds="30")  # the simulator's longest, 5 s
    message_ids = queue_outbound(phone, ["+33612345671", "+33612345672", "+33612345673"], "Killed mid-job")
    first = start_worker(SEND_CONCURRENCY="1")
    wait_for(lambda: [status_of(id_) for id_ in message_ids] == [statuses.SENDING, statuses.QUEUED, statuses.QUEUED],
             message="the first claimed, the others waiting")
    wait_for(lambda: broker.redis_connection().keys(MEMORY_PREFIX + "sent:*"), message="taken by the simulator")
    first.kill()
    phone_service.save_phone(phone, phone.name, None, {"delivery_delay_seconds": "0.2", "answer_delay_seconds": "0"})
    start_worker(**SHORT_PROVIDER_DEADLINES)
    wait_for(lambda: status_of(message_ids[1]) == status_of(message_ids[2]) == statuses.DELIVERED, timeout=30,
             message="the two unsent ones sent")
    wait_for(lambda: status_of(message_ids[0]) == statuses.SENT, message="the first found at the provider")
    assert reload_message(message_ids[0]).attempt_count == 1
    assert "interrupted while sending; the SMS Desk simulator says it received it" in reasons_of(message_ids[0])
    for message_id in message_ids[1:]:
        assert reload_message(message_id).attempt_count == 1
        assert [event.status for event in reload_message(message_id).events].count(statuses.SENT) == 1


def test_a_send_interrupted_before_its_request_started_is_queued_again(app, user):
    phone = make_phone(user)
    started, not_started = queue_outbound(phone, ["+33612345671", "+33612345672"], "Hi")
    claimed_by_a_dead_worker([started, not_started], requests_started=[started])
    phone.provider_key = "netoxygen"  # a provider that cannot be asked about a send without its id
    db.session.commit()
    sweeps.mark_interrupted_sends()
    assert status_of(not_started) == statuses.QUEUED
    assert (status_of(started), loaded(reload_message(started).error_reason)) == (
        statuses.UNKNOWN, sweeps.INTERRUPTED_REASON)


def test_a_send_whose_record_the_broker_lost_stays_unknown(app, user, broker_server):
    """A broker wiped with the record: nothing says the request had not left."""
    phone = make_phone(user)
    [message_id] = queue_outbound(phone, ["+33612345671"], "Hi")
    claimed_by_a_dead_worker([message_id])
    phone.provider_key = "netoxygen"
    db.session.commit()
    broker.redis_connection().flushall()
    sweeps.mark_interrupted_sends()
    assert status_of(message_id) == statuses.UNKNOWN


@pytest.fixture
def twilio(app):
    with FakeTwilio(numbers=(TWILIO_NUMBER,)) as fake:
        fake.auto_callbacks = False
        app.config["TWILIO_API_BASE_URL"] = fake.base_url
        yield fake


def test_an_interrupted_twilio_send_is_looked_up_in_twilios_list(twilio, user):
    phone = twilio_phone(user, twilio)
    reached, lost = queue_outbound(phone, ["+33612345671", "+33612345672"], "Did it leave?")
    claimed_by_a_dead_worker([reached, lost], requests_started=[reached, lost])
    answer = requests_post_as_the_dead_worker(twilio, "+33612345671", "Did it leave?")
    sweep_and_run_its_jobs()
    message = reload_message(reached)
    assert (message.status, message.provider_message_id) == (statuses.SENT, answer["sid"])
    assert status_of(lost) == statuses.SENT  # queued again, then sent by the job run after
    assert "interrupted while sending; Twilio never received it, so it is queued again" in reasons_of(lost)
    assert len(twilio.messages) == 2


@pytest.mark.parametrize("at_twilio, found", [
    ([], "not sent"),
    (["Did it leave?"], "its sid"),
    (["Another text"], "not sent"),
    (["Did it leave?", "Did it leave?"], "cannot tell"),
])
def test_twilio_tells_an_interrupted_send_by_its_text_to_its_number(twilio, user, at_twilio, found):
    from datetime import datetime, timezone
    from webapp.providers.base import NOT_SENT, SendResult
    from webapp.services.phones import adapter_for
    phone = twilio_phone(user, twilio)
    [message_id] = queue_outbound(phone, ["+33612345671"], "Did it leave?")
    began = datetime.now(timezone.utc)
    sids = [requests_post_as_the_dead_worker(twilio, "+33612345671", body)["sid"] for body in at_twilio]
    answer = adapter_for(phone).find_sent(sending.outbound_sms(reload_message(message_id), phone), began)
    if found == "its sid":
        assert isinstance(answer, SendResult) and answer.provider_message_id == sids[0]
    else:
        assert answer == {"not sent": NOT_SENT, "cannot tell": None}[found]


def test_a_worker_judged_dead_too_soon_does_not_send_what_the_sweep_took_back(twilio, user):
    """Its heartbeat lapsed while its sender waited: the sweep queued the message again, so the
    sender, waking up, leaves it to the new attempt."""
    phone = twilio_phone(user, twilio)
    [message_id] = queue_outbound(phone, ["+33612345671"], "Once only")
    [delivery] = claimed_by_a_dead_worker([message_id])
    sweeps.mark_interrupted_sends()
    assert status_of(message_id) == statuses.QUEUED
    [result] = sending.send_delivery(delivery)
    assert result.transient and twilio.messages == {}
    run_queued_jobs()
    assert status_of(message_id) == statuses.SENT and len(twilio.messages) == 1


def test_a_stale_workers_taken_back_answer_leaves_the_next_claim_alone(twilio, user):
    """Worker A, judged dead, has its message taken back; worker B claims it; A's sender wakes and
    is refused: A's answer adds a line, and B's send stays B's until B's answer is recorded."""
    phone = twilio_phone(user, twilio)
    [message_id] = queue_outbound(phone, ["+33612345671"], "Once only")
    [stale] = claimed_by_a_dead_worker([message_id])
    sweeps.mark_interrupted_sends()
    [fresh], _one_by_one = sending.claim_job([message_id], "host:5678:next")
    sending.record_deliveries([(stale, sending.send_delivery(stale))])
    message = reload_message(message_id)
    assert (message.status, message.claimed_by) == (statuses.SENDING, "host:5678:next")
    assert shown(sending.TAKEN_BACK) in reasons_of(message_id)
    sending.record_deliveries([(fresh, sending.send_delivery(fresh))])
    run_queued_jobs()
    assert status_of(message_id) == statuses.SENT and len(twilio.messages) == 1


def claimed_seconds_ago(message_id, seconds):
    db.session.execute(update(Message).where(Message.id == message_id)
                       .values(status_changed_at=utcnow() - timedelta(seconds=seconds)))
    db.session.commit()


def start_noted_as_the_sweep_takes_it_back(monkeypatch):
    """The worker's sender notes its start between the sweep's look at the record and its take-back."""
    take_back = broker.revoke_send_starts

    def noted_first(worker_name, message_ids):
        broker.note_send_starts(worker_name, message_ids)
        return take_back(worker_name, message_ids)
    monkeypatch.setattr(broker, "revoke_send_starts", noted_first)


@pytest.mark.parametrize("when_noted", ["before its heartbeat lapsed", "as the sweep took it back"])
def test_a_request_that_may_still_be_under_way_is_asked_about_only_once_its_answer_cannot_come(
        twilio, user, monkeypatch, when_noted):
    """Asked while the request is arriving, Twilio could say it never got the message, which
    would then be sent again."""
    phone = twilio_phone(user, twilio)
    [message_id] = queue_outbound(phone, ["+33612345671"], "Still on its way")
    claimed_by_a_dead_worker([message_id], requests_started=[message_id] if when_noted.startswith("before") else [])
    if when_noted.startswith("as"):
        start_noted_as_the_sweep_takes_it_back(monkeypatch)
    claimed_seconds_ago(message_id, 4)  # the heartbeat's lapse (1.5 s) judged, not the request's deadline
    sweeps.mark_interrupted_sends()
    assert status_of(message_id) == statuses.SENDING
    assert run_queued_jobs(only=tasks.FIND_INTERRUPTED_SENDS) == 0
    deadline = app_deadline_seconds()
    claimed_seconds_ago(message_id, deadline + 1)
    sweeps.mark_interrupted_sends()
    assert run_queued_jobs(only=tasks.FIND_INTERRUPTED_SENDS) == 1
    run_queued_jobs()
    assert status_of(message_id) == statuses.SENT and len(twilio.messages) == 1


def app_deadline_seconds():
    """The longest a request can take, and the heartbeat's slack."""
    from flask import current_app
    config = current_app.config
    return config["PROVIDER_CONNECT_TIMEOUT"] + config["PROVIDER_READ_TIMEOUT"] + 2 * broker.heartbeat_ttl()


def test_two_sweeps_at_once_take_a_message_back_once(twilio, user, monkeypatch):
    """A second sweep that read the stuck messages before the first took them back, and takes
    back after a new worker claimed one, leaves the new claim alone."""
    phone = twilio_phone(user, twilio)
    [message_id] = queue_outbound(phone, ["+33612345671"], "Taken back once")
    claimed_by_a_dead_worker([message_id])
    take_back, deliveries = broker.revoke_send_starts, []

    def first_sweep_runs_meanwhile(worker_name, message_ids):
        monkeypatch.setattr(broker, "revoke_send_starts", take_back)
        sweeps.mark_interrupted_sends()
        deliveries.extend(sending.claim_job([message_id], "host:5678:next")[0])
        return take_back(worker_name, message_ids)
    monkeypatch.setattr(broker, "revoke_send_starts", first_sweep_runs_meanwhile)
    sweeps.mark_interrupted_sends()
    message = reload_message(message_id)
    assert (message.status, message.claimed_by) == (statuses.SENDING, "host:5678:next")
    assert reasons_of(message_id).count(shown(sweeps.INTERRUPTED_BEFORE_SENDING)) == 1
    sending.record_deliveries([(deliveries[0], sending.send_delivery(deliveries[0]))])
    run_queued_jobs()
    assert status_of(message_id) == statuses.SENT and len(twilio.messages) == 1


def test_a_sweep_longer_than_its_interval_keeps_the_other_workers_sweeps_out(app, monkeypatch):
    """Longer than the interval and than a heartbeat, as long as its worker lives."""
    from webapp import jobs
    others_ran = []

    def a_long_last_step():
        monkeypatch.setattr(sweeps, "forget_unmatched_early_events", lambda: 0)  # the other's, if it runs
        time.sleep(2 * max(app.config["SWEEP_INTERVAL_SECONDS"], broker.heartbeat_ttl()))
        others_ran.append(jobs.sweep_if_first("host:5678:other"))
    monkeypatch.setattr(sweeps, "forget_unmatched_early_events", a_long_last_step)
    assert jobs.sweep_if_first("host:1234:first")
    assert others_ran == [False]
    assert jobs.sweep_if_first("host:5678:other")  # the lock went with the first sweep's end


@pytest.mark.parametrize("answered_id, reason", [
    ("", "the SMS Desk simulator accepted it without giving its id, so its reports cannot be matched"),
    ("SIM-TAKEN", "the SMS Desk simulator gave it the id of another message (SIM-TAKEN), so its reports "
                  "cannot be matched"),
])
def test_an_interrupted_send_found_without_a_usable_id_becomes_unknown(app, user, answered_id, reason):
    phone = make_phone(user)
    other, message_id = queue_outbound(phone, ["+33612345670", "+33612345671"], "Found, but which?")
    db.session.execute(update(Message).where(Message.id == other).values(status=statuses.SENT,
                                                                          provider_message_id="SIM-TAKEN"))
    claimed_by_a_dead_worker([message_id], requests_started=[message_id])
    broker.redis_connection().set(f"smsdesk:simulator:sent:{phone.public_id}-{message_id}", answered_id)
    sweep_and_run_its_jobs()
    message = reload_message(message_id)
    assert (message.status, shown(loaded(message.error_reason))) == (statuses.UNKNOWN, reason)


def requests_post_as_the_dead_worker(fake, to, body):
    import requests
    return requests.post(fake.messages_url, auth=(fake.account_sid, fake.auth_token),
                         data={"To": to, "From": TWILIO_NUMBER, "Body": body}).json()


def test_an_interrupted_octopush_send_is_sent_again_with_the_same_request_id(app, user, live_server):
    with FakeOctopush(virtual_number="+33644630000") as fake:
        app.config["OCTOPUSH_API_BASE_URL"] = fake.base_url
        phone = make_phone(user, provider_key="octopush", name="Octopush", api_login=fake.api_login,
                           api_key=fake.api_key, virtual_number=fake.virtual_number, message_type="sms_premium",
                           sender="")
        [message_id] = queue_outbound(phone, ["+33612345671"], "Never reached Octopush")
        claimed_by_a_dead_worker([message_id], requests_started=[message_id])
        sweep_and_run_its_jobs()
        message = reload_message(message_id)
        assert (message.status, message.provider_message_id) == (statuses.SENT, fake.last_campaign.ticket)
        assert len(fake.campaigns) == 1


# ---- a broker that lost its queue ----

def lose_the_job(how):
    connection, queue = broker.redis_connection(), broker.job_queue()
    if how == "lost with the queue":
        connection.lpop(queue.key)
    else:  # taken by a worker killed before it started the job
        connection.lmove(queue.key, queue.intermediate_queue_key, "RIGHT", "LEFT")


@pytest.mark.parametrize("how", ["lost with the queue", "taken by a worker killed at once"])
def test_a_queued_message_whose_job_is_in_no_queue_is_sent_once_within_two_sweeps(app, user, live_server, how):
    phone = make_phone(user)
    [message_id] = queue_outbound(phone, ["+33612345671"], "Lost job")
    lose_the_job(how)
    db.session.execute(update(Message).values(enqueued_at=utcnow() - timedelta(minutes=1)))
    db.session.commit()
    assert sweeps.requeue_lost_messages() == 0  # in no queue for a moment: a worker may be taking it
    assert sweeps.requeue_lost_messages() == 1
    run_queued_jobs()
    assert sweeps.requeue_lost_messages() == 0
    run_queued_jobs()
    message = reload_message(message_id)
    assert message.status == statuses.SENT and message.attempt_count == 1


def test_a_job_started_by_a_live_worker_is_not_lost_but_one_of_a_dead_worker_is(app, user):
    phone = make_phone(user)
    live, dead = queue_outbound(phone, ["+33612345671"], "A"), queue_outbound(phone, ["+33612345672"], "B")
    broker.beat("host:1:live")
    jobs = {}
    for message_ids, worker_name in ((live, "host:1:live"), (dead, DEAD_WORKER)):
        job_id = reload_message(message_ids[0]).send_job_id
        broker.redis_connection().hset(f"rq:job:{job_id}", mapping={
            "status": "started", "worker_name": broker.rq_worker_name(worker_name, 0)})
        jobs[worker_name] = job_id
    assert broker.jobs_not_pending(set(jobs.values())) == {jobs[DEAD_WORKER]}


def point_the_app_at_a_broker(app, url):
    app.config["REDIS_URL"] = url
    app.extensions.pop("smsdesk_redis", None)


def test_messages_claimed_while_the_broker_is_down_are_sent_once_it_answers(app, user):
    """No request may start unnoted, so none starts: the first (a phone holds one of four senders)
    is queued again and the second never claimed until the broker answers; then both are claimed
    at once (no sweep runs here), and the outage counts as no attempt."""
    phone = make_phone(user)
    message_ids = queue_outbound(phone, ["+33612345671", "+33612345672"], "During an outage")
    real_url = app.config["REDIS_URL"]
    point_the_app_at_a_broker(app, "redis://127.0.0.1:1")  # nothing listens there
    pool = SendPool(app, 4, "host:1:pool")
    try:
        pool.send_job(message_ids)
        wait_for(lambda: any(str(sending.BROKER_UNAVAILABLE) in reason for reason in reasons_of(message_ids[0])),
                 message="tried during the outage")
        time.sleep(4 * app.config["SEND_RETRY_BASE_SECONDS"])
        assert [status_of(id_) for id_ in message_ids] == [statuses.QUEUED, statuses.QUEUED]
        point_the_app_at_a_broker(app, real_url)
        wait_for(lambda: all(status_of(id_) == statuses.SENT for id_ in message_ids), timeout=5,
                 message="sent once the broker is back")
    finally:
        point_the_app_at_a_broker(app, real_url)
        pool.shutdown()
    assert [reload_message(id_).attempt_count for id_ in message_ids] == [1, 1]


# ---- a web server down while the provider posts its reports ----

def delayed_report_jobs() -> list[dict]:
    """The simulator's reports waiting to be posted again, as the broker keeps them (every field
    of the job's hash, its arguments uncompressed)."""
    connection = broker.redis_connection()
    jobs = [connection.hgetall(f"rq:job:{job_id}") for job_id in broker.job_queue().scheduled_job_registry.get_job_ids()]
    return [{name: uncompressed(value) for name, value in job.items()} for job in jobs
            if b"post_simulator_report" in job.get(b"description", b"")]


def uncompressed(value: bytes) -> bytes:
    try:
        return zlib.decompress(value)  # RQ compresses a job's arguments
    except zlib.error:
        return value


def test_the_simulator_posts_a_report_again_until_the_web_server_takes_it(app, user, live_port, start_worker):
    from werkzeug.serving import make_server
    import threading
    phone = make_phone(user, delivery_delay_seconds="0")
    start_worker()
    [message_id] = queue_outbound(phone, ["+33612345671"], "Nobody listens yet")
    wait_for(lambda: status_of(message_id) == statuses.SENT, message="sent")
    waiting = wait_for(delayed_report_jobs, message="the report waiting to be posted again")  # none listened
    # the broker keeps a job for a day: the callback's token, its only guard, is not in it
    assert not [job for job in waiting if any(phone.callback_token.encode() in value for value in job.values())]
    server = make_server("127.0.0.1", live_port, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        wait_for(lambda: status_of(message_id) == statuses.DELIVERED, timeout=20, message="delivered")
    finally:
        server.shutdown()


def test_a_simulated_sms_whose_report_never_came_is_asked_about(app, user):
    phone = make_phone(user, delivery_delay_seconds="0")
    [message_id] = queue_outbound(phone, ["+33612345671"], "Its report was lost")
    assert send_now(message_id).status == statuses.SENT  # no web server: its report is lost
    db.session.execute(update(Message).values(next_status_poll_at=utcnow()))
    db.session.commit()
    assert polling.enqueue_due_status_polls() == 1
    run_queued_jobs()
    assert status_of(message_id) == statuses.DELIVERED


def test_a_sweep_step_that_fails_does_not_hold_up_the_others(app, user, monkeypatch):
    from redis.exceptions import ConnectionError as BrokerUnavailable
    from webapp import jobs

    def broker_refuses(*_args, **_kwargs):
        raise BrokerUnavailable("the broker is restarting")
    phone = make_phone(user, delivery_delay_seconds="0")
    [message_id] = queue_outbound(phone, ["+33612345671"], "Its report was lost")
    assert send_now(message_id).status == statuses.SENT
    db.session.execute(update(Message).values(next_status_poll_at=utcnow()))
    db.session.commit()
    monkeypatch.setattr(sweeps, "requeue_lost_messages", broker_refuses)
    jobs.sweep()
    run_queued_jobs()
    assert status_of(message_id) == statuses.DELIVERED


def test_every_provider_that_answers_status_questions_is_asked_about_long_sent_messages():
    from webapp.providers import PROVIDERS
    from webapp.providers.base import Provider
    for provider in PROVIDERS.values():
        answers = provider.fetch_statuses is not Provider.fetch_statuses
        assert answers == provider.polls_statuses, provider.key
        if answers:
            assert provider({}, None).status_poll_delay(0) is not None, provider.key
