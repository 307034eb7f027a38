"""Work handed to the background worker: the one place that knows job names and RQ's jobs.

Jobs carry only ids and plain values; what they run is in webapp/jobs.py.
"""
import uuid
from datetime import datetime, timedelta, timezone

from rq.job import Job

from . import broker

SEND_JOB_SIZE = 50  # messages per send job: the broker's bookkeeping is paid once for them all

SEND_MESSAGES = "webapp.jobs.send_messages"
POLL_STATUSES = "webapp.jobs.poll_statuses"
POLL_INBOUND = "webapp.jobs.poll_inbound"
CANCEL_AT_PROVIDER = "webapp.jobs.cancel_at_provider"
CHECK_CONNECTION = "webapp.jobs.check_connection"
INSTALL_CALLBACKS = "webapp.jobs.install_callbacks"
PREVIEW_CALLBACKS = "webapp.jobs.preview_callbacks"
SIMULATE_INBOUND = "webapp.jobs.simulate_inbound"
CHECK_NUMBERS = "webapp.jobs.check_numbers"
FIND_INTERRUPTED_SENDS = "webapp.jobs.find_interrupted_sends"
POST_SIMULATOR_REPORT = "webapp.jobs.post_simulator_report"
SEND_PASSWORD_RESET_LINK = "webapp.jobs.send_password_reset_link"
SEND_QUOTA_ALERT = "webapp.jobs.send_quota_alert"
DELIVER_WEBHOOKS = "webapp.jobs.deliver_webhooks"
IMPORT_CONTACTS = "webapp.jobs.import_contacts"

IMPORT_JOB_TIMEOUT = 3600
NO_WORKER_AFTER = timedelta(seconds=20)  # a job a person waits for, untaken that long: no worker runs, or all are busy  # RQ's default, 180 s, would stop the import of a big file


def new_send_job_id() -> str:
    return f"send-{uuid.uuid4().hex}"


def enqueue_sends(jobs: dict[str, list[int]]) -> None:
    """{job id: message ids}, all in one round trip."""
    queue = broker.job_queue()
    prepared = [queue.prepare_data(SEND_MESSAGES, args=(message_ids,), job_id=job_id, result_ttl=0,
                                   failure_ttl=86400) for job_id, message_ids in jobs.items()]
    with broker.redis_connection().pipeline() as pipe:
        queue.enqueue_many(prepared, pipeline=pipe)
        pipe.execute()


def enqueue_send_later(job_id: str, message_id: int, delay_seconds: float) -> None:
    broker.enqueue_in(delay_seconds, SEND_MESSAGES, [message_id], job_id=job_id, result_ttl=0, failure_ttl=86400)


def poll_statuses(phone_id: int, message_ids: list[int]) -> None:
    broker.enqueue_job(POLL_STATUSES, phone_id, message_ids)


def find_interrupted_sends(phone_id: int, sends: list) -> None:
    """sends: [message id, claimed by, attempt] of each, the claim the sweep judged."""
    broker.enqueue_job(FIND_INTERRUPTED_SENDS, phone_id, sends)


def post_simulator_report_later(delay_seconds: float, message_id: int, form: dict, attempt: int) -> None:
    """The message's report, posted again to its phone's status URL, built when it is posted: the
    broker may keep a job for a day, and the URL's token is all that guards the callback."""
    broker.enqueue_in(delay_seconds, POST_SIMULATOR_REPORT, message_id, form, attempt, result_ttl=0,
                      failure_ttl=86400)


def poll_inbound(phone_ids: list[int]) -> None:
    broker.enqueue_job(POLL_INBOUND, phone_ids)


def cancel_at_provider(message_id: int) -> None:
    broker.enqueue_job(CANCEL_AT_PROVIDER, message_id)


def check_connection(phone_id: int) -> None:
    broker.enqueue_job(CHECK_CONNECTION, phone_id)


def install_callbacks(phone_id: int) -> None:
    broker.enqueue_job(INSTALL_CALLBACKS, phone_id)


def preview_callbacks(phone_id: int) -> str:
    """Returns the job's id, for previewed_callbacks."""
    return broker.enqueue_job(PREVIEW_CALLBACKS, phone_id).id


def previewed_callbacks(phone_id: int, job_id: str) -> Job | None:
    """The job of preview_callbacks for that phone; None for a job that is not one."""
    job = broker.fetch_job(job_id)
    if job is None or job.func_name != PREVIEW_CALLBACKS or job.args[0] != phone_id:
        return None
    return job


def untaken_for_long(job: Job) -> bool:
    """Whether the job has waited NO_WORKER_AFTER without a worker taking it."""
    if job.started_at is not None or job.enqueued_at is None or job.is_finished or job.is_failed:
        return False
    enqueued_at = job.enqueued_at if job.enqueued_at.tzinfo else job.enqueued_at.replace(tzinfo=timezone.utc)
    return datetime.now(timezone.utc) - enqueued_at > NO_WORKER_AFTER


def simulate_inbound(phone_id: int, sender: str, text: str) -> None:
    broker.enqueue_job(SIMULATE_INBOUND, phone_id, sender, text)


def check_numbers(phone_id: int, typed_numbers: list[str]) -> str:
    """Returns the job's id, for checked_numbers."""
    return broker.enqueue_job(CHECK_NUMBERS, phone_id, typed_numbers).id


class NumbersCheck:
    def __init__(self, job: Job):
        self.done, self.failed = job.is_finished, job.is_failed
        self.numbers = job.return_value() if self.done else None


def checked_numbers(phone_id: int, job_id: str) -> NumbersCheck | None:
    """The answer of check_numbers for that phone; None for a job that is not one."""
    job = broker.fetch_job(job_id)
    if job is None or job.func_name != CHECK_NUMBERS or job.args[0] != phone_id:
        return None
    return NumbersCheck(job)


def send_password_reset_link(email: str, locale: str) -> None:
    broker.enqueue_job(SEND_PASSWORD_RESET_LINK, email, locale)


def send_quota_alert(user_id: int, level: int) -> None:
    broker.enqueue_job(SEND_QUOTA_ALERT, user_id, level)


def deliver_webhooks(endpoint_id: int) -> None:
    broker.enqueue_job(DELIVER_WEBHOOKS, endpoint_id)


def new_import_job_id() -> str:
    return f"import-{uuid.uuid4().hex}"


def import_contacts(import_id: int, job_id: str) -> None:
    """The import's row is committed before this is called: a fast worker finds it."""
    broker.job_queue().enqueue(IMPORT_CONTACTS, import_id, job_id=job_id, job_timeout=IMPORT_JOB_TIMEOUT,
                               result_ttl=600, failure_ttl=86400)
