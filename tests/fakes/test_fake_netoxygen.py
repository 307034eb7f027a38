"""The fake NetOxygen gateway itself behaves as shared/specs/providers.md section 5 and the
gateway's interface document (seeds/netoxygen-xmlrpc-api.fr.txt) say, seen through xmlrpc.client."""
import http.client
import re
import time
import xmlrpc.client
from datetime import timedelta

import pytest

from tests.fakes.netoxygen import (AUTH_FAULT, FakeNetOxygen, MovableClock, clean_number, format_date,
                                   segment_count)

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


@pytest.fixture
def clock():
    return MovableClock()


@pytest.fixture
def fake(clock):
    with FakeNetOxygen(clock=clock) as server:
        yield server


@pytest.fixture
def proxy(fake):
    with xmlrpc.client.ServerProxy(fake.base_url) as client:
        yield client


def send(fake, proxy, dest, message="Bonjour", sender="", date="", type_="text"):
    return proxy.send_message(fake.user, fake.password, dest, message, sender, date, type_)


def status_of(fake, proxy, sms_id):
    [[answered_id, entry]] = proxy.get_status(fake.user, fake.password, [sms_id])
    assert answered_id == sms_id
    return entry


def test_base_url_and_other_paths(fake):
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/api2/", fake.base_url)
    with xmlrpc.client.ServerProxy(fake.base_url.rstrip("/")) as no_slash:
        assert no_slash.auth(fake.user, fake.password) is True
    with xmlrpc.client.ServerProxy(fake.base_url.replace("/api2/", "/RPC2")) as elsewhere:
        with pytest.raises(xmlrpc.client.ProtocolError) as caught:
            elsewhere.auth(fake.user, fake.password)
    assert caught.value.errcode == 404


def test_auth_true_and_false_without_fault(fake, proxy):
    assert proxy.auth(fake.user, fake.password) is True
    assert proxy.auth(fake.user, "wrong") is False
    assert proxy.auth("someone", fake.password) is False
    assert [call.authenticated for call in fake.calls_to("auth")] == [True, False, False]


@pytest.mark.parametrize("name, extra", [
    ("send_message", (["0791234567"], "Bonjour", "", "", "text")),
    ("get_status", (["x"],)), ("cancel_message", (["x"],)), ("get_credits", ()),
    ("account_status", ()), ("get_guid", ()), ("clean_number", ("022/364 8000",)),
])
def test_bad_credentials_are_a_fault_elsewhere(fake, proxy, name, extra):
    with pytest.raises(xmlrpc.client.Fault) as caught:
        getattr(proxy, name)(fake.user, "wrong", *extra)
    assert (caught.value.faultCode, caught.value.faultString) == AUTH_FAULT
    assert fake.messages == {}


def test_document_false_variant_for_credits_and_guid(fake, proxy):
    fake.false_on_bad_credentials = True
    assert proxy.get_credits(fake.user, "wrong") is False
    assert proxy.get_guid(fake.user, "wrong") is False
    with pytest.raises(xmlrpc.client.Fault):
        proxy.account_status(fake.user, "wrong")


def test_account_functions(fake, proxy):
    assert proxy.get_credits(fake.user, fake.password) == 250
    assert proxy.account_status(fake.user, fake.password) == "regular"
    guid = proxy.get_guid(fake.user, fake.password)
    assert guid == fake.guid and UUID.match(guid)


def test_send_with_one_invalid_destination_among_three(fake, proxy):
    answer = send(fake, proxy, ["079 123 45 67", "12ab", "+41 76 536 37 76"])
    assert [row[:2] for row in answer] == [["41791234567", 1], ["12ab", 5], ["41765363776", 1]]
    ids = [row[2] for row in answer]
    assert all(isinstance(sms_id, str) and UUID.match(sms_id) for sms_id in ids) and len(set(ids)) == 3
    assert [fake.messages[sms_id].error_code for sms_id in ids] == [1, 5, 1]
    assert fake.credits == 248                      # invalid destinations cost nothing
    entry = status_of(fake, proxy, ids[1])
    assert (entry["sent_status"], entry["sent_status_text"]) == (5, "Invalid destination number")
    assert entry["last_status"] == 4                # refused at send: a failed status
    message = fake.messages[ids[0]]
    assert (message.destination, message.to, message.text, message.sender, message.type) == (
        "079 123 45 67", "41791234567", "Bonjour", "SMSDesk", "text")


def test_a_single_string_destination_and_the_four_parameter_form(fake, proxy):
    [[dest, code, sms_id]] = proxy.send_message(fake.user, fake.password, "0041765363776", "Hi")
    assert (dest, code) == ("41765363776", 1)
    assert fake.messages[sms_id].type == "text"


def test_message_level_errors(fake, proxy):
    assert send(fake, proxy, ["0791234567"], "   ")[0][1] == 7
    assert send(fake, proxy, ["0791234567"], "x" * 1530)[0][1] == 1
    assert send(fake, proxy, ["0791234567"], "x" * 1531)[0][1] == 8
    assert send(fake, proxy, ["0791234567"], sender="TwelveLetter")[0][1] == 6
    assert send(fake, proxy, ["0791234567"], sender="1" * 17)[0][1] == 6
    assert send(fake, proxy, ["0791234567"], sender="+41791234567")[0][1] == 1
    assert send(fake, proxy, ["123"])[0][1] == 5
    [[_, _, sms_id]] = send(fake, proxy, ["0791234567"], sender="Shop")
    assert status_of(fake, proxy, sms_id)["from"] == "Shop"
    fake.default_sender = ""
    [[_, _, sms_id]] = send(fake, proxy, ["0791234567"])
    assert status_of(fake, proxy, sms_id)["from"] == "textobox.ch"


def test_flash_accepted_and_bad_type_faulted(fake, proxy):
    [[_, code, sms_id]] = send(fake, proxy, ["0791234567"], type_="flash")
    assert code == 1 and fake.messages[sms_id].type == "flash"
    with pytest.raises(xmlrpc.client.Fault) as caught:
        send(fake, proxy, ["0791234567"], type_="sms")
    assert caught.value.faultCode == -32602 and "type" in caught.value.faultString
    assert len(fake.messages) == 1


def test_bad_parameters(fake, proxy):
    with pytest.raises(xmlrpc.client.Fault) as caught:
        proxy.send_message(fake.user, fake.password, ["0791234567"])
    assert caught.value.faultCode == -32602
    with pytest.raises(xmlrpc.client.Fault) as caught:
        proxy.send_message(fake.user, fake.password, [791234567], "Hi")
    assert caught.value.faultCode == -32602
    with pytest.raises(xmlrpc.client.Fault) as caught:
        proxy.no_such_function(fake.user, fake.password)
    assert caught.value.faultCode == -32601


def test_base64_message_as_in_the_documents_perl_example(fake, proxy):
    message = xmlrpc.client.Binary("Réunion à 10h".encode("utf-8"))
    [[_, code, sms_id]] = proxy.send_message(fake.user, fake.password, "0791234567", message)
    assert code == 1 and fake.messages[sms_id].text == "Réunion à 10h"


def test_scheduled_then_canceled(fake, proxy, clock):
    date = format_date(clock() + timedelta(hours=1))
    [[_, code, sms_id]] = send(fake, proxy, ["0791234567"], date=date)
    assert code == 9 and fake.credits == 249
    entry = status_of(fake, proxy, sms_id)
    assert (entry["sent_status"], entry["last_status"], entry["last_status_text"]) == (
        9, 9, "Message scheduled")
    assert fake.messages[sms_id].date.strftime("%Y-%m-%d %H:%M:%S") == date
    assert proxy.cancel_message(fake.user, fake.password, [sms_id]) == [[sms_id, True]]
    entry = status_of(fake, proxy, sms_id)
    assert (entry["sent_status"], entry["sent_status_text"], entry["last_status"]) == (
        10, "Message canceled", 9)
    assert fake.credits == 250                      # refunded
    clock.advance(hours=2)
    fake.advance(sms_id)
    assert status_of(fake, proxy, sms_id)["last_status"] == 9     # a canceled message stays put
    assert proxy.cancel_message(fake.user, fake.password, sms_id) == [[sms_id, False]]


def test_cancel_after_the_date_is_refused(fake, proxy, clock):
    date = format_date(clock() + timedelta(hours=1))
    [[_, _, sms_id]] = send(fake, proxy, ["0791234567"], date=date)
    clock.advance(hours=2)
    assert proxy.cancel_message(fake.user, fake.password, [sms_id, "unknown"]) == [
        [sms_id, False], ["unknown", False]]
    entry = status_of(fake, proxy, sms_id)
    assert (entry["sent_status"], entry["last_status"], entry["last_date"]) == (1, 8, date)


def test_immediate_message_cannot_be_canceled_and_past_or_invalid_dates_mean_now(fake, proxy, clock):
    past = format_date(clock() - timedelta(minutes=5))
    for date in ("", past, "2030-02-30 10:00:00", "2030-01-01T10:00:00"):
        [[_, code, sms_id]] = send(fake, proxy, ["0791234567"], date=date)
        assert code == 1 and fake.messages[sms_id].date is None
    assert proxy.cancel_message(fake.user, fake.password, [sms_id]) == [[sms_id, False]]


def test_statuses_8_3_1_via_advance(fake, proxy, clock):
    [[_, _, sms_id]] = send(fake, proxy, ["0791234567"], "Salut")
    entry = status_of(fake, proxy, sms_id)
    assert entry == {"from": "SMSDesk", "to": "41791234567", "length": 5,
                     "sent_date": format_date(clock()), "sent_status": 1, "sent_status_text": "OK",
                     "last_date": format_date(clock()), "last_status": 8,
                     "last_status_text": "Message in queue"}
    clock.advance(30)
    fake.advance(sms_id)
    entry = status_of(fake, proxy, sms_id)
    assert (entry["last_status"], entry["last_status_text"], entry["last_date"]) == (
        3, "Message submitted", format_date(clock()))
    fake.advance()
    assert status_of(fake, proxy, sms_id)["last_status"] == 1
    assert fake.advance(sms_id) == []               # delivered is final
    assert [step["status"] for step in fake.messages[sms_id].history] == [8, 3, 1]


def test_advance_straight_to_a_status(fake, proxy):
    [[_, _, sms_id]] = send(fake, proxy, ["0791234567"])
    fake.advance(sms_id, to=1)
    assert status_of(fake, proxy, sms_id)["last_status"] == 1
    assert [step["status"] for step in fake.messages[sms_id].history] == [8, 1]


def test_forced_outcome_4_ends_failed(fake, proxy):
    fake.outcome_for["0792223344"] = 4
    [[_, code, sms_id], [_, _, other]] = send(fake, proxy, ["079 222 33 44", "0791234567"])
    assert code == 1
    fake.advance()
    fake.advance()
    fake.advance()
    entry = status_of(fake, proxy, sms_id)
    assert (entry["sent_status"], entry["last_status"], entry["last_status_text"]) == (
        1, 4, "Message error, delivery failed")
    assert status_of(fake, proxy, other)["last_status"] == 1


def test_forced_unknown_status_with_its_text(fake, proxy):
    fake.outcome_for["41791234567"] = (42, "Opérateur injoignable")
    [[_, _, sms_id]] = send(fake, proxy, ["+41791234567"])
    fake.advance(sms_id, to=42)
    entry = status_of(fake, proxy, sms_id)
    assert (entry["last_status"], entry["last_status_text"]) == (42, "Opérateur injoignable")


def test_auto_advance(fake, proxy, clock):
    fake.auto_advance_seconds = 10
    [[_, _, sms_id]] = send(fake, proxy, ["0791234567"])
    clock.advance(11)
    assert status_of(fake, proxy, sms_id)["last_status"] == 3
    clock.advance(60)
    entry = status_of(fake, proxy, sms_id)
    assert entry["last_status"] == 1
    assert entry["last_date"] == format_date(fake.messages[sms_id].created + timedelta(seconds=20))


def test_scheduled_message_is_released_at_its_date(fake, proxy, clock):
    fake.auto_advance_seconds = 10
    date = format_date(clock() + timedelta(minutes=5))
    [[_, _, sms_id]] = send(fake, proxy, ["0791234567"], date=date)
    fake.advance()                                  # not yet due: not moved
    assert status_of(fake, proxy, sms_id)["last_status"] == 9
    clock.advance(minutes=5, seconds=15)
    entry = status_of(fake, proxy, sms_id)
    assert (entry["sent_status"], entry["last_status"]) == (1, 3)
    assert [step["status"] for step in fake.messages[sms_id].history] == [9, 8, 3]


def test_unknown_ids(fake, proxy):
    entry = status_of(fake, proxy, "nope")
    assert (entry["sent_status"], entry["last_status"], entry["last_status_text"]) == (
        0, 0, "Unknown message id")
    fake.unknown_id_style = "false"
    assert proxy.get_status(fake.user, fake.password, "nope") == [["nope", False]]


def test_credits_decrease_by_segments_and_may_go_negative(fake, proxy):
    send(fake, proxy, ["0791234567", "0792223344"], "a" * 161)     # 2 segments x 2
    assert proxy.get_credits(fake.user, fake.password) == 246
    send(fake, proxy, ["0791234567"], "é" + "ш" * 70)             # UCS-2: 71 chars = 2 segments
    assert proxy.get_credits(fake.user, fake.password) == 244
    fake.credits = 1
    send(fake, proxy, ["0791234567"], "a" * 400)                    # 3 segments
    assert proxy.get_credits(fake.user, fake.password) == -2


@pytest.mark.parametrize("text, segments", [("", 0), ("a" * 160, 1), ("a" * 161, 2), ("€" * 80, 1),
                                            ("€" * 81, 2), ("ш" * 70, 1), ("ш" * 71, 2)])
def test_segment_count(text, segments):
    assert segment_count(text) == segments


@pytest.mark.parametrize("number, cleaned", [
    ("022/364 8000", "41223648000"), ("+41 76 536 37 76", "41765363776"),
    ("0041765363776", "41765363776"), ("0765363776", "41765363776"),
    ("+33 6 12 34 56 78", "33612345678"), ("+41 (0)22 364 8000", "41223648000"),
    ("41765363776", "41765363776"),
])
def test_clean_number(fake, proxy, number, cleaned):
    assert proxy.clean_number(fake.user, fake.password, number) == cleaned
    assert clean_number(number) == cleaned


def test_calls_are_recorded_without_the_password(fake, proxy):
    send(fake, proxy, ["0791234567"], "Hi", "Shop")
    call = fake.calls[-1]
    assert (call.name, call.args, call.outcome, call.authenticated) == (
        "send_message", (fake.user, ["0791234567"], "Hi", "Shop", "", "text"), "ok", True)
    assert call.result[0][1] == 1 and call.time.tzinfo is not None
    assert all(fake.password not in map(str, c.args) for c in fake.calls)


def test_injected_fault(fake, proxy):
    fake.fail_next("fault", code=2, text="Problème avec la passerelle.", method="send_message")
    assert proxy.auth(fake.user, fake.password) is True            # other functions unaffected
    with pytest.raises(xmlrpc.client.Fault) as caught:
        send(fake, proxy, ["0791234567"])
    assert (caught.value.faultCode, caught.value.faultString) == (2, "Problème avec la passerelle.")
    assert fake.messages == {} and fake.calls[-1].injected
    assert send(fake, proxy, ["0791234567"])[0][1] == 1


def test_http500_seen_by_the_client(fake, proxy):
    fake.fail_next("http500")
    with pytest.raises(xmlrpc.client.ProtocolError) as caught:
        send(fake, proxy, ["0791234567"])
    assert caught.value.errcode == 500
    assert fake.messages == {} and fake.calls[-1].outcome == "http500"
    fake.fail_next("http500", code=503, after_call=True)
    with pytest.raises(xmlrpc.client.ProtocolError) as caught:
        send(fake, proxy, ["0791234567"])
    assert caught.value.errcode == 503
    assert len(fake.messages) == 1                  # executed, then the answer was lost


def test_drop_seen_by_the_client(fake, proxy):
    fake.fail_next("drop", times=2)
    with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
        send(fake, proxy, ["0791234567"])
    assert [c.outcome for c in fake.calls] == ["drop", "drop"]     # xmlrpc.client retried once
    assert fake.messages == {}
    assert proxy.auth(fake.user, fake.password) is True


def test_single_drop_is_retried_by_xmlrpc_client_and_can_duplicate_a_send(fake, proxy):
    fake.fail_next("drop")
    assert send(fake, proxy, ["0791234567"])[0][1] == 1
    assert [c.outcome for c in fake.calls] == ["drop", "ok"] and len(fake.messages) == 1
    fake.fail_next("drop", after_call=True)
    send(fake, proxy, ["0791234567"])
    assert len(fake.messages) == 3                  # the silent retry sent it a second time


def test_answer_delay(fake, proxy):
    fake.answer_delay = 0.3
    started = time.monotonic()
    assert proxy.auth(fake.user, fake.password) is True
    assert time.monotonic() - started >= 0.3


def test_stop_frees_the_port():
    fake = FakeNetOxygen().start()
    url = fake.base_url
    fake.stop()
    with pytest.raises(RuntimeError):
        fake.base_url
    with xmlrpc.client.ServerProxy(url) as client, pytest.raises(OSError):
        client.auth("smsdesk", "x")
