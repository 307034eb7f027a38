"""The send pipeline with a real broker, real worker processes and the simulator calling back over HTTP."""
import time

import redis
from rq import Queue
from rq.serializers import JSONSerializer

from webapp import broker, statuses, tasks
from webapp.extensions import db
from webapp.models import Message
from webapp.providers.simulator import MEMORY_PREFIX
from webapp.reasons import shown
from webapp.services.messages import queue_outbound

from .conftest import SHORT_PROVIDER_DEADLINES, make_phone, reload_message, run_queued_jobs, wait_for


def status_of(message_id):
    return reload_message(message_id).status


def timeline(message_id):
    return [event.status for event in reload_message(message_id).events]


def test_a_message_is_sent_then_delivered_by_the_simulators_callback(live_server, worker, user):
    phone = make_phone(user)
    [message_id] = queue_outbound(phone, ["+33612345678"], "Hello from the test")
    wait_for(lambda: status_of(message_id) == statuses.DELIVERED, message="delivered")
    message = reload_message(message_id)
    assert message.provider_message_id.startswith("SIM")
    assert timeline(message_id) == [statuses.QUEUED, statuses.SENDING, statuses.SENT, statuses.DELIVERED]
    assert message.phone.last_callback_at is not None


def test_a_number_the_simulator_fails_ends_failed_with_the_reason(live_server, worker, user):
    phone = make_phone(user, fail_numbers_ending_with="9")
    [failing, fine] = queue_outbound(phone, ["+33612345679", "+33612345678"], "Hi")
    wait_for(lambda: status_of(failing) == statuses.FAILED and status_of(fine) == statuses.DELIVERED)
    message = reload_message(failing)
    assert message.error_code == "SIM-UNREACHABLE"
    assert "could not be reached" in shown(message.error_reason)


def test_a_busy_provider_is_retried_and_the_attempts_show_on_the_timeline(live_server, worker, user):
    phone = make_phone(user, busy_attempts="2")
    [message_id] = queue_outbound(phone, ["+33612345678"], "Hi")
    wait_for(lambda: status_of(message_id) == statuses.DELIVERED, message="delivered after retries")
    message = reload_message(message_id)
    assert message.attempt_count == 3
    failures = [text for text in map(shown, (event.reason for event in message.events)) if "failed" in text]
    assert len(failures) == 2 and "busy" in failures[0]


def test_a_provider_busy_too_long_fails_after_the_attempt_limit(live_server, worker, user, app):
    phone = make_phone(user, busy_attempts="50")
    [message_id] = queue_outbound(phone, ["+33612345678"], "Hi")
    wait_for(lambda: status_of(message_id) == statuses.FAILED, timeout=30, message="failed")
    message = reload_message(message_id)
    assert message.attempt_count == app.config["SEND_MAX_ATTEMPTS"]
    assert "gave up after 5 attempts" in shown(message.error_reason)


def test_the_same_message_enqueued_twice_is_sent_once(live_server, user, start_worker):
    phone = make_phone(user)
    [message_id] = queue_outbound(phone, ["+33612345678"], "Only once")
    queue = broker.job_queue()
    for copy in range(3):
        queue.enqueue(tasks.SEND_MESSAGES, [message_id], job_id=f"duplicate-{copy}")
    start_worker()
    start_worker()
    wait_for(lambda: status_of(message_id) == statuses.DELIVERED)
    time.sleep(1)
    message = reload_message(message_id)
    assert message.attempt_count == 1
    assert timeline(message_id).count(statuses.SENDING) == 1


def test_a_worker_killed_during_a_send_has_the_provider_asked_not_the_message_resent(live_server, user,
                                                                                     start_worker):
    phone = make_phone(user, answer_delay_seconds="30")
    [message_id] = queue_outbound(phone, ["+33612345678"], "Slow one")
    first = start_worker()
    wait_for(lambda: status_of(message_id) == statuses.SENDING, message="sending")
    wait_for(lambda: broker.redis_connection().keys(MEMORY_PREFIX + "sent:*"), message="taken by the simulator")
    first.kill()  # kill -9 while the provider is answering
    start_worker(**SHORT_PROVIDER_DEADLINES)
    wait_for(lambda: status_of(message_id) == statuses.SENT, timeout=30, message="found at the simulator")
    message = reload_message(message_id)
    assert message.provider_message_id.startswith("SIM")
    assert message.attempt_count == 1


def test_queued_messages_survive_a_broker_wipe(live_server, user, start_worker, broker_server):
    phone = make_phone(user)
    message_ids = queue_outbound(phone, [f"+3361234567{digit}" for digit in range(5)], "Queued")
    connection = redis.Redis(unix_socket_path=str(broker_server.unix_socket_path))
    assert len(Queue(broker.QUEUE_NAME, connection=connection, serializer=JSONSerializer)) == 1  # one job, 5 ids
    connection.flushall()  # the broker restarted without its data
    start_worker()
    wait_for(lambda: all(status_of(id_) == statuses.DELIVERED for id_ in message_ids), timeout=20,
             message="all delivered")


def test_messages_written_while_the_broker_is_down_are_sent_when_it_is_back(app, live_server, user, start_worker):
    phone = make_phone(user)
    real_url = app.config["REDIS_URL"]
    app.extensions.pop("smsdesk_redis", None)
    app.config["REDIS_URL"] = "redis://127.0.0.1:1"  # nothing listens there
    [message_id] = queue_outbound(phone, ["+33612345678"], "Written during an outage")
    assert status_of(message_id) == statuses.QUEUED
    app.config["REDIS_URL"] = real_url
    app.extensions.pop("smsdesk_redis", None)
    start_worker()
    wait_for(lambda: status_of(message_id) == statuses.DELIVERED, timeout=20)


def test_many_sends_are_in_flight_at_once(live_server, worker, user):
    phone = make_phone(user, answer_delay_seconds="1")
    numbers = [f"+336123456{index:02d}" for index in range(20)]
    started = time.monotonic()
    message_ids = queue_outbound(phone, numbers, "In parallel")
    wait_for(lambda: all(status_of(id_) in (statuses.SENT, statuses.DELIVERED) for id_ in message_ids),
             timeout=15)
    # one at a time this would take 20 s; the worker's senders overlap their waits
    assert time.monotonic() - started < 10


def test_a_phone_rate_limit_spaces_the_sends(live_server, worker, user):
    phone = make_phone(user, rate_limit=5)
    message_ids = queue_outbound(phone, [f"+336123456{index:02d}" for index in range(10)], "Paced")
    wait_for(lambda: all(status_of(id_) != statuses.QUEUED and status_of(id_) != statuses.SENDING
                         for id_ in message_ids), timeout=15)
    sent_times = sorted(event.created_at for id_ in message_ids for event in reload_message(id_).events
                        if event.status == statuses.SENDING)
    # 10 sends at 5 per second span at least 9 intervals of 0.2 s
    assert (sent_times[-1] - sent_times[0]).total_seconds() >= 1.7


def test_what_the_worker_writes_is_read_in_the_readers_language(live_server, worker, user, logged_in):
    """The account follows the browser's language: the same message page, read by a French and an
    English browser, says what happened in each one's language."""
    assert user.locale is None
    phone = make_phone(user, busy_attempts="1")
    [message_id] = queue_outbound(phone, ["+33612345678"], "Bonjour")
    wait_for(lambda: status_of(message_id) == statuses.DELIVERED)
    french = logged_in.get(f"/messages/{message_id}", headers={"Accept-Language": "fr-FR,fr;q=0.9"})
    english = logged_in.get(f"/messages/{message_id}", headers={"Accept-Language": "en-GB,en;q=0.9"})
    french, english = french.get_data(as_text=True), english.get_data(as_text=True)
    assert "Échec de la tentative 1" in french and "surchargé" in french and "Tentative 2" in french
    assert "Attempt 1 failed" in english and "busy" in english and "Attempt 2" in english
    assert "Attempt 1" not in french and "surchargé" not in english


def judge_interrupted():
    """The sweep, then the job it leaves to ask the provider (here the simulator, which has no
    memory of these sends, so cannot tell)."""
    from webapp.services import sweeps
    sweeps.mark_interrupted_sends()
    run_queued_jobs()


def test_a_send_that_answers_after_being_judged_interrupted_keeps_its_provider_id(app, user):
    """A worker's heartbeat lapsed while the provider was still answering: its answer still counts."""
    from webapp.providers.base import SendResult, StatusEvent
    from webapp.services import reports, sending
    phone = make_phone(user)
    [message_id] = queue_outbound(phone, ["+33612345678"], "Slow provider")
    message = db.session.get(Message, message_id)
    [delivery], _ = sending.claim_job([message_id], "worker-that-looks-dead")
    db.session.execute(Message.__table__.update().values(status_changed_at=message.created_at.replace(year=2000)))
    db.session.commit()
    judge_interrupted()
    assert status_of(message_id) == statuses.UNKNOWN
    sending.record_deliveries([(delivery, [SendResult("SIMLATE")])])
    message = reload_message(message_id)
    assert (message.status, message.provider_message_id) == (statuses.SENT, "SIMLATE")
    reports.record_status_event(phone.id, StatusEvent("SIMLATE", statuses.DELIVERED))
    assert reload_message(message_id).status == statuses.DELIVERED


def test_sends_recorded_together_keep_each_answer_even_for_one_judged_interrupted(app, user):
    """The worker records many answers at once; one message of the batch was meanwhile judged
    interrupted by the sweep: the provider's answer still wins for it, and the others are sent."""
    from webapp.providers.base import ProviderError, SendResult
    from webapp.services import sending
    phone = make_phone(user)
    message_ids = queue_outbound(phone, ["+33612345671", "+33612345672", "+33612345673"], "Campaign")
    deliveries, one_by_one = sending.claim_job(message_ids, "worker-that-looks-dead")
    assert one_by_one == [] and {status_of(message_id) for message_id in message_ids} == {statuses.SENDING}
    db.session.execute(Message.__table__.update().where(Message.id == message_ids[1])
                       .values(status_changed_at=reload_message(message_ids[1]).created_at.replace(year=2000)))
    db.session.commit()
    judge_interrupted()
    assert status_of(message_ids[1]) == statuses.UNKNOWN
    results = [SendResult("SIMA"), SendResult("SIMB"), ProviderError("number refused by the provider")]
    sending.record_deliveries([(delivery, [result]) for delivery, result in zip(deliveries, results)])
    first, second, third = (reload_message(message_id) for message_id in message_ids)
    assert (first.status, first.provider_message_id) == (statuses.SENT, "SIMA")
    assert (second.status, second.provider_message_id) == (statuses.SENT, "SIMB")
    assert (third.status, shown(third.error_reason)) == (statuses.FAILED, "number refused by the provider")
    assert timeline(message_ids[0]) == [statuses.QUEUED, statuses.SENDING, statuses.SENT]
    assert timeline(message_ids[1]) == [statuses.QUEUED, statuses.SENDING, statuses.UNKNOWN, statuses.SENT]
    assert timeline(message_ids[2]) == [statuses.QUEUED, statuses.SENDING, statuses.FAILED]


def test_a_rate_limited_phone_whose_secrets_cannot_be_read_fails_its_messages_without_waiting(app, user):
    from webapp.services import sending
    phone = make_phone(user, rate_limit=0.01)  # one SMS per 100 s
    message_ids = queue_outbound(phone, ["+33612345671", "+33612345672"], "Hi")
    phone.encrypted_secrets = "saved under another SECRET_KEY"
    db.session.commit()
    for message_id in message_ids:
        sending.send_message(message_id, "test-worker")
    assert [status_of(message_id) for message_id in message_ids] == [statuses.FAILED] * 2
    assert "cannot be read" in shown(reload_message(message_ids[1]).error_reason)


def test_deleting_a_phone_cancels_what_it_has_not_sent(app, user, logged_in):
    from .conftest import post_form
    phone = make_phone(user)
    message_ids = queue_outbound(phone, ["+33612345678", "+33612345679"], "Stop this campaign")
    post_form(logged_in, f"/phones/{phone.id}", {}, action=f"/phones/{phone.id}/delete")
    assert {status_of(message_id) for message_id in message_ids} == {statuses.CANCELED}
    assert "Its phone was deleted." in shown(reload_message(message_ids[0]).events[-1].reason)
    from webapp.services import sending
    sending.send_message(message_ids[0], "test-worker")  # its job, still in the broker, does nothing
    assert status_of(message_ids[0]) == statuses.CANCELED
