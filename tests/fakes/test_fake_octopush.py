"""The fake Octopush itself behaves as shared/specs/providers.md section 3 says (plain requests, no app)."""
import json
import re
import threading
import time
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
import requests
from werkzeug.wrappers import Response

from tests.fakes.receiver import Receiver
from tests.fakes.octopush import DUPLICATE_REQUEST_ID, FakeOctopush, reply_problem, segment_count

TO = "+33612345678"
PARIS = ZoneInfo("Europe/Paris")
DATE = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")
TICKET = re.compile(r"^sms_[0-9a-f]{13}$")


@pytest.fixture
def fake():
    with FakeOctopush() as server:
        yield server


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.close()


def headers(fake, login=None, key=None):
    return {"api-login": fake.api_login if login is None else login,
            "api-key": fake.api_key if key is None else key}


def send(fake, auth=None, timeout=5, **fields):
    body = {"recipients": [{"phone_number": TO}], "text": "Hello", "type": "sms_premium"}
    body.update(fields)
    body = {key: value for key, value in body.items() if value is not ...}
    return requests.post(fake.base_url + "/v1/public/sms-campaign/send", json=body,
                         headers=headers(fake) if auth is None else auth, timeout=timeout)


def assert_error(response, status, code=None, contains=None):
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"code", "message"}
    assert isinstance(body["code"], int) and isinstance(body["message"], str) and body["message"]
    if code is not None:
        assert body["code"] == code
    if contains is not None:
        assert contains in body["message"]
    return body


# ---------------------------------------------------------------- authentication

def test_base_url_and_credentials_defaults(fake):
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", fake.base_url)
    assert fake.api_login == "user@example.org"
    assert len(fake.api_key) >= 16 and FakeOctopush().api_key != fake.api_key
    assert fake.virtual_number == "+33644630000"
    assert fake.send_url == fake.base_url + "/v1/public/sms-campaign/send"


@pytest.mark.parametrize("auth", [
    {},
    {"api-login": "user@example.org"},
    {"api-key": "KEY"},
    {"api-login": "other@example.org", "api-key": "KEY"},
    {"api-login": "user@example.org", "api-key": "wrong"},
    {"api-login": "", "api-key": ""},
])
def test_send_refused_without_both_right_headers(fake, auth):
    auth = {name: (fake.api_key if value == "KEY" else value) for name, value in auth.items()}
    response = send(fake, auth=auth)
    assert_error(response, 401, 1000)
    assert fake.campaigns == {}
    assert fake.balance == 10.0
    assert fake.requests[-1].status == 401


def test_header_names_are_case_insensitive(fake):
    response = send(fake, auth={"API-LOGIN": fake.api_login, "Api-Key": fake.api_key})
    assert response.status_code == 201


def test_auth_is_checked_before_the_body(fake):
    response = requests.post(fake.send_url, data="not json", headers={"Content-Type": "application/json"},
                             timeout=5)
    assert_error(response, 401, 1000)


# ---------------------------------------------------------------- validation

@pytest.mark.parametrize("number", ["0612345678", "33612345678", "+33 6 12 34 56 78", "+3361234567890123",
                                    "+12345", "+33612345678\n", "+٣٣٦١٢٣٤٥٦٧٨"])
def test_bad_number_refused_and_named(fake, number):
    response = send(fake, recipients=[{"phone_number": TO}, {"phone_number": number}])
    assert_error(response, 400, 1004, contains=repr(number))
    assert "recipients[1]" in response.json()["message"]
    assert fake.campaigns == {} and fake.balance == 10.0


@pytest.mark.parametrize("recipients", [[], None, "+33612345678", ["+33612345678"], [{}],
                                        [{"phone_number": 33612345678}], [{"number": TO}]])
def test_recipients_must_be_a_non_empty_list_of_objects(fake, recipients):
    response = send(fake, recipients=recipients)
    assert response.status_code == 400
    assert_error(response, 400)
    assert fake.campaigns == {}


def test_at_most_500_recipients(fake):
    many = [{"phone_number": f"+336{index:08d}"} for index in range(501)]
    assert_error(send(fake, recipients=many), 400, 1003, contains="500")
    response = send(fake, recipients=many[:200])
    assert response.status_code == 201 and response.json()["number_of_contacts"] == 200


@pytest.mark.parametrize("value", ["sms_standard", "FR", "XXX", "", None, "SMS_PREMIUM"])
def test_bad_type_refused(fake, value):
    assert_error(send(fake, type=value), 400, 1003, contains="type")
    assert fake.campaigns == {}


@pytest.mark.parametrize("missing", ["recipients", "text", "type"])
def test_required_fields(fake, missing):
    assert_error(send(fake, **{missing: ...}), 400, 1002, contains=missing)


def test_sms_type_is_not_type(fake):
    """RaspiSMS sends the undocumented sms_type: without `type` the call is refused."""
    response = send(fake, type=..., sms_type="sms_premium")
    assert_error(response, 400, 1002, contains="type")


def test_text_length_1_to_1224(fake):
    assert_error(send(fake, text=""), 400, 1003, contains="text")
    assert_error(send(fake, text="x" * 1225), 400, 1003, contains="1225")
    assert_error(send(fake, text=42), 400, 1003, contains="text")
    response = send(fake, text="x" * 1224)
    assert response.status_code == 201
    assert response.json()["number_of_sms_needed"] == 8  # ceil(1224 / 153)


@pytest.mark.parametrize("sender", ["AB", "ABCDEFGHIJKL", "SMS Desk", "Désk", "+33644630000", "", None, 123])
def test_bad_sender_refused(fake, sender):
    assert_error(send(fake, sender=sender), 400, 1003, contains="sender")


@pytest.mark.parametrize("fields", [{"with_replies": "true"}, {"with_replies": 1}, {"with_replies": None},
                                    {"purpose": "marketing"}, {"send_at": "tomorrow"}, {"send_at": 1700000000},
                                    {"simulation_mode": "yes"}, {"request_id": ""}, {"request_id": 12}])
def test_optional_fields_are_typed(fake, fields):
    assert_error(send(fake, **fields), 400, 1003)
    assert fake.campaigns == {}


@pytest.mark.parametrize("body, content_type", [
    (b"recipients=%2B33612345678&text=Hi&type=sms_premium", "application/x-www-form-urlencoded"),
    (b'{"recipients": [', "application/json"),
    (b'[{"phone_number": "+33612345678"}]', "application/json"),
    (b"", "application/json"),
    (b'{"recipients": [{"phone_number": "+33612345678"}], "text": "Hi", "type": "sms_premium"}', "text/plain"),
])
def test_json_object_body_required(fake, body, content_type):
    response = requests.post(fake.send_url, data=body, timeout=5,
                             headers={**headers(fake), "Content-Type": content_type})
    assert_error(response, 400, 1001)
    assert fake.requests[-1].body == body


def test_unknown_route_and_method(fake):
    assert_error(requests.get(fake.send_url, headers=headers(fake), timeout=5), 405)
    assert_error(requests.post(fake.base_url + "/v1/public/sms/send", headers=headers(fake), timeout=5), 404)


# ---------------------------------------------------------------- success

def test_success_shape_201(fake):
    response = send(fake, recipients=[{"phone_number": TO}, {"phone_number": "+32470123456", "first_name": "Ann"}],
                    text="Bonjour ✓", sender="SMSDesk", with_replies=False, purpose="alert",
                    request_id="msg-1", extra_field=1)
    assert response.status_code == 201
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"sms_ticket", "number_of_contacts", "total_cost", "number_of_sms_needed",
                         "residual_credit"}
    assert TICKET.match(body["sms_ticket"])
    assert body["number_of_contacts"] == 2
    assert body["total_cost"] == pytest.approx(0.10)
    assert body["number_of_sms_needed"] == 1
    assert body["residual_credit"] == pytest.approx(9.90)

    campaign = fake.campaigns[body["sms_ticket"]]
    assert campaign is fake.last_campaign
    assert campaign.recipients == [TO, "+32470123456"]
    assert campaign.text == "Bonjour ✓" and campaign.type == "sms_premium"
    assert campaign.sender == "SMSDesk" and campaign.with_replies is False
    assert campaign.request_id == "msg-1" and campaign.purpose == "alert"
    assert campaign.payload["recipients"][1]["first_name"] == "Ann"
    assert campaign.unknown_fields == ["extra_field"]

    record = fake.sends()[-1]
    assert record.method == "POST" and record.path == "/v1/public/sms-campaign/send"
    assert record.headers["api-login"] == fake.api_login and record.headers["API-KEY"] == fake.api_key
    assert record.content_type == "application/json"
    assert json.loads(record.body) == record.json and record.json["text"] == "Bonjour ✓"
    assert record.status == 201


def test_success_status_200_and_with_replies():
    with FakeOctopush(success_status=200, balance=1.0) as fake:
        response = send(fake, with_replies=True, type="sms_low_cost", text="ê" * 71)
        assert response.status_code == 200
        body = response.json()
        assert TICKET.match(body["sms_ticket"])
        assert body["number_of_sms_needed"] == 2          # 71 > 70 UCS-2 characters
        assert body["total_cost"] == pytest.approx(0.05)  # per contact, per spec 3.6
        assert body["residual_credit"] == pytest.approx(0.95)
        campaign = fake.last_campaign
        assert campaign.with_replies is True and campaign.sender is None and campaign.type == "sms_low_cost"
    with pytest.raises(ValueError):
        FakeOctopush(success_status=202)


def test_tickets_are_unique_and_increasing(fake):
    tickets = [send(fake).json()["sms_ticket"] for _ in range(5)]
    assert len(set(tickets)) == 5 and tickets == sorted(tickets)
    assert list(fake.campaigns) == tickets


def test_segment_count():
    assert segment_count("a" * 160) == 1 and segment_count("a" * 161) == 2
    assert segment_count("€" * 80) == 1 and segment_count("€" * 81) == 2
    assert segment_count("😀" * 35) == 1 and segment_count("😀" * 36) == 2


def test_insufficient_credit():
    with FakeOctopush(balance=0.08) as fake:
        assert send(fake).status_code == 201
        assert_error(send(fake), 400, 1006)
        assert len(fake.campaigns) == 1 and fake.balance == pytest.approx(0.03)


def test_simulation_mode_is_not_debited(fake):
    response = send(fake, simulation_mode=True, request_id="sim")
    assert response.status_code == 201
    assert fake.last_campaign.simulation is True and fake.balance == 10.0
    assert send(fake, request_id="sim").status_code == 201


# ---------------------------------------------------------------- request_id

def test_duplicate_request_id_refused_and_not_recorded_twice(fake):
    first = send(fake, request_id="abc-1")
    assert first.status_code == 201
    again = send(fake, request_id="abc-1", text="Something else")
    body = assert_error(again, 400, DUPLICATE_REQUEST_ID)
    assert DUPLICATE_REQUEST_ID == 120 and "request_id was already used" in body["message"]
    assert "sms_ticket" not in body  # the refusal does not tell the first campaign's ticket
    assert len(fake.campaigns) == 1 and fake.last_campaign.text == "Hello"
    assert fake.balance == pytest.approx(9.95)
    assert send(fake, request_id="abc-2").status_code == 201
    assert send(fake).status_code == 201 and send(fake).status_code == 201  # no request_id: no check
    assert len(fake.campaigns) == 4


def test_refused_request_does_not_use_the_request_id(fake):
    assert send(fake, request_id="r", type="bad").status_code == 400
    assert send(fake, request_id="r").status_code == 201


def test_request_id_expires(fake):
    assert send(fake, request_id="old").status_code == 201
    fake.request_id_ttl = 0.05
    time.sleep(0.1)
    assert send(fake, request_id="old").status_code == 201
    fake.request_id_ttl = 24 * 3600
    assert send(fake, request_id="old").status_code == 400
    fake.forget_request_ids()
    assert send(fake, request_id="old").status_code == 201


def test_concurrent_duplicates_send_once(fake):
    results = []
    threads = [threading.Thread(target=lambda: results.append(send(fake, request_id="same").status_code))
               for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [201] + [400] * 5
    assert len(fake.campaigns) == 1


# ---------------------------------------------------------------- lost answers

def test_a_connection_dropped_before_answering_sends_nothing(fake):
    fake.drop_next()
    with pytest.raises(requests.ConnectionError):
        send(fake, request_id="dropped")
    assert fake.campaigns == {} and fake.sends()[-1].error == "connection dropped"
    assert send(fake, request_id="dropped").status_code == 201  # the request_id was not used
    assert len(fake.accepted_for(TO)) == 1


def test_a_connection_dropped_after_accepting_has_sent_it(fake):
    fake.drop_next(after_accepting=True)
    with pytest.raises(requests.ConnectionError):
        send(fake, request_id="sent-once")
    assert len(fake.accepted_for(TO)) == 1
    assert_error(send(fake, request_id="sent-once"), 400, DUPLICATE_REQUEST_ID)
    assert len(fake.accepted_for(TO)) == 1 and fake.balance == pytest.approx(9.95)


def test_a_late_answer_comes_after_the_client_gave_up_but_the_sms_is_sent(fake):
    fake.answer_late_next(1.0)
    with pytest.raises(requests.ReadTimeout):
        send(fake, request_id="late", timeout=(5, 0.3))
    assert len(fake.accepted_for(TO)) == 1
    assert_error(send(fake, request_id="late"), 400, DUPLICATE_REQUEST_ID)
    assert send(fake, request_id="on-time").status_code == 201  # only the next call was late


# ---------------------------------------------------------------- balance

def test_balance(fake):
    response = requests.get(fake.balance_url, headers=headers(fake), timeout=5)
    assert response.status_code == 200 and response.json() == {"amount": 10.0, "unit": "EUR"}
    send(fake, recipients=[{"phone_number": TO}, {"phone_number": "+33698765432"}])
    assert requests.get(fake.balance_url, headers=headers(fake), timeout=5).json()["amount"] == pytest.approx(9.9)
    # query parameters of the official example are accepted
    assert requests.get(fake.balance_url, params={"country_code": "FR", "with_details": 1},
                        headers=headers(fake), timeout=5).status_code == 200
    assert_error(requests.get(fake.balance_url, headers=headers(fake, key="wrong"), timeout=5), 401, 1000)
    assert_error(requests.get(fake.balance_url, timeout=5), 401, 1000)


# ---------------------------------------------------------------- failures and delays

def test_fail_next(fake):
    fake.fail_next(503, times=2)
    assert_error(send(fake), 503, 503)
    assert_error(send(fake), 503)
    assert send(fake).status_code == 201
    fake.fail_next(500, body="<html><body>Bad gateway</body></html>")
    response = send(fake, request_id="x")
    assert response.status_code == 500 and response.headers["Content-Type"].startswith("text/html")
    assert send(fake, request_id="x").status_code == 201  # the failed try did not use the request_id
    fake.fail_next(429)
    response = send(fake)
    assert response.status_code == 429 and response.headers["Retry-After"] == "1"
    fake.fail_next(401, message="Bad credentials")
    assert_error(send(fake), 401, 1000, contains="Bad credentials")
    assert len(fake.campaigns) == 2


def test_answer_delay_records_before_answering(fake):
    fake.answer_delay = 0.6
    with pytest.raises(requests.Timeout):
        send(fake, request_id="slow", timeout=0.2)
    assert fake.last_campaign.request_id == "slow"
    fake.answer_delay = 0
    assert_error(send(fake, request_id="slow"), 400, DUPLICATE_REQUEST_ID)   # the retry is recognised
    assert len(fake.campaigns) == 1


# ---------------------------------------------------------------- emitters

def test_send_dlr_posts_the_exact_json(fake, receiver):
    fake.status_url = receiver.url("/cb/status")
    ticket = send(fake).json()["sms_ticket"]
    before = datetime.now(PARIS).replace(microsecond=0, tzinfo=None)
    response = fake.send_dlr(ticket, TO)
    assert response.status_code == 204 and reply_problem(response) is None
    hit = receiver.wait_for(1)[0]
    assert hit["method"] == "POST" and hit["path"] == "/cb/status"
    assert hit["headers"]["Content-Type"] == "application/json"
    payload = json.loads(hit["body"])
    assert list(payload) == ["channel", "message_id", "list_name", "number", "status", "unit_price",
                             "delivery_date", "meta_data"]
    assert payload == {"channel": "sms", "message_id": ticket, "list_name": "", "number": TO,
                       "status": "DELIVERED", "unit_price": 0.05, "delivery_date": payload["delivery_date"],
                       "meta_data": {}}
    assert DATE.match(payload["delivery_date"])
    sent_at = datetime.strptime(payload["delivery_date"], "%Y-%m-%d %H:%M:%S")
    assert before - timedelta(seconds=1) <= sent_at <= before + timedelta(seconds=2)   # Paris time
    assert fake.campaigns[ticket].statuses == {TO: "DELIVERED"}
    callback = fake.callbacks[-1]
    assert callback.kind == "dlr" and callback.status_code == 204 and callback.payload == payload


def test_send_dlr_options(fake, receiver):
    fake.status_url = receiver.url("/status")
    utc = datetime(2025, 1, 22, 10, 46, 6, tzinfo=timezone.utc)
    fake.send_dlr("sms_0000000000000", "+33600112233", "NOT_DELIVERED", delivery_date=utc)
    fake.send_dlr("sms_0000000000000", TO, delivery_date="2025-07-01 12:00:00", url=receiver.url("/other"))
    fake.send_dlr("sms_0000000000000", TO, extra={"meta_data": ..., "pressed_keys_code": ""})
    first, second, third = [json.loads(hit["body"]) for hit in receiver.wait_for(3)]
    assert first["status"] == "NOT_DELIVERED" and first["delivery_date"] == "2025-01-22 11:46:06"  # CET
    assert second["delivery_date"] == "2025-07-01 12:00:00" and receiver.received[1]["path"] == "/other"
    assert "meta_data" not in third and third["pressed_keys_code"] == ""


def test_send_inbound_posts_the_exact_json(fake, receiver):
    fake.inbound_url = receiver.url("/cb/inbound")
    fake.send_inbound("+33698765432", "Bonjour, oui ✓")       # nothing sent to this number: null
    ticket = send(fake).json()["sms_ticket"]
    fake.send_inbound(TO, "Yes")                              # the latest campaign to TO
    fake.send_inbound(TO, "Explicit", message_id="sms_abc", reception_date="2025-01-22 11:46:06")
    hits = receiver.wait_for(3)
    assert all(hit["headers"]["Content-Type"] == "application/json" for hit in hits)
    first, second, third = [json.loads(hit["body"]) for hit in hits]
    assert list(first) == ["message_id", "number", "text", "sim_card_number", "reception_date"]
    assert first == {"message_id": None, "number": "+33698765432", "text": "Bonjour, oui ✓",
                     "sim_card_number": "+33644630000", "reception_date": first["reception_date"]}
    assert DATE.match(first["reception_date"])
    assert second["message_id"] == ticket and second["text"] == "Yes"
    assert third == {"message_id": "sms_abc", "number": TO, "text": "Explicit",
                     "sim_card_number": "+33644630000", "reception_date": "2025-01-22 11:46:06"}


def test_send_stop_posts_the_exact_json(fake, receiver):
    fake.inbound_url = receiver.url("/cb/inbound")
    ticket = send(fake).json()["sms_ticket"]
    fake.send_stop(TO)
    fake.send_stop("+33698765432", message_id="sms_x", url=receiver.url("/stops"))
    first, second = receiver.wait_for(2)
    payload = json.loads(first["body"])
    assert list(payload) == ["message_id", "number", "text", "stop_date"]
    assert payload == {"message_id": ticket, "number": TO, "text": "STOP", "stop_date": payload["stop_date"]}
    assert DATE.match(payload["stop_date"])
    assert second["path"] == "/stops" and json.loads(second["body"])["message_id"] == "sms_x"


def test_emitters_need_a_url(fake):
    with pytest.raises(ValueError, match="status_url"):
        fake.send_dlr("sms_1", TO)
    with pytest.raises(ValueError, match="inbound_url"):
        fake.send_inbound(TO, "x")
    with pytest.raises(ValueError, match="inbound_url"):
        fake.send_stop(TO)


def test_post_raw(fake, receiver):
    fake.post_raw(receiver.url("/raw"), b'{"number": ', "application/json")
    fake.post_raw(receiver.url("/raw"), "number=%2B33612345678", "application/x-www-form-urlencoded")
    fake.post_raw(receiver.url("/raw"), b"", None)
    first, second, third = receiver.wait_for(3)
    assert first["body"] == b'{"number": ' and first["headers"]["Content-Type"] == "application/json"
    assert second["headers"]["Content-Type"] == "application/x-www-form-urlencoded"
    assert third["body"] == b"" and "Content-Type" not in third["headers"]
    assert [c.kind for c in fake.callbacks] == ["raw"] * 3


def test_auto_dlr(fake, receiver):
    fake.auto_dlr = True
    fake.callback_delay = 0.05
    send(fake)                                   # no status_url: nothing is posted
    fake.status_url = receiver.url("/status")
    started = time.monotonic()
    ticket = send(fake, recipients=[{"phone_number": TO}, {"phone_number": "+33698765432"}]).json()["sms_ticket"]
    hits = receiver.wait_for(2)
    assert time.monotonic() - started >= 0.05
    payloads = [json.loads(hit["body"]) for hit in hits]
    assert [(p["message_id"], p["number"], p["status"]) for p in payloads] == [
        (ticket, TO, "DELIVERED"), (ticket, "+33698765432", "DELIVERED")]
    send(fake, simulation_mode=True)             # simulations get no callbacks
    time.sleep(0.2)
    assert len(receiver.received) == 2


# ---------------------------------------------------------------- reply_problem

def test_reply_problem(fake, receiver):
    url = receiver.url("/cb")
    assert reply_problem(fake.post_raw(url, b"{}")) is None
    receiver.reply = lambda: Response("OK", status=200)
    assert "non-empty body" in reply_problem(fake.post_raw(url, b"{}"))
    receiver.reply = lambda: Response(" ", status=200)
    assert "non-empty body" in reply_problem(fake.post_raw(url, b"{}"))
    receiver.reply = lambda: Response(status=500)
    assert "HTTP 500" in reply_problem(fake.post_raw(url, b"{}"))
    receiver.reply = lambda: (time.sleep(0.3), Response(status=204))[1]
    slow = fake.post_raw(url, b"{}")
    assert reply_problem(slow) is None
    assert "0.2 s" in reply_problem(slow, limit=0.2)
    assert fake.reply_problem(slow) is None and FakeOctopush.reply_problem(slow, limit=0.2)


def test_reply_problem_default_limit_is_one_second():
    response = requests.Response()
    response.status_code = 200
    response._content = b""
    response.elapsed = timedelta(seconds=1.5)
    assert "1.50 s" in reply_problem(response)
    response.elapsed = timedelta(seconds=0.9)
    assert reply_problem(response) is None
    assert reply_problem(response, limit=0.5) is not None
