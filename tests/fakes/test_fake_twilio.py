"""The fake Twilio itself behaves as shared/specs/providers.md section 1 says (plain requests, no app)."""
import re
import time
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime

import pytest
import requests
from werkzeug.wrappers import Response

from tests.fakes.receiver import Receiver
from tests.fakes.twilio import FakeTwilio, segment_count, twilio_signature, webhook_reply_problem

TO = "+33612345678"
TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


@pytest.fixture
def fake():
    with FakeTwilio() as server:
        yield server


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.close()


def create(fake, auth=None, **fields):
    data = {"To": TO, "From": fake.numbers[0], "Body": "Hello"}
    data.update(fields)
    data = {key: value for key, value in data.items() if value is not None}
    return requests.post(fake.messages_url, data=data, auth=auth or (fake.account_sid, fake.auth_token), timeout=5)


def assert_twilio_error(response, status, code, message=None):
    assert response.status_code == status
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["code"] == code and body["status"] == status
    assert body["more_info"] == f"https://www.twilio.com/docs/errors/{code}"
    if message is not None:
        assert body["message"] == message


def assert_signed(fake, received):
    assert received["headers"]["X-Twilio-Signature"] == twilio_signature(
        fake.auth_token, received["url"], received["form"])


# ---------------------------------------------------------------- signature (spec 1.4)

def test_signature_worked_example():
    params = {"CallSid": "CA1234567890ABCDE", "Caller": "+14158675309", "Digits": "1234",
              "From": "+14158675309", "To": "+18005551212"}
    assert twilio_signature("12345", "https://mycompany.com/myapp.php?foo=1&bar=2", params) \
        == "RSOYDt4T1cUTdK1PDd93/VVr8B8="


def test_signature_sorts_and_deduplicates_repeated_values():
    assert twilio_signature("t", "https://x/y", {"B": ["2", "1", "2"], "A": "z"}) == \
        twilio_signature("t", "https://x/y", {"A": "z", "B": ["1", "2"]})


# ---------------------------------------------------------------- authentication

def test_create_refuses_bad_credentials(fake):
    for auth in [(fake.account_sid, "0" * 32), ("AC" + "0" * 32, fake.auth_token)]:
        response = create(fake, auth=auth)
        assert_twilio_error(response, 401, 20003, "Authenticate")
    response = requests.post(fake.messages_url, data={"To": TO, "From": fake.numbers[0], "Body": "x"}, timeout=5)
    assert response.json() == {"code": 20003, "message": "Authenticate",
                               "more_info": "https://www.twilio.com/docs/errors/20003", "status": 401}
    assert response.headers["WWW-Authenticate"] == 'Basic realm="Twilio API"'
    assert fake.messages == {}


def test_credentials_of_another_account_in_the_path_are_refused(fake):
    url = f"{fake.base_url}/2010-04-01/Accounts/AC{'1' * 32}/Messages.json"
    key = fake.add_api_key()
    for auth in [(fake.account_sid, fake.auth_token), (key.sid, key.secret)]:
        response = requests.post(url, data={"To": TO, "From": fake.numbers[0], "Body": "x"}, auth=auth, timeout=5)
        assert_twilio_error(response, 401, 20003)


def test_fetch_account_is_the_connection_test(fake):
    url = f"{fake.base_url}/2010-04-01/Accounts/{fake.account_sid}.json"
    response = requests.get(url, auth=(fake.account_sid, fake.auth_token), timeout=5)
    assert response.status_code == 200
    account = response.json()
    assert account["sid"] == fake.account_sid and account["status"] == "active"
    assert account["type"] == "Full" and account["friendly_name"]
    assert_twilio_error(requests.get(url, auth=(fake.account_sid, "bad"), timeout=5), 401, 20003)


def test_an_api_key_sid_and_secret_are_a_basic_auth_pair_under_the_account_sids_url(fake):
    key = fake.add_api_key()
    response = create(fake, auth=(key.sid, key.secret))
    assert response.status_code == 201 and response.json()["account_sid"] == fake.account_sid
    assert_twilio_error(create(fake, auth=(key.sid, fake.auth_token)), 401, 20003)


def test_a_standard_api_key_may_not_read_the_account_but_a_main_one_may(fake):
    url = f"{fake.base_url}/2010-04-01/Accounts/{fake.account_sid}.json"
    standard, main = fake.add_api_key(), fake.add_api_key("main")
    assert_twilio_error(requests.get(url, auth=(standard.sid, standard.secret), timeout=5), 401, 20003)
    assert requests.get(url, auth=(main.sid, main.secret), timeout=5).status_code == 200
    assert requests.get(fake.messages_url, auth=(standard.sid, standard.secret), timeout=5).status_code == 200


# ---------------------------------------------------------------- create: validation

def test_invalid_to_is_21211(fake):
    response = create(fake, To="0612345678")
    assert_twilio_error(response, 400, 21211, "The 'To' number 0612345678 is not a valid phone number.")


@pytest.mark.parametrize("fields, code", [
    ({"To": None}, 21604),
    ({"From": None}, 21603),
    ({"Body": None}, 21602),
    ({"Body": ""}, 21602),
    ({"Body": "a" * 1601}, 21617),
    ({"To": "+15005550006"}, 21266),
    ({"StatusCallback": "http://my_host/status"}, 21609),
    ({"StatusCallback": "/relative/path"}, 21609),
    ({"ValidityPeriod": "0"}, 21624),
    ({"ValidityPeriod": "36001"}, 21624),
])
def test_create_validation_errors(fake, fields, code):
    assert_twilio_error(create(fake, **fields), 400, code)
    assert fake.messages == {}


def test_from_must_be_ours_or_an_alphanumeric_sender(fake):
    response = create(fake, From="+15005550001")
    assert_twilio_error(response, 400, 21606, "The From phone number +15005550001 is not a valid, SMS-capable "
                                              "inbound phone number or short code for your account.")
    for bad in ["TooLongSender", "12345", "Bad.Name", "Élève"]:
        assert_twilio_error(create(fake, From=bad), 400, 21606)
    for good in ["SMSDesk", "Desk 2", "ABCDEFGHIJK", "Mon-Ecole", "A&B_C+D"]:
        assert create(fake, From=good).status_code == 201


def test_body_of_1600_characters_is_accepted(fake):
    response = create(fake, Body="a" * 1600)
    assert response.status_code == 201 and response.json()["num_segments"] == "11"


def test_json_body_is_not_read(fake):
    response = requests.post(fake.messages_url, json={"To": TO, "From": fake.numbers[0], "Body": "x"},
                             auth=(fake.account_sid, fake.auth_token), timeout=5)
    assert_twilio_error(response, 400, 21604)


def test_scheduling_needs_a_messaging_service():
    service = "MG" + "a" * 32
    with FakeTwilio(messaging_services=[service]) as fake:
        send_at = (datetime.now(timezone.utc) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        assert_twilio_error(create(fake, ScheduleType="fixed", SendAt=send_at), 400, 35118)
        assert_twilio_error(create(fake, ScheduleType="fixed", MessagingServiceSid=service), 400, 35111)
        too_soon = (datetime.now(timezone.utc) + timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        assert_twilio_error(create(fake, ScheduleType="fixed", SendAt=too_soon, MessagingServiceSid=service),
                            400, 35115)
        assert_twilio_error(create(fake, MessagingServiceSid="MG" + "b" * 32), 400, 21701)
        response = create(fake, ScheduleType="fixed", SendAt=send_at, MessagingServiceSid=service)
        assert response.status_code == 201 and response.json()["status"] == "scheduled"


# ---------------------------------------------------------------- create: the resource

def test_created_resource_shape_and_recording(fake):
    callback = "https://desk.example/callbacks/twilio/1/tok/status"
    response = create(fake, Body="Bonjour", StatusCallback=callback)
    assert response.status_code == 201
    assert response.headers["Content-Type"].startswith("application/json")
    message = response.json()
    assert re.fullmatch(r"SM[0-9a-f]{32}", message["sid"])
    assert message["status"] == "queued"
    assert message["to"] == TO and message["from"] == fake.numbers[0] and message["body"] == "Bonjour"
    assert message["num_segments"] == "1" and message["num_media"] == "0"
    assert message["direction"] == "outbound-api" and message["api_version"] == "2010-04-01"
    assert message["error_code"] is None and message["error_message"] is None and message["date_sent"] is None
    assert message["account_sid"] == fake.account_sid
    assert message["uri"] == f"/2010-04-01/Accounts/{fake.account_sid}/Messages/{message['sid']}.json"
    for name in ("date_created", "date_updated"):
        moment = parsedate_to_datetime(message[name])
        assert moment.utcoffset() == timedelta(0)
        assert abs((datetime.now(timezone.utc) - moment).total_seconds()) < 5
    stored = fake.messages[message["sid"]]
    assert stored.status_callback == callback and stored.resource == message
    assert fake.last_message is stored
    request = fake.requests[-1]
    assert request.method == "POST" and request.path.endswith("/Messages.json")
    assert request.content_type.startswith("application/x-www-form-urlencoded")
    assert request.auth == (fake.account_sid, fake.auth_token)
    assert request.form == {"To": TO, "From": fake.numbers[0], "Body": "Bonjour", "StatusCallback": callback}


@pytest.mark.parametrize("body, segments", [
    ("a" * 160, 1), ("a" * 161, 2), ("a" * 306, 2), ("a" * 307, 3),
    ("€" * 80, 1), ("€" * 81, 2),                     # GSM-7 extension: 2 septets each
    ("é" * 160, 1),                                     # é is in the GSM-7 basic table
    ("ê" * 70, 1), ("ê" * 71, 2), ("ê" * 134, 2), ("ê" * 135, 3),
    ("😀" * 35, 1), ("😀" * 36, 2),                     # outside the BMP: 2 UTF-16 units
])
def test_segment_count(body, segments):
    assert segment_count(body) == segments


# ---------------------------------------------------------------- fetch, cancel

def test_fetch_message_and_unknown_sid(fake):
    sid = create(fake).json()["sid"]
    auth = (fake.account_sid, fake.auth_token)
    base = f"{fake.base_url}/2010-04-01/Accounts/{fake.account_sid}/Messages"
    response = requests.get(f"{base}/{sid}.json", auth=auth, timeout=5)
    assert response.status_code == 200 and response.json() == fake.messages[sid].resource
    unknown = "SM" + "0" * 32
    response = requests.get(f"{base}/{unknown}.json", auth=auth, timeout=5)
    assert_twilio_error(response, 404, 20404, f"The requested resource /2010-04-01/Accounts/{fake.account_sid}"
                                              f"/Messages/{unknown}.json was not found")


def test_cancel(fake, receiver):
    auth = (fake.account_sid, fake.auth_token)
    base = f"{fake.base_url}/2010-04-01/Accounts/{fake.account_sid}/Messages"
    sid = create(fake).json()["sid"]
    response = requests.post(f"{base}/{sid}.json", data={"Status": "canceled"}, auth=auth, timeout=5)
    assert response.status_code == 200 and response.json()["status"] == "canceled"
    assert fake.messages[sid].status == "canceled"

    delivered = create(fake, StatusCallback=receiver.url("/status")).json()["sid"]
    fake.deliver(delivered)
    response = requests.post(f"{base}/{delivered}.json", data={"Status": "canceled"}, auth=auth, timeout=5)
    assert_twilio_error(response, 400, 30409)
    response = requests.post(f"{base}/SM{'0' * 32}.json", data={"Status": "canceled"}, auth=auth, timeout=5)
    assert_twilio_error(response, 404, 20404)


# ---------------------------------------------------------------- failure injection

def test_fail_next(fake):
    fake.fail_next(429, times=2)
    fake.fail_next(503)
    for _ in range(2):
        response = create(fake)
        assert_twilio_error(response, 429, 20429, "Too Many Requests")
        assert response.headers["Retry-After"] == "1"
    assert_twilio_error(create(fake), 503, 20503)
    assert create(fake).status_code == 201
    fake.fail_next(502, body="<html>Bad gateway</html>")
    response = create(fake)
    assert response.status_code == 502 and response.text == "<html>Bad gateway</html>"
    assert len(fake.messages) == 1 and len(fake.requests) == 5


def test_answer_delay_keeps_the_message(fake):
    fake.answer_delay = 0.6
    with pytest.raises(requests.ReadTimeout):
        requests.post(fake.messages_url, data={"To": TO, "From": fake.numbers[0], "Body": "slow"},
                      auth=(fake.account_sid, fake.auth_token), timeout=(2, 0.2))
    assert fake.last_message.params["Body"] == "slow"  # sent at the provider, answer lost


# ---------------------------------------------------------------- webhooks (spec 1.2 - 1.4)

def test_status_callbacks_are_signed_and_update_the_resource(fake, receiver):
    url = receiver.url("/callbacks/twilio/1/token/status?x=1")
    sid = create(fake, StatusCallback=url).json()["sid"]
    response = fake.deliver(sid)
    assert response.status_code == 204
    sent, delivered = receiver.wait_for(2)
    for received, status in [(sent, "sent"), (delivered, "delivered")]:
        assert received["url"] == url and received["method"] == "POST"
        assert received["form"] == {"MessageSid": sid, "SmsSid": sid, "MessageStatus": status, "SmsStatus": status,
                                    "AccountSid": fake.account_sid, "From": fake.numbers[0], "To": TO,
                                    "ApiVersion": "2010-04-01"}
        assert received["headers"]["Content-Type"] == "application/x-www-form-urlencoded"
        assert_signed(fake, received)
    resource = fake.messages[sid].resource
    assert resource["status"] == "delivered" and resource["date_sent"] is not None


def test_undelivered_carries_error_code(fake, receiver):
    sid = create(fake, StatusCallback=receiver.url("/status")).json()["sid"]
    fake.undeliver(sid)
    last = receiver.wait_for(2)[-1]
    assert last["form"]["MessageStatus"] == "undelivered" and last["form"]["ErrorCode"] == "30003"
    assert_signed(fake, last)
    assert fake.messages[sid].resource["error_code"] == 30003


def test_forged_missing_and_replayed_signatures(fake, receiver):
    sid = create(fake, StatusCallback=receiver.url("/status")).json()["sid"]
    fake.send_status(sid, "sent", signature=None)
    fake.send_status(sid, "sent", signature="forged=")
    fake.send_status(sid, "sent", extra={"RawDlrDoneDate": "2501011200"})
    fake.replay()
    missing, forged, extra, replayed = receiver.wait_for(4)
    assert "X-Twilio-Signature" not in missing["headers"]
    assert forged["headers"]["X-Twilio-Signature"] == "forged="
    assert extra["form"]["RawDlrDoneDate"] == "2501011200"
    assert_signed(fake, extra)
    assert replayed["form"] == extra["form"]
    assert replayed["headers"]["X-Twilio-Signature"] == extra["headers"]["X-Twilio-Signature"]


def test_status_for_an_unknown_sid(fake, receiver):
    fake.send_status("SM" + "f" * 32, "delivered", url=receiver.url("/status"))
    received = receiver.wait_for(1)[0]
    assert received["form"]["MessageSid"] == "SM" + "f" * 32
    assert_signed(fake, received)


def test_auto_callbacks(fake, receiver):
    fake.auto_callbacks = True
    fake.callback_delay = 0.05
    sid = create(fake, StatusCallback=receiver.url("/status")).json()["sid"]
    sent, delivered = receiver.wait_for(2)
    assert [sent["form"]["MessageStatus"], delivered["form"]["MessageStatus"]] == ["sent", "delivered"]
    assert_signed(fake, delivered)
    time.sleep(0.1)
    assert fake.messages[sid].status == "delivered" and len(receiver.received) == 2


def test_inbound_webhook(fake, receiver):
    receiver.reply = lambda: Response(TWIML, content_type="text/xml")
    url = receiver.url("/callbacks/twilio/1/token/inbound")
    response = fake.send_inbound(url, "+33611111111", fake.numbers[0], "Salut ça va ?")
    assert response.status_code == 200 and webhook_reply_problem(response) is None
    received = receiver.wait_for(1)[0]
    form = received["form"]
    assert re.fullmatch(r"SM[0-9a-f]{32}", form["MessageSid"])
    assert form["SmsSid"] == form["SmsMessageSid"] == form["MessageSid"]
    assert form["From"] == "+33611111111" and form["To"] == fake.numbers[0] and form["Body"] == "Salut ça va ?"
    assert form["AccountSid"] == fake.account_sid and form["ApiVersion"] == "2010-04-01"
    assert form["NumMedia"] == "0" and form["NumSegments"] == "1" and form["FromCountry"] == "FR"
    assert_signed(fake, received)
    assert fake.messages[form["MessageSid"]].resource["direction"] == "inbound"


def test_inbound_webhook_by_get_signs_the_url_only(fake, receiver):
    fake.send_inbound(receiver.url("/inbound?k=v"), "+41791234567", fake.numbers[0], "hi", method="GET")
    received = receiver.wait_for(1)[0]
    assert received["method"] == "GET" and received["args"]["Body"] == "hi" and received["args"]["k"] == "v"
    assert received["headers"]["X-Twilio-Signature"] == twilio_signature(fake.auth_token, received["url"], {})


def test_inbound_control_endpoint_and_reply_checks(fake, receiver):
    fake.inbound_url = receiver.url("/inbound")
    receiver.reply = lambda: Response("", status=200)  # empty 200: Twilio logs error 11200
    answer = requests.post(f"{fake.base_url}/_fake/inbound", json={"from": "+33611111111", "to": fake.numbers[0],
                                                                    "body": "hi"}, timeout=5).json()
    assert answer["status"] == 200 and "not XML" in answer["problem"]
    assert_signed(fake, receiver.wait_for(1)[0])
    assert fake.requests == []  # control calls are not provider traffic


def test_stop_frees_the_port():
    fake = FakeTwilio().start()
    url = fake.messages_url
    fake.stop()
    with pytest.raises(requests.ConnectionError):
        requests.get(url, timeout=2)


# ---- IncomingPhoneNumbers (twilio.com/docs/phone-numbers/api/incomingphonenumber-resource)

def numbers_url(fake, sid=None):
    base = f"{fake.base_url}/2010-04-01/Accounts/{fake.account_sid}/IncomingPhoneNumbers"
    return f"{base}/{sid}.json" if sid else f"{base}.json"


def test_incoming_phone_numbers_are_listed_by_phone_number_in_twilios_page_format(fake):
    fake.add_incoming_number("+15005550099")
    auth = (fake.account_sid, fake.auth_token)
    page = requests.get(numbers_url(fake), params={"PhoneNumber": fake.numbers[0]}, auth=auth, timeout=5).json()
    assert {"incoming_phone_numbers", "page", "page_size", "uri", "first_page_uri", "next_page_uri"} <= set(page)
    [number] = page["incoming_phone_numbers"]
    assert number["phone_number"] == fake.numbers[0] and re.fullmatch(r"PN[0-9a-f]{32}", number["sid"])
    assert (number["sms_method"], number["capabilities"]["sms"]) == ("POST", True)
    partial = requests.get(numbers_url(fake), params={"PhoneNumber": "555009*"}, auth=auth, timeout=5).json()
    assert [n["phone_number"] for n in partial["incoming_phone_numbers"]] == ["+15005550099"]
    everything = requests.get(numbers_url(fake), auth=auth, timeout=5).json()
    assert len(everything["incoming_phone_numbers"]) == 2
    assert requests.get(numbers_url(fake), auth=(fake.account_sid, "0" * 32), timeout=5).status_code == 401


def test_an_incoming_phone_numbers_sms_url_is_updated_by_a_post(fake):
    auth = (fake.account_sid, fake.auth_token)
    sid = fake.incoming_number(fake.numbers[0])["sid"]
    answer = requests.post(numbers_url(fake, sid), data={"SmsUrl": "https://example.org/in", "SmsMethod": "POST"},
                           auth=auth, timeout=5)
    assert answer.status_code == 200 and answer.json()["sms_url"] == "https://example.org/in"
    assert fake.incoming_number(fake.numbers[0])["sms_url"] == "https://example.org/in"
    assert_twilio_error(requests.post(numbers_url(fake, sid), data={"SmsMethod": "PUT"}, auth=auth, timeout=5),
                        400, 20001)
    assert_twilio_error(requests.post(numbers_url(fake, "PN" + "0" * 32), data={"SmsUrl": "https://example.org/x"},
                                      auth=auth, timeout=5), 404, 20404)
