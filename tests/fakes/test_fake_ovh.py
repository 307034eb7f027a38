"""Tests of the fake OVH SMS API itself (providers.md 2.1-2.7), with plain `requests`."""
import hashlib
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from tests.fakes.ovh import FakeOvh, ovh_signature

INVALID_SIGNATURE = {"errorCode": "INVALID_SIGNATURE", "httpCode": "400 Bad Request",
                     "message": "Invalid signature"}


def sign(secret, consumer, method, url, body, stamp):
    """Independent signer (python-ovh raw_call), not the fake's."""
    text = "+".join([secret, consumer, method, url, body, str(stamp)])
    return "$1$" + hashlib.sha1(text.encode()).hexdigest()


def call(fake, method, path, payload=None, query="", stamp=None, app_key=None,
         signed_url=None, signed_body=None, consumer=None):
    """One signed call; the keyword arguments let a test break one thing at a time."""
    url = fake.base_url + path + (f"?{query}" if query else "")
    body = "" if payload is None else json.dumps(payload, separators=(",", ":"))
    stamp = str(fake.now() if stamp is None else stamp)
    consumer = consumer or fake.consumer_key
    headers = {
        "X-Ovh-Application": app_key or fake.app_key,
        "X-Ovh-Consumer": consumer,
        "X-Ovh-Timestamp": stamp,
        "X-Ovh-Signature": sign(fake.app_secret, consumer, method, signed_url or url,
                                body if signed_body is None else signed_body, stamp),
    }
    if payload is not None:
        headers["Content-type"] = "application/json"
    return requests.request(method, url, headers=headers, data=body.encode(), timeout=5)


class Receiver:
    """A tiny local HTTP server recording what the fake's emitters send."""

    def __init__(self):
        self.hits = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self):
                length = int(self.headers.get("Content-Length") or 0)
                url = urlsplit(self.path)
                receiver.hits.append({"method": self.command, "path": url.path,
                                      "query": parse_qs(url.query),
                                      "body": self.rfile.read(length).decode(),
                                      "content_type": self.headers.get("Content-Type")})
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_POST = _answer

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake():
    with FakeOvh() as server:
        yield server


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.close()


SERVICE = "/sms/sms-ab12345-1"


def test_official_signature_vectors():
    args = ("9ufkBmLaTQ9nz5yMUlg79taH0GNnzDjk", "5mBuy6SUQcRw2ZUxg0cG68BoDKpED4KY")
    url = "https://eu.api.ovh.com/1.0/auth"
    assert ovh_signature(*args, "GET", url, "", "1457018875") == \
        "$1$e9556054b6309771395efa467c22e627407461ad"
    assert ovh_signature(*args, "POST", url, '{"a":"b","c":"d"}', 1457018875) == \
        "$1$ec2fb5c7a81f64723c77d2e5b609ae6f58a84fc1"
    assert sign(*args, "GET", url, "", 1457018875) == ovh_signature(*args, "GET", url, b"", 1457018875)


def test_auth_time_is_unauthenticated_and_follows_the_offset():
    with FakeOvh(time_offset=3600) as fake:
        response = requests.get(fake.base_url + "/auth/time", timeout=5)
        assert response.status_code == 200
        assert isinstance(response.json(), int)
        assert abs(response.json() - (int(time.time()) + 3600)) <= 1
        assert response.headers["X-OVH-QUERYID"]
        # The real clock is an hour off the fake's: refused; the fake's clock: accepted.
        assert call(fake, "GET", SERVICE, stamp=int(time.time())).json() == INVALID_SIGNATURE
        assert call(fake, "GET", SERVICE, stamp=response.json()).status_code == 200


def test_signed_get_returns_the_account(fake):
    response = call(fake, "GET", SERVICE)
    assert response.status_code == 200, response.text
    assert response.headers["X-OVH-QUERYID"]
    account = response.json()
    assert account["name"] == "sms-ab12345-1"
    assert account["creditsLeft"] == 100.0
    assert fake.requests[-1].status == 200 and fake.requests[-1].error == ""


def test_query_string_is_part_of_the_signed_url(fake):
    assert call(fake, "GET", SERVICE + "/incoming", query="sender=%2B33600000000").status_code == 200
    refused = call(fake, "GET", SERVICE + "/incoming", query="sender=%2B33600000000",
                   signed_url=fake.base_url + SERVICE + "/incoming")
    assert (refused.status_code, refused.json()) == (400, INVALID_SIGNATURE)


@pytest.mark.parametrize("breakage", [
    {"signed_url": "https://eu.api.ovh.com/1.0" + SERVICE},   # the real endpoint, not the target
    {"signed_body": '{"callBack": "http://x"}'},              # same JSON, other bytes
    {"stamp": "now-35"},   # past the 30 s tolerance, with room for the clock to tick mid-test
    {"stamp": "now+35"},
    {"stamp": "yesterday"},
])
def test_bad_signature_or_stale_timestamp_is_400_invalid_signature(fake, breakage):
    if str(breakage.get("stamp", "")).startswith("now"):
        breakage = {"stamp": fake.now() + int(breakage["stamp"][3:])}
    response = call(fake, "PUT", SERVICE, {"callBack": "http://x"}, **breakage)
    assert response.status_code == 400
    assert response.json() == INVALID_SIGNATURE
    assert response.headers["X-OVH-QUERYID"]
    assert fake.account["callBack"] == ""
    assert fake.requests[-1].error


def test_unknown_app_key_and_consumer_key_are_403(fake):
    response = call(fake, "GET", SERVICE, app_key="nope")
    assert response.status_code == 403
    assert response.json()["errorCode"] == "INVALID_KEY"
    response = call(fake, "GET", SERVICE, consumer="nope")
    assert response.status_code == 403
    assert response.json()["errorCode"] == "INVALID_CREDENTIAL"
    assert requests.get(fake.base_url + SERVICE, timeout=5).json()["errorCode"] == "INVALID_KEY"


def test_unknown_service_is_404(fake):
    response = call(fake, "GET", "/sms/sms-zz99999-1")
    assert response.status_code == 404
    assert response.json() == {"message": "This service does not exist"}


def test_send_with_one_invalid_receiver(fake):
    payload = {"message": "Bonjour", "receivers": ["+33612345678", "06 12"], "sender": "SMSDesk",
               "noStopClause": True, "tag": "t1"}
    response = call(fake, "POST", SERVICE + "/jobs", payload)
    assert response.status_code == 200, response.text
    report = response.json()
    assert set(report) == {"totalCreditsRemoved", "invalidReceivers", "ids", "validReceivers"}
    assert report["validReceivers"] == ["+33612345678"]
    assert report["invalidReceivers"] == ["06 12"]
    assert report["totalCreditsRemoved"] == 1
    [job_id] = report["ids"]
    assert isinstance(job_id, int)
    job = fake.jobs[job_id]
    assert (job.receiver, job.message, job.sender, job.tag) == ("+33612345678", "Bonjour", "SMSDesk", "t1")
    assert fake.account["creditsLeft"] == 99.0
    sent = fake.sends()[-1]
    assert sent.body == json.dumps(payload, separators=(",", ":")).encode()
    assert sent.json == payload
    # Pending job readable, then cancellable once.
    assert call(fake, "GET", f"{SERVICE}/jobs/{job_id}").json()["receiver"] == "+33612345678"
    assert call(fake, "DELETE", f"{SERVICE}/jobs/{job_id}").text == "null"
    assert call(fake, "DELETE", f"{SERVICE}/jobs/{job_id}").status_code == 404


def test_send_validation(fake):
    jobs = SERVICE + "/jobs"
    assert call(fake, "POST", jobs, {"receivers": ["+33612345678"]}).status_code == 400
    assert call(fake, "POST", jobs, {"message": "x", "receivers": []}).status_code == 400
    assert call(fake, "POST", jobs, {"message": "x", "receiver": ["+33612345678"]}).status_code == 400
    unvalidated = call(fake, "POST", jobs, {"message": "x", "receivers": ["+33612345678"],
                                            "sender": "Other"})
    assert unvalidated.status_code == 403
    assert "Other" in unvalidated.json()["message"]
    answered = call(fake, "POST", jobs, {"message": "x", "receivers": ["0033612345678"],
                                         "senderForResponse": True})
    assert answered.status_code == 200
    assert fake.jobs[answered.json()["ids"][0]].sender == fake.shortcode
    long_unicode = call(fake, "POST", jobs, {"message": "é" * 100 + "€", "receivers": ["+33612345678"]})
    assert long_unicode.json()["totalCreditsRemoved"] == 1  # é and € are GSM-7: 102 septets
    assert call(fake, "POST", jobs, {"message": "ж" * 71, "receivers": ["+33612345678"]}) \
        .json()["totalCreditsRemoved"] == 2


def test_virtual_number_jobs(fake):
    payload = {"message": "Hi", "receivers": ["+33612345678"]}
    response = call(fake, "POST", SERVICE + "/virtualNumbers/0033612345600/jobs", payload)
    assert response.status_code == 200, response.text
    job = fake.jobs[response.json()["ids"][0]]
    assert (job.virtual_number, job.sender) == ("0033612345600", "+33612345600")
    assert call(fake, "POST", SERVICE + "/virtualNumbers/0033699999999/jobs", payload).status_code == 404
    with_sender = dict(payload, sender="SMSDesk")
    assert call(fake, "POST", SERVICE + "/virtualNumbers/0033612345600/jobs", with_sender).status_code == 400


def test_fail_next_then_recover(fake):
    fake.fail_next(503, "Service unavailable", times=2)
    payload = {"message": "Hi", "receivers": ["+33612345678"]}
    for _ in range(2):
        response = call(fake, "POST", SERVICE + "/jobs", payload)
        assert (response.status_code, response.json()) == (503, {"message": "Service unavailable"})
    fake.fail_next(429, "Too many requests", error_code="QUERY_LIMIT")
    assert call(fake, "POST", SERVICE + "/jobs", payload).json()["errorCode"] == "QUERY_LIMIT"
    assert call(fake, "POST", SERVICE + "/jobs", payload).status_code == 200
    assert len(fake.jobs) == 1


def test_callback_then_dlr_reaches_the_receiver(fake, receiver):
    callback = receiver.url + "/callbacks/ovh/7/secret/status?token=abc"
    response = call(fake, "PUT", SERVICE, {"callBack": callback})
    assert (response.status_code, response.text) == (200, "null")
    assert call(fake, "GET", SERVICE).json()["callBack"] == callback
    job_id = call(fake, "POST", SERVICE + "/jobs",
                  {"message": "Hi", "receivers": ["+33612345678"]}).json()["ids"][0]
    assert call(fake, "GET", f"{SERVICE}/outgoing/{job_id}").status_code == 404

    assert fake.send_dlr(job_id, dlr=1).status_code == 200
    [hit] = receiver.hits
    assert (hit["method"], hit["path"]) == ("GET", "/callbacks/ovh/7/secret/status")
    assert hit["query"]["token"] == ["abc"]
    assert hit["query"]["id"] == [str(job_id)] and hit["query"]["dlr"] == ["1"]
    assert call(fake, "GET", f"{SERVICE}/jobs/{job_id}").status_code == 404
    outgoing = call(fake, "GET", f"{SERVICE}/outgoing/{job_id}").json()
    assert outgoing["deliveryReceipt"] == 1 and outgoing["deliveredAt"]


def test_auto_dlr(fake, receiver):
    fake.auto_dlr, fake.callback_delay = True, 0.05
    call(fake, "PUT", SERVICE, {"callBack": receiver.url + "/status"})
    job_id = call(fake, "POST", SERVICE + "/jobs",
                  {"message": "Hi", "receivers": ["+33612345678"]}).json()["ids"][0]
    deadline = time.time() + 3
    while not receiver.hits and time.time() < deadline:
        time.sleep(0.02)
    assert receiver.hits[0]["query"]["id"] == [str(job_id)]


def test_incoming_queue_read_delete(fake):
    first = fake.queue_incoming("+33698765432", "Oui", tag="t1")
    second = fake.queue_incoming("+33611111111", "Non", virtual_number="0033612345600")
    assert call(fake, "GET", SERVICE + "/incoming").json() == [first, second]
    assert call(fake, "GET", SERVICE + "/incoming", query="tag=t1").json() == [first]
    vn = SERVICE + "/virtualNumbers/0033612345600/incoming"
    assert call(fake, "GET", vn).json() == [second]
    sms = call(fake, "GET", f"{SERVICE}/incoming/{first}").json()
    assert {k: sms[k] for k in ("id", "message", "sender", "tag")} == \
        {"id": first, "message": "Oui", "sender": "+33698765432", "tag": "t1"}
    assert "T" in sms["creationDatetime"] and "credits" in sms
    assert call(fake, "GET", f"{vn}/{first}").status_code == 404
    assert call(fake, "DELETE", f"{SERVICE}/incoming/{first}").text == "null"
    assert call(fake, "GET", f"{SERVICE}/incoming/{first}").status_code == 404
    assert call(fake, "DELETE", f"{vn}/{second}").status_code == 200
    assert call(fake, "GET", SERVICE + "/incoming").json() == []


def test_push_incoming_posts_the_cgi_form(fake, receiver):
    call(fake, "PUT", SERVICE, {"smsResponse": {"responseType": "cgi",
                                                "cgiUrl": receiver.url + "/inbound?token=abc"}})
    assert fake.push_incoming("+33698765432", "Oui merci", tag="t9").status_code == 200
    [hit] = receiver.hits
    assert hit["method"] == "POST" and hit["query"] == {"token": ["abc"]}
    assert hit["content_type"] == "application/x-www-form-urlencoded"
    form = {k: v[0] for k, v in parse_qs(hit["body"], keep_blank_values=True).items()}
    assert form["senderid"] == "+33698765432" and form["message"] == "Oui merci"
    assert form["tag"] == "t9" and form["shortcode"]
    assert call(fake, "GET", f"{SERVICE}/incoming/{form['id']}").json()["message"] == "Oui merci"


def test_an_sms_to_a_virtual_number_is_pushed_to_the_services_one_cgi_url_with_its_number(fake, receiver):
    call(fake, "PUT", SERVICE, {"smsResponse": {"responseType": "cgi", "cgiUrl": receiver.url + "/first"}})
    call(fake, "PUT", SERVICE, {"smsResponse": {"responseType": "cgi", "cgiUrl": receiver.url + "/second"}})
    fake.push_incoming("+33698765432", "Pour le numéro", virtual_number="+33612345600")
    [hit] = receiver.hits
    assert hit["path"] == "/second"  # one smsResponse per service: the last one set
    form = {k: v[0] for k, v in parse_qs(hit["body"]).items()}
    assert form["shortcode"] == "0033612345600"
    vn = SERVICE + "/virtualNumbers/0033612345600/incoming"
    assert call(fake, "GET", f"{vn}/{form['id']}").json()["message"] == "Pour le numéro"


def test_a_job_sent_without_a_report_is_read_from_outgoing(fake):
    [job_id] = call(fake, "POST", SERVICE + "/jobs", {"message": "Hi", "receivers": ["+33698765432"],
                                                      "sender": "SMSDesk"}).json()["ids"]
    assert call(fake, "GET", f"{SERVICE}/outgoing/{job_id}").status_code == 404  # still in the jobs
    fake.mark_sent(job_id, dlr=1)
    record = call(fake, "GET", f"{SERVICE}/outgoing/{job_id}").json()
    assert record["deliveredAt"] and record["deliveryReceipt"] == 1 and record["receiver"] == "+33698765432"
