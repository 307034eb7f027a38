"""The status store is the one owner of a message's status: every path that moves one makes
exactly the moves statuses.py allows, writes one timeline row and one outbox event per move, and
none for a move refused."""
import json
import re
import subprocess
import sys
import time
from concurrent.futures import Future
from datetime import datetime, timedelta, timezone

import pytest
from flask import current_app
from sqlalchemy import func, select, update

from webapp import broker, statuses, tasks
from webapp.extensions import db
from webapp.models import Message, MessageEvent, OptOut, OutboxEvent, utcnow
from webapp.providers.base import OutboundSms, ProviderError, SendResult, StatusEvent
from webapp.services import messages as message_service
from webapp.services import polling, reports, sending, status_store, sweeps
from webapp.services.messages import queue_outbound
from webapp.services.phones import adapter_for

from .conftest import PROJECT_ROOT, TEST_DATABASE_URL, make_phone, run_queued_jobs
from .fakes.netoxygen import FakeNetOxygen

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


def claim_for_a_deleted_phone(phone, targets):
    """The phone was deleted after its messages' job was enqueued: the worker cancels them."""
    phone.deleted_at = utcnow()
    db.session.commit()
    sending.claim_job(list(targets), CLAIMED_BY)


def claim_after_an_opt_out(phone, targets):
    """The numbers opted out after the messages were composed: the worker cancels them at the claim."""
    from webapp.services import opt_outs
    for message_id in targets:
        opt_outs.record(phone.user_id, db.session.get(Message, message_id).remote_number, "manual")
    sending.claim_job(list(targets), CLAIMED_BY)


def answer_already_accepted(phone, targets):
    error = ProviderError("an earlier attempt was accepted", already_accepted=True)
    sending.record_deliveries([(a_delivery(phone, list(targets)), [error] * len(targets))])


def answer_broker_unavailable(phone, targets):
    sending.record_deliveries([(a_delivery(phone, list(targets)), [sending.BrokerUnavailable()] * len(targets))])


def answers_not_recorded(phone, targets):
    sending.mark_unrecorded(a_delivery(phone, list(targets)))


def found_at_the_provider(phone, targets):
    """The sweep's job asked the provider about an interrupted send, and the provider has it."""
    adapter = adapter_for(phone)
    for message_id, new in targets.items():
        sweeps.record_found(adapter, db.session.get(Message, message_id), status_store.Claim(CLAIMED_BY, 1),
                            SendResult(f"F{message_id}", status=new))


def report_before_the_send_answered(phone, targets):
    """Reports that outran the send's answer are kept, then applied once the provider id is stored."""
    db.session.execute(update(Message).where(Message.id.in_(targets)).values(provider_message_id=None))
    db.session.commit()
    for message_id, new in targets.items():
        reports.record_status_event(phone.id, StatusEvent(f"P{message_id}", new))
    for message_id in targets:
        message = db.session.get(Message, message_id)
        message.provider_message_id = f"P{message_id}"
        db.session.commit()
        reports.apply_early_status_events(message)


def cancel_at_the_provider(phone, targets):
    """The messages are held by a NetOxygen gateway (a fake one, speaking its XML-RPC) for a later
    date, and the user asked to cancel them."""
    with FakeNetOxygen() as fake:
        current_app.config["NETOXYGEN_API_URL"] = fake.base_url
        gateway = make_phone(phone.user, provider_key="netoxygen", name="Gateway", user=fake.user,
                             password=fake.password, sender="")
        adapter = adapter_for(gateway)
        later = datetime.now(timezone.utc) + timedelta(days=2)
        for message_id in targets:
            [held] = adapter.send_batch([OutboundSms(message_id, "+41765363776", "Later", "", send_at=later)])
            db.session.execute(update(Message).where(Message.id == message_id).values(
                phone_id=gateway.id, provider_message_id=held.provider_message_id))
        db.session.commit()
        for message_id in targets:
            polling.cancel_at_provider(db.session.get(Message, message_id))

def held_here_and_due(targets):
    """Held here for later (never claimed), their time come."""
    db.session.execute(update(Message).where(Message.id.in_(targets)).values(
        attempt_count=0, claimed_by=None, scheduled_at=utcnow() - timedelta(seconds=1)))
    db.session.commit()


def queue_when_due(phone, targets):
    held_here_and_due(targets)
    sweeps.queue_due_scheduled()


def send_now_by_user(phone, targets):
    held_here_and_due(targets)
    for message_id in targets:
        message_service.send_now(db.session.get(Message, message_id))


def cancel_held_by_user(phone, targets):
    held_here_and_due(targets)
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
    ("a claim for a phone deleted meanwhile", PIPELINE, [statuses.CANCELED], claim_for_a_deleted_phone,
     allowed_by(PIPELINE)),
    ("a claim for numbers that opted out meanwhile", PIPELINE, [statuses.CANCELED], claim_after_an_opt_out,
     allowed_by(PIPELINE)),
    ("a provider saying an earlier attempt was accepted", PROVIDER, [statuses.SENT], answer_already_accepted,
     from_sending_only(PROVIDER)),
    ("a send the broker could not note", PIPELINE, [statuses.QUEUED], answer_broker_unavailable,
     from_sending_only(PIPELINE)),
    ("answers that could not be recorded", PIPELINE, [statuses.UNKNOWN], answers_not_recorded,
     from_sending_only(PIPELINE)),
    ("an interrupted send found at the provider", PROVIDER, [statuses.SENT, statuses.SCHEDULED],
     found_at_the_provider, from_sending_only(PROVIDER)),
    ("a report that came before the send's answer", PROVIDER, ALL, report_before_the_send_answered,
     allowed_by(PROVIDER)),
    ("a cancel at the provider", PROVIDER, [statuses.CANCELED], cancel_at_the_provider, allowed_by(PROVIDER)),
    ("a user's resend", statuses.RESEND, [statuses.QUEUED], resend_by_user, allowed_by(statuses.RESEND)),
    ("the schedule's time come", statuses.SCHEDULE, [statuses.QUEUED], queue_when_due,
     allowed_by(statuses.SCHEDULE)),
    ("a user's send now", statuses.SCHEDULE, [statuses.QUEUED], send_now_by_user, allowed_by(statuses.SCHEDULE)),
    ("a user's cancel of a message held for later", statuses.SCHEDULE, [statuses.CANCELED], cancel_held_by_user,
     lambda current, new: allowed_by(statuses.SCHEDULE)(current, new) or allowed_by(PIPELINE)(current, new)),
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
    re.compile(r"\b(?:Message|c)\.status\s*:"),  # a mapping keyed by the column
    re.compile(r"\bsetattr\([^)]*[\"']status[\"']"),
]


def test_only_the_status_store_writes_a_messages_status():
    writers = []
    for path in sorted([*(PROJECT_ROOT / "webapp").rglob("*.py"), *PROJECT_ROOT.glob("*.py")]):
        if path.name == "status_store.py":
            continue
        source = path.read_text()
        writers += [f"{path.relative_to(PROJECT_ROOT)}: {match.group(0)}" for pattern in STATUS_WRITES
                    for match in pattern.finditer(source) if not updates_another_table(source, match.start())]
    assert writers == []


def updates_another_table(source: str, at: int) -> bool:
    """Contact imports and webhook deliveries have statuses of their own: a .values() ending an
    update(ContactImport), or the update() of a table bound to WebhookDelivery.__table__, is not a
    message's status. The statement is looked for in the paragraph before the match."""
    paragraph = source[source.rfind("\n\n", 0, at) + 1:at]
    updated = re.findall(r"\bupdate\((\w+)\)|\b(\w+)\.update\(\)", paragraph)
    if not updated:
        return False
    name = "".join(updated[-1])
    bound = re.search(rf"\b{name}\s*=\s*(\w+)\.__table__", paragraph)
    return (bound.group(1) if bound else name) not in ("Message", "messages")


def test_the_detector_finds_a_status_written_outside_the_store():
    """The check above can fail: each of its patterns finds the kind of write it is for."""
    samples = ['update(Message).values(status=statuses.SENT)', 'UPDATE messages SET status = :new',
               'message.status = statuses.FAILED', 'Message(user_id=1, status=statuses.QUEUED)',
               '.values(status_changed_at=utcnow(), status=new)', '.values({"status": statuses.SENT})',
               'rows = [dict(user_id=1, status=statuses.QUEUED)]', '.values({Message.status: statuses.SENT})',
               'update(messages).values({messages.c.status: new})', 'setattr(message, "status", new)']
    assert [any(pattern.search(sample) for pattern in STATUS_WRITES) for sample in samples] == [True] * len(samples)
    assert not any(pattern.search("if message.status == statuses.QUEUED:") for pattern in STATUS_WRITES)
    other_tables = ["update(ContactImport).where(ContactImport.id == 1).values(status=ContactImport.RUNNING)",
                    "table = WebhookDelivery.__table__\ntable.update().values(status=bindparam('new'))"]
    messages = ["update(Message).where(Message.id == 1).values(status=statuses.SENT)",
                "table = Message.__table__\ntable.update().values(status=bindparam('new'))"]
    assert [updates_another_table(sample, sample.index("status=")) for sample in other_tables + messages] == [
        True, True, False, False]


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
import json, os, signal, sys
from concurrent.futures import Future
from sqlalchemy import event
from webapp import create_app
from webapp.extensions import db
from webapp.models import Message, Phone
from webapp.providers.base import InboundSms, OptOutNotice, StatusEvent
from webapp.services import messages, opt_outs, reports
from tests.test_status_store import rows_written


def make(write, phone, message_id):
    if write == "a provider report":
        reports.record_status_event(phone.id, StatusEvent("P1", "delivered"))
    elif write == "provider reports written together":
        done = Future()
        reports.write_batch([(phone.id, [StatusEvent("P1", "delivered")], done)])
        done.result(timeout=0)
    elif write == "a user's cancel":
        messages.cancel_queued(db.session.get(Message, message_id))
    elif write == "an inbound SMS":
        messages.record_inbound(phone, InboundSms("IN1", "+33612345678", "Bonjour"))
    elif write == "an inbound STOP":
        messages.record_inbound(phone, InboundSms("IN1", "+33612345678", "STOP"))
    elif write == "an opt-out notice":
        opt_outs.record_notice(phone, OptOutNotice("+33612345678"))


write, url, phone_id, message_id, kills = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5:]
app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "k" * 32, "REDIS_URL": "redis://127.0.0.1:1"})
with app.app_context():
    for kill_after in kills:
        db.session.remove()
        db.engine.dispose()  # the child opens its own connections
        child = os.fork()
        if child == 0:
            @event.listens_for(db.engine, "after_cursor_execute")
            def die(conn, cursor, statement, *args):
                if statement.lstrip().startswith(kill_after):
                    print(json.dumps(["killed after", kill_after]), flush=True)
                    os.kill(os.getpid(), signal.SIGKILL)
            make(write, db.session.get(Phone, phone_id), message_id)
            print(json.dumps(["killed after", "COMMIT"]), flush=True)
            os.kill(os.getpid(), signal.SIGKILL)
        _pid, status = os.waitpid(child, 0)
        killed = os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
        print(json.dumps([kill_after, killed, rows_written(message_id)]), flush=True)
'''

CHANGED, RECEIVED, OPTED_OUT = OutboxEvent.MESSAGE_STATUS_CHANGED, OutboxEvent.MESSAGE_RECEIVED, OutboxEvent.OPT_OUT_CREATED
MOVE = ["UPDATE messages", "INSERT INTO message_events", "INSERT INTO events"]
ON_POSTGRESQL = (TEST_DATABASE_URL or "").startswith("postgresql")
# the statement of a report's move, its timeline row and its outbox event (PostgreSQL)
ONE_STATEMENT = ["WITH moved"]

# (what is written, the statements it makes, what it leaves once committed)
WRITES = [
    ("a provider report", ONE_STATEMENT if ON_POSTGRESQL else MOVE, {"moved": 1, "timeline": 1, CHANGED: 1}),
    ("provider reports written together", ONE_STATEMENT if ON_POSTGRESQL else MOVE,
     {"moved": 1, "timeline": 1, CHANGED: 1}),
    ("a user's cancel", MOVE, {"moved": 1, "timeline": 1, CHANGED: 1}),
    ("an inbound SMS", ["INSERT INTO messages", "INSERT INTO message_events", "INSERT INTO events",
                        "INSERT INTO conversations"],
     {"inbound": 1, "timeline": 1, RECEIVED: 1}),
    ("an inbound STOP", ["INSERT INTO messages", "INSERT INTO message_events", "INSERT INTO events",
                         "INSERT INTO conversations", "INSERT INTO opt_outs"],
     {"inbound": 1, "timeline": 1, RECEIVED: 1, "opt-outs": 1, OPTED_OUT: 1}),
    ("an opt-out notice", ["INSERT INTO opt_outs", "INSERT INTO events"], {"opt-outs": 1, OPTED_OUT: 1}),
]
# where a statement commits on its own (the callbacks' writer on PostgreSQL), killed after it is after the commit
COMMITS_ON_ITS_OWN = {("provider reports written together", "WITH moved")}


def rows_written(message_id: int) -> dict:
    """What a write below left: the message moved, timeline rows, inbound SMS, opt-outs, and outbox
    events of each kind (those of the message's queueing left out)."""
    counts = {
        "moved": select(func.count(Message.id)).where(
            Message.id == message_id, Message.status.in_([statuses.DELIVERED, statuses.CANCELED])),
        "timeline": select(func.count(MessageEvent.id)).where(MessageEvent.status != statuses.QUEUED),
        "inbound": select(func.count(Message.id)).where(Message.direction == Message.INBOUND),
        "opt-outs": select(func.count(OptOut.id))}
    for kind in (CHANGED, RECEIVED, OPTED_OUT):
        counts[kind] = select(func.count(OutboxEvent.id)).where(
            OutboxEvent.kind == kind, OutboxEvent.status.is_(None) | (OutboxEvent.status != statuses.QUEUED))
    return {name: db.session.scalar(query) for name, query in counts.items()}


@pytest.mark.parametrize("write, statements, left", WRITES, ids=[write[0] for write in WRITES])
def test_a_process_killed_between_the_writes_leaves_the_change_and_its_event_both_or_neither(
        app, user, write, statements, left):
    """Killed after each of its statements before the commit, nothing of the change stays; killed
    just after the commit, all of it (on PostgreSQL a report's three writes are one statement)."""
    phone = make_phone(user)
    [message_id] = queue_outbound(phone, ["+33612345679"], "Hi")
    if write != "a user's cancel":
        db.session.execute(update(Message).where(Message.id == message_id).values(
            status=statuses.SENT, provider_message_id="P1"))
    db.session.commit()
    nothing = {name: 0 for name in rows_written(message_id)}
    run = subprocess.run([sys.executable, "-c", KILLED_BETWEEN_WRITES, write, app.config["SQLALCHEMY_DATABASE_URI"],
                          str(phone.id), str(message_id), *statements, "COMMIT"],
                         cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    found = [json.loads(line) for line in run.stdout.splitlines()]
    expected = []
    for kill_after in statements + ["COMMIT"]:
        committed = kill_after == "COMMIT" or (write, kill_after) in COMMITS_ON_ITS_OWN
        expected += [["killed after", kill_after], [kill_after, True, dict(nothing, **left) if committed else nothing]]
    assert found == expected


def test_statuses_are_shown_from_the_rules_in_statuses_py(logged_in, user):
    phone = make_phone(user)
    [message_id] = queue_outbound(phone, ["+33612345678"], "Hi")
    db.session.execute(update(Message).where(Message.id == message_id).values(status=statuses.DELIVERED))
    db.session.commit()
    page = logged_in.get("/conversations/+33612345678").get_data(as_text=True)
    assert statuses.glyph(statuses.DELIVERED) in page
    assert logged_in.get(f"/messages/statuses?ids={message_id}").get_json()[str(message_id)]["glyph"] == "✓✓"


# Modules that still tell the databases apart on their own, outside the writes of messages: the
# administrators' lock (row locks or SQLite's write lock) and the history's text search (FTS5 or
# pg_trgm). Every write that goes with a message's takes what the status store chose at start-up.
TELLS_DATABASES_APART = {"webapp/services/accounts.py", "webapp/services/history.py",
                         "webapp/services/statistics.py"}  # reads only: names its SQLite index


def test_the_writes_that_go_with_a_message_do_not_ask_which_database_it_is():
    askers = sorted(str(path.relative_to(PROJECT_ROOT)) for path in (PROJECT_ROOT / "webapp").rglob("*.py")
                    if "dialect.name" in path.read_text())
    assert askers == sorted(TELLS_DATABASES_APART)
