"""The worker's senders: many sends in flight per worker process, each phone and user holding a fair share."""
import logging
import queue
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from redis.exceptions import RedisError
from sqlalchemy import select

from . import broker, statuses
from .extensions import db
from .models import Message, Phone
from .providers import provider_class
from .services import sending, sweeps

log = logging.getLogger(__name__)


def ceil_div(dividend: int, divisor: int) -> int:
    return -(-dividend // divisor)


@dataclass
class WaitingSends:
    """Queued messages of one phone, in id order, not claimed yet."""
    phone_id: int
    user_id: int
    per_sender: int  # messages one sender carries: the provider's batch, or 1 for a rate-limited phone
    message_ids: list[int]

    def senders_needed(self) -> int:
        return ceil_div(len(self.message_ids), self.per_sender)


def queued_by_phone(message_ids: list[int]) -> list[WaitingSends]:
    """By the phone that sends each: a pool's message gets its phone first (webapp/services/pools.py)."""
    sending.choose_pool_phones(message_ids)
    groups = {}
    for message_id, phone_id in db.session.execute(select(Message.id, Message.phone_id).where(
            Message.id.in_(message_ids), Message.status == statuses.QUEUED).order_by(Message.id)):
        if phone_id not in groups:
            phone = db.session.get(Phone, phone_id)
            per_sender = 1 if phone.rate_limit_per_second else provider_class(phone.provider_key).max_batch_size
            groups[phone_id] = WaitingSends(phone_id, phone.user_id, per_sender, [])
        groups[phone_id].message_ids.append(message_id)
    return list(groups.values())


def unsent_ids(done: list) -> list[int]:
    """Of [(delivery, results)], the messages whose send did not start for want of the broker."""
    return [sms.message_id for delivery, results in done for sms, result in zip(delivery.sms_list, results)
            if isinstance(result, sending.BrokerUnavailable)]


class Shares:
    """Who holds how many of the senders. A phone holds at most a quarter of them and a user
    half, and together they never book more than there are, so that a message is claimed only
    once a sender is there for it: waiting over a share happens unclaimed, in memory. A few
    senders are kept for users who hold none, so a new user's first messages start at once
    while slow phones hold the rest. Not thread-safe: SendPool holds its lock."""

    def __init__(self, size: int):
        self.size = size
        self.phone_share = max(1, size // 4)
        self.user_share = max(1, size // 2)
        self.reserve = max(1, size // 16)
        self.booked = 0
        self.by_phone, self.by_user = Counter(), Counter()

    def room(self, phone_id: int, user_id: int) -> int:
        free = self.size - self.booked
        for_anyone = free - self.reserve
        if self.by_user[user_id] == 0:
            for_anyone = max(for_anyone, min(free, 1))
        return min(self.phone_share - self.by_phone[phone_id], self.user_share - self.by_user[user_id], for_anyone)

    def take(self, group: WaitingSends, least: int = 1) -> tuple[int, list[int]]:
        """Books the senders the group may have now, if at least `least` (or all it needs), and
        takes its first messages for them: (senders, message ids)."""
        room = self.room(group.phone_id, group.user_id)
        if room < min(least, group.senders_needed()):
            return 0, []
        taken = group.message_ids[:max(room, 0) * group.per_sender]
        del group.message_ids[:len(taken)]
        senders = ceil_div(len(taken), group.per_sender)
        self._add(group.phone_id, group.user_id, senders)
        return senders, taken

    def give_back(self, phone_id: int, user_id: int, senders: int) -> None:
        self._add(phone_id, user_id, -senders)

    def _add(self, phone_id: int, user_id: int, senders: int) -> None:
        self.by_phone[phone_id] += senders
        self.by_user[user_id] += senders
        self.booked += senders


class SendPool:
    """Many sends in flight per worker process: providers take 100-500 ms to answer each one.

    The job loop claims a job's messages in one transaction and hands them to sender threads,
    which only talk to the provider; a recorder thread writes their results in batches. So the
    database sees a few transactions per job rather than two per message.

    Fair shares (see Shares): messages that would go over their phone's or user's share, or over
    the senders there are, are not claimed: their ids wait here, in order, and a dispatcher
    thread claims them as senders come back, first for the users holding fewest, while the job
    loop goes on with the next job. Until claimed they are queued in the database like any other,
    and the broker holds their ids under this worker's name (refreshed with its heartbeat), so
    that the sweep leaves them to this worker while it lives. If it dies, the sweep gives them a
    new job; if it stops, it gives them new jobs itself. The claim is still the one step into
    `sending`, so none is sent twice.

    Messages claimed while the broker is down cannot be sent (see sending.send_delivery): they
    go back to queued and to the waiting ones here, and the dispatcher claims nothing more until
    the broker answers again.
    """
    RECORD_BATCH = 200
    BROKER_CHECK_SECONDS = 0.5

    def __init__(self, app, size: int, worker_name: str):
        self.app = app
        self.worker_name = worker_name
        self._shares = Shares(size)
        # waiting messages are claimed when this many of their phone's senders are back, not one
        # by one: a claim is a transaction, which costs more than a send
        self.claim_chunk = max(1, self._shares.phone_share // 2)
        self._executor = ThreadPoolExecutor(size, thread_name_prefix="sender")
        self._lock = threading.Condition()  # guards what follows; notified when senders come back
        self._waiting: dict[int, WaitingSends] = {}  # by phone id, oldest first
        self._waiting_ids = set()
        self._stopping = False
        self._broker_down = False
        self._holding_lock = threading.Lock()  # orders this worker's writes of the ids it holds
        self._results = queue.Queue()
        self._recorder = threading.Thread(target=self._record_results, name="recorder", daemon=True)
        self._recorder.start()
        self._dispatcher = threading.Thread(target=self._dispatch_waiting, name="dispatcher", daemon=True)
        self._dispatcher.start()

    def send_job(self, message_ids: list[int]) -> None:
        """Runs in the job loop, in the job's app context. Never waits for a sender."""
        with self._lock:
            message_ids = [message_id for message_id in message_ids if message_id not in self._waiting_ids]
        waiting = []
        for group in queued_by_phone(message_ids):
            with self._lock:
                if group.phone_id in self._waiting:
                    senders, taken = 0, []  # behind the phone's older messages
                else:
                    senders, taken = self._shares.take(group)
                if group.message_ids:
                    waiting += group.message_ids
                    self._wait(group)
            if taken:
                self._claim_and_start(group, taken, senders)
        if waiting:
            self._hold(waiting)

    def _wait(self, group: WaitingSends, first: bool = False) -> None:
        """Under _lock. first: before the phone's messages waiting already."""
        if group.phone_id in self._waiting:
            waiting = self._waiting[group.phone_id].message_ids
            if first:
                waiting[:0] = group.message_ids
            else:
                waiting.extend(group.message_ids)
        else:
            self._waiting[group.phone_id] = group
        self._waiting_ids.update(group.message_ids)
        self._lock.notify()  # the dispatcher may have room for it already

    def _hold(self, message_ids: list[int]) -> None:
        try:
            with self._holding_lock:
                broker.hold_waiting(self.worker_name, message_ids)
        except RedisError as error:  # the sweep may enqueue them again: they are sent once all the same
            log.warning("could not note waiting messages in the broker: %s", error)

    def note_held(self) -> None:
        """Writes again, whole, the ids of the messages waiting here (with the worker's heartbeat)."""
        with self._holding_lock:
            with self._lock:
                message_ids = list(self._waiting_ids)
            broker.hold_waiting(self.worker_name, message_ids, replace=True)

    def _give_back(self, phone_id: int, user_id: int, senders: int) -> None:
        if senders:
            with self._lock:
                self._shares.give_back(phone_id, user_id, senders)
                self._lock.notify()

    def _claim_and_start(self, group: WaitingSends, message_ids: list[int], senders: int) -> None:
        """Claims the messages and hands them to their booked senders."""
        try:
            deliveries, one_by_one = sending.claim_job(message_ids, self.worker_name)
        except Exception:
            self._give_back(group.phone_id, group.user_id, senders)
            raise
        self._give_back(group.phone_id, group.user_id, senders - len(deliveries) - len(one_by_one))
        for delivery in deliveries:
            self._executor.submit(self._deliver, delivery)
        for message_id in one_by_one:
            self._executor.submit(self._send_one, message_id, group)

    def _dispatch_waiting(self) -> None:
        """Claims waiting messages as senders come back, while the broker answers."""
        while True:
            with self._lock:
                start = None
                while not (self._stopping or self._broker_down) and (start := self._next_startable()) is None:
                    self._lock.wait()
                if self._stopping:
                    return
            if start is None:
                self._wait_for_broker()
                continue
            try:
                with self.app.app_context():
                    self._claim_and_start(*start)
            except Exception:
                log.exception("could not claim waiting messages %s; the sweep will enqueue them again", start[1])

    def _wait_for_broker(self) -> None:
        while True:
            try:
                with self.app.app_context():
                    broker.redis_connection().ping()
            except RedisError:
                with self._lock:
                    if self._stopping:
                        return
                    self._lock.wait(self.BROKER_CHECK_SECONDS)
                continue
            with self._lock:
                self._broker_down = False
            log.info("the broker answers again: claiming the waiting messages")
            return

    def _next_startable(self):
        """Waiting messages of the user holding fewest senders (the oldest first among equals)
        whose phone and user have room, booked. Under _lock."""
        for group in sorted(self._waiting.values(), key=lambda group: self._shares.by_user[group.user_id]):
            senders, taken = self._shares.take(group, least=self.claim_chunk)
            if taken:
                self._waiting_ids.difference_update(taken)
                if not group.message_ids:
                    del self._waiting[group.phone_id]
                return group, taken, senders
        return None

    def _deliver(self, delivery) -> None:
        try:
            with self.app.app_context():
                results = sending.send_delivery(delivery)
            if any(isinstance(result, sending.BrokerUnavailable) for result in results):
                with self._lock:
                    self._broker_down = True
        finally:
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
                    self._wait_again(unsent_ids(done))
            except Exception:
                log.exception("the recorder failed")

    def _wait_again(self, message_ids: list[int]) -> None:
        """Messages whose send did not start wait here again, before the phone's others."""
        if not message_ids:
            return
        for group in queued_by_phone(message_ids):
            with self._lock:
                group.message_ids = [id_ for id_ in group.message_ids if id_ not in self._waiting_ids]
                self._wait(group, first=True)
        self._hold(message_ids)

    def shutdown(self) -> None:
        with self._lock:
            self._stopping = True
            self._lock.notify_all()
        self._dispatcher.join()
        self._hand_back_waiting()
        self._executor.shutdown(wait=True)
        self._results.put(None)
        self._recorder.join()

    def _hand_back_waiting(self) -> None:
        """Messages still waiting get new jobs, for the other workers, before this one stops."""
        with self._holding_lock:
            with self._lock:
                message_ids = sorted(self._waiting_ids)
                self._waiting.clear()
                self._waiting_ids.clear()
            try:
                with self.app.app_context():
                    sweeps.enqueue_again(message_ids)
                    broker.hold_waiting(self.worker_name, [], replace=True)
                if message_ids:
                    log.info("handed back %d waiting messages", len(message_ids))
            except Exception:  # what this worker held is let go with its heartbeat: the sweep enqueues it
                log.exception("could not hand back the waiting messages")
