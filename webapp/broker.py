"""The Redis-protocol broker: the connection, the job queue, the workers' heartbeats and the
phones' send slots. What the jobs are is webapp/tasks.py's business."""
import contextlib
import logging
import os
import socket
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone

from flask import current_app
from redis import Redis
from redis.exceptions import RedisError
from rq import Queue
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
from rq.registry import ScheduledJobRegistry
from rq.scheduler import RQScheduler
from rq.serializers import JSONSerializer

log = logging.getLogger(__name__)

QUEUE_NAME = "smsdesk"
HEARTBEAT_PREFIX = "smsdesk:worker:"
# "started" is not pending: a worker that died holding the job leaves it started for ever
PENDING_JOB_STATUSES = {JobStatus.QUEUED, JobStatus.SCHEDULED, JobStatus.DEFERRED}


def redis_connection() -> Redis:
    extensions = current_app.extensions
    if "smsdesk_redis" not in extensions:
        extensions["smsdesk_redis"] = Redis.from_url(
            current_app.config["REDIS_URL"], socket_connect_timeout=3, socket_timeout=10,
            health_check_interval=30)
    return extensions["smsdesk_redis"]


def limiter_storage_uri(redis_url: str) -> str:
    if redis_url.startswith("unix://"):
        return "redis+unix://" + redis_url[len("unix://"):]
    return redis_url


def job_queue() -> Queue:
    return Queue(QUEUE_NAME, connection=redis_connection(), serializer=JSONSerializer)


def enqueue_in(delay_seconds: float, function_path: str, *args, **options) -> None:
    job_queue().enqueue_in(timedelta(seconds=delay_seconds), function_path, *args, **options)


def jobs_not_pending(job_ids: set[str]) -> set[str]:
    """The send jobs that no worker will run: run, failed, lost with their data, or whose data
    outlived their place in a queue (a broker restarted from an older save, a worker killed between
    taking a job and starting it). A job is pending only where a worker will find it: in the queue,
    in the registry of delayed jobs, or started by a worker whose heartbeat is live."""
    queue = job_queue()
    ordered = list(job_ids)
    with redis_connection().pipeline() as pipe:
        pipe.lrange(queue.key, 0, -1)
        pipe.zrange(queue.scheduled_job_registry.key, 0, -1)
        pipe.zrange(queue.deferred_job_registry.key, 0, -1)
        for job_id in ordered:
            pipe.hmget(Job.key_for(job_id), "status", "worker_name")
        queued, scheduled, deferred, *job_states = pipe.execute()
    waiting = {job_id.decode() for job_id in queued + scheduled + deferred}
    live_workers = live_worker_names()
    not_pending = set()
    for job_id, (status, rq_worker_name) in zip(ordered, job_states):
        status = status.decode() if status else None
        if status in PENDING_JOB_STATUSES and job_id in waiting:
            continue
        if status == JobStatus.STARTED and rq_worker_name and worker_of(rq_worker_name.decode()) in live_workers:
            continue
        not_pending.add(job_id)
    return not_pending


LOST_JOB_SUSPECTS_KEY = "smsdesk:lost-job-suspects"
SUSPECTS_KEPT_SECONDS = 3600


def lost_twice(looked_at: set[str], not_pending: set[str], key: str = LOST_JOB_SUSPECTS_KEY) -> set[str]:
    """The jobs not pending that were also found so the last time they were looked at (a job is
    in no list for a moment while a worker takes it). A sweep looks at part of the jobs, so the
    suspects of the others are kept for the next sweeps, an hour at most."""
    now = time.time()
    with redis_connection().pipeline() as pipe:
        pipe.zremrangebyscore(key, "-inf", now - SUSPECTS_KEPT_SECONDS)
        ordered = list(not_pending)
        if ordered:
            pipe.zmscore(key, ordered)
        if looked_at:
            pipe.zrem(key, *looked_at)
        if not_pending:
            pipe.zadd(key, {job_id: now for job_id in not_pending})
        pipe.expire(key, SUSPECTS_KEPT_SECONDS)
        answers = pipe.execute()
    scores = answers[1] if ordered else []
    return {job_id for job_id, score in zip(ordered, scores) if score is not None}


# ---- the messages a worker holds unclaimed, waiting for their share of its senders ----

HELD_PREFIX = "smsdesk:held:"


def hold_waiting(worker_name: str, message_ids: list[int], replace: bool = False) -> None:
    """Notes that these messages wait in that worker (replace: only these), for as long as a heartbeat lasts."""
    key = HELD_PREFIX + worker_name
    with redis_connection().pipeline() as pipe:
        if replace:
            pipe.delete(key)
        for start in range(0, len(message_ids), 10_000):
            pipe.sadd(key, *message_ids[start:start + 10_000])
        if message_ids:
            pipe.pexpire(key, int(heartbeat_ttl() * 1000))
        pipe.execute()


def held_by_live_workers(message_ids: list[int]) -> set[int]:
    """Those of the messages that a worker whose heartbeat lives holds waiting."""
    workers = sorted(live_worker_names())
    if not workers or not message_ids:
        return set()
    with redis_connection().pipeline(transaction=False) as pipe:
        for worker_name in workers:
            pipe.smismember(HELD_PREFIX + worker_name, message_ids)
        answers = pipe.execute()
    return {message_id for held in answers for message_id, is_held in zip(message_ids, held) if is_held}


def rq_worker_name(worker_name: str, run: int) -> str:
    """RQ's name for the run-th job loop of one of our workers: unique, and leading back to it."""
    return f"{worker_name}/{run}"


def worker_of(rq_name: str) -> str:
    return rq_name.rsplit("/", 1)[0]


def fetch_job(job_id: str) -> Job | None:
    try:
        return Job.fetch(job_id, connection=redis_connection(), serializer=JSONSerializer)
    except NoSuchJobError:
        return None


def move_due_scheduled_jobs() -> None:
    """Puts retries whose delay is over on the queue (RQ's own scheduler would fork a process
    that outlives a killed worker). Each worker calls it twice a second: while none is due it
    costs one command, and the scheduler's locks are taken only when one is."""
    connection = redis_connection()
    if not ScheduledJobRegistry(QUEUE_NAME, connection=connection).get_jobs_to_schedule(chunk_size=1):
        return
    scheduler = SchedulerOnOurConnection([QUEUE_NAME], connection=connection, serializer=JSONSerializer,
                                         logging_level=None)  # not set: webapp.logs shows its lock lines at DEBUG only
    scheduler.acquire_locks()
    if scheduler.acquired_locks:
        try:
            scheduler.enqueue_scheduled_jobs()
        finally:
            scheduler.release_locks()


class SchedulerOnOurConnection(RQScheduler):
    """RQ's scheduler opens a connection pool of its own, being meant for a process of its own:
    this one uses the connection it is given, rather than a new connection each time."""

    def __init__(self, queues, connection: Redis, **options):
        super().__init__(queues, connection, **options)
        self._given_connection = connection

    @property
    def connection(self) -> Redis:
        return self._given_connection


def enqueue_job(function_path: str, *args) -> Job:
    return job_queue().enqueue(function_path, *args, result_ttl=600, failure_ttl=86400)


def new_worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def heartbeat_ttl() -> float:
    return current_app.config["WORKER_HEARTBEAT_TTL_SECONDS"]


def beat(worker_name: str) -> None:
    redis_connection().set(HEARTBEAT_PREFIX + worker_name, "1", px=int(heartbeat_ttl() * 1000))


def live_worker_names() -> set[str]:
    """Our workers whose heartbeat has not expired."""
    prefix_length = len(HEARTBEAT_PREFIX)
    return {key.decode()[prefix_length:] for key in redis_connection().scan_iter(HEARTBEAT_PREFIX + "*", count=500)}


RESERVE_SLOT_SCRIPT = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local interval = tonumber(ARGV[1])
local next_free = tonumber(redis.call('GET', KEYS[1]) or '0')
local slot = math.max(now, next_free)
redis.call('SET', KEYS[1], tostring(slot + interval), 'PX', math.ceil((slot + interval - now) * 1000) + 1000)
return tostring(slot - now)
"""


def book_send_slot(message_id: int, wait: float) -> None:
    """Remembers the slot a message waits for in the broker, so that it is not booked twice."""
    redis_connection().set(f"smsdesk:slot:{message_id}", repr(time.time() + wait), ex=int(wait) + 3600)


def booked_send_slot_wait(message_id: int) -> float | None:
    booked = redis_connection().getdel(f"smsdesk:slot:{message_id}")
    return None if booked is None else max(0.0, float(booked) - time.time())


def reserve_send_slot(phone_id: int, per_second: float) -> float:
    """Books the phone's next free send slot, shared by every worker; returns how long to wait for it."""
    wait = redis_connection().eval(RESERVE_SLOT_SCRIPT, 1, f"smsdesk:rate:{phone_id}", repr(1.0 / per_second))
    return float(wait)


# ---- which provider requests have started, should their worker die ----
#
# Each worker keeps a record in the broker (a hash: message id -> "1" when its request starts).
# The sweep takes back a message whose request never started by writing "revoked" in its place;
# both are done by scripts, so a worker judged dead too soon (its heartbeat lapsed) never sends
# a message the sweep took back, and the sweep never takes back one whose request started.

SEND_STARTS_PREFIX = "smsdesk:send-starts:"
SINCE_FIELD = "since"  # when the record began: a claim older than that cannot be judged by it
REVOKED = "revoked"
SEND_STARTS_TTL = 86400

NOTE_SEND_STARTS_SCRIPT = """
redis.call('HSETNX', KEYS[1], 'since', ARGV[1])
local refused = {}
for index = 3, #ARGV do
  local id = ARGV[index]
  if redis.call('HGET', KEYS[1], id) == 'revoked' or redis.call('HGET', KEYS[2], id) == 'revoked' then
    table.insert(refused, id)
  else
    redis.call('HSET', KEYS[1], id, '1')
  end
end
redis.call('EXPIRE', KEYS[1], ARGV[2])
return refused
"""

REVOKE_SEND_STARTS_SCRIPT = """
local revoked = {}
for index = 2, #ARGV do
  local id = ARGV[index]
  if not redis.call('HGET', KEYS[1], id) and not redis.call('HGET', KEYS[2], id) then
    redis.call('HSET', KEYS[1], id, 'revoked')
    table.insert(revoked, id)
  end
end
redis.call('EXPIRE', KEYS[1], ARGV[1])
return revoked
"""


def send_starts_keys(worker_name: str) -> tuple[str, str]:
    """The current record and the one before it (see rotate_send_starts)."""
    key = SEND_STARTS_PREFIX + worker_name
    return key, key + ":previous"


def note_send_starts(worker_name: str, message_ids: list[int]) -> set[int]:
    """Written just before a provider request: those messages may have left from now on.
    Returns those the sweep took back, which must not be sent."""
    script = redis_connection().register_script(NOTE_SEND_STARTS_SCRIPT)
    refused = script(keys=send_starts_keys(worker_name), args=[repr(time.time()), SEND_STARTS_TTL, *message_ids])
    return {int(message_id) for message_id in refused}


def revoke_send_starts(worker_name: str, message_ids: list[int]) -> set[int]:
    """Takes back messages of a worker judged dead whose request had not started; returns those
    taken back by this call (the others' requests started meanwhile, or another sweep took them
    back: theirs to queue again)."""
    script = redis_connection().register_script(REVOKE_SEND_STARTS_SCRIPT)
    revoked = script(keys=send_starts_keys(worker_name), args=[SEND_STARTS_TTL, *message_ids])
    return {int(message_id) for message_id in revoked}


def rotate_send_starts(worker_name: str) -> None:
    """Keeps a worker's record small: the current one becomes the previous one, the one before is
    dropped. Done by the worker itself, far less often than any send takes; a dead worker's record
    stays as it left it."""
    key, previous = send_starts_keys(worker_name)
    with redis_connection().pipeline() as pipe:
        if redis_connection().exists(key):
            pipe.rename(key, previous)
        pipe.hset(key, SINCE_FIELD, repr(time.time()))
        pipe.expire(key, SEND_STARTS_TTL)
        pipe.execute()


def send_starts(worker_name: str, claimed_at: dict[int, datetime]) -> dict[int, bool | None]:
    """For messages the worker claimed at the given (naive UTC) times: True when their request
    started, False when it had not (or the sweep took it back), None when the record cannot tell
    (lost with the broker's data, or begun after the claim)."""
    ids = [str(message_id) for message_id in claimed_at]
    with redis_connection().pipeline(transaction=False) as pipe:
        for key in send_starts_keys(worker_name):
            pipe.hmget(key, [SINCE_FIELD] + ids)
        records = pipe.execute()
    starts = [values[0] for values in records if values[0] is not None]
    since = min((float(value) for value in starts), default=None)
    answers = {}
    for index, (message_id, claimed) in enumerate(claimed_at.items(), start=1):
        marks = {values[index] for values in records} - {None}
        if marks and REVOKED.encode() not in marks:
            answers[message_id] = True
        elif marks or (since is not None and claimed.replace(tzinfo=timezone.utc).timestamp() >= since):
            answers[message_id] = False
        else:
            answers[message_id] = None
    return answers


SWEEP_LOCK_KEY = "smsdesk:sweep-lock"
RELEASE_IF_MINE_SCRIPT = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""
EXTEND_IF_MINE_SCRIPT = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""


@contextlib.contextmanager
def sweep_turn(worker_name: str):
    """Yields True for the one worker whose sweep runs now: two sweeps at once would both take
    back the same messages. The lock is held, like a heartbeat, for as long as the sweep runs,
    so that a worker killed during its sweep holds up the next one for one heartbeat only."""
    connection, ttl_ms = redis_connection(), int(heartbeat_ttl() * 1000)
    if not connection.set(SWEEP_LOCK_KEY, worker_name, nx=True, px=ttl_ms):
        yield False
        return
    swept = threading.Event()
    keeper = threading.Thread(target=keep_sweep_lock, args=(connection, worker_name, ttl_ms, swept),
                              name="sweep lock", daemon=True)
    keeper.start()
    try:
        yield True
    finally:
        swept.set()
        keeper.join()
        # unless it lapsed (the broker was away) and another worker holds it now
        connection.register_script(RELEASE_IF_MINE_SCRIPT)(keys=[SWEEP_LOCK_KEY], args=[worker_name])


def keep_sweep_lock(connection: Redis, worker_name: str, ttl_ms: int, swept: threading.Event) -> None:
    extend = connection.register_script(EXTEND_IF_MINE_SCRIPT)
    while not swept.wait(ttl_ms / 3000):
        try:
            extend(keys=[SWEEP_LOCK_KEY], args=[worker_name, ttl_ms])
        except RedisError as error:
            log.warning("could not keep the sweep lock: %s", error)


def lease(keys: list[str], seconds: float) -> list[bool]:
    """Takes each key that nobody holds, for that long: True for those taken."""
    with redis_connection().pipeline(transaction=False) as pipe:
        for key in keys:
            pipe.set(key, "1", nx=True, px=int(seconds * 1000))
        return [bool(taken) for taken in pipe.execute()]


# ---- turns: one holder at a time (an endpoint's deliveries, the webhook dispatch) ----

def take_turn(key: str, owner: str, seconds: float) -> bool:
    return bool(redis_connection().set(key, owner, nx=True, px=int(seconds * 1000)))


def keep_turn(key: str, owner: str, seconds: float) -> bool:
    return bool(redis_connection().register_script(EXTEND_IF_MINE_SCRIPT)(keys=[key], args=[owner, int(seconds * 1000)]))


def end_turn(key: str, owner: str) -> None:
    redis_connection().register_script(RELEASE_IF_MINE_SCRIPT)(keys=[key], args=[owner])


def turn_taken(key: str) -> bool:
    return bool(redis_connection().exists(key))


def mark_once(key: str, seconds: float) -> bool:
    """Sets the key unless it is set: True the first time (until it expires or is cleared)."""
    return bool(redis_connection().set(key, "1", nx=True, px=int(seconds * 1000)))


def clear_mark(key: str) -> None:
    redis_connection().delete(key)
