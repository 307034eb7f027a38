"""SMS Desk's figures under faults: 1,500 SMS through a provider answering in 200 ms, with

    a worker killed with kill -9, three times (each replaced at once)
    the broker killed with kill -9 and started again from its append-only file
    the broker wiped (FLUSHALL)
    the web server killed while the simulator posts its delivery reports, and started again

    python -m bench.faults [--count 1500] [--only kill,broker-kill,broker-wipe,web-kill]

Each prints: doubled (sent twice to the provider), lost (never final: still queued or sending, or
"sent" for ever where reports are due), unknown (and of them "stranded": where the request had
not left, or the provider could have been asked), and after a broker fault the longest time a
message stayed queued once the broker was back. The workers run with their default settings
(sweep every 5 s, heartbeat 15 s).
"""
import argparse
import sys
import time
from collections import Counter
from datetime import datetime, timedelta, timezone

import redis
import requests
from sqlalchemy import func, select

from .run import app_for, make_admin_and_phone, numbers
from .stack import ACCOUNT_SID, AUTH_TOKEN, Stack

ANSWER_DELAY = 0.2
SETTLE_TIMEOUT = 150


def counts(phone_id) -> Counter:
    from webapp.extensions import db
    from webapp.models import Message
    db.session.rollback()
    return Counter(dict(db.session.execute(select(Message.status, func.count(Message.id))
                                           .where(Message.phone_id == phone_id).group_by(Message.status)).all()))


def wait_until(condition, timeout=SETTLE_TIMEOUT, step=0.2) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(step)
    return True


def settled(phone_id, final_statuses) -> bool:
    """Every message in one of final_statuses, or unknown."""
    now = counts(phone_id)
    return sum(now[status] for status in final_statuses) + now["unknown"] == sum(now.values())


def twilio_sends_by_number(stack) -> Counter:
    """What the fake Twilio was asked to send, by destination (each message has its own)."""
    listed = requests.get(f"{stack.fake_url}/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json",
                          auth=(ACCOUNT_SID, AUTH_TOKEN), timeout=30).json()["messages"]
    return Counter(message["to"] for message in listed)


def unknown_numbers(phone_id) -> list[str]:
    from webapp.extensions import db
    from webapp.models import Message
    db.session.rollback()
    return db.session.scalars(select(Message.remote_number).where(Message.phone_id == phone_id,
                                                                  Message.status == "unknown")).all()


def interrupted_outcomes(phone_id) -> dict:
    """How the sweep settled the sends it found interrupted, from the messages' timelines."""
    from webapp.extensions import db
    from webapp.models import Message, MessageEvent
    from webapp.services import sweeps
    outcomes = {"queued_again_unstarted": sweeps.INTERRUPTED_BEFORE_SENDING.msgid,
                "found_at_provider": sweeps.FOUND_AT_PROVIDER, "never_at_provider": sweeps.NOT_AT_PROVIDER}
    db.session.rollback()
    return {name: db.session.scalar(select(func.count(MessageEvent.id)).join(Message).where(
        Message.phone_id == phone_id, MessageEvent.reason.contains(msgid))) for name, msgid in outcomes.items()}


def line(name, **figures):
    print(f"  {name}: " + ", ".join(f"{label.replace('_', ' ')} {value}" for label, value in figures.items()),
          flush=True)


def twilio_phone(stack, app, label):
    stack.start_fake(ANSWER_DELAY)
    app.config["TWILIO_API_BASE_URL"] = stack.fake_url
    stack.stop_workers()
    stack.start_workers()
    return make_admin_and_phone(f"Faults {label}")[1]


def twilio_figures(stack, phone_id, count, settled_in_time, **extra):
    sends = twilio_sends_by_number(stack)
    doubled = sum(times - 1 for times in sends.values() if times > 1)
    now = counts(phone_id)
    unknown = unknown_numbers(phone_id)
    lost = now["queued"] + now["sending"]
    # Twilio can be asked: every unknown message is stranded, whether or not its request had left
    return dict(doubled=doubled, lost=lost, unknown=len(unknown),
                stranded=len(unknown), of_them_never_at_twilio=sum(1 for number in unknown if number not in sends),
                settled="yes" if settled_in_time else f"no ({dict(now)})", **extra)


def worker_kills(stack, app, count):
    from webapp.services.messages import queue_outbound
    phone = twilio_phone(stack, app, "kill")
    started = time.monotonic()
    queue_outbound(phone, numbers(count, 100_000), "Killed workers")
    for index, sent_before_kill in enumerate((count // 5, count // 2, 4 * count // 5)):
        wait_until(lambda: counts(phone.id)["sent"] >= sent_before_kill, step=0.05)
        stack.kill_worker(index % len(stack.workers))
    settled_in_time = wait_until(lambda: settled(phone.id, ["sent", "failed"]))
    line("worker kill -9 ×3", **twilio_figures(stack, phone.id, count, settled_in_time,
                                               all_final_after=f"{time.monotonic() - started:.0f} s"),
         **interrupted_outcomes(phone.id))


def first_claims_after(phone_id, moment: datetime, message_ids) -> list[datetime]:
    """A claim stamped just before the moment may commit just after it, when the message still
    looked queued: claims from a second before count (as no wait)."""
    from webapp.extensions import db
    from webapp.models import MessageEvent
    db.session.rollback()
    return db.session.scalars(select(func.min(MessageEvent.created_at)).where(
        MessageEvent.message_id.in_(message_ids), MessageEvent.status == "sending",
        MessageEvent.created_at >= moment - timedelta(seconds=1)).group_by(MessageEvent.message_id)).all()


def queued_ids(phone_id) -> list[int]:
    from webapp.extensions import db
    from webapp.models import Message
    db.session.rollback()
    return db.session.scalars(select(Message.id).where(Message.phone_id == phone_id, Message.status == "queued")).all()


def broker_fault(stack, app, count, label, fault):
    from webapp.services.messages import queue_outbound
    phone = twilio_phone(stack, app, label)
    queue_outbound(phone, numbers(count, 200_000), f"Broker {label}")
    wait_until(lambda: counts(phone.id)["sent"] >= count // 4, step=0.05)
    fault()
    back = datetime.now(timezone.utc).replace(tzinfo=None)
    waiting = queued_ids(phone.id)
    settled_in_time = wait_until(lambda: settled(phone.id, ["sent", "failed"]))
    claims = first_claims_after(phone.id, back, waiting)
    longest = max((max(claim - back, timedelta(0)).total_seconds() for claim in claims), default=0.0)
    unclaimed = len(waiting) - len(claims)
    line(f"broker {label}", **twilio_figures(
        stack, phone.id, count, settled_in_time, queued_when_back=len(waiting),
        longest_queued_after_broker_back=f"{longest:.1f} s" + (f" ({unclaimed} never claimed)" if unclaimed else "")))


def broker_kill(stack):
    def fault():
        stack.kill_broker()
        time.sleep(3)
        stack.restart_broker()
    return fault


def broker_wipe(stack):
    def fault():
        redis.Redis(unix_socket_path=str(stack.broker.unix_socket_path)).flushall()
    return fault


def web_kill(stack, app, count):
    """The simulator, answering in 200 ms and posting each report 2 s after the send."""
    from webapp.models import Phone
    from webapp.services.accounts import find_user_by_email
    from webapp.services.messages import queue_outbound
    from webapp.services.phones import save_phone
    from .run import ADMIN_EMAIL
    stack.stop_workers()
    stack.start_workers()
    user = find_user_by_email(ADMIN_EMAIL)
    phone = save_phone(Phone(user_id=user.id, provider_key="simulator"), "Faults web kill", None, {
        "delivery_delay_seconds": "2", "answer_delay_seconds": str(ANSWER_DELAY), "busy_attempts": "0",
        "fail_numbers_ending_with": ""})
    started = time.monotonic()
    queue_outbound(phone, numbers(count, 400_000), "Reports while the web is down")
    wait_until(lambda: counts(phone.id)["delivered"] >= count // 10, step=0.05)
    stack.kill_web()
    down_at = counts(phone.id)
    time.sleep(10)
    stack.start_web()
    settled_in_time = wait_until(lambda: settled(phone.id, ["delivered"]))
    now = counts(phone.id)
    line("web server kill -9 during reports, 10 s down", lost=now["sent"] + now["queued"] + now["sending"],
         unknown=now["unknown"], delivered=now["delivered"], delivered_when_killed=down_at["delivered"],
         all_delivered_after=f"{time.monotonic() - started:.0f} s" if settled_in_time else f"no ({dict(now)})")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=1500)
    parser.add_argument("--only", type=lambda names: set(names.split(",")),
                        default={"kill", "broker-kill", "broker-wipe", "web-kill"})
    arguments = parser.parse_args()
    stack = Stack(None, worker_count=2, broker_options=dict(persist=True, appendonly="yes"))
    try:
        stack.start()
        app = app_for(stack)
        print(f"{arguments.count} SMS each, provider answering in {ANSWER_DELAY * 1000:.0f} ms, 2 workers, SQLite",
              flush=True)
        with app.app_context():
            if "kill" in arguments.only:
                worker_kills(stack, app, arguments.count)
            if "broker-kill" in arguments.only:
                broker_fault(stack, app, arguments.count, "kill -9 + restart", broker_kill(stack))
            if "broker-wipe" in arguments.only:
                broker_fault(stack, app, arguments.count, "wipe (FLUSHALL)", broker_wipe(stack))
            if "web-kill" in arguments.only:
                web_kill(stack, app, arguments.count)
    finally:
        stack.stop()


if __name__ == "__main__":
    sys.exit(main())
