"""Functions the worker runs, enqueued by dotted path with only ids and plain values as arguments."""
import logging
import queue
import threading
from collections import Counter, deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from flask import current_app
from sqlalchemy import select

from . import broker, statuses
from .extensions import db
from .models import Message, Phone
from .providers import provider_class, simulator
from .services import polling, sending, sweeps
from .services.phones import (adapter_for, callback_url, check_numbers_at_provider, record_callback_installation,
                              record_connection_check)

log = logging.getLogger(__name__)


@dataclass
class WaitingSends:
    """Queued messages of one phone, in id order, not claimed yet."""
    phone_id: int
    user_id: int
    per_sender: int  # messages one sender carries: the provider's batch, or 1 for a rate-limited phone
    message_ids: list[int]


def queued_by_phone(message_ids: list[int]) -> list[WaitingSends]:
    groups = {}
    for message_id, phone_id in db.session.execute(select(Message.id, Message.phone_id).where(
            Message.id.in_(message_ids), Message.status == statuses.QUEUED).order_by(Message.id)):
        if phone_id not in groups:
            phone = db.session.get(Phone, phone_id)
            per_sender = 1 if phone.rate_limit_per_second else provider_class(phone.provider_key).max_batch_size
            groups[phone_id] = WaitingSends(phone_id, phone.user_id, per_sender, [])
        groups[phone_id].message_ids.append(message_id)
    return list(groups.values())


class SendPool:
    """Many sends in flight per worker process: providers take 100-500 ms to answer each one.

    The job loop claims a job's messages in one transaction and hands them to sender threads,
    which only talk to the provider; a recorder thread writes their results in batches. So the
    database sees a few transactions per job rather than two per message. The loop waits when
    no sender is free, so jobs stay in the broker rather than piling up in memory.

    Fair shares: one phone holds at most a quarter of the senders and one user half, so that a
    phone answering slowly cannot keep everyone else's messages waiting. Messages that would go
    over their share are not claimed: their ids wait here, in order, and a dispatcher thread
    claims them as that phone's or user's sends finish, while the job loop goes on with the next
    job. Until claimed they are queued in the database like any other: if the worker dies or
    stops, the sweep gives them a new job (theirs was taken from the broker), so none is lost,
    and the claim is still the one step into `sending`, so none is sent twice. Shares are counted
    per worker process: a worker holding a phone's backlog keeps it until the sweep enqueues what
    waited longer than REQUEUE_AFTER_SECONDS again, for any worker with room to take.
    """
    RECORD_BATCH = 200

    def __init__(self, app, size: int, worker_name: str):
        self.app = app
        self.worker_name = worker_name
        self.phone_share = max(1, size // 4)
        self.user_share = max(1, size // 2)
        # waiting messages are claimed when this many of their phone's senders are back, not one
        # by one: a claim is a transaction, which costs more than a send
        self.claim_chunk = max(1, self.phone_share // 2)
        self._executor = ThreadPoolExecutor(size, thread_name_prefix="sender")
        self._free_senders = threading.BoundedSemaphore(size)
        self._shares = threading.Condition()  # guards what follows; notified when senders come back
        self._held_by_phone, self._held_by_user = Counter(), Counter()
        self._waiting: deque[WaitingSends] = deque()
        self._waiting_ids = set()
        self._stopping = False
        self._results = queue.Queue()
        self._recorder = threading.Thread(target=self._record_results, name="recorder", daemon=True)
        self._recorder.start()
        self._dispatcher = threading.Thread(target=self._dispatch_waiting, name="dispatcher", daemon=True)
        self._dispatcher.start()

    def send_job(self, message_ids: list[int]) -> None:
        """Runs in the job loop, in the job's app context."""
        with self._shares:
            message_ids = [message_id for message_id in message_ids if message_id not in self._waiting_ids]
        for group in queued_by_phone(message_ids):
            with self._shares:
                if any(waiting.phone_id == group.phone_id for waiting in self._waiting):
                    self._wait(group)  # behind the phone's older messages
                    continue
                senders, taken = self._take_share(group)
                if group.message_ids:
                    self._wait(group)
            if taken:
                self._claim_and_start(group, taken, senders)

    def _take_share(self, group: WaitingSends, least: int = 1) -> tuple[int, list[int]]:
        """Books the senders the group may have now, if at least `least` (or all it needs), and takes its
        first messages for them. Under _shares."""
        room = min(self.phone_share - self._held_by_phone[group.phone_id],
                   self.user_share - self._held_by_user[group.user_id])
        if room < min(least, -(-len(group.message_ids) // group.per_sender)):
            return 0, []
        taken = group.message_ids[:max(room, 0) * group.per_sender]
        del group.message_ids[:len(taken)]
        senders = -(-len(taken) // group.per_sender)
        self._held_by_phone[group.phone_id] += senders
        self._held_by_user[group.user_id] += senders
        return senders, taken

    def _wait(self, group: WaitingSends) -> None:
        self._waiting.append(group)
        self._waiting_ids.update(group.message_ids)
        self._shares.notify()  # the dispatcher may have room for it already

    def _give_back(self, phone_id: int, user_id: int, senders: int) -> None:
        if senders:
            with self._shares:
                self._held_by_phone[phone_id] -= senders
                self._held_by_user[user_id] -= senders
                self._shares.notify()

    def _claim_and_start(self, group: WaitingSends, message_ids: list[int], senders: int) -> None:
        """Claims the messages and hands them to senders, waiting for free ones."""
        try:
            deliveries, one_by_one = sending.claim_job(message_ids, self.worker_name)
        except Exception:
            self._give_back(group.phone_id, group.user_id, senders)
            raise
        self._give_back(group.phone_id, group.user_id, senders - len(deliveries) - len(one_by_one))
        for delivery in deliveries:
            self._free_senders.acquire()
            self._executor.submit(self._deliver, delivery)
        for message_id in one_by_one:
            self._free_senders.acquire()
            self._executor.submit(self._send_one, message_id, group)

    def _dispatch_waiting(self) -> None:
        """Claims waiting messages as their phone's and user's senders come back."""
        while True:
            with self._shares:
                while not self._stopping and (start := self._next_startable()) is None:
                    self._shares.wait()
                if self._stopping:
                    return  # what still waits is queued: the sweep enqueues it again
            try:
                with self.app.app_context():
                    self._claim_and_start(*start)
            except Exception:
                log.exception("could not claim waiting messages %s; the sweep will enqueue them again", start[1])

    def _next_startable(self):
        """The oldest waiting messages whose phone and user have room, booked. Under _shares."""
        for group in self._waiting:
            senders, taken = self._take_share(group, least=self.claim_chunk)
            if taken:
                self._waiting_ids.difference_update(taken)
                if not group.message_ids:
                    self._waiting.remove(group)
                return group, taken, senders
        return None

    def _deliver(self, delivery) -> None:
        try:
            with self.app.app_context():
                results = sending.send_delivery(delivery)
        finally:
            self._free_senders.release()
            self._give_back(delivery.phone_id, delivery.user_id, 1)
        self._results.put((delivery, results))

    def _send_one(self, message_id: int, group: WaitingSends) -> None:
        """A rate-limited phone's message: waits for its slot, then claims, sends and records it."""
        try:
            with self.app.app_context():
                sending.send_message(message_id, self.worker_name)
        except Exception:
            log.exception("sender thread failed on message %s", message_id)
        finally:
            self._free_senders.release()
            self._give_back(group.phone_id, group.user_id, 1)

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
        with self._shares:
            self._stopping = True
            self._shares.notify_all()
        self._dispatcher.join()
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


def find_interrupted_sends(phone_id: int, sends: list) -> None:
    """sends: [message id, claimed by, attempt] of each."""
    phone = live_phone(phone_id)
    if phone is not None:
        sweeps.find_interrupted_sends(phone, sends)


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


def sweep_if_first(worker_name: str) -> bool:
    """Runs the sweep unless another worker's is running; False if it did not run."""
    with broker.sweep_turn(worker_name) as mine:
        if mine:
            sweep()
        return mine


def sweep() -> None:
    """Each step on its own: one that fails (a provider's poll, a broker hiccup) does not hold up the others."""
    steps = [sweeps.requeue_lost_messages, sweeps.mark_interrupted_sends, polling.enqueue_due_status_polls,
             lambda: polling.enqueue_inbound_polls(current_app.config["INBOUND_POLL_SECONDS"]),
             sweeps.forget_unmatched_early_events]
    for step in steps:
        try:
            step()
        except Exception:
            log.exception("a sweep step failed")
            db.session.rollback()
