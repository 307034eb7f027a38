"""Outbound webhooks as a receiver sees them: signed the Standard Webhooks way (checked with the
independent `standardwebhooks` package), in order, tried again with backoff on errors and not on
a 4xx, an endpoint disabled after failing for 24 hours, no private address reached, and the
built-in forwards of incoming SMS by e-mail and by SMS. The clock is the service's `clock`
argument; the network is real (a receiver on 127.0.0.1)."""
import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import select
from standardwebhooks.webhooks import Webhook, WebhookVerificationError
from werkzeug.wrappers import Response

from webapp import broker, tasks
from webapp.extensions import db
from webapp.models import Message, OptOut, WebhookAttempt, WebhookDelivery, WebhookEndpoint, utcnow
from webapp.reasons import shown
from webapp.services import opt_outs, status_store, webhooks

from .conftest import make_phone, run_queued_jobs, wait_for
from .fakes.receiver import Receiver
from .mail_support import smtp_server  # noqa: F401 (a fixture)

NUMBER = "+33698765432"


@pytest.fixture
def receiver():
    receiver = Receiver(reply_status=204)
    yield receiver
    receiver.close()


@pytest.fixture
def private_allowed(app):
    app.config["WEBHOOK_ALLOW_PRIVATE_ADDRESSES"] = "1"


def add_http(user, url, events=(webhooks.OPTOUT_CREATED,)):
    saved = webhooks.add_endpoint(user.id, WebhookEndpoint.HTTP, list(events), url=url)
    assert saved.problems is None, saved.problems
    return saved.endpoint, saved.secret


def opt_out(user, number=NUMBER):
    """An event in the outbox: the number opts out (by hand)."""
    assert opt_outs.record(user.id, number, OptOut.MANUAL) is not None


def verified(secret, request) -> dict:
    headers = {name.lower(): value for name, value in request["headers"].items()}
    return Webhook(secret).verify(request["body"], headers)


class Clock:
    def __init__(self):
        self.now = utcnow()

    def __call__(self):
        return self.now

    def advance(self, **delta):
        self.now += timedelta(**delta)


def deliver(endpoint, clock=utcnow):
    webhooks.dispatch(clock())
    return webhooks.deliver_endpoint(endpoint.id, clock=clock)


def attempts_of(endpoint):
    db.session.expire_all()
    return db.session.scalars(select(WebhookAttempt).where(WebhookAttempt.endpoint_id == endpoint.id)
                              .order_by(WebhookAttempt.id)).all()


def test_a_delivery_is_signed_as_standard_webhooks_says_and_verifies_with_an_independent_library(
        app, user, receiver, private_allowed):
    endpoint, secret = add_http(user, receiver.url("/hook"))
    assert secret.startswith("whsec_")
    opt_out(user)
    assert deliver(endpoint) == 1
    request = receiver.wait_for(1)[0]
    payload = verified(secret, request)
    assert payload["type"] == "optout.created"
    assert payload["data"]["number"] == NUMBER and payload["data"]["source"] == "manual"
    assert payload["timestamp"].endswith("Z")
    headers = {name.lower(): value for name, value in request["headers"].items()}
    assert headers["webhook-id"].startswith("evt_") and headers["content-type"] == "application/json"
    with pytest.raises(WebhookVerificationError):
        Webhook(webhooks.new_secret()).verify(request["body"], headers)
    with pytest.raises(WebhookVerificationError):  # a body changed on the way
        Webhook(secret).verify(request["body"].replace(b"manual", b"import"), headers)
    [attempt] = attempts_of(endpoint)
    assert attempt.delivered and attempt.http_status == 204 and attempt.attempt == 1


def test_a_rotated_secret_signs_beside_the_new_one_for_24_hours(app, user, receiver, private_allowed):
    endpoint, old_secret = add_http(user, receiver.url("/hook"))
    new_secret = webhooks.rotate_secret(endpoint)
    opt_out(user)
    deliver(endpoint)
    request = receiver.wait_for(1)[0]
    assert verified(old_secret, request) == verified(new_secret, request)
    # past the grace period only the new secret signs
    endpoint.previous_secret_until = utcnow() - timedelta(seconds=1)
    db.session.commit()
    opt_out(user, "+33611111111")
    deliver(endpoint)
    request = receiver.wait_for(2)[1]
    assert verified(new_secret, request)["data"]["number"] == "+33611111111"
    with pytest.raises(WebhookVerificationError):
        verified(old_secret, request)


def test_only_the_events_chosen_are_sent_and_a_delivered_sms_comes_as_message_delivered(
        app, user, receiver, private_allowed):
    phone = make_phone(user)
    endpoint, secret = add_http(user, receiver.url("/hook"), [webhooks.MESSAGE_DELIVERED, webhooks.MESSAGE_RECEIVED])
    opt_out(user)  # not wanted
    [message_id] = status_store.add_queued([dict(
        user_id=user.id, phone_id=phone.id, direction=Message.OUTBOUND, remote_number=NUMBER, body="Hello",
        encoding="GSM-7", segment_count=1, attempt_count=0, created_at=utcnow(), enqueued_at=utcnow())])
    message = db.session.get(Message, message_id)
    for status in ("sending", "sent", "delivered"):
        assert status_store.move(message, status, by="pipeline" if status == "sending" else "provider")
    db.session.commit()
    deliver(endpoint)
    [request] = receiver.wait_for(1)
    payload = verified(secret, request)
    assert payload["type"] == "message.delivered"
    assert payload["data"]["id"] == message_id and payload["data"]["status"] == "delivered"
    assert payload["data"]["text"] == "Hello" and payload["data"]["number"] == NUMBER


def test_errors_are_tried_again_with_backoff_and_later_events_wait_in_order(app, user, receiver, private_allowed):
    clock = Clock()
    endpoint, secret = add_http(user, receiver.url("/hook"))
    receiver.reply = lambda: Response("busy", status=503)
    opt_out(user, "+33611111111")
    opt_out(user, "+33622222222")
    assert deliver(endpoint, clock) == 0
    assert len(receiver.wait_for(1)) == 1  # the second waits behind the first
    clock.advance(seconds=4)
    deliver(endpoint, clock)
    assert len(receiver.received) == 1  # not before 5 s
    clock.advance(seconds=1)
    deliver(endpoint, clock)
    assert len(receiver.wait_for(2)) == 2  # second attempt at 5 s, then 10 s later, 20 s…
    clock.advance(seconds=9)
    deliver(endpoint, clock)
    assert len(receiver.received) == 2
    clock.advance(seconds=1)
    receiver.reply = lambda: Response(status=200)
    assert deliver(endpoint, clock) == 2
    requests = receiver.wait_for(4)
    numbers = [verified(secret, request)["data"]["number"] for request in requests]
    assert numbers == ["+33611111111"] * 3 + ["+33622222222"]
    assert len({request["headers"]["Webhook-Id"] for request in requests[:3]}) == 1  # stable across retries
    attempts = attempts_of(endpoint)
    assert [(a.attempt, a.http_status, a.delivered) for a in attempts] == [
        (1, 503, False), (2, 503, False), (3, 200, True), (1, 200, True)]
    assert attempts[0].answer == "busy"
    assert "tried again at" in shown(attempts[0].error)
    assert db.session.get(WebhookEndpoint, endpoint.id).failing_since is None


@pytest.mark.parametrize("status, retried", [(400, False), (404, False), (410, False), (408, True), (429, True),
                                             (500, True), (302, False)])
def test_a_4xx_other_than_408_or_429_and_a_redirect_are_not_tried_again(
        app, user, receiver, private_allowed, status, retried):
    clock = Clock()
    endpoint, _secret = add_http(user, receiver.url("/hook"))
    receiver.reply = lambda: Response("no", status=status, headers={"Location": "http://example.org/"})
    opt_out(user)
    deliver(endpoint, clock)
    clock.advance(seconds=5)
    deliver(endpoint, clock)
    assert len(receiver.wait_for(1)) == (2 if retried else 1)
    [delivery] = db.session.scalars(select(WebhookDelivery)).all()
    assert delivery.status == ("pending" if retried else "failed")
    assert ("not tried again" in shown(attempts_of(endpoint)[0].error)) is not retried


def test_an_answer_slower_than_the_timeout_is_a_failure_tried_again(app, user, receiver, private_allowed):
    app.config["WEBHOOK_TIMEOUT_SECONDS"] = 0.5
    endpoint, _secret = add_http(user, receiver.url("/hook"))
    receiver.reply = lambda: (time.sleep(1.5), Response(status=200))[1]
    opt_out(user)
    started = time.monotonic()
    deliver(endpoint)
    assert time.monotonic() - started < 1.4
    [attempt] = attempts_of(endpoint)
    assert attempt.http_status is None and "no answer within the time allowed" in shown(attempt.error)
    assert db.session.scalars(select(WebhookDelivery.status)).all() == ["pending"]


def test_an_endpoint_failing_for_24_hours_is_disabled_and_the_dashboard_says_so(
        app, user, receiver, private_allowed, logged_in):
    clock = Clock()
    endpoint, _secret = add_http(user, receiver.url("/hook"))
    receiver.reply = lambda: Response(status=500)
    opt_out(user)
    deliver(endpoint, clock)
    for _ in range(40):  # every retry as it comes due, for a day
        clock.now = db.session.scalar(select(WebhookDelivery.next_attempt_at))
        webhooks.deliver_endpoint(endpoint.id, clock=clock)
        db.session.expire_all()
        if not db.session.get(WebhookEndpoint, endpoint.id).enabled:
            break
    endpoint = db.session.get(WebhookEndpoint, endpoint.id)
    assert not endpoint.enabled
    attempts = attempts_of(endpoint)
    assert attempts[-1].attempted_at - attempts[0].attempted_at == timedelta(hours=24)
    assert 10 < len(attempts) < 20  # exponential: 5 s, 10 s, … at most 6 h apart
    page = logged_in.get("/").get_data(as_text=True)
    assert "Disabled after failing for 24 hours" in page and receiver.url("/hook") in page
    assert db.session.scalars(select(WebhookDelivery.status)).all() == ["pending"]  # kept, not lost
    assert "kept until the endpoint is enabled again" in shown(attempts[-1].error)
    # enabled again, what was pending goes at once
    receiver.reply = lambda: Response(status=200)
    webhooks.enable(endpoint)
    assert webhooks.deliver_endpoint(endpoint.id) == 1


@pytest.mark.parametrize("url", ["http://localhost/hook", "http://127.0.0.1:8080/", "http://[::1]/",
                                 "http://10.1.2.3/", "http://192.168.1.1/", "http://169.254.169.254/latest/",
                                 "http://0.0.0.0/", "http://[::ffff:127.0.0.1]/", "http://100.64.0.1/",
                                 "ftp://example.org/", "http://user:pass@example.org/"])
def test_an_endpoint_on_a_private_address_is_refused_when_saved(app, user, url):
    saved = webhooks.add_endpoint(user.id, WebhookEndpoint.HTTP, [webhooks.OPTOUT_CREATED], url=url)
    assert saved.endpoint is None and "SMS Desk will not post to this URL" in saved.problems["url"][0]


def test_a_name_that_resolves_to_loopback_is_refused_again_when_delivering(app, user, receiver):
    app.config["WEBHOOK_ALLOW_PRIVATE_ADDRESSES"] = "1"
    endpoint, _secret = add_http(user, receiver.url("/hook").replace("127.0.0.1", "localhost"))
    app.config["WEBHOOK_ALLOW_PRIVATE_ADDRESSES"] = ""  # as if the name had changed its address since
    opt_out(user)
    deliver(endpoint)
    time.sleep(0.2)
    assert receiver.received == []
    [attempt] = attempts_of(endpoint)
    assert "localhost resolves to 127.0.0.1" in shown(attempt.error) or "localhost resolves to ::1" in shown(
        attempt.error)


def test_a_lost_job_is_made_up_for_by_the_sweep(app, user, receiver, private_allowed):
    from webapp.services import sweeps
    endpoint, secret = add_http(user, receiver.url("/hook"))
    opt_out(user)
    webhooks.dispatch()
    broker.redis_connection().flushall()  # the broker wiped: the job is gone, the delivery row is not
    assert sweeps.pick_up_webhook_deliveries() == 1
    assert run_queued_jobs() == 1
    assert verified(secret, receiver.wait_for(1)[0])["type"] == "optout.created"


def test_the_workers_dispatch_loop_fans_out_an_event_once_and_nothing_while_none_waits(
        app, user, receiver, private_allowed):
    endpoint, secret = add_http(user, receiver.url("/hook"))
    assert webhooks.dispatch_if_first() == set()
    opt_out(user)
    assert webhooks.dispatch_if_first() == {endpoint.id}
    assert webhooks.dispatch_if_first() == set()
    assert run_queued_jobs() == 1
    assert verified(secret, receiver.wait_for(1)[0])["type"] == "optout.created"


def test_events_written_before_an_endpoint_was_added_are_not_sent_to_it(app, user, receiver, private_allowed):
    opt_out(user, "+33611111111")
    endpoint, secret = add_http(user, receiver.url("/hook"))
    opt_out(user, "+33622222222")
    deliver(endpoint)
    [request] = receiver.wait_for(1)
    assert verified(secret, request)["data"]["number"] == "+33622222222"


def test_a_resend_sends_the_same_event_with_the_same_id(app, user, receiver, private_allowed):
    endpoint, secret = add_http(user, receiver.url("/hook"))
    opt_out(user)
    deliver(endpoint)
    [delivery] = db.session.scalars(select(WebhookDelivery)).all()
    webhooks.resend(delivery)
    run_queued_jobs()
    first, again = receiver.wait_for(2)
    assert first["headers"]["Webhook-Id"] == again["headers"]["Webhook-Id"] and first["body"] == again["body"]
    verified(secret, again)


def test_incoming_sms_forwarded_by_email(app, user, smtp_server):  # noqa: F811 (a fixture)
    app.config["SMTP_URL"] = smtp_server.url
    phone = make_phone(user)
    saved = webhooks.add_endpoint(user.id, WebhookEndpoint.EMAIL, [], email="desk@example.org")
    status_store.add_received(user_id=user.id, phone_id=phone.id, remote_number=NUMBER, body="Running late",
                              encoding="GSM-7", segment_count=1, created_at=utcnow())
    db.session.commit()
    assert deliver(saved.endpoint) == 1
    [mail] = smtp_server.received()
    assert mail["To"] == "desk@example.org" and NUMBER in mail["Subject"]
    assert "Running late" in mail.get_body(("plain",)).get_content()
    [attempt] = attempts_of(saved.endpoint)
    assert attempt.delivered and "desk@example.org" in attempt.answer


def test_incoming_sms_forwarded_by_sms_through_the_send_path(app, user):
    phone = make_phone(user)
    saved = webhooks.add_endpoint(user.id, WebhookEndpoint.SMS, [], forward_number="06 11 11 11 11",
                                  phone_id=phone.id)
    assert saved.problems is None
    for sender in (NUMBER, "+33611111111"):  # the forward's own number is not forwarded back to it
        status_store.add_received(user_id=user.id, phone_id=phone.id, remote_number=sender, body="Running late",
                                  encoding="GSM-7", segment_count=1, created_at=utcnow())
        db.session.commit()
    assert deliver(saved.endpoint) == 1
    [forwarded] = db.session.scalars(select(Message).where(Message.direction == Message.OUTBOUND)).all()
    assert forwarded.remote_number == "+33611111111" and forwarded.status == "queued"
    assert forwarded.body == f"SMS from {NUMBER}: Running late"
    [attempt] = attempts_of(saved.endpoint)
    assert attempt.delivered and attempt.answer == f"#{forwarded.id}"


def test_an_incoming_sms_reaches_the_endpoint_through_the_real_worker(
        app, user, receiver, private_allowed, live_server, start_worker):
    start_worker(WEBHOOK_ALLOW_PRIVATE_ADDRESSES="1")
    phone = make_phone(user)
    endpoint, secret = add_http(user, receiver.url("/hook"), [webhooks.MESSAGE_RECEIVED])
    tasks.simulate_inbound(phone.id, NUMBER, "Is the shop open?")
    [request] = receiver.wait_for(1, timeout=30)
    payload = verified(secret, request)
    assert payload["type"] == "message.received"
    assert payload["data"]["number"] == NUMBER and payload["data"]["text"] == "Is the shop open?"
    assert payload["data"]["direction"] == "inbound" and payload["data"]["phone_id"] == phone.id


def test_a_worker_killed_during_a_delivery_loses_nothing(app, user, private_allowed, start_worker):
    """The answer never recorded, the event is sent again by the next worker, with the same id."""
    receiver = Receiver(reply_status=200)
    first, release = threading.Event(), threading.Event()
    receiver.reply = lambda: (first.is_set() or (first.set(), release.wait(30)), Response(status=200))[1]
    try:
        endpoint, secret = add_http(user, receiver.url("/hook"))
        settings = dict(WEBHOOK_ALLOW_PRIVATE_ADDRESSES="1", WEBHOOK_TIMEOUT_SECONDS="3")
        worker = start_worker(**settings)
        opt_out(user)
        receiver.wait_for(1, timeout=30)
        worker.kill()
        start_worker(**settings)
        first_request, again = receiver.wait_for(2, timeout=30)  # once the dead worker's turn expires (3 + 5 s)
        assert first_request["headers"]["Webhook-Id"] == again["headers"]["Webhook-Id"]
        verified(secret, again)
        wait_for(lambda: db.session.rollback() or db.session.scalar(select(WebhookDelivery.status)) == "delivered",
                 message="the delivery recorded")
    finally:
        release.set()
        receiver.close()
