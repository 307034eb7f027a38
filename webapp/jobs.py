"""Functions the worker runs, enqueued by dotted path with only ids and plain values as arguments."""
import logging
import threading

from flask import current_app

from . import broker
from .extensions import db
from .models import Message, Phone
from .providers import simulator
from .services import contact_files, limits, password_resets, polling, quotas, sending, sweeps, webhooks
from .services.phones import (adapter_for, callback_url, callbacks_at_provider, check_numbers_at_provider,
                              record_callback_installation, record_connection_check)

log = logging.getLogger(__name__)
send_pool = None  # a send_pool.SendPool, set by worker.py


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


def deliver_webhooks(endpoint_id: int) -> None:
    webhooks.deliver_endpoint(endpoint_id)


def dispatch_webhooks() -> None:
    """Run by each worker every WEBHOOK_DISPATCH_SECONDS (one at a time): new outbox events become deliveries."""
    webhooks.dispatch_if_first()


def import_contacts(import_id: int) -> None:
    contact_files.run_import(import_id)


def send_password_reset_link(email: str, locale: str) -> None:
    password_resets.send_link(email, locale)


def send_quota_alert(user_id: int, level: int) -> None:
    quotas.mail_alert(user_id, level)


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


def find_interrupted_sends(phone_id: int, sends: list) -> None:
    """sends: [message id, claimed by, attempt] of each."""
    phone = live_phone(phone_id)
    if phone is not None:
        sweeps.find_interrupted_sends(phone, sends)


def post_simulator_report(message_id: int, form: dict, attempt: int) -> None:
    message = db.session.get(Message, message_id)
    phone = live_phone(message.phone_id) if message is not None else None
    if phone is not None:
        simulator.post_report(callback_url(phone, "status"), form, attempt, message_id)


def poll_inbound(phone_ids: list[int] | int) -> None:
    """phone_ids: a single id in the jobs enqueued before the phones were asked in batches."""
    polling.poll_inbound_of_phones(phone_ids if isinstance(phone_ids, list) else [phone_ids])


def install_callbacks(phone_id: int) -> None:
    phone = live_phone(phone_id)
    if phone is not None:
        record_callback_installation(phone)


def preview_callbacks(phone_id: int) -> dict:
    phone = live_phone(phone_id)
    return callbacks_at_provider(phone) if phone is not None else {"callbacks": []}


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


def sweep_if_first(worker_name: str) -> bool:
    """Runs the sweep unless another worker's is running; False if it did not run."""
    with broker.sweep_turn(worker_name) as mine:
        if mine:
            sweep()
        return mine


def sweep() -> None:
    """Each step on its own: one that fails (a provider's poll, a broker hiccup) does not hold up the others."""
    steps = [sweeps.queue_due_scheduled, sweeps.requeue_lost_messages, sweeps.mark_interrupted_sends, polling.enqueue_due_status_polls,
             lambda: polling.enqueue_inbound_polls(current_app.config["INBOUND_POLL_SECONDS"]),
             sweeps.forget_unmatched_early_events, sweeps.pick_up_webhook_deliveries, limits.resume_phones]
    for step in steps:
        try:
            step()
        except Exception:
            log.exception("a sweep step failed")
            db.session.rollback()
