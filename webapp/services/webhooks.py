"""Outbound webhooks: a user's endpoints, fed from the event outbox, signed the Standard Webhooks way.

- The **dispatch** reads the outbox after a cursor kept in the database (`webhook_dispatch`) and
  writes one delivery row per event and endpoint that wants it, in the transaction that moves the
  cursor on (compare-and-set: two dispatchers at once write nothing twice). An id missing below
  newer ones (a transaction still running on PostgreSQL) is waited for GAP_WAIT_SECONDS.
- An endpoint's deliveries go **in order, one at a time** (a turn in the broker), in jobs of a
  few seconds each. A network error, a timeout (WEBHOOK_TIMEOUT_SECONDS, 10 s), a 408, 429 or 5xx
  is tried again with exponential backoff (5 s, 10 s, 20 s … at most 6 h apart) until 24 h after
  the first attempt; deliveries after it wait behind it, so the order holds. Any other answer
  (4xx, 3xx: redirects are not followed) is not retried. An endpoint that has failed for 24 hours
  is disabled and the dashboard says so. Deliveries are at least once: a worker killed between the
  answer and its record sends again (same webhook-id), and the sweep re-enqueues what is due.
- Built-in kinds forward incoming SMS to an e-mail address (when SMTP_URL is set) or to another
  number, through a phone of the user and the compose path, with the same log.
"""
import base64
import hashlib
import hmac
import json
import logging
import secrets
import smtplib
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _
from redis.exceptions import RedisError
from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from .. import broker, crypto, mail, statuses, tasks
from ..extensions import db
from ..models import (Message, OutboxEvent, User, WebhookAttempt, WebhookDelivery, WebhookDispatch, WebhookEndpoint,
                      utcnow)
from ..reasons import N_, Reason, stored
from ..webhook_http import Answer, AddressRefused, Poster, check_url

log = logging.getLogger(__name__)

MESSAGE_RECEIVED = "message.received"
MESSAGE_STATUS_CHANGED = "message.status_changed"
MESSAGE_DELIVERED = "message.delivered"
MESSAGE_FAILED = "message.failed"
OPTOUT_CREATED = "optout.created"
OPTOUT_REMOVED = "optout.removed"
TEST = "webhook.test"
EVENT_TYPES = (MESSAGE_RECEIVED, MESSAGE_STATUS_CHANGED, MESSAGE_DELIVERED, MESSAGE_FAILED, OPTOUT_CREATED,
               OPTOUT_REMOVED)
EVENT_LABELS = {
    MESSAGE_RECEIVED: N_("an SMS is received"),
    MESSAGE_STATUS_CHANGED: N_("a sent SMS changes status (every change)"),
    MESSAGE_DELIVERED: N_("a sent SMS is delivered"),
    MESSAGE_FAILED: N_("a sent SMS fails"),
    OPTOUT_CREATED: N_("a number opts out"),
    OPTOUT_REMOVED: N_("a number is taken off the opt-out list"),
}

SECRET_GRACE = timedelta(hours=24)  # a rotated secret still signs for that long
RETRY_FOR = timedelta(hours=24)  # a delivery is tried for that long after its first attempt
DISABLE_AFTER = timedelta(hours=24)  # an endpoint failing for that long is disabled
LONGEST_RETRY_DELAY = timedelta(hours=6)
GAP_WAIT_SECONDS = 10.0
DISPATCH_PAGE = 1000
DELIVERY_BATCH = 100
JOB_BUDGET_SECONDS = 5.0  # then the job enqueues its successor, so that a busy endpoint never holds a worker
TURN_MARGIN_SECONDS = 5.0  # a turn lasts one request's deadline and this; renewed after each request
DISPATCH_TURN_KEY = "smsdesk:webhook-dispatch"
RETRIED_STATUSES = {408, 429}

DISABLED_REASON = N_("Disabled after failing for 24 hours")


def turn_seconds() -> float:
    """How long a delivering job's turn lasts unless renewed: a worker killed while delivering
    holds its endpoint up for that long."""
    return current_app.config["WEBHOOK_TIMEOUT_SECONDS"] + TURN_MARGIN_SECONDS


def turn_key(endpoint_id: int) -> str:
    return f"smsdesk:webhook-turn:{endpoint_id}"


def queued_key(endpoint_id: int) -> str:
    return f"smsdesk:webhook-queued:{endpoint_id}"


# ---- secrets and signatures (https://www.standardwebhooks.com/) ----

def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def signature(secret: str, webhook_id: str, timestamp: int, body: bytes) -> str:
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{webhook_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def signing_secrets(endpoint: WebhookEndpoint, now: datetime) -> list[str]:
    """The current secret, and the previous one during its grace period."""
    found = [crypto.decrypt_secrets(endpoint.encrypted_secret)["secret"]]
    if endpoint.encrypted_previous_secret and endpoint.previous_secret_until and endpoint.previous_secret_until > now:
        found.append(crypto.decrypt_secrets(endpoint.encrypted_previous_secret)["secret"])
    return found


def signed_headers(signing: list[str], webhook_id: str, body: bytes) -> dict:
    """The Standard Webhooks headers: one signature per secret that signs, space-separated."""
    timestamp = int(time.time())
    return {"Content-Type": "application/json", "User-Agent": "SMS-Desk-Webhooks/1",
            "webhook-id": webhook_id, "webhook-timestamp": str(timestamp),
            "webhook-signature": " ".join(signature(secret, webhook_id, timestamp, body) for secret in signing)}


def rotate_secret(endpoint: WebhookEndpoint, now: datetime | None = None) -> str:
    """A new secret, returned to be shown once; the old one keeps signing for SECRET_GRACE. Commits."""
    now = now or utcnow()
    secret = new_secret()
    endpoint.encrypted_previous_secret = endpoint.encrypted_secret
    endpoint.previous_secret_until = now + SECRET_GRACE
    endpoint.encrypted_secret = crypto.encrypt_secrets({"secret": secret})
    db.session.commit()
    return secret


# ---- endpoints ----

def user_endpoints(user_id: int) -> list[WebhookEndpoint]:
    return db.session.scalars(select(WebhookEndpoint).where(WebhookEndpoint.user_id == user_id)
                              .order_by(WebhookEndpoint.id)).all()


def user_endpoint(user_id: int, endpoint_id: int) -> WebhookEndpoint | None:
    endpoint = db.session.get(WebhookEndpoint, endpoint_id)
    return endpoint if endpoint is not None and endpoint.user_id == user_id else None


def kinds_available() -> list[str]:
    return [WebhookEndpoint.HTTP] + ([WebhookEndpoint.EMAIL] if mail.is_configured() else []) + [WebhookEndpoint.SMS]


def url_problem(url: str) -> str | None:
    try:
        check_url(url)
    except AddressRefused as refusal:
        return _("SMS Desk will not post to this URL: %(reason)s.", reason=str(refusal.reason))
    return None


def newest_event_id() -> int:
    return db.session.scalar(select(func.max(OutboxEvent.id))) or 0


@dataclass
class Saved:
    endpoint: WebhookEndpoint | None = None
    secret: str | None = None  # shown once
    problems: dict | None = None


def add_endpoint(user_id: int, kind: str, events: list[str], url: str = "", email: str = "",
                 forward_number: str = "", phone_id: int | None = None) -> Saved:
    """Checks and saves an endpoint; commits. Built-in kinds want incoming SMS only. Its events
    start after the newest one written now."""
    problems = {}
    endpoint = WebhookEndpoint(user_id=user_id, kind=kind, enabled=True, first_event_id=newest_event_id())
    if kind == WebhookEndpoint.HTTP:
        problem = url_problem(url)
        if problem:
            problems["url"] = [problem]
        endpoint.url = url.strip()
        endpoint.events = [event for event in EVENT_TYPES if event in events]
        if not endpoint.events:
            problems["events"] = [_("Choose at least one event.")]
        secret = new_secret()
        endpoint.encrypted_secret = crypto.encrypt_secrets({"secret": secret})
    elif kind == WebhookEndpoint.EMAIL and mail.is_configured():
        endpoint.email, endpoint.events, secret = email.strip(), [MESSAGE_RECEIVED], None
        if "@" not in endpoint.email:
            problems["email"] = [_("Enter an e-mail address.")]
    elif kind == WebhookEndpoint.SMS:
        from ..numbers import InvalidNumber, to_e164
        from .phones import user_phone_or_none
        endpoint.events, secret = [MESSAGE_RECEIVED], None
        try:
            endpoint.forward_number = to_e164(forward_number, current_app.config["DEFAULT_PHONE_REGION"])
        except InvalidNumber as error:
            problems["forward_number"] = [_("%(number)s is not a valid number: %(reason)s.", number=error.typed,
                                            reason=error.reason)]
        user = db.session.get(User, user_id)
        phone = user_phone_or_none(user, phone_id) if phone_id is not None else None
        if phone is None:
            problems["phone_id"] = [_("Choose one of your phones.")]
        endpoint.phone_id = phone.id if phone else None
    else:
        return Saved(problems={"kind": [_("Choose a kind of endpoint.")]})
    if problems:
        return Saved(problems=problems)
    db.session.add(endpoint)
    db.session.commit()
    return Saved(endpoint, secret)


def set_events(endpoint: WebhookEndpoint, events: list[str]) -> bool:
    chosen = [event for event in EVENT_TYPES if event in events]
    if not chosen or endpoint.kind != WebhookEndpoint.HTTP:
        return False
    endpoint.events = chosen
    db.session.commit()
    return True


def enable(endpoint: WebhookEndpoint, now: datetime | None = None) -> None:
    """Enabled again: what was pending when it was disabled is tried again at once."""
    now = now or utcnow()
    endpoint.enabled, endpoint.disabled_at, endpoint.disabled_reason, endpoint.failing_since = True, None, None, None
    db.session.execute(update(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint.id,
                                                     WebhookDelivery.status == WebhookDelivery.PENDING)
                       .values(next_attempt_at=now, first_attempt_at=None)
                       .execution_options(synchronize_session=False))
    db.session.commit()
    enqueue_delivery(endpoint.id)


def disable(endpoint: WebhookEndpoint, reason: Reason | None = None, now: datetime | None = None) -> None:
    """Stops deliveries (does not commit); those pending wait for it to be enabled again.
    Events written while it is disabled are not delivered to it."""
    endpoint.enabled, endpoint.disabled_at, endpoint.disabled_reason = False, now or utcnow(), stored(reason)


def switch_off(endpoint: WebhookEndpoint) -> None:
    """The user's own disable; commits."""
    disable(endpoint)
    db.session.commit()


def previous_secret_until(endpoint: WebhookEndpoint, now: datetime | None = None) -> datetime | None:
    """Until when the previous secret still signs, if it does."""
    until = endpoint.previous_secret_until
    return until if endpoint.encrypted_previous_secret and until and until > (now or utcnow()) else None


def delete_endpoint(endpoint: WebhookEndpoint) -> None:
    db.session.delete(endpoint)
    db.session.commit()


def disabled_by_failures(user_id: int) -> list[WebhookEndpoint]:
    """For the dashboard: the user's endpoints SMS Desk disabled because they kept failing."""
    return db.session.scalars(select(WebhookEndpoint).where(
        WebhookEndpoint.user_id == user_id, WebhookEndpoint.enabled.is_(False),
        WebhookEndpoint.disabled_reason.is_not(None)).order_by(WebhookEndpoint.id)).all()


def target_of(endpoint: WebhookEndpoint) -> str:
    return endpoint.url or endpoint.email or endpoint.forward_number or ""


# ---- the log ----

LOG_PAGE = 50


def log_page(endpoint: WebhookEndpoint, before_id: int | None = None, limit: int = LOG_PAGE):
    """The endpoint's attempts, newest first, and the id to ask the next page before (None at the end)."""
    query = select(WebhookAttempt).where(WebhookAttempt.endpoint_id == endpoint.id)
    if before_id is not None:
        query = query.where(WebhookAttempt.id < before_id)
    rows = db.session.scalars(query.order_by(WebhookAttempt.id.desc()).limit(limit + 1)).all()
    return rows[:limit], (rows[limit - 1].id if len(rows) > limit else None)


def pending_count(endpoint: WebhookEndpoint) -> int:
    return db.session.scalar(select(func.count()).select_from(WebhookDelivery).where(
        WebhookDelivery.endpoint_id == endpoint.id, WebhookDelivery.status == WebhookDelivery.PENDING))


def user_delivery(user_id: int, endpoint_id: int, delivery_id: int) -> WebhookDelivery | None:
    endpoint = user_endpoint(user_id, endpoint_id)
    delivery = db.session.get(WebhookDelivery, delivery_id) if endpoint is not None else None
    return delivery if delivery is not None and delivery.endpoint_id == endpoint_id else None


def resend(delivery: WebhookDelivery) -> WebhookDelivery:
    """The same event again (same webhook-id and body), after what is pending. Commits, enqueues."""
    again = WebhookDelivery(endpoint_id=delivery.endpoint_id, webhook_id=delivery.webhook_id,
                            event_type=delivery.event_type, body=delivery.body, status=WebhookDelivery.PENDING,
                            attempt_count=0, next_attempt_at=utcnow())
    db.session.add(again)
    db.session.commit()
    enqueue_delivery(delivery.endpoint_id)
    return again


def send_test(endpoint: WebhookEndpoint) -> WebhookDelivery:
    now = utcnow()
    body = event_body(TEST, now, {"endpoint_id": endpoint.id, "text": "This is a test event from SMS Desk."})
    delivery = WebhookDelivery(endpoint_id=endpoint.id, webhook_id="test_" + secrets.token_hex(8), event_type=TEST,
                               body=body, status=WebhookDelivery.PENDING, attempt_count=0, next_attempt_at=now)
    db.session.add(delivery)
    db.session.commit()
    enqueue_delivery(endpoint.id)
    return delivery


# ---- the dispatch: outbox events → delivery rows ----

def iso(at: datetime) -> str:
    return at.replace(microsecond=(at.microsecond // 1000) * 1000).isoformat(timespec="milliseconds") + "Z"


def event_body(event_type: str, at: datetime, data: dict) -> str:
    return json.dumps({"type": event_type, "timestamp": iso(at), "data": data}, ensure_ascii=False,
                      separators=(",", ":"))


def type_for(endpoint: WebhookEndpoint, event) -> str | None:
    """The type an endpoint gets an outbox event as, if it wants it. A delivered or failed SMS
    is one event: an endpoint that wants message.delivered (or .failed) gets it as that, else as
    message.status_changed."""
    wanted = endpoint.events or ()
    if event.kind == OutboxEvent.MESSAGE_STATUS_CHANGED:
        specific = {statuses.DELIVERED: MESSAGE_DELIVERED, statuses.FAILED: MESSAGE_FAILED}.get(event.status)
        if specific in wanted:
            return specific
        return MESSAGE_STATUS_CHANGED if MESSAGE_STATUS_CHANGED in wanted else None
    return event.kind if event.kind in wanted else None


def message_data(message: Message | None, event) -> dict:
    if message is None:
        return {"id": event.message_id, "status": event.status}
    data = {"id": message.id, "direction": message.direction, "phone_id": message.phone_id,
            "number": message.remote_number, "text": message.body, "status": event.status,
            "segments": message.segment_count, "created_at": iso(message.created_at)}
    if event.status == statuses.FAILED:
        from ..reasons import shown
        with force_locale("en"):
            data.update(error_code=message.error_code,
                        error_reason=shown(message.error_reason) if message.error_reason else None)
    return data


def event_data(event, messages: dict) -> dict:
    if event.kind in (OutboxEvent.MESSAGE_STATUS_CHANGED, OutboxEvent.MESSAGE_RECEIVED):
        return message_data(messages.get(event.message_id), event)
    data = json.loads(event.data) if event.data else {}
    data.setdefault("at", iso(event.created_at))
    return data


def dispatch(now: datetime | None = None, most: int = 20 * DISPATCH_PAGE) -> set[int]:
    """Fans out the outbox events after the cursor; returns the endpoints given new deliveries
    (their jobs enqueued). Commits."""
    endpoint_ids = set()
    for _page in range(0, most, DISPATCH_PAGE):
        page_endpoints, more = dispatch_page(now or utcnow())
        endpoint_ids |= page_endpoints
        if not more:
            break
    for endpoint_id in endpoint_ids:
        enqueue_delivery(endpoint_id)
    return endpoint_ids


def dispatch_page(now: datetime) -> tuple[set[int], bool]:
    """One page of events. Everything is read first, and written in a transaction of its own
    that begins with the cursor's move (SQLite cannot turn a reading transaction into a writing
    one once another writer committed)."""
    state = dispatch_state()
    cursor, gap_state = state.last_event_id, (state.gap_event_id, state.gap_seen_at)
    endpoints = db.session.scalars(select(WebhookEndpoint).where(WebhookEndpoint.enabled.is_(True))).all()
    events = db.session.execute(select(OutboxEvent).where(OutboxEvent.id > cursor).order_by(OutboxEvent.id)
                                .limit(DISPATCH_PAGE)).scalars().all()
    taken, gap = contiguous(events, cursor, gap_state, now)
    rows = delivery_rows(endpoints, taken, now) if taken else []
    db.session.rollback()
    if gap is not None and gap != gap_state[0]:
        db.session.execute(update(WebhookDispatch).where(WebhookDispatch.id == 1)
                           .values(gap_event_id=gap, gap_seen_at=now))
        db.session.commit()
    if not taken:
        return set(), False
    moved = db.session.execute(update(WebhookDispatch).where(WebhookDispatch.id == 1,
                                                             WebhookDispatch.last_event_id == cursor)
                               .values(last_event_id=taken[-1].id).execution_options(synchronize_session=False))
    if moved.rowcount != 1:
        db.session.rollback()  # another dispatcher took these events
        return set(), True
    if rows:
        db.session.execute(insert(WebhookDelivery.__table__), rows)
    db.session.commit()
    return {row["endpoint_id"] for row in rows}, len(events) == DISPATCH_PAGE or len(taken) < len(events)


def dispatch_state() -> WebhookDispatch:
    """The cursor's row, written by the migration; made again at 0 if it is missing (a database
    emptied by hand): endpoints get only the events after the one newest when they were added."""
    state = db.session.get(WebhookDispatch, 1, populate_existing=True)
    if state is None:
        try:
            db.session.add(WebhookDispatch(id=1, last_event_id=0))
            db.session.commit()
        except IntegrityError:
            db.session.rollback()  # another dispatcher made it
        state = db.session.get(WebhookDispatch, 1, populate_existing=True)
    return state


def delivery_rows(endpoints: list[WebhookEndpoint], events: list, now: datetime) -> list[dict]:
    by_user = {}
    for endpoint in endpoints:
        by_user.setdefault(endpoint.user_id, []).append(endpoint)
    wanted = [event for event in events if event.user_id in by_user]
    message_ids = {event.message_id for event in wanted if event.message_id is not None}
    messages = {message.id: message for message in db.session.scalars(
        select(Message).where(Message.id.in_(message_ids)))} if message_ids else {}
    rows, bodies = [], {}
    for event in wanted:
        for endpoint in by_user[event.user_id]:
            event_type = type_for(endpoint, event) if event.id > endpoint.first_event_id else None
            if event_type is None or not forwards(endpoint, event, messages):
                continue
            if event_type not in bodies.setdefault(event.id, {}):
                bodies[event.id][event_type] = event_body(event_type, event.created_at, event_data(event, messages))
            rows.append(dict(endpoint_id=endpoint.id, webhook_id=f"evt_{event.id}", event_type=event_type,
                             body=bodies[event.id][event_type], status=WebhookDelivery.PENDING, attempt_count=0,
                             next_attempt_at=now, created_at=now))
    return rows


def contiguous(events: list, cursor: int, gap_state: tuple, now: datetime) -> tuple[list, int | None]:
    """The events up to the first missing id (returned as the gap), or past it once it has been
    missing for GAP_WAIT_SECONDS: ids are handed out before their transactions commit, so an id
    missing for a moment may still come; one missing longer was rolled back."""
    taken, expected = [], cursor + 1
    for event in events:
        if event.id != expected:
            gap_id, gap_seen_at = gap_state
            waited = (gap_id == expected and gap_seen_at is not None
                      and (now - gap_seen_at).total_seconds() >= GAP_WAIT_SECONDS)
            if not waited:
                return taken, expected
        taken.append(event)
        expected = event.id + 1
    return taken, None


def forwards(endpoint: WebhookEndpoint, event, messages: dict) -> bool:
    """A forward by SMS skips the SMS its own number sends (no loop between two forwards)."""
    if endpoint.kind != WebhookEndpoint.SMS:
        return True
    message = messages.get(event.message_id)
    return message is not None and message.remote_number != endpoint.forward_number


def enqueue_delivery(endpoint_id: int) -> None:
    """A job for the endpoint's deliveries, unless one is waiting already; a lost one is made up
    for by the sweep."""
    try:
        if broker.mark_once(queued_key(endpoint_id), turn_seconds()):
            tasks.deliver_webhooks(endpoint_id)
    except RedisError as error:
        log.warning("could not enqueue the webhooks of endpoint %d: %s", endpoint_id, error)


def dispatch_if_first(now: datetime | None = None) -> set[int]:
    """The dispatch, by one worker at a time (the cursor's compare-and-set would make a second
    one's work vain). While no event waits, one look-up and nothing else."""
    if not events_waiting():
        return set()
    owner = uuid.uuid4().hex
    try:
        if not broker.take_turn(DISPATCH_TURN_KEY, owner, 60.0):
            return set()
    except RedisError:
        return dispatch(now)
    try:
        return dispatch(now)
    finally:
        broker.end_turn(DISPATCH_TURN_KEY, owner)


def events_waiting() -> bool:
    """Whether an outbox event lies after the cursor (a missing cursor's row counts as 0)."""
    cursor = select(WebhookDispatch.last_event_id).where(WebhookDispatch.id == 1).scalar_subquery()
    return db.session.scalar(select(OutboxEvent.id).where(OutboxEvent.id > func.coalesce(cursor, 0))
                             .limit(1)) is not None


def enqueue_due(now: datetime | None = None) -> int:
    """The sweep's part: endpoints whose first pending delivery is due and that no job is
    delivering get a job (their job was lost with the broker, or a retry's time came)."""
    now = now or utcnow()
    heads = select(WebhookDelivery.endpoint_id, func.min(WebhookDelivery.id).label("head")).where(
        WebhookDelivery.status == WebhookDelivery.PENDING).group_by(WebhookDelivery.endpoint_id).subquery()
    due = db.session.scalars(select(heads.c.endpoint_id).join(WebhookDelivery, WebhookDelivery.id == heads.c.head)
                             .join(WebhookEndpoint, WebhookEndpoint.id == heads.c.endpoint_id)
                             .where(WebhookEndpoint.enabled.is_(True), WebhookDelivery.next_attempt_at <= now)).all()
    count = 0
    for endpoint_id in due:
        if not broker.turn_taken(turn_key(endpoint_id)):
            enqueue_delivery(endpoint_id)
            count += 1
    return count


# ---- delivering ----

@dataclass
class Outcome:
    delivery: "PendingView"
    attempted_at: datetime
    answer: Answer
    delivered: bool
    retry: bool  # tried again later (if time is left); False: given up at once


def retry_delay(attempt: int) -> timedelta:
    base = current_app.config["WEBHOOK_RETRY_BASE_SECONDS"]
    return min(timedelta(seconds=base * 2 ** (attempt - 1)), LONGEST_RETRY_DELAY)


def deliver_endpoint(endpoint_id: int, clock=utcnow, budget_seconds: float = JOB_BUDGET_SECONDS) -> int:
    """Run in a job: the endpoint's due deliveries, in order, for about budget_seconds. Returns
    how many were delivered."""
    try:
        broker.clear_mark(queued_key(endpoint_id))
    except RedisError:
        pass
    owner, key = uuid.uuid4().hex, turn_key(endpoint_id)
    if not broker.take_turn(key, owner, turn_seconds()):
        return 0  # another job delivers them; it looks again before it ends
    poster = Poster(current_app.config["WEBHOOK_TIMEOUT_SECONDS"])
    started, delivered, more = time.monotonic(), 0, False
    renewed = [time.monotonic()]

    def keep_turn():
        if time.monotonic() - renewed[0] > 1.0:
            broker.keep_turn(key, owner, turn_seconds())
            renewed[0] = time.monotonic()
    try:
        while True:
            count, more = deliver_batch(endpoint_id, poster, clock, keep_turn)
            delivered += count
            if not more or time.monotonic() - started > budget_seconds:
                break
    finally:
        poster.close()
        broker.end_turn(key, owner)
    if more or has_due_head(endpoint_id, clock()):
        enqueue_delivery(endpoint_id)  # the budget ran out, or deliveries came as the turn ended
    return delivered


def has_due_head(endpoint_id: int, now: datetime) -> bool:
    head = db.session.scalar(select(WebhookDelivery).where(
        WebhookDelivery.endpoint_id == endpoint_id, WebhookDelivery.status == WebhookDelivery.PENDING)
        .order_by(WebhookDelivery.id).limit(1))
    db.session.rollback()
    return head is not None and head.next_attempt_at <= now


@dataclass
class EndpointView:
    """What a batch needs of its endpoint, read before the requests (no transaction stays open during them)."""
    id: int
    user_id: int
    kind: str
    url: str | None
    email: str | None
    forward_number: str | None
    phone_id: int | None
    failing_since: datetime | None
    signing: list  # the secrets that sign

    @classmethod
    def of(cls, endpoint: WebhookEndpoint, now: datetime) -> "EndpointView":
        return cls(endpoint.id, endpoint.user_id, endpoint.kind, endpoint.url, endpoint.email, endpoint.forward_number,
                   endpoint.phone_id, endpoint.failing_since,
                   signing_secrets(endpoint, now) if endpoint.kind == WebhookEndpoint.HTTP else [])


@dataclass
class PendingView:
    id: int
    webhook_id: str
    event_type: str
    body: str
    attempt_count: int
    first_attempt_at: datetime | None
    next_attempt_at: datetime


def deliver_batch(endpoint_id: int, poster: Poster, clock, keep_turn=lambda: None) -> tuple[int, bool]:
    """Up to DELIVERY_BATCH deliveries, stopping at one to try later; their attempts written in
    one transaction. Returns (delivered, whether to go on)."""
    endpoint = db.session.get(WebhookEndpoint, endpoint_id, populate_existing=True)
    if endpoint is None or not endpoint.enabled:
        db.session.rollback()
        return 0, False
    view = EndpointView.of(endpoint, clock())
    batch_size = DELIVERY_BATCH if endpoint.kind == WebhookEndpoint.HTTP else 1  # forwards commit as they go
    batch = [PendingView(row.id, row.webhook_id, row.event_type, row.body, row.attempt_count, row.first_attempt_at,
                         row.next_attempt_at)
             for row in db.session.execute(select(WebhookDelivery).where(
                 WebhookDelivery.endpoint_id == endpoint_id, WebhookDelivery.status == WebhookDelivery.PENDING)
                 .order_by(WebhookDelivery.id).limit(batch_size)).scalars()]
    db.session.rollback()
    outcomes, blocked = [], False
    for delivery in batch:
        if delivery.next_attempt_at > clock():
            blocked = True  # the first pending one waits for its retry; the others wait behind it
            break
        outcome = attempt(view, delivery, poster, clock())
        outcomes.append(outcome)
        keep_turn()
        if not outcome.delivered and outcome.retry:
            blocked = True
            break
    if not outcomes:
        return 0, False
    record(view, outcomes, clock())
    return sum(outcome.delivered for outcome in outcomes), not blocked and len(batch) == batch_size


def attempt(endpoint: EndpointView, delivery: PendingView, poster: Poster, now: datetime) -> Outcome:
    if endpoint.kind == WebhookEndpoint.HTTP:
        body = delivery.body.encode()
        answer = poster.post(endpoint.url, signed_headers(endpoint.signing, delivery.webhook_id, body), body)
        if answer.status is None:
            return Outcome(delivery, now, answer, False, True)
        if 200 <= answer.status < 300:
            return Outcome(delivery, now, answer, True, False)
        retry = answer.status >= 500 or answer.status in RETRIED_STATUSES
        if 300 <= answer.status < 400:
            answer.error = Reason("a redirect, which SMS Desk does not follow: give the final URL")
        return Outcome(delivery, now, answer, False, retry)
    return forward(endpoint, delivery, now)


def forward(endpoint: EndpointView, delivery: PendingView, now: datetime) -> Outcome:
    """A built-in endpoint: the incoming SMS by e-mail, or by SMS through the compose path."""
    event = json.loads(delivery.body)
    data = event["data"]
    user = db.session.get(User, endpoint.user_id)
    started = time.monotonic()
    with force_locale(user.locale or current_app.config["BABEL_DEFAULT_LOCALE"]):
        if event["type"] == TEST:
            subject = text = _("SMS Desk: this is a test of your forward.")
        else:
            subject = _("SMS from %(number)s", number=data.get("number"))
            text = _("SMS from %(number)s: %(text)s", number=data.get("number"), text=data.get("text", ""))
        if endpoint.kind == WebhookEndpoint.EMAIL:
            try:
                mail.send_mail(endpoint.email, subject, text)
                answer = Answer(body=_("E-mail sent to %(address)s", address=endpoint.email).encode())
                delivered, retry = True, False
            except mail.MailNotConfigured:
                answer, delivered, retry = Answer(error=Reason("SMTP_URL is not set on this server")), False, True
            except (smtplib.SMTPException, OSError) as error:
                answer = Answer(error=Reason("the mail server refused or could not be reached (%(detail)s)",
                                             detail=type(error).__name__))
                delivered, retry = False, True
        else:
            from .messages import compose
            composed = compose(user, endpoint.phone_id, [endpoint.forward_number], text,
                               submission_token=f"webhook-{delivery.id}")  # a crash then a retry sends once
            if composed.problems:
                answer = Answer(error=Reason("the SMS could not be sent: %(problems)s", problems=" ".join(
                    problem for problems in composed.problems.values() for problem in problems)))
                delivered, retry = False, False
            else:
                answer = Answer(body=", ".join(f"#{message_id}" for message_id in composed.message_ids).encode())
                delivered, retry = True, False
    answer.duration_ms = int((time.monotonic() - started) * 1000)
    return Outcome(delivery, now, answer, delivered, retry)


def record(endpoint: EndpointView, outcomes: list[Outcome], now: datetime) -> None:
    """The attempts and what comes next for each delivery, and the endpoint's health, in one
    transaction that begins with a write; commits."""
    changes, attempts, exhausted = [], [], False
    for outcome in outcomes:
        delivery, answer = outcome.delivery, outcome.answer
        number = delivery.attempt_count + 1
        first = delivery.first_attempt_at or outcome.attempted_at
        change = dict(delivery_id=delivery.id, new_attempt_count=number, new_first_attempt_at=first,
                      new_status=WebhookDelivery.PENDING, new_next_attempt_at=delivery.next_attempt_at,
                      new_finished_at=None)
        error = answer.error
        if outcome.delivered:
            change.update(new_status=WebhookDelivery.DELIVERED, new_finished_at=now)
        elif outcome.retry and outcome.attempted_at < first + RETRY_FOR:
            next_at = min(outcome.attempted_at + retry_delay(number), first + RETRY_FOR)
            change.update(new_next_attempt_at=next_at)
            error = Reason("%(reason)s; tried again at %(time)s UTC", reason=error or http_reason(answer),
                           time=next_at.strftime("%Y-%m-%d %H:%M:%S"))
        elif outcome.retry:  # tried for 24 hours: the endpoint is disabled, and this waits for it to be enabled
            exhausted = True
            error = Reason("%(reason)s; kept until the endpoint is enabled again", reason=error or http_reason(answer))
        else:
            change.update(new_status=WebhookDelivery.FAILED, new_finished_at=now)
            error = Reason("%(reason)s; not tried again", reason=error or http_reason(answer))
        changes.append(change)
        attempts.append(dict(delivery_id=delivery.id, endpoint_id=endpoint.id, attempted_at=outcome.attempted_at,
                             attempt=number, http_status=answer.status, duration_ms=answer.duration_ms,
                             answer=answer.body.decode("utf-8", "replace"),
                             error=stored(error) if not outcome.delivered else None, delivered=outcome.delivered))
    table = WebhookDelivery.__table__
    db.session.execute(table.update().where(table.c.id == bindparam("delivery_id")).values(
        attempt_count=bindparam("new_attempt_count"), first_attempt_at=bindparam("new_first_attempt_at"),
        status=bindparam("new_status"), next_attempt_at=bindparam("new_next_attempt_at"),
        finished_at=bindparam("new_finished_at")), changes)
    db.session.execute(insert(WebhookAttempt.__table__), attempts)
    health = {}
    if outcomes[-1].delivered:
        if endpoint.failing_since is not None:
            health["failing_since"] = None
    else:
        failing_since = endpoint.failing_since or next(
            outcome.attempted_at for outcome in outcomes if not outcome.delivered)
        health["failing_since"] = failing_since
        if now - failing_since >= DISABLE_AFTER or exhausted:
            health.update(enabled=False, disabled_at=now, disabled_reason=stored(Reason(DISABLED_REASON)))
    if health:
        db.session.execute(update(WebhookEndpoint).where(WebhookEndpoint.id == endpoint.id).values(**health)
                           .execution_options(synchronize_session=False))
    db.session.commit()


def http_reason(answer: Answer) -> Reason:
    return Reason("HTTP %(status)s", status=answer.status)
