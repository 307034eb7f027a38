"""A phone's callback token is its password: no log line and no failed job in the broker shows it."""
import contextlib
import logging
import threading

from rq.serializers import JSONSerializer
from werkzeug.serving import make_server
from werkzeug.wrappers import Response

from webapp import broker, tasks

from .conftest import make_phone


@contextlib.contextmanager
def callbacks_refused(port):
    """Where the phone's callbacks go, every request is refused, as a rotated token's would be."""
    server = make_server("127.0.0.1", port, Response("no such callback", status=404), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()


def run_queued_jobs(app):
    """What a worker process does with the queue, here, so that its logs can be read."""
    from worker import AppWorker
    AppWorker.app = app
    worker = AppWorker([broker.job_queue()], connection=broker.redis_connection(), serializer=JSONSerializer)
    worker.work(burst=True)


def test_a_refused_simulated_sms_leaves_the_token_in_no_log_and_not_in_the_failed_job(app, user, live_port, caplog):
    caplog.set_level(logging.INFO)
    phone = make_phone(user)
    token = phone.callback_token
    tasks.simulate_inbound(phone.id, "+33612345678", "Hello")
    [job_id] = broker.job_queue().job_ids
    with callbacks_refused(live_port):
        run_queued_jobs(app)
    job = broker.fetch_job(job_id)
    failure = job.latest_result().exc_string
    assert job.is_failed and "404 Client Error" in failure
    assert f"/callbacks/{phone.public_id}/{token[:4]}…/inbound" in failure
    assert "404 Client Error" in caplog.text and f"{token[:4]}…" in caplog.text
    assert token not in failure + caplog.text + (job._exc_info or "")


def test_tokens_are_masked_in_messages_their_arguments_and_tracebacks(app, caplog):
    token = "Ka9ZtokenThatNobodyMayRead_-0123"
    url = f"https://sms.example.org/callbacks/1a2b3c4d5e6f/{token}/status"
    log = logging.getLogger("webapp.some.module")
    log.warning("posting to %s", url)
    log.warning("GET /callbacks/1a2b3c4d5e6f/%s/inbound?x=1 HTTP/1.1", token)
    log.warning("installing " + url.replace("/", "%2F"))
    try:
        raise RuntimeError(f"cannot post to {url}")
    except RuntimeError:
        log.exception("failed")
    log.warning('"GET /reset-password/%s HTTP/1.1" 200', token)
    assert token not in caplog.text and caplog.text.count("Ka9Z…") == 5
