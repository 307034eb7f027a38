"""The background worker: sends messages and runs the periodic sweep.

Run several of these against one database and one broker to grow past one machine.
"""
import itertools
import logging
import signal
import threading

from redis.exceptions import RedisError
from rq import SimpleWorker
from rq.serializers import JSONSerializer

from webapp import broker, create_app, jobs, log_masking, logs
from webapp.send_pool import SendPool

log = logging.getLogger("smsdesk.worker")
# far longer than any send takes (see broker.rotate_send_starts)
SEND_STARTS_ROTATION_SECONDS = 600


def every(seconds: float, action, stop: threading.Event, name: str) -> threading.Thread:
    def loop():
        while not stop.wait(seconds):
            try:
                action()
            except Exception as error:  # a broker or database outage must not kill the loop
                log.warning("%s failed: %s", name, error)
    thread = threading.Thread(target=loop, name=name, daemon=True)
    thread.start()
    return thread


def main() -> None:
    logs.configure("worker")
    app = create_app()
    worker_name = broker.new_worker_name()
    jobs.send_pool = SendPool(app, app.config["SEND_CONCURRENCY"], worker_name)
    stop = threading.Event()  # stops taking jobs
    stop_background = threading.Event()  # stops the heartbeat, once the sends in flight are done

    def with_app(action):
        with app.app_context():
            action()

    def beat():
        with_app(lambda: broker.beat(worker_name))
        with_app(jobs.send_pool.note_held)

    def rotate_send_starts():
        with_app(lambda: broker.rotate_send_starts(worker_name))

    def sweep_if_first():
        with_app(lambda: jobs.sweep_if_first(worker_name))

    try:
        beat()
        rotate_send_starts()
    except RedisError as error:
        log.warning("broker unavailable at start: %s", error)
    every(app.config["WORKER_HEARTBEAT_TTL_SECONDS"] / 3, beat, stop_background, "heartbeat")
    every(SEND_STARTS_ROTATION_SECONDS, rotate_send_starts, stop_background, "send starts")
    every(app.config["SWEEP_INTERVAL_SECONDS"], sweep_if_first, stop_background, "sweep")
    every(0.5, lambda: with_app(broker.move_due_scheduled_jobs), stop_background, "retries")
    every(app.config["WEBHOOK_DISPATCH_SECONDS"], lambda: with_app(jobs.dispatch_webhooks), stop, "webhooks")
    log.info("worker %s started, %d senders", worker_name, app.config["SEND_CONCURRENCY"])
    stop_on_signal(stop)
    try:
        run_job_loop(app, stop, worker_name)
    finally:
        stop.set()
        log.info("waiting for the sends in flight")
        jobs.send_pool.shutdown()
        # only now: while sends were in flight, a missing heartbeat would have had them judged interrupted
        stop_background.set()
        log.info("worker %s stopped", worker_name)


class AppWorker(SimpleWorker):
    """Each job in an app context of its own, so a database error in one job (and its session)
    never leaks into the next. After a broker outage, it asks again every second, not after
    RQ's doubling waits (up to a minute)."""
    app = None
    exponential_backoff_factor = 1.0

    def perform_job(self, job, queue, *args, **kwargs):
        with self.app.app_context():
            return super().perform_job(job, queue, *args, **kwargs)

    def handle_job_failure(self, job, queue, started_job_registry=None, exc_string="", execution=None):
        """The traceback RQ keeps in the broker for a day, without callback tokens."""
        return super().handle_job_failure(job, queue, started_job_registry=started_job_registry,
                                          exc_string=log_masking.masked(exc_string), execution=execution)


def stop_on_signal(stop: threading.Event) -> None:
    def request_stop(_signum, _frame):
        stop.set()
    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)


def broker_reachable() -> bool:
    try:
        return broker.redis_connection().ping()
    except RedisError:
        return False


def run_job_loop(app, stop: threading.Event, worker_name: str) -> None:
    """RQ's loop, started again after a broker outage instead of quitting."""
    AppWorker.app = app
    for run in itertools.count():
        if stop.is_set():
            return
        with app.app_context():
            reachable = broker_reachable()
            queue, connection = broker.job_queue(), broker.redis_connection()
        if not reachable:
            log.warning("broker unavailable, trying again in 2 s")
            stop.wait(2)
            continue
        rq_worker = AppWorker([queue], connection=connection, serializer=JSONSerializer,
                              name=broker.rq_worker_name(worker_name, run))
        try:
            rq_worker.work(logging_level=None)  # RQ's own lines are housekeeping: see webapp.logs
        except RedisError as error:
            log.warning("broker connection lost: %s", error)
        finally:
            stop_on_signal(stop)  # RQ replaced our handlers with its own while it ran
        if rq_worker._shutdown_requested_date is not None:  # RQ got SIGINT or SIGTERM
            return
        stop.wait(2)


if __name__ == "__main__":
    main()
