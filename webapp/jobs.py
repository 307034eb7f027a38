"""Functions the worker runs, enqueued by dotted path with only ids and plain values as arguments."""
import logging
import threading
from concurrent.futures import ThreadPoolExecutor

from flask import current_app

from .extensions import db
from .models import Message, Phone
from .services import pipeline
from .services.phones import (adapter_for, callback_url, check_numbers_at_provider, record_callback_installation,
                              record_connection_check)

log = logging.getLogger(__name__)


class SendPool:
    """Many sends in flight per worker process: providers take 100-500 ms to answer each one.

    The worker's job loop hands each message id to a free sender thread, and waits when none is
    free, so jobs stay in the broker rather than piling up in memory.
    """

    def __init__(self, app, size: int, worker_name: str):
        self.app = app
        self.worker_name = worker_name
        self._executor = ThreadPoolExecutor(size, thread_name_prefix="sender")
        self._free_senders = threading.BoundedSemaphore(size)

    def submit(self, message_id: int) -> None:
        self._free_senders.acquire()
        self._executor.submit(self._send, message_id)

    def _send(self, message_id: int) -> None:
        try:
            with self.app.app_context():
                pipeline.send_message(message_id, self.worker_name)
        except Exception:
            log.exception("sender thread failed on message %s", message_id)
        finally:
            self._free_senders.release()

    def shutdown(self) -> None:
        self._executor.shutdown(wait=True)


send_pool: SendPool | None = None  # set by worker.py


def send_message(message_id: int) -> None:
    if send_pool is not None:
        send_pool.submit(message_id)
    else:  # run by a plain `rq worker`: send in this thread
        pipeline.send_message(message_id, "rq-" + str(threading.get_ident()))


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
        pipeline.poll_statuses(phone, message_ids)


def poll_inbound(phone_id: int) -> None:
    phone = live_phone(phone_id)
    if phone is not None:
        pipeline.poll_inbound(phone)


def install_callbacks(phone_id: int) -> None:
    phone = live_phone(phone_id)
    if phone is not None:
        record_callback_installation(phone)


def cancel_at_provider(message_id: int) -> None:
    message = db.session.get(Message, message_id)
    if message is not None and message.provider_message_id:
        pipeline.cancel_at_provider(message)


def check_numbers(phone_id: int, typed_numbers: list[str]) -> list:
    """What the provider makes of numbers the user typed: [[typed, cleaned or None, error or None]]."""
    phone = live_phone(phone_id)
    if phone is None:
        return []
    return check_numbers_at_provider(phone, typed_numbers)


def sweep() -> None:
    pipeline.requeue_lost_messages()
    pipeline.mark_interrupted_sends()
    pipeline.enqueue_due_status_polls()
    pipeline.enqueue_inbound_polls(current_app.config["INBOUND_POLL_SECONDS"])
    pipeline.forget_unmatched_early_events()
