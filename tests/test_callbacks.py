"""The callback URLs providers call: tokens, malformed requests, ordering and duplicates."""
import string
import time
from concurrent.futures import Future, ThreadPoolExecutor
from urllib.parse import urlsplit

import pytest
import requests

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import String, cast, func, select, update
from sqlalchemy.exc import IntegrityError

from webapp import statuses
from webapp.extensions import db
from webapp.models import EarlyStatusEvent, Message, MessageEvent, Phone
from webapp.providers.base import StatusEvent
from webapp.services.messages import queue_outbound
from webapp.services.phones import callback_url

from .conftest import PASSWORD, TEST_DATABASE_URL, csrf_token_from, make_phone, reload_message, wait_for


def path_of(phone, kind):
    return urlsplit(callback_url(phone, kind)).path


def sent_message(phone, provider_id="SIM1", status=statuses.SENT):
    """A message the worker has handed to the provider, without running a worker."""
    [message_id] = queue_outbound(phone, ["+33612345678"], "Hi")
    message = db.session.get(Message, message_id)
    message.status = status
    message.provider_message_id = provider_id
    db.session.commit()
    return message


def sent_messages(phone, count):
    """`count` messages handed to the provider, with provider ids SIM<message id>."""
    message_ids = queue_outbound(phone, [f"+3361234{index:04d}" for index in range(count)], "Hi")
    db.session.execute(update(Message).where(Message.id.in_(message_ids))
                       .values(status=statuses.SENT, provider_message_id="SIM" + cast(Message.id, String)))
    db.session.commit()
    return message_ids


def test_a_wrong_token_or_phone_answers_404_and_stores_nothing(client, user):
    phone = make_phone(user)
    sent_message(phone)
    good = path_of(phone, "status")
    for path in (good.replace(phone.callback_token, "x" * len(phone.callback_token)),
                 good.replace(phone.public_id, "000000000000"), good[:-len("status")] + "other"):
        response = client.post(path, data={"message_id": "SIM1", "status": "DELIVERED"})
        assert response.status_code == 404
    assert db.session.scalar(select(Message.status)) == statuses.SENT


def test_callback_urls_answer_plainly_even_to_a_browser_kept_signed_in(client, user):
    """Callbacks have no session: a remembered sign-in must not make a missing one answer 500."""
    page = client.get("/login").get_data(as_text=True)
    client.post("/login", data={"email": user.email, "password": PASSWORD, "remember": "y",
                                "csrf_token": csrf_token_from(page)})
    client.delete_cookie("session")  # the browser was closed: only the remember cookie is left
    for path in ("/callbacks/000000000000/nope/status", "/callbacks/nope"):
        response = client.get(path)
        assert response.status_code == 404 and response.content_type.startswith("text/plain")
    assert "Sign out" in client.get("/").get_data(as_text=True)  # the remember cookie still signs in pages


def test_a_delivery_report_marks_the_message_delivered_and_notes_the_callback(client, user):
    phone = make_phone(user)
    message = sent_message(phone)
    response = client.post(path_of(phone, "status"), data={"message_id": "SIM1", "status": "DELIVERED"})
    assert response.status_code == 200
    assert reload_message(message.id).status == statuses.DELIVERED
    db.session.refresh(phone)
    assert phone.last_callback_at is not None


def test_a_late_sent_report_never_takes_back_a_delivery(client, user):
    phone = make_phone(user)
    message = sent_message(phone)
    client.post(path_of(phone, "status"), data={"message_id": "SIM1", "status": "DELIVERED"})
    client.post(path_of(phone, "status"), data={"message_id": "SIM1", "status": "SENT"})
    client.post(path_of(phone, "status"), data={"message_id": "SIM1", "status": "FAILED"})
    message = reload_message(message.id)
    assert message.status == statuses.DELIVERED
    # the late reports are on the timeline, marked as changing nothing
    assert [event.status for event in message.events][-3:] == [statuses.DELIVERED, None, None]


def test_a_failure_report_keeps_the_error_code_and_reason(client, user):
    phone = make_phone(user)
    message = sent_message(phone)
    client.post(path_of(phone, "status"), data={"message_id": "SIM1", "status": "FAILED",
                                                "error_code": "SIM-42", "error_text": "No handset"})
    message = reload_message(message.id)
    assert (message.status, message.error_code, message.error_reason) == (
        statuses.FAILED, "SIM-42", "No handset")
    assert message.events[-1].payload and "SIM-42" in message.events[-1].payload


def test_a_report_that_outruns_the_worker_is_applied_when_the_provider_id_is_stored(client, user):
    phone = make_phone(user)
    [message_id] = queue_outbound(phone, ["+33612345678"], "Hi")
    response = client.post(path_of(phone, "status"), data={"message_id": "SIMEARLY", "status": "DELIVERED"})
    assert response.status_code == 200
    assert db.session.scalar(select(func.count(EarlyStatusEvent.id))) == 1

    # the worker now claims the message and records the provider's answer
    from webapp.providers.base import SendResult
    from webapp.services import sending
    [delivery], _ = sending.claim_job([message_id], "test-worker")
    sending.record_deliveries([(delivery, [SendResult("SIMEARLY")])])

    assert reload_message(message_id).status == statuses.DELIVERED
    assert db.session.scalar(select(func.count(EarlyStatusEvent.id))) == 0


def test_an_inbound_sms_is_stored_once_however_often_it_is_posted(client, user):
    phone = make_phone(user)
    form = {"message_id": "SIMIN1", "from": "06 12 34 56 78", "text": "Bonjour !"}
    for _ in range(3):
        assert client.post(path_of(phone, "inbound"), data=form).status_code == 200
    [message] = db.session.scalars(select(Message)).all()
    assert (message.direction, message.remote_number, message.body, message.status) == (
        Message.INBOUND, "+33612345678", "Bonjour !", statuses.RECEIVED)


def test_malformed_callbacks_answer_400_with_a_reason_and_change_nothing(client, user):
    phone = make_phone(user)
    message = sent_message(phone)
    cases = [
        ("status", {"status": "DELIVERED"}, "missing field message_id"),
        ("status", {"message_id": "SIM1"}, "missing field status"),
        ("status", {"message_id": "SIM1", "status": "EXPLODED"}, "unknown status EXPLODED"),
        ("inbound", {"message_id": "X", "text": "no sender"}, "missing field from"),
    ]
    for kind, form, reason in cases:
        response = client.post(path_of(phone, kind), data=form)
        assert response.status_code == 400
        assert reason in response.get_data(as_text=True)
    assert reload_message(message.id).status == statuses.SENT
    assert db.session.scalar(select(func.count(Message.id))) == 1


def test_a_rotated_token_retires_the_old_urls(client, user):
    phone = make_phone(user)
    sent_message(phone)
    old_path = path_of(phone, "status")
    from webapp.services.phones import rotate_callback_token
    rotate_callback_token(phone)
    assert client.post(old_path, data={"message_id": "SIM1", "status": "DELIVERED"}).status_code == 404
    assert client.post(path_of(phone, "status"), data={"message_id": "SIM1", "status": "DELIVERED"}).status_code == 200


field_values = st.one_of(st.text(max_size=40), st.sampled_from(["SIM1", "DELIVERED", "FAILED", "SENT", ""]))
forms = st.dictionaries(st.sampled_from(["message_id", "status", "error_code", "error_text", "from", "text",
                                         "other"]), field_values, max_size=6)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kind=st.sampled_from(["status", "inbound"]), form=forms,
       raw=st.binary(max_size=200), content_type=st.sampled_from(
           ["application/x-www-form-urlencoded", "application/json", "text/plain", "multipart/form-data"]))
def test_fuzzed_callbacks_never_crash_and_never_undo_a_delivery(client, user, kind, form, raw, content_type):
    phone = getattr(user, "_fuzz_phone", None)
    if phone is None:
        phone = user._fuzz_phone = make_phone(user)
        user._fuzz_message_id = sent_message(phone, status=statuses.DELIVERED).id
    response = client.post(path_of(phone, kind), data=form)
    assert response.status_code in (200, 400), response.get_data(as_text=True)
    response = client.post(path_of(phone, kind), data=raw, content_type=content_type)
    assert response.status_code in (200, 400)
    assert reload_message(user._fuzz_message_id).status == statuses.DELIVERED


def test_fuzzed_tokens_answer_404(client, user):
    phone = make_phone(user)

    @settings(max_examples=100, deadline=None)
    @given(token=st.text(alphabet=string.ascii_letters + string.digits + "-_%.", min_size=1, max_size=40))
    def probe(token):
        if token == phone.callback_token:
            return
        assert client.post(f"/callbacks/{phone.public_id}/{token}/status",
                           data={"message_id": "SIM1", "status": "DELIVERED"}).status_code == 404
    probe()


def test_a_nul_character_is_refused_with_a_reason(client, user):
    phone = make_phone(user)
    for kind, data in (("inbound", {"message_id": "\x00", "from": "0612345678", "text": "hi"}),
                       ("status", {"message_id": "SIM1", "status": "DELIVERED\x00"})):
        response = client.post(path_of(phone, kind), data=data)
        assert response.status_code == 400 and "NUL" in response.get_data(as_text=True)
    response = client.post(path_of(phone, "inbound"), data=b'{"text": "a\\u0000b"}', content_type="application/json")
    assert response.status_code == 400
    assert db.session.scalar(select(func.count(Message.id))) == 0


def test_many_reports_at_once_are_all_stored_before_each_answer(app, live_server, user):
    """Concurrent callbacks share transactions; each answers only once its own report is committed."""
    phone = make_phone(user)
    message_ids = sent_messages(phone, 40)
    url = live_server + path_of(phone, "status")

    def report(message_id):
        response = requests.post(url, data={"message_id": f"SIM{message_id}", "status": "DELIVERED"}, timeout=30)
        with app.app_context():
            return response.status_code, db.session.scalar(select(Message.status).where(Message.id == message_id))

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(report, message_ids))
    assert answers == [(200, statuses.DELIVERED)] * len(message_ids)
    assert db.session.scalar(select(func.count(MessageEvent.id)).where(
        MessageEvent.status == statuses.DELIVERED)) == len(message_ids)


def test_reports_of_one_message_written_together_keep_the_furthest_status(client, user):
    from webapp.services.reports import write_batch
    phone = make_phone(user)
    message = sent_message(phone, status=statuses.SENDING)
    batch = [(phone.id, [StatusEvent("SIM1", statuses.DELIVERED)], Future()),
             (phone.id, [StatusEvent("SIM1", statuses.SENT), StatusEvent("SIMNONE", statuses.SENT)], Future())]
    write_batch(batch)
    assert [done.result(timeout=0) for _phone_id, _events, done in batch] == [None, None]
    message = reload_message(message.id)
    assert message.status == statuses.DELIVERED
    assert [event.status for event in message.events[-2:]] == [statuses.DELIVERED, None]  # "sent" came too late
    assert db.session.scalar(select(EarlyStatusEvent.provider_message_id)) == "SIMNONE"


def test_a_report_that_cannot_be_stored_fails_alone_and_the_next_ones_are_written(client, user):
    from webapp.services.reports import ReportWriter
    phone = make_phone(user)
    message = sent_message(phone)
    writer = ReportWriter()
    with pytest.raises(IntegrityError):  # its phone is gone: the unknown-id row cannot refer to it
        writer.write(phone.id + 1000, [StatusEvent("SIM404", statuses.DELIVERED)])
    db.session.rollback()
    writer.write(phone.id, [StatusEvent("SIM1", statuses.DELIVERED)])
    assert reload_message(message.id).status == statuses.DELIVERED


def test_reports_from_many_threads_at_once_each_return_once_written(app, user):
    """The writer's lead passes from callback to callback: none is left waiting, none lost."""
    from webapp.services.reports import ReportWriter
    phone = make_phone(user)
    message_ids = sent_messages(phone, 240)
    writer = ReportWriter()

    def report(message_id):
        with app.app_context():
            writer.write(phone.id, [StatusEvent(f"SIM{message_id}", statuses.DELIVERED)])
            return db.session.scalar(select(Message.status).where(Message.id == message_id))

    with ThreadPoolExecutor(24) as pool:
        assert list(pool.map(report, message_ids)) == [statuses.DELIVERED] * len(message_ids)


def test_a_report_kept_waiting_too_long_gives_up_and_later_ones_are_written(app, user, monkeypatch):
    """While the database is locked, callbacks behind the one writing answer an error (the
    provider tries again) rather than wait for ever; the one writing finishes once it is free."""
    from webapp.services.reports import ReportWriter
    phone = make_phone(user)
    message_ids = sent_messages(phone, 5)
    writer = ReportWriter(wait_seconds=0.3)

    def report(message_id):
        with app.app_context():
            try:
                writer.write(phone.id, [StatusEvent(f"SIM{message_id}", statuses.DELIVERED)])
                return "written"
            except TimeoutError:
                return "gave up"

    locker = db.engine.connect()
    if db.engine.dialect.name == "sqlite":
        locker.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        locker.exec_driver_sql("BEGIN")
        locker.exec_driver_sql("LOCK TABLE messages IN EXCLUSIVE MODE")
    try:
        with ThreadPoolExecutor(4) as pool:
            first = pool.submit(report, message_ids[0])
            wait_for(lambda: writer._group._led, message="the first leading")  # and waiting for the database
            behind = list(pool.map(report, message_ids[1:4]))
            locker.rollback()
            assert first.result(timeout=30) == "written"
    finally:
        locker.close()
    assert behind == ["gave up"] * 3
    assert report(message_ids[4]) == "written"
    statuses_now = dict(db.session.execute(select(Message.id, Message.status).where(Message.id.in_(message_ids))).all())
    assert [statuses_now[message_id] for message_id in message_ids] == [
        statuses.DELIVERED, statuses.SENT, statuses.SENT, statuses.SENT, statuses.DELIVERED]


def test_a_token_changed_by_another_web_process_is_refused_within_seconds(client, user):
    from webapp.services.phones import CALLBACK_PHONE_SECONDS
    phone = make_phone(user)
    sent_message(phone)
    old_path = path_of(phone, "status")
    assert client.post(old_path, data={"message_id": "SIM1", "status": "SENT"}).status_code == 200
    db.session.execute(update(Phone).where(Phone.id == phone.id).values(callback_token="rotated-elsewhere"))
    db.session.commit()  # as another process would: this one's copy of the phone is not told
    time.sleep(CALLBACK_PHONE_SECONDS + 0.1)
    assert client.post(old_path, data={"message_id": "SIM1", "status": "DELIVERED"}).status_code == 404


@pytest.mark.skipif(not TEST_DATABASE_URL, reason="the writer keeps a connection between batches only on PostgreSQL")
def test_reports_are_written_when_the_writers_connection_is_cut(app, user, caplog):
    """The connection kept for batches that follow one another can die (the server restarted):
    that batch is written one report at a time, the next batch takes a new connection, and the
    writer gives its connection back once no callback is waiting."""
    from webapp.services.reports import ReportWriter
    phone = make_phone(user)
    message_ids = sent_messages(phone, 3)
    phone_id = phone.id  # read here: read in a thread, it would take a connection for this session
    writer = ReportWriter()
    checked_out_before = db.engine.pool.checkedout()

    def report(message_id):
        with app.app_context():
            writer.write(phone_id, [StatusEvent(f"SIM{message_id}", statuses.DELIVERED)])
            return "written"

    locker = db.engine.connect()
    locker.exec_driver_sql("BEGIN")
    locker.exec_driver_sql("LOCK TABLE messages IN EXCLUSIVE MODE")
    try:
        with ThreadPoolExecutor(3) as pool:
            first = pool.submit(report, message_ids[0])
            time.sleep(0.3)  # the first leads, on the kept connection, and waits for the lock
            behind = [pool.submit(report, message_id) for message_id in message_ids[1:]]
            time.sleep(0.3)  # the other two wait for the lead
            kept_pid = writer._connection.connection.dbapi_connection.info.backend_pid
            locker.exec_driver_sql(f"SELECT pg_terminate_backend({kept_pid}, 5000)")
            locker.rollback()
            answers = [future.result(timeout=30) for future in [first, *behind]]
    finally:
        locker.close()
    assert answers == ["written"] * 3
    assert [record.getMessage() for record in caplog.records if "could not write" in record.getMessage()] == [
        "could not write 1 status reports together; writing them one by one"]
    assert db.engine.pool.checkedout() == checked_out_before
    assert [reload_message(message_id).status for message_id in message_ids] == [statuses.DELIVERED] * 3


@pytest.mark.skipif(not TEST_DATABASE_URL, reason="each group of reports commits on its own only on PostgreSQL")
def test_a_batch_failing_part_way_keeps_the_reports_it_wrote(client, user):
    """The reports written before a later group failed are not judged again, which would add a
    "no change" line to their messages' timeline."""
    from webapp.services.reports import write_batch
    phone = make_phone(user)
    first, second = sent_messages(phone, 2)
    batch = [(phone.id, [StatusEvent(f"SIM{first}", statuses.DELIVERED)], Future()),
             (phone.id, [StatusEvent(f"SIM{second}", statuses.FAILED, reason="\ud800")], Future())]  # no valid text
    write_batch(batch)
    assert batch[0][2].result(timeout=0) is None
    assert batch[1][2].exception(timeout=0) is not None
    assert [event.status for event in reload_message(first).events][-1:] == [statuses.DELIVERED]
    assert None not in [event.status for event in reload_message(first).events]
    assert reload_message(second).status == statuses.SENT
