"""The status store is the one owner of a message's status: every path that moves one makes
exactly the moves statuses.py allows, writes one timeline row and one outbox event per move, and
none for a move refused."""
import re
import subprocess
import sys
import time
from concurrent.futures import Future
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from webapp import broker, statuses, tasks
from webapp.extensions import db
from webapp.models import Message, MessageEvent, OutboxEvent, utcnow
from webapp.providers.base import ProviderError, SendResult, StatusEvent
from webapp.services import messages as message_service
from webapp.services import polling, reports, sending, status_store, sweeps
from webapp.services.messages import queue_outbound
from webapp.services.phones import adapter_for

from .conftest import PROJECT_ROOT, make_phone, run_queued_jobs

ALL = statuses.OUTBOUND_STATUSES
PIPELINE, PROVIDER = statuses.PIPELINE, statuses.PROVIDER


def allowed_by(who):
    return lambda current, new: statuses.may_move(current, new, who)


def from_sending_only(who):
    """A send's answer is about the claim it answers: it moves only a message still sending."""
    return lambda current, new: current == statuses.SENDING and statuses.may_move(current, new, who)


def from_queued_only(who):
    return lambda current, new: current == statuses.QUEUED and statuses.may_move(current, new, who)


CLAIMED_BY = "test-worker"


def a_delivery(phone, message_ids):
    adapter = adapter_for(phone)
    sms_list = [sending.outbound_sms(db.session.get(Message, message_id), phone) for message_id in message_ids]
    return sending.Delivery(adapter, sms_list, phone.id, phone.user_id, CLAIMED_BY)


def move_each(who):
    def run(phone, targets):
        for message_id, new in targets.items():
            status_store.move(db.session.get(Message, message_id), new, by=who)
        db.session.commit()
    return run


def report_each(phone, targets):
    for message_id, new in targets.items():
        reports.record_status_event(phone.id, StatusEvent(f"P{message_id}", new))


def report_together(phone, targets):
    batch = [(phone.id, [StatusEvent(f"P{message_id}", new)], Future()) for message_id, new in targets.items()]
    reports.write_batch(batch)
    assert [done.exception(timeout=0) for _phone_id, _events, done in batch] == [None] * len(batch)


def report_together_at_a_sibling(phone, targets):
    """Come to the URL of another of the user's phones whose callbacks land with this one's (one OVH service)."""
    sibling = make_phone(phone.user, name="Same service")
    batch = [((sibling.id, phone.id), [StatusEvent(f"P{message_id}", new)], Future())
             for message_id, new in targets.items()]
    reports.write_batch(batch)
    assert [done.exception(timeout=0) for _phones, _events, done in batch] == [None] * len(batch)


def claim_together(phone, targets):
    status_store.claim(list(targets), "test-worker")
    db.session.commit()


def answer_accepted(phone, targets):
    results = [SendResult(f"P{message_id}", status=new) for message_id, new in targets.items()]
    sending.record_deliveries([(a_delivery(phone, list(targets)), results)])


def answer_failed(phone, targets):
    errors = {statuses.QUEUED: ProviderError("busy", transient=True),
              statuses.UNKNOWN: ProviderError("no answer", maybe_sent=True),
              statuses.FAILED: ProviderError("refused")}
    sending.record_deliveries([(a_delivery(phone, list(targets)), [errors[new] for new in targets.values()])])


def fail_for_unreadable_secrets(phone, targets):
    phone.encrypted_secrets = "not readable with this key"
    db.session.commit()
    sending.claim_for_phone(phone, list(targets), "test-worker")
    db.session.commit()


def judge_interrupted(phone, targets):
    """The sweep, and the job it leaves to ask the simulator, which has no memory of these sends."""
    db.session.execute(update(Message).where(Message.id.in_(targets)).values(
        status_changed_at=utcnow() - timedelta(days=1), claimed_by="a worker long dead"))
    db.session.commit()
    sweeps.mark_interrupted_sends()
    run_queued_jobs(only=tasks.FIND_INTERRUPTED_SENDS)


def queue_again_unsent(phone, targets):
    """A worker that had begun none of these requests when it died."""
    broker.redis_connection().hset(broker.send_starts_keys("a worker long dead")[0], broker.SINCE_FIELD,
                                   repr(time.time() - 3 * 86400))
    db.session.execute(update(Message).where(Message.id.in_(targets)).values(
        status_changed_at=utcnow() - timedelta(days=1), claimed_by="a worker long dead"))
    db.session.commit()
    sweeps.mark_interrupted_sends()


def run_out_of_polls(phone, targets):
    """NetOxygen, which reports only when asked, asked its last time and still no final status."""
    gateway = make_phone(phone.user, provider_key="netoxygen", name="Gateway", user="u", password="p", sender="")
    adapter = adapter_for(gateway)
    db.session.execute(update(Message).where(Message.id.in_(targets)).values(
        status_poll_count=len(adapter.status_poll_delays) - 1))
    for message_id in targets:
        polling.schedule_next_status_poll(adapter, db.session.get(Message, message_id))


def cancel_for_deleted_phone(phone, targets):
    status_store.cancel_unsent_of_phone(phone.id, "Its phone was deleted.")
    db.session.commit()


def cancel_by_user(phone, targets):
    for message_id in targets:
        message_service.cancel_queued(db.session.get(Message, message_id))


def resend_by_user(phone, targets):
    from webapp.services import campaigns
    campaigns.resend(phone.user, list(targets), confirmed_unknown=True)


# (path, who moves, the statuses it may move to, how it runs, which moves it makes)
PATHS = [
    ("one move by SMS Desk", PIPELINE, ALL, move_each(PIPELINE), allowed_by(PIPELINE)),
    ("one move by a provider", PROVIDER, ALL, move_each(PROVIDER), allowed_by(PROVIDER)),
    ("a provider report, alone", PROVIDER, ALL, report_each, allowed_by(PROVIDER)),
    ("provider reports written together", PROVIDER, ALL, report_together, allowed_by(PROVIDER)),
    ("provider reports written together at a sibling's URL", PROVIDER, ALL, report_together_at_a_sibling,
     allowed_by(PROVIDER)),
    ("a worker's claim", PIPELINE, [statuses.SENDING], claim_together, allowed_by(PIPELINE)),
    ("a provider accepting sends", PROVIDER, [statuses.SENT, statuses.SCHEDULED], answer_accepted,
     allowed_by(PROVIDER)),
    ("a provider refusing sends", PIPELINE, [statuses.QUEUED, statuses.UNKNOWN, statuses.FAILED], answer_failed,
     from_sending_only(PIPELINE)),
    ("a phone whose secrets cannot be read", PIPELINE, [statuses.FAILED], fail_for_unreadable_secrets,
     from_queued_only(PIPELINE)),
    ("a send judged interrupted", PIPELINE, [statuses.UNKNOWN], judge_interrupted, from_sending_only(PIPELINE)),
    ("a send interrupted before its request left", PIPELINE, [statuses.QUEUED], queue_again_unsent,
     from_sending_only(PIPELINE)),
    ("polls that run out", PIPELINE, [statuses.UNKNOWN], run_out_of_polls, allowed_by(PIPELINE)),
    ("a phone deleted", PIPELINE, [statuses.CANCELED], cancel_for_deleted_phone, allowed_by(PIPELINE)),
    ("a user's cancel", PIPELINE, [statuses.CANCELED], cancel_by_user, allowed_by(PIPELINE)),
    ("a user's resend", statuses.RESEND, [statuses.QUEUED], resend_by_user, allowed_by(statuses.RESEND)),
]


def messages_in_each_status(phone, targets: list[str]) -> dict[int, tuple[str, str]]:
    """One message per (current, new) pair, in `current`, with provider id P<message id>."""
    pairs = [(current, new) for current in ALL for new in targets]
    message_ids = queue_outbound(phone, [f"+3361200{index:04d}" for index in range(len(pairs))], "Hi")
    for message_id, (current, _new) in zip(message_ids, pairs):
        db.session.execute(update(Message).where(Message.id == message_id).values(
            status=current, provider_message_id=f"P{message_id}", attempt_count=1, claimed_by=CLAIMED_BY))
    db.session.commit()
    return dict(zip(message_ids, pairs))


def rows_after(model, first_id, message_ids):
    rows = db.session.execute(select(model.message_id, model.status).where(
        model.id > first_id, model.message_id.in_(message_ids))).all()
    found = {}
    for message_id, status in rows:
        found.setdefault(message_id, []).append(status)
    return found


@pytest.mark.parametrize("path, who, targets, run, rule", PATHS, ids=[path[0] for path in PATHS])
def test_every_path_makes_exactly_the_allowed_moves(app, user, path, who, targets, run, rule):
    phone = make_phone(user)
    pairs = messages_in_each_status(phone, targets)
    timeline_before = db.session.scalar(select(func.max(MessageEvent.id)))
    outbox_before = db.session.scalar(select(func.max(OutboxEvent.id)))
    run(phone, {message_id: new for message_id, (_current, new) in pairs.items()})
    db.session.expire_all()
    now = dict(db.session.execute(select(Message.id, Message.status).where(Message.id.in_(pairs))).all())
    outbox = rows_after(OutboxEvent, outbox_before, list(pairs))
    timeline = rows_after(MessageEvent, timeline_before, list(pairs))
    wrong = []
    for message_id, (current, new) in pairs.items():
        moves = rule(current, new)
        expected = (new if moves else current, [new] if moves else [])
        moved_rows = [status for status in timeline.get(message_id, []) if status is not None]
        if (now[message_id], outbox.get(message_id, [])) != expected or moved_rows != expected[1]:
            wrong.append(f"{current} -> {new}: now {now[message_id]}, outbox {outbox.get(message_id, [])}, "
                         f"timeline {timeline.get(message_id, [])}")
    assert wrong == []


def test_every_move_in_the_tables_is_made_by_a_path_other_than_a_bare_move():
    """Each allowed move is exercised through a real path (a claim, a report, a send's answer, a
    cancel), not only through status_store.move; the moves left are listed here by name."""
    made = {(who, current, new) for _path, who, targets, run, rule in PATHS[2:] for new in targets
            for current in ALL if rule(current, new)}
    left = sorted((who, current, new) for who, table in statuses.TRANSITIONS.items()
                  for current, targets in table.items() for new in targets if (who, current, new) not in made)
    assert left == []


STATUS_WRITES = [
    re.compile(r"\.values\((?:[^()]|\([^()]*\))*\bstatus\s*="),  # an UPDATE of messages.status
    re.compile(r"\.values\(\{[^}]*[\"']status[\"']\s*:"),  # the same, as a mapping
    re.compile(r"\bdict\([^)]*\bstatus\s*=\s*statuses\."),  # a row of values for an INSERT
    re.compile(r"\bSET\s+status\b", re.IGNORECASE),
    re.compile(r"\bmessage\.status\s*=(?!=)"),
    re.compile(r"\bMessage\([^)]*\bstatus\s*="),
]


def test_only_the_status_store_writes_a_messages_status():
    writers = []
    for path in sorted((PROJECT_ROOT / "webapp").rglob("*.py")):
        if path.name == "status_store.py":
            continue
        source = path.read_text()
        writers += [f"{path.relative_to(PROJECT_ROOT)}: {match.group(0)}" for pattern in STATUS_WRITES
                    for match in pattern.finditer(source)]
    assert writers == []


def test_the_detector_finds_a_status_written_outside_the_store():
    """The check above can fail: each of its patterns finds the kind of write it is for."""
    samples = ['update(Message).values(status=statuses.SENT)', 'UPDATE messages SET status = :new',
               'message.status = statuses.FAILED', 'Message(user_id=1, status=statuses.QUEUED)',
               '.values(status_changed_at=utcnow(), status=new)', '.values({"status": statuses.SENT})',
               'rows = [dict(user_id=1, status=statuses.QUEUED)]']
    assert [any(pattern.search(sample) for pattern in STATUS_WRITES) for sample in samples] == [True] * 7
    assert not any(pattern.search("if message.status == statuses.QUEUED:") for pattern in STATUS_WRITES)


def outbox(message_id=None):
    query = select(OutboxEvent.kind, OutboxEvent.status).order_by(OutboxEvent.id)
    if message_id is not None:
        query = query.where(OutboxEvent.message_id == message_id)
    return db.session.execute(query).all()


def test_a_message_sent_and_delivered_leaves_one_outbox_event_per_status(app, user, live_server):
    phone = make_phone(user, delivery_delay_seconds="0")
    [message_id] = queue_outbound(phone, ["+33612345678"], "Hello")
    sending.send_message(message_id, "test-worker")
    reports.record_status_event(phone.id, StatusEvent(db.session.get(Message, message_id).provider_message_id,
                                                      statuses.DELIVERED))
    reports.record_status_event(phone.id, StatusEvent(db.session.get(Message, message_id).provider_message_id,
                                                      statuses.SENT))  # late: moves nothing
    changed = OutboxEvent.MESSAGE_STATUS_CHANGED
    assert outbox(message_id) == [(changed, statuses.QUEUED), (changed, statuses.SENDING), (changed, statuses.SENT),
                                  (changed, statuses.DELIVERED)]


def test_an_inbound_sms_and_an_opt_out_leave_one_outbox_event_each(app, user):
    from webapp.providers.base import InboundSms, OptOutNotice
    from webapp.services import opt_outs
    phone = make_phone(user)
    inbound = InboundSms("IN1", "+33612345678", "Bonjour")
    first = message_service.record_inbound(phone, inbound)
    message_service.record_inbound(phone, inbound)  # the provider posts it again
    opt_outs.record_notice(phone, OptOutNotice("+33612345678"))
    opt_outs.record_notice(phone, OptOutNotice("0612345678"))  # the same number, told twice
    assert outbox() == [(OutboxEvent.MESSAGE_RECEIVED, statuses.RECEIVED), (OutboxEvent.OPT_OUT_CREATED, None)]
    assert db.session.scalar(select(OutboxEvent.message_id).where(
        OutboxEvent.kind == OutboxEvent.MESSAGE_RECEIVED)) == first.id


KILLED_BETWEEN_WRITES = '''
import os, signal, sys
from sqlalchemy import event
from webapp import create_app
from webapp.extensions import db
from webapp.models import Message
from webapp.providers.base import StatusEvent
from webapp.services import reports

kill_after = sys.argv[1]
app = create_app({"SQLALCHEMY_DATABASE_URI": sys.argv[2], "SECRET_KEY": "k" * 32, "REDIS_URL": "redis://127.0.0.1:1"})
with app.app_context():
    @event.listens_for(db.engine, "after_cursor_execute")
    def die(conn, cursor, statement, *args):
        if kill_after in statement:
            os.kill(os.getpid(), signal.SIGKILL)
    reports.record_status_event(int(sys.argv[3]), StatusEvent(sys.argv[4], "delivered"))
print("not killed")
'''


@pytest.mark.parametrize("kill_after", ["UPDATE messages", "INSERT INTO message_events", "INSERT INTO events"])
def test_a_process_killed_between_the_writes_leaves_the_move_and_its_event_both_or_neither(app, user, kill_after):
    phone = make_phone(user)
    [message_id] = queue_outbound(phone, ["+33612345678"], "Hi")
    db.session.execute(update(Message).where(Message.id == message_id).values(
        status=statuses.SENT, provider_message_id="P1"))
    db.session.commit()
    run = subprocess.run([sys.executable, "-c", KILLED_BETWEEN_WRITES, kill_after,
                          app.config["SQLALCHEMY_DATABASE_URI"], str(phone.id), "P1"],
                         cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60)
    db.session.expire_all()
    status = db.session.get(Message, message_id).status
    delivered_events = db.session.scalar(select(func.count(OutboxEvent.id)).where(
        OutboxEvent.message_id == message_id, OutboxEvent.status == statuses.DELIVERED))
    delivered_lines = db.session.scalar(select(func.count(MessageEvent.id)).where(
        MessageEvent.message_id == message_id, MessageEvent.status == statuses.DELIVERED))
    assert run.returncode == -9, run.stdout + run.stderr
    # killed before the commit (on PostgreSQL the three writes are one statement): nothing of it stays
    assert (status, delivered_events, delivered_lines) == (statuses.SENT, 0, 0)


def test_statuses_are_shown_from_the_rules_in_statuses_py(logged_in, user):
    phone = make_phone(user)
    [message_id] = queue_outbound(phone, ["+33612345678"], "Hi")
    db.session.execute(update(Message).where(Message.id == message_id).values(status=statuses.DELIVERED))
    db.session.commit()
    page = logged_in.get("/conversations/+33612345678").get_data(as_text=True)
    assert statuses.glyph(statuses.DELIVERED) in page
    assert logged_in.get(f"/messages/statuses?ids={message_id}").get_json()[str(message_id)]["glyph"] == "✓✓"
