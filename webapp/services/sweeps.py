"""The sweeps that keep the send pipeline whole, run by one worker at a time.

No message is lost: rows are written before their job, and the sweep re-enqueues queued rows
whose job vanished. None is sent twice: a message found in `sending` after its worker died is
never retried blindly, it becomes unknown.
"""
import logging
from datetime import timedelta

from flask import current_app
from sqlalchemy import delete, select, update

from .. import broker, statuses, tasks
from ..extensions import db
from ..models import EarlyStatusEvent, Message, utcnow
from ..reasons import Reason
from . import status_store
from .status_store import Line

log = logging.getLogger(__name__)

INTERRUPTED_REASON = Reason("interrupted, may have been sent")


def requeue_lost_messages(batch_size: int = 5000) -> int:
    """Queued messages whose job vanished (broker restarted or wiped) get a new one."""
    due_before = utcnow() - timedelta(seconds=current_app.config["REQUEUE_AFTER_SECONDS"])
    candidates = db.session.execute(select(Message.id, Message.send_job_id).where(
        Message.status == statuses.QUEUED, Message.enqueued_at < due_before)
        .order_by(Message.id).limit(batch_size)).all()
    if not candidates:
        return 0
    gone = broker.jobs_not_pending({job_id for _, job_id in candidates if job_id})
    lost = [message_id for message_id, job_id in candidates if job_id is None or job_id in gone]
    jobs = {}
    for start in range(0, len(lost), tasks.SEND_JOB_SIZE):
        job_id = tasks.new_send_job_id()
        jobs[job_id] = lost[start:start + tasks.SEND_JOB_SIZE]
        db.session.execute(update(Message).where(Message.id.in_(jobs[job_id]), Message.status == statuses.QUEUED)
                           .values(send_job_id=job_id, enqueued_at=utcnow())
                           .execution_options(synchronize_session=False))
    db.session.commit()
    if jobs:
        tasks.enqueue_sends(jobs)
        log.info("re-enqueued %d messages whose job was lost", len(lost))
    return len(lost)


def forget_unmatched_early_events(max_age: timedelta = timedelta(days=2)) -> int:
    """Reports for provider ids that never turned up (a provider's test call, say) are not kept for ever."""
    result = db.session.execute(delete(EarlyStatusEvent).where(EarlyStatusEvent.received_at < utcnow() - max_age)
                                .execution_options(synchronize_session=False))
    db.session.commit()
    return result.rowcount


def mark_interrupted_sends() -> int:
    """A message left in `sending` by a worker that died, or for longer than any send can take,
    may or may not have reached the provider."""
    grace = timedelta(seconds=broker.heartbeat_ttl() * 2)
    longest_send = timedelta(seconds=2 * (current_app.config["PROVIDER_CONNECT_TIMEOUT"]
                                          + current_app.config["PROVIDER_READ_TIMEOUT"]) + 30)
    stuck = db.session.scalars(select(Message).where(
        Message.status == statuses.SENDING, Message.status_changed_at < utcnow() - grace)).all()
    if not stuck:
        return 0
    live_workers = broker.live_worker_names()
    count = 0
    for message in stuck:
        if message.claimed_by in live_workers and message.status_changed_at > utcnow() - longest_send:
            continue
        if status_store.move(message, statuses.UNKNOWN, by=statuses.PIPELINE, expected=statuses.SENDING,
                             line=Line(INTERRUPTED_REASON), error_reason=INTERRUPTED_REASON):
            count += 1
        db.session.commit()
    return count
