"""Functions the worker runs, enqueued by dotted path with only ids and plain values as arguments."""
import logging
import queue
import threading
from concurrent.futures import ThreadPoolExecutor

from flask import current_app

from .extensions import db
from .models import Message, Phone
from .providers import simulator
from .services import polling, sending, sweeps
from .services.phones import (adapter_for, callback_url, check_numbers_at_provider, record_callback_installation,
                              record_connection_check)

log = logging.getLogger(__name__)


class SendPool:
    """Many sends in flight per worker process: providers take 100-500 ms to answer each one.

    The job loop claims a job's messages in one transaction and hands them to sender threads,
    which only talk to the provider; a recorder thread writes their results in batches. So the
    database sees a few transactions per job rather than two per message. The loop waits when
    no sender is free, so jobs stay in the broker rather than piling up in memory.
    """
    RECORD_BATCH = 200

    def __init__(self, app, size: int, worker_name: str):
        self.app = app
        self.worker_name = worker_name
        self._executor = ThreadPoolExecutor(size, thread_name_prefix="sender")
        self._free_senders = threading.BoundedSemaphore(size)
        self._results = queue.Queue()
        self._recorder = threading.Thread(target=self._record_results, name="recorder", daemon=True)
        self._recorder.start()

    def send_job(self, message_ids: list[int]) -> None:
        """Runs in the job loop, in the job's app context."""
        deliveries, one_by_one = sending.claim_job(message_ids, self.worker_name)
        for delivery in deliveries:
            self._free_senders.acquire()
            self._executor.submit(self._deliver, delivery)
        for message_id in one_by_one:
            self._free_senders.acquire()
            self._executor.submit(self._send_one, message_id)

    def _deliver(self, delivery) -> None:
        try:
            with self.app.app_context():
                results = sending.send_delivery(delivery)
        finally:
            self._free_senders.release()
        self._results.put((delivery, results))

    def _send_one(self, message_id: int) -> None:
        """A rate-limited phone's message: waits for its slot, then claims, sends and records it."""
        try:
            with self.app.app_context():
                sending.send_message(message_id, self.worker_name)
        except Exception:
            log.exception("sender thread failed on message %s", message_id)
        finally:
            self._free_senders.release()

    def _record_results(self) -> None:
        while True:
            first = self._results.get()
            if first is None:
                return
            done = [first]
            while len(done) < self.RECORD_BATCH:
                try:
                    item = self._results.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    self._results.put(None)  # stop after this batch
                    break
                done.append(item)
            try:
                with self.app.app_context():
                    sending.record_deliveries(done)
            except Exception:
                log.exception("the recorder failed")

    def shutdown(self) -> None:
        self._executor.shutdown(wait=True)
        self._results.put(None)
        self._recorder.join()


send_pool: SendPool | None = None  # set by worker.py


def send_messages(message_ids: list[int]) -> None:
    if send_pool is not None:
        send_pool.send_job(message_ids)
        return
    for message_id in message_ids:  # run by a plain `rq worker`: send in this thread
        sending.send_message(message_id, "rq-" + str(threading.get_ident()))


def simulate_inbound(phone_id: int, sender: str, text: str) -> None:
    phone = live_phone(phone_id)
    if phone is None:
        return
    adapter_for(phone).simulate_inbound(callback_url(phone, "inbound"), sender, text)


def check_connection(phone_id: int) -> None:
    phone = live_phone(phone_id)
    if phone is not None:
        record_connection_check(phone)


def live_phone(phone_id: int) -> Phone | None:
    phone = db.session.get(Phone, phone_id)
    return phone if phone is not None and phone.deleted_at is None else None


def poll_statuses(phone_id: int, message_ids: list[int]) -> None:
    phone = live_phone(phone_id)
    if phone is not None:
        polling.poll_statuses(phone, message_ids)


def find_interrupted_sends(phone_id: int, message_ids: list[int]) -> None:
    phone = live_phone(phone_id)
    if phone is not None:
        sweeps.find_interrupted_sends(phone, message_ids)


def post_simulator_report(url: str, form: dict, attempt: int) -> None:
    simulator.post_report(url, form, attempt)


def poll_inbound(phone_id: int) -> None:
    phone = live_phone(phone_id)
    if phone is not None:
        polling.poll_inbound(phone)


def install_callbacks(phone_id: int) -> None:
    phone = live_phone(phone_id)
    if phone is not None:
        record_callback_installation(phone)


def cancel_at_provider(message_id: int) -> None:
    message = db.session.get(Message, message_id)
    if message is not None and message.provider_message_id:
        polling.cancel_at_provider(message)


def check_numbers(phone_id: int, typed_numbers: list[str]) -> list:
    """What the provider makes of numbers the user typed: [[typed, cleaned or None, error or None]]."""
    phone = live_phone(phone_id)
    if phone is None:
        return []
    return check_numbers_at_provider(phone, typed_numbers)


def sweep() -> None:
    sweeps.requeue_lost_messages()
    sweeps.mark_interrupted_sends()
    polling.enqueue_due_status_polls()
    polling.enqueue_inbound_polls(current_app.config["INBOUND_POLL_SECONDS"])
    sweeps.forget_unmatched_early_events()
