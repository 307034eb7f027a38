"""The Redis-protocol broker: the connection, the job queue, the workers' heartbeats and the
phones' send slots. What the jobs are is webapp/tasks.py's business."""
import os
import socket
import time
import uuid
from datetime import timedelta

from flask import current_app
from redis import Redis
from rq import Queue
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
from rq.scheduler import RQScheduler
from rq.serializers import JSONSerializer

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
    """The send jobs that are no longer waiting in the broker (run, failed, or lost with its data)."""
    ordered = list(job_ids)
    with redis_connection().pipeline() as pipe:
        for job_id in ordered:
            pipe.hget(Job.key_for(job_id), "status")
        job_statuses = pipe.execute()
    return {job_id for job_id, status in zip(ordered, job_statuses)
            if status is None or status.decode() not in PENDING_JOB_STATUSES}


def fetch_job(job_id: str) -> Job | None:
    try:
        return Job.fetch(job_id, connection=redis_connection(), serializer=JSONSerializer)
    except NoSuchJobError:
        return None


def move_due_scheduled_jobs() -> None:
    """Puts retries whose delay is over on the queue (RQ's own scheduler would fork a process
    that outlives a killed worker)."""
    scheduler = RQScheduler([QUEUE_NAME], connection=redis_connection(), serializer=JSONSerializer)
    scheduler.acquire_locks()
    if scheduler.acquired_locks:
        try:
            scheduler.enqueue_scheduled_jobs()
        finally:
            scheduler.release_locks()


def enqueue_job(function_path: str, *args) -> Job:
    return job_queue().enqueue(function_path, *args, result_ttl=600, failure_ttl=86400)


def new_worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def heartbeat_ttl() -> float:
    return current_app.config["WORKER_HEARTBEAT_TTL_SECONDS"]


def beat(worker_name: str) -> None:
    redis_connection().set(HEARTBEAT_PREFIX + worker_name, "1", px=int(heartbeat_ttl() * 1000))


def live_worker_names() -> set[str]:
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
