"""`make bench`: SMS Desk's figures, each next to a floor measured in the same run.

    python -m bench.run [--quick] [--postgres URL [--postgres-only]] [--keep-data DIR]
        [--only campaign,rate,compose,fairness,scheduled,campaigns,callbacks,api,webhooks,import,polling,history,export,inbox]
        [--limits]

Writes the table to bench/last-run.md. --quick uses small sizes and enforces nothing.
--keep-data DIR keeps the SQLite database in DIR and the PostgreSQL one as it is, and reuses the
history's and the inbox's messages found there (writing a million takes minutes): for
`--only history,export,inbox`, run again on the same data after a change.
"""
import argparse
import base64
import hashlib
import hmac
import http.client
import itertools
import os
import platform
import re
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from multiprocessing import Pool
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import requests
from sqlalchemy import func, select, text, update

from .stack import ACCOUNT_SID, AUTH_TOKEN, SECRET_KEY, SLOW_TWILIO_NUMBER, TWILIO_NUMBER, Stack

ADMIN_EMAIL, ADMIN_PASSWORD = "bench@example.org", "benchmark password"
rows = []
# --limits: every user a monthly quota and every phone daily and monthly limits, too high to be
# reached, so that the scenarios pay for the checks (compare a run with and one without)
WITH_LIMITS = False


def report(name, figure, floor=None, target=None, ok=None, note=""):
    rows.append((name, figure, floor or "", target or "", "" if ok is None else ("✓" if ok else "✗"), note))
    print(f"  {name}: {figure}" + (f" | floor {floor}" if floor else "") + (f" | target {target}" if target else "")
          + ("" if ok is None else (" ✓" if ok else " ✗")) + (f" ({note})" if note else ""), flush=True)


def numbers(count: int, start: int = 0) -> list[str]:
    return [f"+3361{index:07d}" for index in range(start, start + count)]


# ---- the app, in this process, to set up data and watch the database ----

def app_for(stack: Stack):
    from webapp import create_app
    return create_app({"INSTANCE_PATH": str(stack.folder), "SQLALCHEMY_DATABASE_URI": stack.database_url,
                       "REDIS_URL": stack.redis_url, "SECRET_KEY": SECRET_KEY, "PUBLIC_BASE_URL": stack.web_url,
                       "TWILIO_API_BASE_URL": stack.fake_url,
                       # the scenarios sign in more often than a person may (GET /login counts too)
                       "LOGIN_RATE_LIMIT": "10000 per minute", "LOGIN_ACCOUNT_RATE_LIMIT": "10000 per minute"})


def make_admin_and_phone(name="Bench Twilio", rate_limit=None, email=ADMIN_EMAIL, number=TWILIO_NUMBER):
    from webapp.models import Phone
    from webapp.services.accounts import create_user, find_user_by_email
    from webapp.services.phones import save_phone
    user = find_user_by_email(email) or create_user(email, ADMIN_PASSWORD, is_admin=email == ADMIN_EMAIL)
    phone = save_phone(Phone(user_id=user.id, provider_key="twilio"), name, rate_limit,
                       {"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN, "number": number})
    if WITH_LIMITS:
        from webapp.services import limits, quotas
        quotas.set_quota(user, "month", 10 ** 9)
        limits.save_limits(phone, 10 ** 9, 10 ** 9, "segments")
    return user, phone


def count_status(phone_id, status_list) -> int:
    from webapp.extensions import db
    from webapp.models import Message
    db.session.rollback()
    return db.session.scalar(select(func.count(Message.id)).where(Message.phone_id == phone_id,
                                                                   Message.status.in_(status_list)))


def wait_for_count(phone_id, status_list, expected, timeout):
    deadline = time.monotonic() + timeout
    while count_status(phone_id, status_list) < expected:
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {count_status(phone_id, status_list)} of {expected} reached {status_list}")
        time.sleep(0.1)


# ---- the floor of a campaign: the same POSTs with nothing else around them ----

def post_share(arguments):
    url, destinations, threads = arguments
    local = threading.local()

    def post(destination):
        if not hasattr(local, "session"):
            local.session = requests.Session()
        response = local.session.post(url, auth=(ACCOUNT_SID, AUTH_TOKEN), timeout=30, data={
            "To": destination, "From": TWILIO_NUMBER, "Body": "Campaign", "StatusCallback": "http://127.0.0.1/x"})
        response.raise_for_status()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(post, destinations))


def floor_campaign(stack: Stack, destinations: list[str], threads: int) -> float:
    url = f"{stack.fake_url}/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
    shares = [(url, destinations[index::stack.worker_count], threads) for index in range(stack.worker_count)]
    started = time.perf_counter()
    with Pool(stack.worker_count) as pool:
        pool.map(post_share, shares)
    return time.perf_counter() - started


def campaign(stack, app, count, answer_delay, label, target_ratio=None, target_rate=None):
    from webapp import statuses
    from webapp.services.messages import queue_outbound
    stack.start_fake(answer_delay)
    app.config["TWILIO_API_BASE_URL"] = stack.fake_url
    stack.stop_workers()
    stack.start_workers()
    _, phone = make_admin_and_phone(f"Campaign {label}")
    destinations = numbers(count)
    cpu_before = stack.workers_cpu_seconds()
    started = time.perf_counter()
    queue_outbound(phone, destinations, "Campaign")
    queued_in = time.perf_counter() - started
    wait_for_count(phone.id, [statuses.SENT, statuses.DELIVERED], count, timeout=max(120, count / 20))
    elapsed = time.perf_counter() - started
    # CPU rather than time: what the checks cost, told apart from a loaded machine's waits
    costs = f"queued in {queued_in:.2f} s, workers {stack.workers_cpu_seconds() - cpu_before:.1f} CPU s"
    threads = max(1, app.config["SEND_CONCURRENCY"] // 4)  # what one phone may hold
    floor = floor_campaign(stack, numbers(count, 5_000_000), threads)
    rate = count / elapsed
    figure = f"{count} SMS in {elapsed:.1f} s ({rate:.0f}/s)"
    floor_text = f"{floor:.1f} s ({count / floor:.0f}/s), {stack.worker_count}×{threads} threads"
    if target_ratio:
        report("1. campaign, fast provider", figure, floor_text, f"≤ {target_ratio}× floor",
               elapsed <= target_ratio * floor, f"ratio {elapsed / floor:.2f}; {costs}")
    else:
        report(f"2. campaign, provider answering in {answer_delay * 1000:.0f} ms", figure, floor_text,
               f"≥ {target_rate}/s", rate >= target_rate, f"ratio {elapsed / floor:.2f}; {costs}")
    return elapsed


def scheduled_minute(stack, app, count, label):
    """`count` SMS scheduled for the same minute from a phone whose provider cannot schedule (a
    Twilio number): SMS Desk holds them, and the workers' sweep queues them at that minute. The
    figure is the lag of the last one (its send's answer recorded) after the minute; doubles are
    messages claimed more than once."""
    from webapp import statuses
    from webapp.extensions import db
    from webapp.models import Message, MessageEvent, utcnow
    from webapp.services.messages import queue_outbound
    stack.start_fake(0.0)
    app.config["TWILIO_API_BASE_URL"] = stack.fake_url
    stack.stop_workers()
    stack.start_workers()
    _, phone = make_admin_and_phone(f"Scheduled {label}")
    # the next whole minute at least 30 s ahead: time to write them all before it
    minute = (utcnow() + timedelta(seconds=90)).replace(second=0, microsecond=0)
    written_at = time.perf_counter()
    queue_outbound(phone, numbers(count, 7_000_000), "Scheduled for this minute", scheduled_at=minute)
    written = time.perf_counter() - written_at
    assert count_status(phone.id, [statuses.SCHEDULED]) == count
    wait_for_count(phone.id, [statuses.SENT, statuses.DELIVERED], count,
                   timeout=(minute - utcnow()).total_seconds() + max(180, count / 20))
    db.session.rollback()
    ids = select(Message.id).where(Message.phone_id == phone.id).scalar_subquery()
    last_sent = db.session.scalar(select(func.max(MessageEvent.created_at)).where(
        MessageEvent.message_id.in_(ids), MessageEvent.status == statuses.SENT))
    first_queued = db.session.scalar(select(func.min(MessageEvent.created_at)).where(
        MessageEvent.message_id.in_(ids), MessageEvent.status == statuses.QUEUED))
    claimed_twice = db.session.scalar(select(func.count()).select_from(
        select(MessageEvent.message_id).where(MessageEvent.message_id.in_(ids), MessageEvent.status == statuses.SENDING)
        .group_by(MessageEvent.message_id).having(func.count() > 1).subquery()))
    lag = (last_sent - minute).total_seconds()
    report(f"12. {count:,} SMS scheduled for one minute ({label})", f"last sent {lag:.1f} s after it", None,
           "≤ 60 s, none doubled", lag <= 60 and claimed_twice == 0,
           f"first queued {(first_queued - minute).total_seconds():.1f} s after it; {claimed_twice} claimed twice; "
           f"held here, written in {written:.1f} s; {stack.worker_count} workers, sweep every "
           f"{app.config['SWEEP_INTERVAL_SECONDS']:.0f} s")


def rate_limited(stack, app, count, per_second):
    from webapp import statuses
    from webapp.extensions import db
    from webapp.models import Message, MessageEvent
    from webapp.services.messages import queue_outbound
    _, phone = make_admin_and_phone("Rate limited", rate_limit=per_second)
    queue_outbound(phone, numbers(count, 9_000_000), "Paced")
    wait_for_count(phone.id, [statuses.SENT, statuses.DELIVERED], count, timeout=count / per_second * 3 + 30)
    db.session.rollback()
    times = sorted(db.session.scalars(select(MessageEvent.created_at).join(Message).where(
        Message.phone_id == phone.id, MessageEvent.status == statuses.SENDING)))
    measured = (len(times) - 1) / (times[-1] - times[0]).total_seconds()
    deviation = abs(measured - per_second) / per_second
    report(f"2b. per-phone rate limit {per_second}/s", f"{measured:.2f}/s over {count} SMS", None,
           "within 5%", deviation <= 0.05, f"{deviation * 100:.1f}% off")


# ---- asking providers, without a public address ----

def polling_cost(stack, app, phone_count, warm_up_seconds, window_seconds, label):
    """phone_count Twilio phones with no traffic: what the workers spend per minute when SMS Desk asks
    for each one's incoming SMS (polling "always", an ask per phone every INBOUND_POLL_SECONDS) and when
    it is told (polling "never", as at a public address)."""
    from webapp.extensions import db
    from webapp.models import Message, Phone
    stack.stop_workers()
    _, template = make_admin_and_phone("Polling template")
    db.session.add_all([Phone(user_id=template.user_id, name=f"Polling {index}", provider_key="twilio",
                              settings=template.settings, encrypted_secrets=template.encrypted_secrets)
                        for index in range(phone_count - 1)])
    db.session.execute(update(Message).values(next_status_poll_at=None))  # no traffic: nothing to ask about
    db.session.commit()
    polled = Phone.name.like("Polling %")
    for mode in ("never", "always"):
        db.session.execute(update(Phone).values(polling_mode="never", next_inbound_poll_at=None))
        db.session.execute(update(Phone).where(polled).values(polling_mode=mode))
        db.session.commit()
        paths = stack.start_counted_workers()
        time.sleep(warm_up_seconds)
        cpu, statements, since = stack.workers_cpu_seconds(), counted(paths), datetime.utcnow()
        time.sleep(window_seconds)
        cpu, statements = stack.workers_cpu_seconds() - cpu, counted(paths) - statements
        db.session.rollback()
        asked = db.session.scalar(select(func.count(Phone.id)).where(polled, Phone.polled_at >= since))
        stack.stop_workers()
        per_minute = 60 / window_seconds
        report(f"7. {phone_count} idle Twilio phones, polling {mode} ({label})",
               f"{cpu * per_minute:.1f} s worker CPU/min, {statements * per_minute:.0f} SQL statements/min",
               None, None, None, f"{asked} phones asked in {window_seconds:.0f} s, {stack.worker_count} workers")
    stack.start_workers()


def counted(paths) -> int:
    return sum(int(path.read_text() or 0) for path in paths if path.exists())


# ---- fair sending ----

def fairness(stack, app, slow_count, fast_count, slow_delay, target_seconds=5):
    """One user's phone answering in slow_delay seconds with slow_count messages, in flight when
    another user's fast phone is given fast_count: how long the second user's take to be sent."""
    from webapp import broker, statuses
    from webapp.extensions import db
    from webapp.models import Message
    from webapp.services.messages import queue_outbound
    stack.start_fake(0.0, slow_delay=slow_delay)
    app.config["TWILIO_API_BASE_URL"] = stack.fake_url
    stack.stop_workers()
    stack.start_workers()
    _, slow = make_admin_and_phone("Slow", number=SLOW_TWILIO_NUMBER)
    _, fast = make_admin_and_phone("Fast", email="bench-b@example.org")
    queue_outbound(slow, numbers(slow_count, 6_000_000), "Slowly")
    phone_share = max(1, app.config["SEND_CONCURRENCY"] // 4)
    # its share held by at least one worker (a worker that took every job holds them all: see README)
    wait_for_count(slow.id, [statuses.SENDING], phone_share, timeout=60)
    time.sleep(1)
    held = count_status(slow.id, [statuses.SENDING])
    started = time.perf_counter()
    queue_outbound(fast, numbers(fast_count, 6_500_000), "Quickly")
    wait_for_count(fast.id, [statuses.SENT, statuses.DELIVERED], fast_count, timeout=120)
    elapsed = time.perf_counter() - started
    slow_sent = count_status(slow.id, [statuses.SENT, statuses.DELIVERED])
    report(f"7. fair sending: {fast_count} SMS beside another user's {slow_count} on a phone answering in "
           f"{slow_delay:.0f} s", f"{fast_count} sent in {elapsed:.1f} s", None, f"≤ {target_seconds} s",
           elapsed <= target_seconds, f"{held} of the slow phone's in flight, {slow_sent} sent meanwhile")
    stack.kill_workers()  # rather than wait for the slow phone's answers
    broker.job_queue().empty()
    db.session.execute(update(Message).where(Message.phone_id == slow.id).values(status=statuses.CANCELED))
    db.session.commit()
    stack.start_fake(0.0)
    app.config["TWILIO_API_BASE_URL"] = stack.fake_url
    stack.start_workers()


# ---- compose through the web app ----

def signed_in_session(stack, email=ADMIN_EMAIL) -> requests.Session:
    session = requests.Session()
    page = session.get(stack.web_url + "/login").text
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    session.post(stack.web_url + "/login", data={"email": email, "password": ADMIN_PASSWORD,
                                                 "csrf_token": token}).raise_for_status()
    return session


def compose_cost(stack, app, count):
    from webapp import broker
    from webapp.extensions import db
    from webapp.models import Message
    stack.stop_workers()  # so that every job is still in the queue to be counted
    _, phone = make_admin_and_phone("Compose")
    session = signed_in_session(stack)
    page = session.get(stack.web_url + "/compose").text
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    pasted = "\n".join(number.replace("+33", "0") for number in numbers(count, 7_000_000))
    started = time.perf_counter()
    response = session.post(stack.web_url + "/compose", allow_redirects=False, data={
        "csrf_token": token, "phone_id": phone.id, "numbers": pasted, "body": "Pasted"})
    review = session.get(stack.web_url + response.headers["Location"])
    to_review = time.perf_counter() - started
    submission = re.search(r'name="submission_token" type="hidden" value="([^"]+)"', review.text).group(1)
    started = time.perf_counter()
    sent = session.post(review.url, allow_redirects=False, data={
        "csrf_token": token, "submission_token": submission, "submit": "Send"})
    to_send = time.perf_counter() - started
    elapsed = to_review + to_send
    db.session.rollback()
    stored = db.session.scalar(select(func.count(Message.id)).where(Message.phone_id == phone.id))
    jobs = broker.job_queue().jobs
    carried = sum(len(job.args[0]) for job in jobs)
    complete = sent.status_code == 302 and stored == count and carried == count
    report("3. compose with numbers pasted, then confirmed", f"{count} numbers answered in {elapsed:.2f} s",
           None, "< 3 s", elapsed < 3 and complete,
           f"confirmation page {to_review:.2f} s, sending {to_send:.2f} s; {stored} rows, {len(jobs)} jobs "
           f"carrying {carried}")
    broker.job_queue().empty()
    from webapp import statuses
    db.session.execute(update(Message).where(Message.phone_id == phone.id).values(status=statuses.CANCELED))
    db.session.commit()
    stack.start_workers()


# ---- callbacks under load ----

def twilio_signature(url: str, params: dict) -> str:
    payload = url + "".join(name + params[name] for name in sorted(params))
    return base64.b64encode(hmac.new(AUTH_TOKEN.encode(), payload.encode(), hashlib.sha1).digest()).decode()


def prepared_callbacks(stack, app, count):
    """Sent messages and, for each, Twilio's signed "delivered" callback."""
    from webapp import statuses
    from webapp.extensions import db
    from webapp.models import Message
    from webapp.services.phones import callback_url
    _, phone = make_admin_and_phone("Callbacks")
    now = datetime.utcnow()
    db.session.execute(Message.__table__.insert(), [dict(
        user_id=phone.user_id, phone_id=phone.id, direction="outbound", remote_number=number, body="x",
        encoding="GSM-7", segment_count=1, status=statuses.SENT, provider_message_id=f"SM{index:032x}",
        attempt_count=1, created_at=now, status_changed_at=now, status_poll_count=0, flash=False)
        for index, number in enumerate(numbers(count, 3_000_000))])
    db.session.commit()
    gather_statistics()
    url = callback_url(phone, "status")
    path = urlsplit(url).path
    requests_to_send = []
    for index in range(count):
        params = {"MessageSid": f"SM{index:032x}", "MessageStatus": "delivered", "AccountSid": ACCOUNT_SID,
                  "From": TWILIO_NUMBER, "To": "+33610000000", "ApiVersion": "2010-04-01"}
        requests_to_send.append(("POST", path, urlencode(params), {
            "Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": twilio_signature(url, params)}))
    return phone, requests_to_send


def load(stack, requests_to_send, connections: int) -> tuple[float, int]:
    """Sends the requests over keep-alive connections; returns the time and the number of non-2xx."""
    failures = []
    port = urlsplit(stack.web_url).port

    def run(share):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        for method, path, body, headers in share:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            response.read()
            if response.status >= 300:
                failures.append(response.status)
        connection.close()
    shares = [requests_to_send[index::connections] for index in range(connections)]
    started = time.perf_counter()
    with ThreadPoolExecutor(connections) as pool:
        list(pool.map(run, shares))
    return time.perf_counter() - started, len(failures)


def against_ping(stack, requests_to_send, connections: int, rounds: int) -> tuple[float, float, int]:
    """The requests and as many GET /ping, in alternating rounds, so that the machine's drift (it is
    shared) weighs on both alike: the time of the pings, that of the requests, the requests' non-2xx."""
    trivial = [("GET", "/ping", None, {})] * len(requests_to_send)
    load(stack, trivial[: len(trivial) // 10], connections)  # warm up
    floor_time = elapsed = failures = 0
    for round_index in range(rounds):
        floor_time += load(stack, trivial[round_index::rounds], connections)[0]
        round_time, round_failures = load(stack, requests_to_send[round_index::rounds], connections)
        elapsed, failures = elapsed + round_time, failures + round_failures
    return floor_time, elapsed, failures


def callback_ingestion(stack, app, count, label):
    from webapp import statuses
    phone, callbacks = prepared_callbacks(stack, app, count)
    connections, rounds = 32, 5
    floor_time, elapsed, failures = against_ping(stack, callbacks, connections, rounds)
    delivered = count_status(phone.id, [statuses.DELIVERED])
    rate, floor_rate = count / elapsed, count / floor_time
    report(f"4. status callbacks ({label})", f"{rate:.0f}/s, {delivered}/{count} delivered",
           f"{floor_rate:.0f}/s (GET /ping)", "≥ ½ floor, none lost",
           rate >= floor_rate / 2 and delivered == count and failures == 0, f"ratio {rate / floor_rate:.2f}")


# ---- the API's send ----

def api_send(stack, app, count, label):
    """Single-recipient sends through POST /api/v1/messages, each with its own Idempotency-Key, over
    keep-alive connections, against GET /ping on the same server in alternating rounds; then every
    message row is looked for. The workers are stopped: the figure is the API's, not the sending's."""
    import json
    from webapp import broker, statuses
    from webapp.extensions import db
    from webapp.models import Message
    from webapp.services import api_keys
    stack.stop_workers()
    user, phone = make_admin_and_phone("API")
    key = api_keys.make_key(user, "Bench").key
    destinations = numbers(count, 5_000_000)
    sends = [("POST", "/api/v1/messages",
              json.dumps({"to": [number], "text": f"Order {index} shipped", "phone_id": phone.id}),
              {"Authorization": f"Bearer {key}", "Content-Type": "application/json",
               "Idempotency-Key": f"order-{index}"}) for index, number in enumerate(destinations)]
    floor_time, elapsed, failures = against_ping(stack, sends, connections=16, rounds=5)
    db.session.rollback()
    stored = set(db.session.scalars(select(Message.remote_number).where(Message.phone_id == phone.id)))
    present = len(stored & set(destinations))
    rate, floor_rate = count / elapsed, count / floor_time
    report(f"4b. API sends, one recipient, Idempotency-Key ({label})", f"{rate:.0f}/s, {present}/{count} rows",
           f"{floor_rate:.0f}/s (GET /ping)", "≥ ⅓ floor, every row",
           rate >= floor_rate / 3 and present == count and failures == 0,
           f"ratio {rate / floor_rate:.2f}, {failures} non-2xx")
    broker.job_queue().empty()
    db.session.execute(update(Message).where(Message.phone_id == phone.id).values(status=statuses.CANCELED))
    db.session.commit()
    stack.start_workers()

# ---- webhooks ----

class WebhookReceiver:
    """bench/webhook_receiver.py in a process of its own, its ids kept in a file across restarts."""

    def __init__(self, stack: Stack, name: str):
        from .stack import free_port
        self.port, self.ids_path, self.process = free_port(), stack.folder / f"{name}-ids.txt", None
        self.ids_path.touch()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def start(self):
        import subprocess
        self.process = subprocess.Popen([sys.executable, "-m", "bench.webhook_receiver", "--port", str(self.port),
                                         "--ids", str(self.ids_path)], stdout=subprocess.PIPE, text=True)
        assert self.process.stdout.readline().strip() == "ready"

    def stop(self):
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None

    def ids(self) -> list[str]:
        return [line for line in self.ids_path.read_text().splitlines() if line]


def webhook_backlog() -> int:
    """Events not yet fanned out, and deliveries not yet delivered."""
    from webapp.extensions import db
    from webapp.models import OutboxEvent, WebhookDelivery, WebhookDispatch
    db.session.rollback()
    cursor = db.session.scalar(select(WebhookDispatch.last_event_id))
    events = db.session.scalar(select(func.count(OutboxEvent.id)).where(OutboxEvent.id > cursor))
    pending = db.session.scalar(select(func.count(WebhookDelivery.id)).where(WebhookDelivery.status == "pending"))
    db.session.rollback()
    return events + pending


def webhook_fan_out(stack, app, count, label):
    """10,000 status callbacks, each an event for one endpoint: deliveries per second while the
    callbacks arrive, and how long after the last one the backlog is back to zero."""
    from webapp.models import WebhookEndpoint
    from webapp.services import webhooks
    receiver = WebhookReceiver(stack, "fan-out")
    receiver.start()
    try:
        phone, callbacks = prepared_callbacks(stack, app, count)
        app.config["WEBHOOK_ALLOW_PRIVATE_ADDRESSES"] = "1"
        saved = webhooks.add_endpoint(phone.user_id, WebhookEndpoint.HTTP, [webhooks.MESSAGE_STATUS_CHANGED],
                                      url=receiver.url)
        assert saved.problems is None, saved.problems
        started = time.perf_counter()
        elapsed, failures = load(stack, callbacks, 32)
        delivered_meanwhile = len(receiver.ids())
        deadline = time.perf_counter() + 120
        while webhook_backlog() > 0 and time.perf_counter() < deadline:
            time.sleep(0.05)
        drained = time.perf_counter() - started - elapsed
        ids = receiver.ids()
        report(f"10a. webhooks while callbacks arrive ({label})",
               f"{delivered_meanwhile / elapsed:.0f} deliveries/s during {count / elapsed:.0f} callbacks/s; "
               f"backlog zero {drained:.1f} s after the last callback", None, "backlog zero within 10 s",
               drained <= 10 and len(set(ids)) == count and failures == 0,
               f"{len(set(ids))}/{count} events received, {len(ids) - len(set(ids))} twice")
    finally:
        receiver.stop()


def webhook_outage(stack, app, count, label, down_seconds=60.0):
    """The receiver down for 60 s while events come, then back: every event received exactly once."""
    from webapp.models import OptOut, WebhookEndpoint
    from webapp.services import opt_outs, webhooks
    receiver = WebhookReceiver(stack, "outage")
    user, _ = make_admin_and_phone("Outage", email="outage@example.org")
    app.config["WEBHOOK_ALLOW_PRIVATE_ADDRESSES"] = "1"
    webhooks.add_endpoint(user.id, WebhookEndpoint.HTTP, [webhooks.OPTOUT_CREATED], url=receiver.url)
    started = time.perf_counter()
    for index, number in enumerate(numbers(count, 7_000_000)):  # spread over the outage
        opt_outs.record(user.id, number, OptOut.MANUAL)
        time.sleep(max(0.0, started + (index + 1) * down_seconds / count - time.perf_counter()))
    time.sleep(max(0.0, started + down_seconds - time.perf_counter()))
    receiver.start()
    back = time.perf_counter()
    deadline = back + 300
    while len(set(receiver.ids())) < count and time.perf_counter() < deadline:
        time.sleep(0.1)
    recovered = time.perf_counter() - back
    time.sleep(2)  # anything sent twice would come now
    ids = receiver.ids()
    receiver.stop()
    report(f"10b. webhook receiver down {down_seconds:.0f} s ({label})",
           f"{len(set(ids))}/{count} events received, {len(ids) - len(set(ids))} twice; all {recovered:.1f} s "
           "after it came back", None, "every event exactly once", len(ids) == len(set(ids)) == count,
           "the first delivery waits for its backoff (5, 10, 20, 40 s…), the others behind it")


# ---- history at scale ----

WORDS = ("rendez-vous demain matin réunion parents élèves bus retard cantine sortie piscine bibliothèque "
         "facture rappel confirmation annulation horaires inscription").split()


def kept_user(email: str):
    """A user an earlier run with --keep-data filled, with their first phone."""
    from webapp.extensions import db
    from webapp.models import Phone
    from webapp.services.accounts import find_user_by_email
    user = find_user_by_email(email)
    if user is None:
        return None
    return user, db.session.scalar(select(Phone).where(Phone.user_id == user.id).order_by(Phone.id))


def fill_history(app, stack, per_user: int):
    """Two users, each with per_user messages over 90 days, written in bulk."""
    import random
    from webapp.models import Phone
    from webapp.services.accounts import create_user
    from webapp.services.phones import save_phone
    contacts = numbers(5000, 8_000_000)
    kept = kept_user("history-a@example.org")
    if kept is not None:
        return kept, contacts
    randomness = random.Random(7)
    owners = []
    for email in ("history-a@example.org", "history-b@example.org"):
        user = create_user(email, ADMIN_PASSWORD)
        phone = save_phone(Phone(user_id=user.id, provider_key="simulator"), "History", None,
                           {"delivery_delay_seconds": "1"})
        owners.append((user, phone))
    for user, phone in owners:
        write_messages(user, phone, per_user, randomness, lambda index: randomness.choice(contacts),
                       ["delivered"] * 8 + ["sent", "failed"])
    gather_statistics()
    return owners[0], contacts


def write_messages(user, phone, count: int, randomness, number_of, outbound_statuses: list[str]):
    """count messages over 90 days, a fifth of them incoming, written in bulk; number_of(index)
    says whom each is exchanged with."""
    from webapp.extensions import db
    from webapp.models import Message
    start = datetime.utcnow() - timedelta(days=90)
    for chunk_start in range(0, count, 50_000):
        chunk = []
        for index in range(chunk_start, min(count, chunk_start + 50_000)):
            moment = start + timedelta(seconds=index * 90 * 86400 / count)
            inbound = randomness.random() < 0.2
            chunk.append(dict(
                user_id=user.id, phone_id=phone.id, direction="inbound" if inbound else "outbound",
                remote_number=number_of(index),
                body=" ".join(randomness.choices(WORDS, k=8)) + f" n°{index}",
                encoding="GSM-7", segment_count=1,
                status="received" if inbound else randomness.choice(outbound_statuses),
                attempt_count=1, created_at=moment, status_changed_at=moment, status_poll_count=0,
                flash=False))
        db.session.execute(Message.__table__.insert(), chunk)
        db.session.commit()


def gather_statistics():
    """What autovacuum (PostgreSQL) or a long life would have done to a table loaded in one go:
    without statistics PostgreSQL plans a callback's UPDATE as a scan of the phone's messages."""
    from webapp.extensions import db
    db.session.execute(text("ANALYZE"))
    db.session.commit()


def filled_history(app, stack, per_user):
    started = time.perf_counter()
    (user, _phone), contacts = fill_history(app, stack, per_user)
    print(f"  ({2 * per_user} messages written in {time.perf_counter() - started:.0f} s)", flush=True)
    return user, contacts


def history_at_scale(app, filled, per_user, label, repeats):
    from webapp.extensions import db
    from webapp.models import Message
    user, contacts = filled
    deep_id = db.session.scalar(select(Message.id).where(Message.user_id == user.id)
                                .order_by(Message.id).offset(per_user // 10).limit(1))
    number = contacts[42]
    client = signed_in_client(app, user)
    pages = {"sent list, first page": "/history?direction=outbound",
             "sent list, deep page": f"/history?direction=outbound&before={deep_id}",
             "filtered by one number": f"/history?number={number}",
             "conversation": f"/conversations/{number}",
             "text search, common words": "/history?text=piscine+cantine",
             "text search, one message": f"/history?text=n%C2%B0{per_user // 3}+",
             "text search, typed without accents in capitals": "/history?text=REUNION+ELEVES",
             "number begun in national form (100 numbers)": "/history?number=06+18+00+01",
             "number begun in national form (none)": "/history?number=06+99",
             "dashboard counts": "/"}
    time_pages(client, pages, "5.", f"{label}, {per_user:,} per user", repeats)


def statistics_at_scale(app, filled, per_user, label, repeats):
    """The statistics page of a user with per_user messages over 90 days: its default 30 days (a
    third of them), all 90, and one chart's CSV."""
    user, _contacts = filled
    client = signed_in_client(app, user)
    first = (datetime.utcnow() - timedelta(days=89)).date().isoformat()
    pages = {"statistics, last 30 days": "/statistics/",
             "statistics, 90 days": f"/statistics/?start={first}",
             "statistics, 30 days per phone as CSV": "/statistics/phones.csv"}
    time_pages(client, pages, "11.", f"{label}, {per_user:,} per user", repeats, target_ms=200)


def signed_in_client(app, user):
    client = app.test_client()
    page = request_alone(client.get, "/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    signed_in = request_alone(client.post, "/login",
                              data={"email": user.email, "password": ADMIN_PASSWORD, "csrf_token": token})
    assert signed_in.status_code == 302 and "/login" not in signed_in.headers["Location"], signed_in.status
    return client


# The scenarios run in one app context, which a test client's requests made in this thread would share
# (flask-login's user and flask-wtf's token are kept in its g): they are made in a thread of their own,
# where each request pushes its own app context.
_requests = ThreadPoolExecutor(max_workers=1)


def request_alone(call, *args, **kwargs):
    return _requests.submit(call, *args, **kwargs).result()


def time_pages(client, pages: dict, number: str, label: str, repeats: int, target_ms: int = 100):
    for name, path in pages.items():
        times = []
        for _ in range(repeats):
            began = time.perf_counter()
            response = request_alone(client.get, path)
            times.append((time.perf_counter() - began) * 1000)
            assert response.status_code == 200, (path, response.status_code)
        p95 = statistics.quantiles(times, n=20)[-1] if len(times) >= 20 else max(times)
        report(f"{number} {name} ({label})", f"p95 {p95:.0f} ms", None, f"p95 < {target_ms} ms",
               p95 < target_ms, f"median {statistics.median(times):.0f} ms")


def export_at_scale(stack, filled, per_user, label):
    """The whole history of a user downloaded as CSV from the web app under gunicorn: how long it
    takes, and the web processes' peak memory before and after."""
    user, _contacts = filled
    session = signed_in_session(stack, user.email)
    peak_before = stack.web_peak_rss_mb()
    started = time.perf_counter()
    lines = 0
    with session.get(stack.web_url + "/history/export.csv", stream=True, timeout=600) as response:
        response.raise_for_status()
        for chunk in response.iter_content(chunk_size=1 << 16):
            lines += chunk.count(b"\n")
    seconds = time.perf_counter() - started
    rows = lines - 1  # the header
    peak = stack.web_peak_rss_mb()
    report(f"9. history export as CSV ({label}, {per_user:,} per user)", f"{rows:,} rows in {seconds:.1f} s "
           f"({rows / seconds:,.0f}/s)", None, "every row", rows == per_user)
    report(f"6c. web peak memory (history export, {label})", f"{peak:.0f} MB", None, "< 150 MB", peak < 150,
           f"{peak_before:.0f} MB before the export")


# ---- a campaign to a group of 100,000 contacts ----

FIRST_NAMES = "Léa Hugo Chloé Louis Emma Jules Inès Adam Zoé Noah Manon Gabriel Jade Arthur Lina Raphaël".split()


def fill_group(user, count: int):
    """count contacts with a first name (one in 50 without), all in one group, written in bulk."""
    import random
    from webapp.extensions import db
    from webapp.folding import folded
    from webapp.models import Contact, ContactGroupMember
    from webapp.services.contacts import save_group
    randomness = random.Random(5)
    group, _problems = save_group(user, "Everyone")
    now = datetime.utcnow()
    for chunk_start in range(0, count, 20_000):
        rows = []
        for index in range(chunk_start, min(count, chunk_start + 20_000)):
            first = randomness.choice(FIRST_NAMES)
            name = f"{first} Nom{index}"
            fields = {} if index % 50 == 0 else {"first_name": first, "class": f"{index % 7}B"}
            rows.append(dict(user_id=user.id, name=name, number=f"+3366{index:07d}",
                             fields=fields, notes="", search_text=folded(name), sort_name=folded(name),
                             created_at=now, updated_at=now))
        # the database numbers them: ids given here would leave PostgreSQL's sequence behind them
        ids = db.session.scalars(Contact.__table__.insert().returning(Contact.__table__.c.id,
                                                                      sort_by_parameter_order=True), rows).all()
        db.session.execute(ContactGroupMember.__table__.insert(),
                           [dict(group_id=group.id, contact_id=contact_id) for contact_id in ids])
        db.session.commit()
    gather_statistics()
    return group


def campaign_at_scale(stack, app, count, label, repeats):
    """Compose to a group of `count` contacts with a placeholder, from gunicorn: until the
    confirmation page answers, then from confirming until every message row and job exists; then
    the campaign's page with its messages in mixed statuses."""
    from webapp import broker, statuses
    from webapp.extensions import db
    from webapp.models import Campaign, Message
    stack.stop_workers()  # so that every job is still in the queue to be counted
    user, phone = make_admin_and_phone("Campaign at scale", email="campaigns@example.org")
    started = time.perf_counter()
    group = fill_group(user, count)
    print(f"  ({count} contacts in a group written in {time.perf_counter() - started:.0f} s)", flush=True)
    session = signed_in_session(stack, user.email)
    page = session.get(stack.web_url + "/compose").text
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    started = time.perf_counter()
    response = session.post(stack.web_url + "/compose", data={
        "csrf_token": token, "phone_id": phone.id, "group_ids": str(group.id),
        "body": "Bonjour {first_name}, la réunion des parents de {class} a lieu jeudi à 18 h en salle 12."})
    review_seconds = time.perf_counter() - started
    review = response.text
    assert "Confirm the sending" in review, response.status_code
    missing = int(re.search(r"(\d+) recipients? lacks? a field", review).group(1))
    submission = re.search(r'name="submission_token" type="hidden" value="([^"]+)"', review).group(1)
    report(f"10a. compose to a group of {count:,} with a placeholder, until the confirmation answers ({label})",
           f"{review_seconds:.2f} s", None, "< 5 s", review_seconds < 5, f"{missing} without a first name listed")
    started = time.perf_counter()
    sent = session.post(response.url, allow_redirects=False, data={
        "csrf_token": token, "submission_token": submission, "submit": "Send", "missing": "fallback",
        "fallback-first_name": "Madame, Monsieur", "fallback-class": "votre classe"})
    db.session.rollback()
    stored = db.session.scalar(select(func.count(Message.id)).where(Message.phone_id == phone.id))
    jobs = broker.job_queue().jobs
    carried = sum(len(job.args[0]) for job in jobs)
    confirm_seconds = time.perf_counter() - started
    complete = sent.status_code == 302 and stored == count and carried == count
    report(f"10b. confirming it, until every message row and job exists ({label})", f"{confirm_seconds:.2f} s",
           None, "< 10 s", confirm_seconds < 10 and complete, f"{stored} rows, {len(jobs)} jobs carrying {carried}")
    broker.job_queue().empty()
    campaign = db.session.scalar(select(Campaign).where(Campaign.user_id == user.id))
    # as it looks once sent: most delivered, some failed for a few reasons, a few still queued
    ids = db.session.scalars(select(Message.id).where(Message.campaign_id == campaign.id).order_by(Message.id)).all()
    for position, status, reason in ((0.0, statuses.DELIVERED, None), (0.90, statuses.FAILED, "unreachable"),
                                     (0.93, statuses.FAILED, "blocked by carrier"), (0.95, statuses.SENT, None),
                                     (0.99, statuses.QUEUED, None)):
        db.session.execute(update(Message).where(Message.id >= ids[int(position * len(ids))])
                           .values(status=status, error_reason=reason))
    db.session.commit()
    gather_statistics()
    deep = ids[len(ids) * 2 // 3]
    pages = {"campaign page": f"/campaigns/{campaign.id}",
             "campaign page, deep in its recipients": f"/campaigns/{campaign.id}?after={deep}",
             "campaign page, the failed ones": f"/campaigns/{campaign.id}?status=failed",
             "campaign progress (the page's poll)": f"/campaigns/{campaign.id}/progress",
             "campaign list": "/campaigns"}
    time_pages(signed_in_client(app, user), pages, "10c.", f"{label}, {count:,} recipients", repeats)
    db.session.execute(update(Message).where(Message.campaign_id == campaign.id, Message.status == statuses.QUEUED)
                       .values(status=statuses.CANCELED))
    db.session.commit()
    stack.start_workers()


# ---- the inbox at scale ----

def fill_inbox(per_user: int, contact_count: int, unread_count: int, opt_out_count: int):
    """One user with per_user messages from contact_count numbers (a fifth of them incoming),
    written in bulk; the conversations summed up from them, unread_count of them marked unread;
    opt_out_count of the numbers opted out."""
    import random
    from webapp.extensions import db
    from webapp.models import Conversation, Phone
    from webapp.services import conversations
    from webapp.services.accounts import create_user
    from webapp.services.phones import save_phone
    contacts = numbers(contact_count, 7_000_000)
    kept = kept_user("inbox@example.org")
    if kept is not None:
        return kept[0], contacts
    randomness = random.Random(11)
    user = create_user("inbox@example.org", ADMIN_PASSWORD)
    phone = save_phone(Phone(user_id=user.id, provider_key="simulator"), "Inbox", None, {"delivery_delay_seconds": "1"})
    # each number at least once, then at random
    write_messages(user, phone, per_user, randomness,
                   lambda index: contacts[index] if index < contact_count else randomness.choice(contacts), ["delivered"])
    conversations.rebuild()
    db.session.execute(update(Conversation).where(Conversation.remote_number.in_(
        randomness.sample(contacts, unread_count))).values(unread_count=2))
    db.session.commit()
    write_opt_outs(user, phone, randomness.sample(contacts, opt_out_count))
    gather_statistics()
    return user, contacts


def write_opt_outs(user, phone, opted_out: list[str]):
    """Opt-outs over the last 90 days, in bulk, as STOP keywords mostly and provider notices."""
    from webapp.extensions import db
    from webapp.models import OptOut
    start = datetime.utcnow() - timedelta(days=90)
    rows = []
    for index, number in enumerate(opted_out):
        moment = start + timedelta(seconds=index * 90 * 86400 / len(opted_out))
        keyword = index % 4 != 0
        rows.append(dict(user_id=user.id, phone_id=phone.id, number=number, opted_out_at=moment, recorded_at=moment,
                         source=OptOut.KEYWORD if keyword else OptOut.PROVIDER,
                         original_text=("Stop" if index % 2 else "ARRÊT") if keyword else "STOP notice"))
    for chunk_start in range(0, len(rows), 50_000):
        db.session.execute(OptOut.__table__.insert(), rows[chunk_start:chunk_start + 50_000])
    db.session.commit()


def inbox_at_scale(app, per_user, contact_count, label, repeats):
    from webapp.extensions import db
    from webapp.models import Conversation, OptOut
    started = time.perf_counter()
    user, contacts = fill_inbox(per_user, contact_count, unread_count=300, opt_out_count=contact_count // 10)
    print(f"  ({per_user} messages from {contact_count} numbers written in {time.perf_counter() - started:.0f} s)",
          flush=True)
    deep_id = db.session.scalar(select(Conversation.last_message_id).where(Conversation.user_id == user.id)
                                .order_by(Conversation.last_message_id).offset(contact_count // 10).limit(1))
    deep_opt_out = db.session.scalar(select(OptOut.id).where(OptOut.user_id == user.id)
                                     .order_by(OptOut.opted_out_at, OptOut.id).offset(contact_count // 100).limit(1))
    opted_out = db.session.scalar(select(OptOut.number).where(OptOut.user_id == user.id)
                                  .order_by(OptOut.id).offset(contact_count // 30).limit(1))
    national = "0" + contacts[len(contacts) // 3][3:]  # +3361… typed as 061…
    recent_id = db.session.scalar(select(func.max(Conversation.last_message_id))) - 1000
    pages = {"conversations, first page": "/conversations",
             "conversations, deep page": f"/conversations?before={deep_id}",
             "conversations, a whole number in national form": f"/conversations?q={national}",
             "conversations, a number's beginning in national form": f"/conversations?q={national[:7]}",
             "conversations, digits anywhere in the number": f"/conversations?q={national[-5:]}",
             "conversations, a common word": "/conversations?q=piscine",
             "conversations, a rare text": f"/conversations?q=n%C2%B0{per_user // 3}+",
             "conversations, refreshed fragment": "/conversations?fragment=1",
             "unread badge and new SMS (every page's poll)": f"/inbox?after={recent_id}",
             "dashboard: unread conversations, failures, counts": "/",
             "opt-out list, first page": "/opt-outs",
             "opt-out list, a deep page": f"/opt-outs?before={deep_opt_out}",
             "opt-out list, a whole number in national form": f"/opt-outs?q=0{opted_out[3:]}",
             "opt-out list, a number's beginning in national form": f"/opt-outs?q=0{opted_out[3:9]}",
             "opt-out list, a word of the original message": "/opt-outs?q=arr%C3%AAt"}
    time_pages(signed_in_client(app, user), pages, "8.", f"{label}, {per_user:,} messages", repeats)


# ---- a contacts import at scale ----

def contacts_csv(count: int) -> bytes:
    """count contacts as a spreadsheet exports them: name, number in national form, two fields."""
    lines = ["name;number;class;member_since"] + [
        f"Person {index};{number.replace('+33', '0')};{index % 30};{2000 + index % 25}"
        for index, number in enumerate(numbers(count, 4_000_000))]
    return ("\n".join(lines) + "\n").encode("cp1252")


def import_at_scale(stack, count, label):
    """A CSV of count contacts uploaded to the web app under gunicorn and its columns sent, as a user
    does: the time from sending the columns until the worker has stored every contact, while another
    session reads the import's page every 250 ms as it refreshes itself (and the contact list each second)."""
    from webapp.extensions import db
    from webapp.models import Contact, ContactImport
    from webapp.services.accounts import create_user
    user = create_user("import@example.org", ADMIN_PASSWORD)
    session = signed_in_session(stack, user.email)
    page = session.get(stack.web_url + "/contacts/import").text
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    content = contacts_csv(count)
    began = time.perf_counter()
    response = session.post(stack.web_url + "/contacts/import", data={"csrf_token": token},
                            files={"file": ("contacts.csv", content, "text/csv")}, allow_redirects=False)
    uploaded_in = time.perf_counter() - began
    assert response.status_code == 302, response.text[-2000:]
    mapping_url = stack.web_url + response.headers["Location"]
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', session.get(mapping_url).text).group(1)
    columns = {"columns-0-use": "name", "columns-1-use": "number", "columns-2-use": "field",
               "columns-2-field": "class", "columns-3-use": "field", "columns-3-field": "member_since"}
    import_id = int(response.headers["Location"].rsplit("/", 1)[1])
    reader = signed_in_session(stack, user.email)
    latencies, stop = [], threading.Event()

    list_latencies = []

    def read_the_list():
        for round_number in itertools.count():
            if stop.is_set():
                return
            began = time.perf_counter()
            reader.get(f"{mapping_url}?fragment=progress", timeout=30).raise_for_status()
            latencies.append((time.perf_counter() - began) * 1000)
            if round_number % 4 == 0:
                began = time.perf_counter()
                reader.get(stack.web_url + "/contacts/", timeout=30).raise_for_status()
                list_latencies.append((time.perf_counter() - began) * 1000)
            stop.wait(0.25)
    watcher = threading.Thread(target=read_the_list)
    watcher.start()
    started = time.perf_counter()
    response = session.post(mapping_url, allow_redirects=False, data={
        "csrf_token": token, "delimiter": "semicolon", "has_header": "y", "on_existing": "skip", "group_id": "0",
        "new_group": "Everyone", "submit": "Import the contacts", **columns})
    assert response.status_code == 302, response.text[-2000:]
    while True:
        db.session.rollback()
        upload = db.session.get(ContactImport, import_id)
        if upload.status in (ContactImport.DONE, ContactImport.FAILED) or time.perf_counter() - started > 300:
            break
        time.sleep(0.05)
    elapsed = time.perf_counter() - started
    stop.set()
    watcher.join()
    stored = db.session.scalar(select(func.count(Contact.id)).where(Contact.user_id == user.id))
    p95 = statistics.quantiles(latencies, n=20)[-1] if len(latencies) >= 20 else max(latencies)
    report(f"10. contacts import, {count:,}-row CSV ({label})", f"{stored:,} stored in {elapsed:.1f} s "
           f"({stored / elapsed:,.0f}/s)", None, "< 15 s, every row", elapsed < 15 and stored == count,
           f"upload of {len(content) / 2 ** 20:.1f} MB answered in {uploaded_in:.2f} s; meanwhile the import's page "
           f"p95 {p95:.0f} ms, max {max(latencies):.0f} ms ({len(latencies)} requests), the contact list median "
           f"{statistics.median(list_latencies):.0f} ms, max {max(list_latencies):.0f} ms")


def write_table(quick: bool):
    cpu = os.cpu_count()
    memory = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2 ** 30)
    lines = [f"Run of {datetime.now():%Y-%m-%d %H:%M}, {'quick' if quick else 'full'} mode, on {platform.machine()}"
             f" with {cpu} cores and {memory} GiB, Python {platform.python_version()}.", "",
             "| scenario | figure | floor | target | met | note |", "|---|---|---|---|---|---|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    Path(__file__).with_name("last-run.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def run_on(database_url, label, arguments, sizes):
    if arguments.keep_data and database_url is None:
        Path(arguments.keep_data).mkdir(parents=True, exist_ok=True)
        database_url = f"sqlite:///{Path(arguments.keep_data).resolve() / 'bench.sqlite'}"
    stack = Stack(database_url, worker_count=arguments.workers, keep_data=bool(arguments.keep_data))
    try:
        stack.start()
        app = app_for(stack)
        only = arguments.only
        with app.app_context():
            if label == "SQLite" or arguments.all_on_postgres:
                if "campaign" in only:
                    campaign(stack, app, sizes["campaign"], 0.0, label, target_ratio=2)
                    report("6a. worker peak memory (campaign)", f"{stack.worker_peak_rss_mb():.0f} MB", None,
                           "< 150 MB", stack.worker_peak_rss_mb() < 150)
                    campaign(stack, app, sizes["campaign"], 0.25, label, target_rate=200)
                if "rate" in only:
                    rate_limited(stack, app, sizes["rate_limited"], 10)
                if "compose" in only:
                    compose_cost(stack, app, sizes["compose"])
                if "fairness" in only:
                    fairness(stack, app, sizes["fairness"], sizes["fairness"] // 10, 30.0)
                if "scheduled" in only:
                    scheduled_minute(stack, app, sizes["scheduled"], label)
            if "campaigns" in only:
                campaign_at_scale(stack, app, sizes["group"], label, sizes["repeats"])
            if "callbacks" in only:
                callback_ingestion(stack, app, sizes["callbacks"], label)
                report(f"6b. web peak memory (callbacks, {label})", f"{stack.web_peak_rss_mb():.0f} MB", None,
                       "< 150 MB", stack.web_peak_rss_mb() < 150)
            if "api" in only:
                api_send(stack, app, sizes["api"], label)
            if "webhooks" in only:
                stack.stop_workers()
                stack.start_workers(WEBHOOK_ALLOW_PRIVATE_ADDRESSES="1")
                webhook_fan_out(stack, app, sizes["callbacks"], label)
                webhook_outage(stack, app, sizes["outage"], label, sizes["outage_seconds"])
            if "import" in only:
                import_at_scale(stack, sizes["import_rows"], label)
            if "polling" in only:
                polling_cost(stack, app, sizes["polling_phones"], sizes["polling_warm_up"], sizes["polling_window"],
                             label)
            stack.stop_workers()
            if "history" in only or "export" in only or "statistics" in only:
                filled = filled_history(app, stack, sizes["history"])
                if "history" in only:
                    history_at_scale(app, filled, sizes["history"], label, sizes["repeats"])
                if "statistics" in only:
                    statistics_at_scale(app, filled, sizes["history"], label, sizes["repeats"])
                if "export" in only:
                    export_at_scale(stack, filled, sizes["history"], label)
            if "inbox" in only:
                inbox_at_scale(app, sizes["history"], sizes["history"] // 10, label, sizes["repeats"])
    finally:
        stack.stop()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--postgres", default=os.environ.get("BENCH_POSTGRES_URL"))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--all-on-postgres", action="store_true")
    parser.add_argument("--postgres-only", action="store_true", help="with --postgres: no run on SQLite")
    parser.add_argument("--only", type=lambda names: set(names.split(",")),
                        default={"campaign", "rate", "compose", "fairness", "scheduled", "campaigns", "callbacks",
                                 "api", "webhooks",
                                 "import", "polling", "history", "export", "statistics", "inbox"},
                        help="the scenarios to run, separated by commas")
    parser.add_argument("--keep-data", metavar="DIR",
                        help="keep the databases (SQLite in DIR) and reuse the history and inbox found there")
    parser.add_argument("--limits", action="store_true",
                        help="give every user a quota and every phone limits, too high to be reached")
    arguments = parser.parse_args()
    global WITH_LIMITS
    WITH_LIMITS = arguments.limits
    sizes = (dict(campaign=300, scheduled=500, rate_limited=20, compose=500, fairness=200, callbacks=500, api=500,
                  import_rows=1_000,
                  history=5_000, repeats=5, outage=50, outage_seconds=10.0,
                  group=1_000, polling_phones=100, polling_warm_up=5.0, polling_window=40.0)
             if arguments.quick else
             dict(campaign=10_000, scheduled=10_000, rate_limited=100, compose=10_000, fairness=1_000,
                  callbacks=10_000,
                  api=5_000, import_rows=100_000, history=1_000_000, repeats=30, outage=1_000,
                  outage_seconds=60.0, group=100_000, polling_phones=1_000, polling_warm_up=40.0,
                  polling_window=120.0))
    if not (arguments.postgres and arguments.postgres_only):
        run_on(None, "SQLite", arguments, sizes)
    if arguments.postgres:
        run_on(arguments.postgres, "PostgreSQL", arguments, sizes)
    write_table(arguments.quick)


if __name__ == "__main__":
    sys.exit(main())
