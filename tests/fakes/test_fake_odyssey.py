"""The fake Odyssey Messaging itself behaves as shared/specs/providers.md section 4 says
(plain requests and a tiny local receiver standing for the app; no app involved)."""
import base64
import json
import re
import time
from datetime import datetime, timedelta, timezone

import pytest
import requests
from werkzeug.wrappers import Response

from tests.fakes.receiver import Receiver
from tests.fakes.odyssey import FakeOdyssey, microsoft_date

ADDRESS = "0033612345678"
DENIED = {"Message": "Authorization has been denied for this request."}
PARIS_WINTER = timezone(timedelta(hours=1))


@pytest.fixture
def fake():
    with FakeOdyssey() as server:
        yield server


@pytest.fixture
def receiver():
    server = Receiver(200)
    yield server
    server.close()


def job_body(**changes):
    body = {"JobType": "SMS", "Text": "Bonjour", "TrackingID": "msg-42",
            "AdhocRecipients": [{"Name": "r1", "Address": ADDRESS}]}
    body.update(changes)
    return {key: value for key, value in body.items() if value is not None}


def send(fake, body=None, auth=None, **kwargs):
    kwargs.setdefault("json", job_body() if body is None else body)
    return requests.post(f"{fake.base_url}/api/v1/SMSJobs", auth=auth or (fake.login, fake.password),
                         timeout=5, **kwargs)


def assert_invalid(response, *keys):
    """A 400 ASP.NET Web API validation answer whose ModelState has exactly these keys."""
    assert response.status_code == 400, response.text
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    body = response.json()
    assert body["Message"] == "The request is invalid."
    assert sorted(body["ModelState"]) == sorted(keys), body
    for reasons in body["ModelState"].values():
        assert reasons and all(isinstance(reason, str) and reason for reason in reasons)
    return body["ModelState"]


# ---------------------------------------------------------------- authentication (4.1)

def test_send_refuses_bad_or_missing_credentials(fake):
    for auth in [(fake.login, "wrong"), ("12345.other", fake.password), (fake.login, "")]:
        response = send(fake, auth=auth)
        assert (response.status_code, response.json()) == (401, DENIED)
    no_auth = requests.post(f"{fake.base_url}/api/v1/SMSJobs", json=job_body(), timeout=5)
    assert (no_auth.status_code, no_auth.json()) == (401, DENIED)
    bearer = requests.post(f"{fake.base_url}/api/v1/SMSJobs", json=job_body(), timeout=5,
                           headers={"Authorization": "Bearer " + fake.password})
    assert bearer.status_code == 401
    assert fake.jobs == {} and len(fake.requests) == 5


def test_authorization_is_checked_before_the_body(fake):
    response = send(fake, {"JobType": "EMAIL"}, auth=(fake.login, "wrong"))
    assert (response.status_code, response.json()) == (401, DENIED)


def test_raw_basic_header_with_a_dotted_login(fake):
    token = base64.b64encode(f"{fake.login}:{fake.password}".encode()).decode()
    response = requests.post(f"{fake.base_url}/api/v1/SMSJobs", json=job_body(), timeout=5,
                             headers={"Authorization": "Basic " + token})
    assert response.status_code == 200
    assert fake.login == "12345.smsdesk" and len(fake.password) >= 16


def test_job_types_is_the_credentials_check(fake):
    response = requests.get(f"{fake.base_url}/api/v1/JobTypes", auth=(fake.login, fake.password), timeout=5)
    assert (response.status_code, response.json()) == (200, [{"JobType": "SMS"}])
    refused = requests.get(f"{fake.base_url}/api/v1/JobTypes", auth=(fake.login, "x"), timeout=5)
    assert (refused.status_code, refused.json()) == (401, DENIED)
    assert fake.requests[0].auth == (fake.login, fake.password) and fake.requests[1].status == 401


# ---------------------------------------------------------------- send (4.1)

def test_send_success_records_job_and_request(fake):
    body = job_body(Parameter={"Sender": "SMSDesk", "Media": 1}, LaunchType=0,
                    ScheduledStartTime="2017-06-08T03:50:25.355Z")
    response = send(fake, body)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    number = response.json()["JobNumber"]
    assert isinstance(number, int) and response.json() == {"JobNumber": number}
    job = fake.jobs[number]
    assert job is fake.last_job
    assert job.recipients == [{"Name": "r1", "Address": ADDRESS}] and job.addresses == [ADDRESS]
    assert (job.text, job.tracking_id, job.sender) == ("Bonjour", "msg-42", "SMSDesk")
    assert job.parameter == {"Sender": "SMSDesk", "Media": 1}
    assert (job.launch_type, job.scheduled_start_time) == (0, "2017-06-08T03:50:25.355Z")
    assert job.payload == body and job.ignored_fields == []
    [recorded] = fake.sends()
    assert (recorded.method, recorded.path, recorded.status) == ("POST", "/api/v1/SMSJobs", 200)
    assert recorded.headers["content-type"] == "application/json"
    assert recorded.json == body and json.loads(recorded.body) == body
    assert recorded.auth == (fake.login, fake.password)
    second = send(fake).json()["JobNumber"]
    assert second == number + 1 and fake.last_job.job_number == second


def test_minimal_body_and_several_recipients(fake):
    body = {"JobType": "SMS", "Text": "Salut ça va ? €",
            "AdhocRecipients": [{"Name": "a", "Address": ADDRESS}, {"Name": "b", "Address": "0041791234567"}]}
    assert send(fake, body).status_code == 200
    job = fake.last_job
    assert job.addresses == [ADDRESS, "0041791234567"] and job.text == "Salut ça va ? €"
    assert job.tracking_id is None and job.parameter is None and job.sender is None


def test_text_json_and_charset_are_accepted(fake):
    data = json.dumps(job_body()).encode()
    for content_type in ("text/json", "application/json; charset=utf-8"):
        assert send(fake, json=None, data=data, headers={"Content-Type": content_type}).status_code == 200


def test_unknown_fields_are_ignored_but_listed(fake):
    assert send(fake, job_body(Flash=True)).status_code == 200
    assert fake.last_job.ignored_fields == ["Flash"]


def test_job_numbers_as_strings(fake):
    fake.job_numbers_as_strings = True
    number = send(fake).json()["JobNumber"]
    assert isinstance(number, str) and int(number) in fake.jobs


@pytest.mark.parametrize("changes, keys", [
    ({"JobType": None}, ["model.JobType"]),
    ({"JobType": "EMAIL"}, ["model.JobType"]),
    ({"Text": None}, ["model.Text"]),
    ({"Text": ""}, ["model.Text"]),
    ({"Text": "   "}, ["model.Text"]),
    ({"Text": 12}, ["model.Text"]),
    ({"AdhocRecipients": None}, ["model.AdhocRecipients"]),
    ({"AdhocRecipients": []}, ["model.AdhocRecipients"]),
    ({"AdhocRecipients": ADDRESS}, ["model.AdhocRecipients"]),
    ({"AdhocRecipients": [ADDRESS]}, ["model.AdhocRecipients[0]"]),
    ({"AdhocRecipients": [{"Name": "r"}]}, ["model.AdhocRecipients[0].Address"]),
    ({"AdhocRecipients": [{"Name": "r", "Address": ""}]}, ["model.AdhocRecipients[0].Address"]),
    ({"AdhocRecipients": [{"Address": ADDRESS}]}, ["model.AdhocRecipients[0].Name"]),
    ({"AdhocRecipients": [{"Name": "r", "Address": "+33612345678"}]}, ["model.AdhocRecipients[0].Address"]),
    ({"AdhocRecipients": [{"Name": "r", "Address": "0612345678"}]}, ["model.AdhocRecipients[0].Address"]),
    ({"AdhocRecipients": [{"Name": "r", "Address": "0033 6 12 34 56 78"}]}, ["model.AdhocRecipients[0].Address"]),
    ({"AdhocRecipients": [{"Name": "r", "Address": 33612345678}]}, ["model.AdhocRecipients[0].Address"]),
    ({"AdhocRecipients": [{"Name": "a", "Address": ADDRESS}, {"Name": "b", "Address": "+41791234567"}]},
     ["model.AdhocRecipients[1].Address"]),
    ({"TrackingID": 42}, ["model.TrackingID"]),
    ({"LaunchType": 5}, ["model.LaunchType"]),
    ({"LaunchType": "0"}, ["model.LaunchType"]),
    ({"ScheduledStartTime": "tomorrow"}, ["model.ScheduledStartTime"]),
    ({"Parameter": "SMSDesk"}, ["model.Parameter"]),
    ({"Parameter": {"Sender": "Other"}}, ["model.Parameter.Sender"]),
    ({"Parameter": {"Sender": "AB"}}, ["model.Parameter.Sender"]),
    ({"Parameter": {"Sender": "ABCDEFGHIJKL"}}, ["model.Parameter.Sender"]),
    ({"Parameter": {"Sender": "SMSDesk", "Media": "1"}}, ["model.Parameter.Media"]),
])
def test_invalid_bodies_answer_model_state(fake, changes, keys):
    body = job_body()
    body.update(changes)
    body = {key: value for key, value in body.items() if value is not None}
    assert_invalid(send(fake, body), *keys)
    assert fake.jobs == {}


def test_all_errors_are_reported_at_once(fake):
    body = {"JobType": "SMS", "AdhocRecipients": [{"Name": "r", "Address": "+33612345678"}],
            "Parameter": {"Sender": "Nope"}}
    state = assert_invalid(send(fake, body), "model.Text", "model.AdhocRecipients[0].Address",
                           "model.Parameter.Sender")
    assert state["model.Text"] == ["The Text field is required."]
    assert "+33612345678" in state["model.AdhocRecipients[0].Address"][0]


def test_sender_must_be_one_of_the_account_senders():
    with FakeOdyssey(senders=("SMSDesk", "Mairie")) as fake:
        assert send(fake, job_body(Parameter={"Sender": "Mairie", "Media": 1})).status_code == 200
        assert fake.last_job.sender == "Mairie"
        assert send(fake, job_body(Parameter={"Sender": None})).status_code == 200
    with pytest.raises(ValueError):
        FakeOdyssey(senders=("TooLongSenderName",))


def test_bodies_that_do_not_bind(fake):
    url = f"{fake.base_url}/api/v1/SMSJobs"
    auth = (fake.login, fake.password)
    empty = requests.post(url, auth=auth, headers={"Content-Type": "application/json"}, timeout=5)
    assert assert_invalid(empty, "model") == {"model": ["A non-empty request body is required."]}
    assert_invalid(requests.post(url, auth=auth, data=b"{not json", timeout=5,
                                 headers={"Content-Type": "application/json"}), "model")
    assert_invalid(requests.post(url, auth=auth, json=[job_body()], timeout=5), "model")
    form = requests.post(url, auth=auth, data={"JobType": "SMS", "Text": "x"}, timeout=5)
    assert form.status_code == 415
    assert form.json() == {"Message": "The request entity's media type 'application/x-www-form-urlencoded' "
                                      "is not supported for this resource."}
    assert fake.jobs == {}
    assert fake.requests[1].json is None and fake.requests[1].body == b"{not json"


def test_unknown_routes_and_methods(fake):
    auth = (fake.login, fake.password)
    missing = requests.post(f"{fake.base_url}/api/v1/SmsJob", json=job_body(), auth=auth, timeout=5)
    assert missing.status_code == 404 and "No HTTP resource was found" in missing.json()["Message"]
    wrong = requests.get(f"{fake.base_url}/api/v1/SMSJobs", auth=auth, timeout=5)
    assert wrong.status_code == 405
    assert wrong.json() == {"Message": "The requested resource does not support http method 'GET'."}
    assert [r.status for r in fake.requests] == [404, 405]


# ---------------------------------------------------------------- failure injection, delay

def test_fail_next_then_recover(fake):
    fake.fail_next(503, times=2)
    fake.fail_next(429, "Too many requests")
    for _ in range(2):
        response = send(fake)
        assert (response.status_code, response.json()) == (503, {"Message": "Service Unavailable"})
    limited = send(fake)
    assert (limited.status_code, limited.json()) == (429, {"Message": "Too many requests"})
    assert limited.headers["Retry-After"] == "1"
    fake.fail_next(502, body="<html>Bad gateway</html>")
    proxy = send(fake)
    assert proxy.status_code == 502 and proxy.text == "<html>Bad gateway</html>"
    assert send(fake).status_code == 200
    assert len(fake.jobs) == 1 and len(fake.sends()) == 5


def test_answer_delay_keeps_the_job(fake):
    fake.answer_delay = 0.6
    with pytest.raises(requests.ReadTimeout):
        requests.post(f"{fake.base_url}/api/v1/SMSJobs", json=job_body(Text="slow"),
                      auth=(fake.login, fake.password), timeout=(2, 0.2))
    assert fake.last_job.text == "slow"  # accepted at the provider, answer lost


# ---------------------------------------------------------------- dates

def test_microsoft_date_formats():
    moment = datetime(2023, 2, 24, 14, 0, tzinfo=PARIS_WINTER)
    assert microsoft_date(moment) == "/Date(1677243600000+0100)/"
    assert microsoft_date(moment, "-0500") == "/Date(1677243600000-0500)/"  # same instant, other offset
    assert microsoft_date(moment, "") == "/Date(1677243600000)/"
    assert microsoft_date(datetime(2023, 2, 24, 13, 0, 0, 123456)) == "/Date(1677243600123+0100)/"  # naive = UTC
    assert microsoft_date(datetime(1969, 12, 31, 23, 59, 59, tzinfo=timezone.utc), "") == "/Date(-1000)/"
    now_ms = int(re.fullmatch(r"/Date\((\d+)\+0100\)/", microsoft_date()).group(1))
    assert abs(now_ms / 1000 - time.time()) < 5
    for bad in ("+01:00", "0100", "+1", "Z"):
        with pytest.raises(ValueError):
            microsoft_date(moment, bad)


# ---------------------------------------------------------------- callbacks (4.2, 4.3)

def test_send_status_defaults_from_the_job(fake, receiver):
    fake.status_url = receiver.url("/callbacks/odyssey/3/tok/status")
    number = send(fake).json()["JobNumber"]
    moment = datetime(2024, 3, 1, 10, 0, tzinfo=PARIS_WINTER)
    response = fake.send_status(number, "S", when=moment)
    assert response.status_code == 200
    [hit] = receiver.wait_for(1)
    assert (hit["method"], hit["path"]) == ("POST", "/callbacks/odyssey/3/tok/status")
    assert hit["content_type"] == "application/json; charset=utf-8"
    assert json.loads(hit["body"]) == {"EventType": 9, "JobNumber": number, "Outcome": "S",
                                       "TrackingID": "msg-42", "Address": ADDRESS,
                                       "EventDateTime": "/Date(1709283600000+0100)/"}
    assert b'"EventDateTime":"\\/Date(1709283600000+0100)\\/"' in hit["body"]  # as .NET writes it
    assert fake.jobs[number].outcomes == {ADDRESS: "S"}
    assert fake.callbacks[-1].status_code == 200 and fake.callbacks[-1].json["Outcome"] == "S"


def test_send_status_explicit_values_and_unknown_job(fake, receiver):
    url = receiver.url("/status")
    fake.send_status(999, "B", address="0041791234567", tracking_id="t-1", url=url, offset="")
    fake.send_status("999", "E", url=url, extra={"ItemID": 5})
    first, second = (json.loads(hit["body"]) for hit in receiver.wait_for(2))
    assert {k: first[k] for k in ("EventType", "JobNumber", "Outcome", "TrackingID", "Address")} == \
        {"EventType": 9, "JobNumber": 999, "Outcome": "B", "TrackingID": "t-1", "Address": "0041791234567"}
    assert re.fullmatch(r"/Date\(\d+\)/", first["EventDateTime"])
    assert second["JobNumber"] == "999" and second["TrackingID"] is None and second["Address"] is None
    assert second["ItemID"] == 5


def test_emitters_need_a_url(fake):
    with pytest.raises(RuntimeError):
        fake.send_status(1)
    with pytest.raises(RuntimeError):
        fake.send_inbound(ADDRESS, "hi")


@pytest.mark.parametrize("offset, pattern", [
    ("+0100", r"/Date\(1677243600000\+0100\)/"),
    ("-0330", r"/Date\(1677243600000-0330\)/"),
    ("", r"/Date\(1677243600000\)/"),
])
def test_send_inbound_exact_json(fake, receiver, offset, pattern):
    fake.inbound_url = receiver.url("/callbacks/odyssey/3/tok/inbound")
    moment = datetime(2023, 2, 24, 14, 0, tzinfo=PARIS_WINTER)
    assert fake.send_inbound("0033611111111", "Oui, ça marche", when=moment, offset=offset).status_code == 200
    [hit] = receiver.wait_for(1)
    assert hit["path"] == "/callbacks/odyssey/3/tok/inbound"
    assert hit["content_type"] == "application/json; charset=utf-8"
    body = json.loads(hit["body"].decode("utf-8"))
    assert set(body) == {"EventType", "From", "Message", "EventDateTime"}
    assert (body["EventType"], body["From"], body["Message"]) == (8, "0033611111111", "Oui, ça marche")
    assert re.fullmatch(pattern, body["EventDateTime"])
    assert "Oui, ça marche".encode() in hit["body"]  # UTF-8, not \u escapes


def test_unescaped_dates_on_request(fake, receiver):
    fake.escape_date_slashes = False
    fake.send_inbound(ADDRESS, "hi", when=datetime(2023, 2, 24, 13, tzinfo=timezone.utc), url=receiver.url("/in"))
    assert b'"EventDateTime":"/Date(1677243600000+0100)/"' in receiver.wait_for(1)[0]["body"]


def test_send_event_for_other_types(fake, receiver):
    fake.status_url = receiver.url("/status")
    fake.inbound_url = receiver.url("/inbound")
    fake.send_event(5, JobNumber=7000001, Status="Completed")
    fake.send_event(8, From=ADDRESS, Message="x")
    fake.send_event(1, url=receiver.url("/other"), Address=ADDRESS)
    job_status, inbound, opt_out = receiver.wait_for(3)
    body = json.loads(job_status["body"])
    assert job_status["path"] == "/status" and body["EventType"] == 5
    assert body["JobNumber"] == 7000001 and body["Status"] == "Completed"
    assert re.fullmatch(r"/Date\(\d+\+0100\)/", body["EventDateTime"])
    assert inbound["path"] == "/inbound" and json.loads(inbound["body"])["EventType"] == 8
    assert opt_out["path"] == "/other" and json.loads(opt_out["body"])["EventType"] == 1


def test_post_raw_sends_exact_bytes(fake, receiver):
    receiver.reply = lambda: Response("nope", status=400)
    response = fake.post_raw(receiver.url("/status"), b'{"EventType": 9, "JobNumber"', "application/json")
    assert response.status_code == 400
    fake.post_raw(receiver.url("/status"), b"EventType=9", "application/x-www-form-urlencoded")
    fake.post_raw(receiver.url("/status"), b"", None)
    broken, form, empty = receiver.wait_for(3)
    assert broken["body"] == b'{"EventType": 9, "JobNumber"' and broken["content_type"] == "application/json"
    assert form["content_type"] == "application/x-www-form-urlencoded"
    assert empty["body"] == b"" and empty["content_type"] is None
    assert fake.callbacks[0].json is None and fake.callbacks[0].status_code == 400


def test_unreachable_callback_is_recorded(fake):
    with pytest.raises(requests.ConnectionError):
        fake.send_inbound(ADDRESS, "hi", url="http://127.0.0.1:9/inbound")
    assert fake.callbacks[-1].error and fake.callbacks[-1].status_code is None


# ---------------------------------------------------------------- auto status

def test_auto_status(fake, receiver):
    fake.auto_status = True
    fake.callback_delay = 0.05
    fake.status_url = receiver.url("/status")
    body = job_body(AdhocRecipients=[{"Name": "a", "Address": ADDRESS}, {"Name": "b", "Address": "0041791234567"}])
    number = send(fake, body).json()["JobNumber"]
    hits = receiver.wait_for(2)
    bodies = sorted((json.loads(hit["body"]) for hit in hits), key=lambda b: b["Address"])
    assert [(b["EventType"], b["JobNumber"], b["Outcome"], b["TrackingID"], b["Address"]) for b in bodies] == [
        (9, number, "S", "msg-42", ADDRESS), (9, number, "S", "msg-42", "0041791234567")]
    time.sleep(0.1)
    assert len(receiver.received) == 2
    assert fake.jobs[number].outcomes == {ADDRESS: "S", "0041791234567": "S"}


def test_auto_status_waits_for_the_delay_and_needs_a_url(fake, receiver):
    fake.auto_status = True
    send(fake)  # no status_url: nothing to post
    fake.status_url = receiver.url("/status")
    fake.callback_delay = 0.25
    started = time.monotonic()
    send(fake)
    receiver.wait_for(1)
    assert time.monotonic() - started >= 0.2
    assert send(fake, job_body(Text="")).status_code == 400  # refused jobs call nothing back
    time.sleep(0.35)
    assert len(receiver.received) == 1


def test_stop_cancels_pending_callbacks_and_frees_the_port(receiver):
    fake = FakeOdyssey().start()
    fake.auto_status, fake.callback_delay = True, 0.3
    fake.status_url = receiver.url("/status")
    url = fake.base_url
    assert send(fake).status_code == 200
    fake.stop()
    time.sleep(0.5)
    assert receiver.received == []
    with pytest.raises(requests.ConnectionError):
        requests.get(url + "/api/v1/JobTypes", timeout=2)
    with pytest.raises(RuntimeError):
        fake.base_url
