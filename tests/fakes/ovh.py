"""A fake OVHcloud SMS API (REST v1, signed requests) for tests.

It speaks the wire format of docs/specs providers.md section 2 (fake spec: 2.7): a real
HTTP server on 127.0.0.1 that checks the `$1$` SHA-1 request signature exactly like
eu.api.ovh.com, answers the SMS routes, records every request, and can emit OVH's
delivery-receipt GET callbacks, inbound CGI POSTs and STOP notices (GET on stopCallBack).

Typical use in a test::

    from tests.fakes.ovh import FakeOvh

    with FakeOvh() as ovh:
        settings = {"app_key": ovh.app_key, "app_secret": ovh.app_secret,
                    "consumer_key": ovh.consumer_key, "service_name": ovh.service_name}
        app.config["OVH_API_BASE_URL"] = ovh.base_url      # http://127.0.0.1:PORT/1.0
        ... the adapter sends ...
        job_id = max(ovh.jobs)                             # FakeJob records, by OVH id
        assert ovh.sends()[-1].json["receivers"] == ["+33612345678"]
        ovh.send_dlr(job_id, dlr=1)                        # GET {callBack}?id=..&dlr=1
        ovh.queue_incoming("+33698765432", "Yes")          # read through /incoming
        ovh.fail_next(503, "Service unavailable")          # next send answers 503
        ovh.mark_sent(job_id, dlr=1)                       # delivered, report lost: GET .../outgoing/<id> says it

Like OVH, it keeps one callBack and one smsResponse for the service (PUT /sms/{serviceName}),
shared by all its virtual numbers and senders.

Signature rule (python-ovh `raw_call`)::

    "$1$" + sha1(app_secret + "+" + consumer_key + "+" + METHOD + "+" + full_url
                 + "+" + raw_body + "+" + timestamp)

where full_url is `base_url + path` plus `"?" + query` when the request has a query.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Iterable, Optional
from zoneinfo import ZoneInfo

import requests
from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException
from werkzeug.http import HTTP_STATUS_CODES
from werkzeug.serving import WSGIRequestHandler, make_server

PARIS = ZoneInfo("Europe/Paris")
VALID_RECEIVER = re.compile(r"\+\d{6,15}|00\d{6,15}")
TIMESTAMP_TOLERANCE = 30  # seconds either side of the fake's clock

# GSM 03.38 basic table and the extension characters that cost two septets.
GSM7_BASIC = ("@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
              "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà")
GSM7_EXTENSION = "\f^{}\\[~]|€"

# Body fields of POST .../jobs (schema sms.SmsSendingReport request), with their JSON type.
JOB_FIELDS = {
    "message": str, "receivers": list, "receiversDocumentUrl": str, "receiversSlotId": str,
    "sender": str, "senderForResponse": bool, "noStopClause": bool, "class": str,
    "coding": str, "charset": str, "differedPeriod": int, "validityPeriod": int,
    "priority": str, "tag": str,
}
# A virtual number is itself the sender: these three fields do not exist on its jobs route.
SENDER_ONLY_FIELDS = ("sender", "senderForResponse", "noStopClause")
JOB_ENUMS = {
    "class": {"flash", "phoneDisplay", "sim", "toolkit"},
    "coding": {"7bit", "8bit"},
    "charset": {"UTF-8"},
    "priority": {"high", "medium", "low", "veryLow"},
}
# Writable properties of sms.Account (PUT /sms/{serviceName}).
ACCOUNT_WRITABLE = {"automaticRecreditAmount", "callBack", "creditThresholdForAutomaticRecredit",
                    "description", "smsResponse", "stopCallBack", "templates"}
RESPONSE_TYPES = {"cgi", "none", "text"}


def ovh_signature(app_secret: str, consumer_key: str, method: str, url: str | bytes,
                  body: str | bytes, timestamp: str | int) -> str:
    """The `X-Ovh-Signature` value: "$1$" + SHA-1 hex of the "+"-joined parts."""
    parts = [app_secret, consumer_key, method.upper(), url, body, str(timestamp)]
    raw = b"+".join(p if isinstance(p, bytes) else p.encode("utf-8", "surrogateescape")
                    for p in parts)
    return "$1$" + hashlib.sha1(raw).hexdigest()


def sms_parts(message: str) -> int:
    """Number of SMS a message costs (GSM-7 160/153, else UCS-2 70/67)."""
    if all(ch in GSM7_BASIC or ch in GSM7_EXTENSION for ch in message):
        septets = sum(2 if ch in GSM7_EXTENSION else 1 for ch in message)
        return 1 if septets <= 160 else -(-septets // 153)
    units = len(message.encode("utf-16-le")) // 2
    return 1 if units <= 70 else -(-units // 67)


def iso_datetime(timestamp: float) -> str:
    """OVH style ISO 8601 with the Paris offset, e.g. 2024-01-15T10:20:30+01:00."""
    return datetime.fromtimestamp(int(timestamp), PARIS).isoformat(timespec="seconds")


@dataclass
class RecordedRequest:
    method: str
    path: str                 # decoded path, e.g. /1.0/sms/sms-ab12345-1/jobs
    query: str                # raw query string ("" when none)
    headers: dict
    body: bytes               # the exact raw body bytes
    json: Any                 # parsed body, None when empty or not JSON
    url: str                  # the full URL the signature is checked against
    status: int = 0           # the status the fake answered
    error: str = ""           # why the fake refused it (debugging aid, never sent)


@dataclass
class FakeJob:
    id: int
    service: str
    receiver: str
    message: str
    sender: str
    virtual_number: Optional[str]
    tag: str
    credits: int
    created: float            # fake clock, seconds
    payload: dict             # the whole JSON body of the send call
    status: str = "pending"   # pending -> sent (after a DLR or mark_sent) | cancelled
    dlr: Optional[int] = None
    sent_at: Optional[float] = None
    delivered_at: Optional[float] = None


@dataclass
class FakeIncoming:
    id: int
    service: str
    sender: str
    message: str
    tag: str
    virtual_number: Optional[str]
    created: float
    credits: float = 0.0

    def as_json(self) -> dict:
        return {"id": self.id, "creationDatetime": iso_datetime(self.created),
                "message": self.message, "sender": self.sender, "tag": self.tag,
                "credits": self.credits}


class OvhError(Exception):
    """Raised by a route handler; becomes a JSON error answer."""

    def __init__(self, status: int, message: str, error_code: Optional[str] = None):
        super().__init__(message)
        body: dict = {"message": message}
        if error_code:
            body = {"errorCode": error_code, "httpCode": f"{status} {HTTP_STATUS_CODES[status]}",
                    "message": message}
        self.status, self.body = status, body


def not_found(kind: str, value: Any) -> OvhError:
    return OvhError(404, f"The requested object ({kind} = {value}) does not exist")


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *args, **kwargs):  # keep pytest output clean
        pass


class FakeOvh:
    """Fake eu.api.ovh.com for one SMS service; see the module docstring."""

    def __init__(self, app_key: Optional[str] = None, app_secret: Optional[str] = None,
                 consumer_key: Optional[str] = None, service_name: str = "sms-ab12345-1",
                 virtual_numbers: Iterable[str] = ("0033612345600",),
                 senders: Iterable[str] = ("SMSDesk",), time_offset: int = 0,
                 credits_left: float = 100.0):
        self.app_key = app_key or secrets.token_urlsafe(12)
        self.app_secret = app_secret or secrets.token_urlsafe(24)
        self.consumer_key = consumer_key or secrets.token_urlsafe(24)
        self.service_name = service_name
        self.virtual_numbers = tuple(virtual_numbers)
        self.senders = tuple(senders)
        self.time_offset = time_offset      # fake clock minus real clock, seconds
        self.shortcode = "38100"            # short number used with senderForResponse
        self.account = {
            "name": service_name, "description": "", "status": "enable",
            "creditsLeft": float(credits_left), "creditsHoldByQuota": 0.0, "channel": "both",
            "callBack": "", "stopCallBack": "", "userQuantityWithQuota": 0,
            "automaticRecreditAmount": None, "creditThresholdForAutomaticRecredit": 0,
            "templates": None,
            "smsResponse": {"responseType": "none", "cgiUrl": "", "text": "",
                            "trackingDefaultSmsSender": "", "trackingOptions": []},
        }
        self.requests: list[RecordedRequest] = []
        self.jobs: dict[int, FakeJob] = {}
        self.incoming: dict[int, FakeIncoming] = {}
        self.callbacks: list[dict] = []     # what the emitters sent and got back
        self.answer_delay = 0.0             # seconds to wait before answering API calls
        self.auto_dlr = False
        self.callback_delay = 0.2
        self._failures: list[tuple[int, OvhError]] = []
        self._next_job_id = 26929925
        self._next_incoming_id = 53000001
        self._query_counter = 0
        self._lock = threading.RLock()
        self._timers: list[threading.Timer] = []
        self._server = None
        self._thread: Optional[threading.Thread] = None
        self.app = self._build_app()

    # ----------------------------------------------------------------- lifecycle
    def start(self) -> "FakeOvh":
        self._server = make_server("127.0.0.1", 0, self.app, threaded=True,
                                   request_handler=_QuietHandler)
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,),
                                        daemon=True, name="fake-ovh")
        self._thread.start()
        return self

    def stop(self) -> None:
        for timer in self._timers:
            timer.cancel()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=5)
            self._server = None

    def __enter__(self) -> "FakeOvh":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def origin(self) -> str:
        if self._server is None:
            raise RuntimeError("FakeOvh is not started")
        return f"http://127.0.0.1:{self._server.server_port}"

    @property
    def base_url(self) -> str:
        """Replaces https://eu.api.ovh.com/1.0; the adapter signs base_url + path."""
        return self.origin + "/1.0"

    def now(self) -> int:
        """The fake server's clock (what GET /auth/time answers)."""
        return int(time.time()) + self.time_offset

    # ----------------------------------------------------------- test controls
    def fail_next(self, status_code: int, message: Optional[str] = None,
                  error_code: Optional[str] = None, times: int = 1) -> None:
        """Make the next `times` send calls (POST .../jobs) answer this error."""
        error = OvhError(status_code, message or HTTP_STATUS_CODES.get(status_code, "Error"),
                         error_code)
        with self._lock:
            self._failures.append((times, error))

    def mark_sent(self, job_id: int, dlr: Optional[int] = None) -> FakeJob:
        """Move a pending job to 'outgoing' (what OVH does once the SMSC took it)."""
        with self._lock:
            job = self.jobs[job_id]
            job.status = "sent"
            job.sent_at = job.sent_at or self.now()
            if dlr is not None:
                job.dlr = dlr
                if dlr == 1:
                    job.delivered_at = self.now()
            return job

    def send_dlr(self, job_id: int, dlr: int = 1, **extra: str) -> requests.Response:
        """GET {callBack}?id=<id>&dlr=<dlr>&receiver=<receiver> like OVH's status push: to the
        service's one callBack, whichever number or sender sent the job (the last PUT wins)."""
        url = self.account["callBack"]
        if not url:
            raise RuntimeError("no callBack configured (PUT /sms/{serviceName} first)")
        params = {"id": str(job_id), "dlr": str(dlr)}
        if job_id in self.jobs:
            params["receiver"] = self.mark_sent(job_id, dlr).receiver
        params.update(extra)
        response = requests.get(url, params=params, timeout=10)
        self.callbacks.append({"kind": "dlr", "url": response.request.url,
                               "status": response.status_code})
        return response

    def send_stop(self, sender: str, message: str = "STOP") -> requests.Response:
        """GET {stopCallBack}&senderid=<sender>&message=STOP&id=<incoming id>, the call OVH makes when
        a recipient replies STOP and it blacklists their number. The schema names the setting only
        (sms.Account.stopCallBack, spec 2.3); its parameters are [UNVERIFIED]: the CGI push's names,
        sent as a query like callBack's."""
        url = self.account["stopCallBack"]
        if not url:
            raise RuntimeError("no stopCallBack configured (PUT /sms/{serviceName} first)")
        with self._lock:
            sms_id = self._next_incoming_id
            self._next_incoming_id += 1
        params = {"id": str(sms_id), "senderid": sender, "message": message}
        response = requests.get(url, params=params, timeout=10)
        self.callbacks.append({"kind": "stop", "url": response.request.url, "status": response.status_code})
        return response

    def queue_incoming(self, sender: str, message: str, tag: str = "",
                       virtual_number: Optional[str] = None) -> int:
        """Store an inbound SMS readable through the /incoming routes; returns its id."""
        number = None
        if virtual_number is not None:
            number = "00" + virtual_number[1:] if virtual_number.startswith("+") else virtual_number
            if number not in self.virtual_numbers:
                raise ValueError(f"{virtual_number} is not one of {self.virtual_numbers}")
        with self._lock:
            sms_id = self._next_incoming_id
            self._next_incoming_id += 1
            self.incoming[sms_id] = FakeIncoming(sms_id, self.service_name, sender, message,
                                                 tag, number, self.now())
        return sms_id

    def push_incoming(self, sender: str, message: str, tag: str = "", shortcode: Optional[str] = None,
                      virtual_number: Optional[str] = None) -> requests.Response:
        """Queue an inbound SMS and POST OVH's CGI form to smsResponse.cgiUrl, the service's one
        whichever of its numbers received it; `shortcode` is the number it was sent to (the
        virtual number in 00 form, or the short number replies to a sender name go to)."""
        url = self.account["smsResponse"].get("cgiUrl")
        if not url:
            raise RuntimeError("no smsResponse.cgiUrl configured (PUT /sms/{serviceName})")
        sms_id = self.queue_incoming(sender, message, tag, virtual_number)
        if virtual_number is not None:
            shortcode = self.incoming[sms_id].virtual_number
        form = {"shortcode": shortcode or self.shortcode, "tag": tag, "id": str(sms_id),
                "senderid": sender, "message": message}
        response = requests.post(url, data=form, timeout=10)
        self.callbacks.append({"kind": "inbound", "url": url, "form": form,
                               "status": response.status_code})
        return response

    def sends(self) -> list[RecordedRequest]:
        """Recorded POST .../jobs requests, oldest first."""
        return [r for r in self.requests if r.method == "POST" and r.path.endswith("/jobs")]

    # ------------------------------------------------------------- middleware
    def _build_app(self) -> Flask:
        app = Flask(f"fake_ovh_{id(self)}")
        app.before_request(self._before)
        app.after_request(self._after)
        app.register_error_handler(OvhError, lambda e: self._json(e.body, e.status))
        app.register_error_handler(HTTPException, self._http_error)
        routes = [
            ("/1.0/sms/<service>", ["GET"], self._get_account),
            ("/1.0/sms/<service>", ["PUT"], self._put_account),
            ("/1.0/sms/<service>/jobs", ["GET"], self._list_jobs),
            ("/1.0/sms/<service>/jobs", ["POST"], self._send),
            ("/1.0/sms/<service>/virtualNumbers/<number>/jobs", ["POST"], self._send),
            ("/1.0/sms/<service>/jobs/<int:job_id>", ["GET"], self._get_job),
            ("/1.0/sms/<service>/jobs/<int:job_id>", ["DELETE"], self._delete_job),
            ("/1.0/sms/<service>/outgoing", ["GET"], self._list_outgoing),
            ("/1.0/sms/<service>/outgoing/<int:job_id>", ["GET"], self._get_outgoing),
            ("/1.0/sms/<service>/incoming", ["GET"], self._list_incoming),
            ("/1.0/sms/<service>/virtualNumbers/<number>/incoming", ["GET"], self._list_incoming),
            ("/1.0/sms/<service>/incoming/<int:sms_id>", ["GET"], self._get_incoming),
            ("/1.0/sms/<service>/virtualNumbers/<number>/incoming/<int:sms_id>", ["GET"],
             self._get_incoming),
            ("/1.0/sms/<service>/incoming/<int:sms_id>", ["DELETE"], self._delete_incoming),
            ("/1.0/sms/<service>/virtualNumbers/<number>/incoming/<int:sms_id>", ["DELETE"],
             self._delete_incoming),
        ]
        for rule, methods, view in routes:
            app.add_url_rule(rule, f"{view.__name__}_{rule}_{methods[0]}", view, methods=methods)
        return app

    def _before(self) -> Optional[Response]:
        record = self._record()
        if request.path == "/1.0/auth/time" and request.method == "GET":
            return self._json(self.now())
        refusal = self._check_auth(record)
        if refusal is not None:
            record.error = refusal.args[0]
            return self._json(refusal.body, refusal.status)
        if self.answer_delay:
            time.sleep(self.answer_delay)
        return None

    def _after(self, response: Response) -> Response:
        with self._lock:
            self._query_counter += 1
            query_id = f"EU.ext-1.{uuid.uuid4().hex[:8]}.{self._query_counter}.fake"
        response.headers["X-OVH-QUERYID"] = query_id
        record = request.environ.get("fake_ovh.record")
        if record is not None:
            record.status = response.status_code
        return response

    def _record(self) -> RecordedRequest:
        body = request.get_data(cache=True)
        try:
            parsed = json.loads(body) if body else None
        except ValueError:
            parsed = None
        record = RecordedRequest(request.method, request.path,
                                 request.query_string.decode("latin-1"), dict(request.headers),
                                 body, parsed, self._target_url())
        request.environ["fake_ovh.record"] = record
        with self._lock:
            self.requests.append(record)
        return record

    def _target_url(self) -> str:
        """The full URL the client targeted, exactly as it was on the request line."""
        raw = request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI")
        if raw is None:
            raw = request.full_path
        raw = raw.encode("latin-1").decode("utf-8", "surrogateescape")
        if "://" in raw.split("?", 1)[0]:        # absolute-form request target
            raw = "/" + raw.split("://", 1)[1].split("/", 1)[-1]
        if raw.endswith("?"):                    # a bare "?" is not part of the URL
            raw = raw[:-1]
        return self.origin + raw

    def _check_auth(self, record: RecordedRequest) -> Optional[OvhError]:
        headers = request.headers
        if headers.get("X-Ovh-Application") != self.app_key:
            return OvhError(403, "Invalid application key", "INVALID_KEY")
        consumer = headers.get("X-Ovh-Consumer")
        if not consumer:
            return OvhError(403, "You must login first", "NOT_CREDENTIAL")
        if consumer != self.consumer_key:
            return OvhError(403, "This credential does not exist", "INVALID_CREDENTIAL")
        invalid = OvhError(400, "Invalid signature", "INVALID_SIGNATURE")
        stamp = headers.get("X-Ovh-Timestamp", "")
        if not stamp.isdigit():
            invalid.args = (f"X-Ovh-Timestamp {stamp!r} is not an integer",)
            return invalid
        drift = int(stamp) - self.now()
        if abs(drift) > TIMESTAMP_TOLERANCE:
            invalid.args = (f"X-Ovh-Timestamp is {drift:+d} s from the fake clock {self.now()}",)
            return invalid
        expected = ovh_signature(self.app_secret, self.consumer_key, request.method,
                                 record.url, record.body, stamp)
        if not hmac.compare_digest(headers.get("X-Ovh-Signature", ""), expected):
            invalid.args = (f"signature mismatch: expected {expected} over URL {record.url!r} "
                            f"and body {record.body!r}",)
            return invalid
        return None

    @staticmethod
    def _json(payload: Any, status: int = 200) -> Response:
        return Response(json.dumps(payload), status=status, mimetype="application/json")

    def _http_error(self, error: HTTPException) -> Response:
        if error.code == 405:
            return self._json({"message": "Method not allowed"}, 405)
        return self._json({"message": "Got an invalid (or empty) URL"}, error.code or 500)

    # ---------------------------------------------------------------- helpers
    def _check_service(self, service: str, number: Optional[str] = None) -> None:
        if service != self.service_name:
            raise OvhError(404, "This service does not exist")
        if number is not None and number not in self.virtual_numbers:
            raise not_found("number", number)

    def _body_object(self) -> dict:
        raw = request.get_data(cache=True)
        if not raw:
            return {}
        try:
            payload = json.loads(raw)
        except ValueError:
            raise OvhError(400, "Invalid JSON received") from None
        if not isinstance(payload, dict):
            raise OvhError(400, "Invalid JSON received: an object is expected")
        return payload

    def _take_failure(self) -> None:
        with self._lock:
            if not self._failures:
                return
            times, error = self._failures[0]
            if times <= 1:
                self._failures.pop(0)
            else:
                self._failures[0] = (times - 1, error)
        raise error

    def _job(self, service: str, job_id: int, status: str) -> FakeJob:
        job = self.jobs.get(job_id)
        if job is None or job.service != service or job.status != status:
            raise not_found("id", job_id)
        return job

    def _incoming(self, service: str, number: Optional[str], sms_id: int) -> FakeIncoming:
        sms = self.incoming.get(sms_id)
        if sms is None or sms.service != service or (number and sms.virtual_number != number):
            raise not_found("id", sms_id)
        return sms

    # ----------------------------------------------------------------- routes
    def _get_account(self, service: str) -> Response:
        self._check_service(service)
        return self._json(self.account)

    def _put_account(self, service: str) -> Response:
        self._check_service(service)
        payload = self._body_object()
        unknown = sorted(set(payload) - ACCOUNT_WRITABLE)
        if unknown:
            raise OvhError(400, f"Invalid parameter: {unknown[0]} is not a property of sms.Account")
        for key in ("callBack", "stopCallBack", "description"):
            if key in payload and not isinstance(payload[key], str):
                raise OvhError(400, f"Invalid parameter: {key} must be a string")
        sms_response = payload.pop("smsResponse", None)
        if sms_response is not None:
            if not isinstance(sms_response, dict):
                raise OvhError(400, "Invalid parameter: smsResponse must be an object")
            kind = sms_response.get("responseType")
            if kind is not None and kind not in RESPONSE_TYPES:
                raise OvhError(400, f"Invalid value for smsResponse.responseType: {kind}")
        with self._lock:
            self.account.update(payload)
            if sms_response is not None:
                self.account["smsResponse"].update(sms_response)
        return self._json(None)

    def _send(self, service: str, number: Optional[str] = None) -> Response:
        self._check_service(service, number)
        self._take_failure()
        payload = self._body_object()
        self._validate_job(payload, virtual=number is not None)
        sender = self._resolve_sender(payload, number)
        valid = [r for r in payload["receivers"] if VALID_RECEIVER.fullmatch(r)]
        invalid = [r for r in payload["receivers"] if not VALID_RECEIVER.fullmatch(r)]
        credits = sms_parts(payload["message"])
        ids = [self._create_job(service, receiver, sender, number, credits, payload)
               for receiver in valid]
        with self._lock:
            self.account["creditsLeft"] -= credits * len(ids)
        for job_id in ids:
            self._schedule_auto_dlr(job_id)
        return self._json({"totalCreditsRemoved": credits * len(ids), "invalidReceivers": invalid,
                           "ids": ids, "validReceivers": valid})

    @staticmethod
    def _validate_job(payload: dict, virtual: bool) -> None:
        for key, value in payload.items():
            if key not in JOB_FIELDS or (virtual and key in SENDER_ONLY_FIELDS):
                raise OvhError(400, f"Invalid parameter: {key} is not a property of this call")
            expected = JOB_FIELDS[key]
            if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
                raise OvhError(400, f"Invalid parameter: {key} must be a {expected.__name__}")
            if key in JOB_ENUMS and value not in JOB_ENUMS[key]:
                raise OvhError(400, f"Invalid value for {key}: {value}")
        if not payload.get("message"):
            raise OvhError(400, "Missing parameter: message")
        receivers = payload.get("receivers")
        if not receivers:
            raise OvhError(400, "Missing parameter: receivers (a non-empty list is required)")
        if not all(isinstance(r, str) for r in receivers):
            raise OvhError(400, "Invalid parameter: receivers must be a list of strings")

    def _resolve_sender(self, payload: dict, number: Optional[str]) -> str:
        if number is not None:
            return "+" + number[2:]
        if payload.get("senderForResponse"):
            return self.shortcode
        sender = payload.get("sender")
        if sender is None:
            return self.senders[0] if self.senders else self.shortcode
        if sender not in self.senders:
            raise OvhError(403, f"Sms sender {sender} does not exists. Please create it first")
        return sender

    def _create_job(self, service: str, receiver: str, sender: str, number: Optional[str],
                    credits: int, payload: dict) -> int:
        with self._lock:
            job_id = self._next_job_id
            self._next_job_id += 1
            self.jobs[job_id] = FakeJob(job_id, service, receiver, payload["message"], sender,
                                        number, payload.get("tag", ""), credits, self.now(),
                                        dict(payload))
        return job_id

    def _schedule_auto_dlr(self, job_id: int) -> None:
        if not (self.auto_dlr and self.account["callBack"]):
            return
        timer = threading.Timer(self.callback_delay, self._auto_dlr, args=(job_id,))
        timer.daemon = True
        self._timers.append(timer)
        timer.start()

    def _auto_dlr(self, job_id: int) -> None:
        try:
            self.send_dlr(job_id, 1)
        except requests.RequestException as error:
            self.callbacks.append({"kind": "dlr", "url": self.account["callBack"],
                                   "error": repr(error)})

    def _list_jobs(self, service: str) -> Response:
        self._check_service(service)
        return self._json([j.id for j in self.jobs.values()
                           if j.service == service and j.status == "pending"])

    def _get_job(self, service: str, job_id: int) -> Response:
        self._check_service(service)
        job = self._job(service, job_id, "pending")
        return self._json({
            "id": job.id, "receiver": job.receiver, "sender": job.sender, "message": job.message,
            "creationDatetime": iso_datetime(job.created), "credits": job.credits,
            "deliveryReceipt": 0, "ptt": 0, "differedDelivery": job.payload.get("differedPeriod", 0),
            "numberOfSms": job.credits, "messageLength": len(job.message),
        })

    def _delete_job(self, service: str, job_id: int) -> Response:
        self._check_service(service)
        with self._lock:
            self._job(service, job_id, "pending").status = "cancelled"
        return self._json(None)

    def _list_outgoing(self, service: str) -> Response:
        self._check_service(service)
        return self._json([j.id for j in self.jobs.values()
                           if j.service == service and j.status == "sent"])

    def _get_outgoing(self, service: str, job_id: int) -> Response:
        self._check_service(service)
        job = self._job(service, job_id, "sent")
        return self._json({
            "id": job.id, "receiver": job.receiver, "sender": job.sender, "message": job.message,
            "creationDatetime": iso_datetime(job.created),
            "sentAt": iso_datetime(job.sent_at) if job.sent_at else None,
            "deliveredAt": iso_datetime(job.delivered_at) if job.delivered_at else None,
            "deliveryReceipt": job.dlr or 0, "ptt": 0, "credits": job.credits,
            "numberOfSms": job.credits, "messageLength": len(job.message),
            "differedDelivery": job.payload.get("differedPeriod", 0), "tag": job.tag,
            "batchID": None, "messageID": None, "tariffCode": None,
        })

    def _list_incoming(self, service: str, number: Optional[str] = None) -> Response:
        self._check_service(service, number)
        args = request.args
        since, until = args.get("creationDatetime.from"), args.get("creationDatetime.to")
        ids = []
        for sms in list(self.incoming.values()):
            if sms.service != service or (number and sms.virtual_number != number):
                continue
            if "sender" in args and sms.sender != args["sender"]:
                continue
            if "tag" in args and sms.tag != args["tag"]:
                continue
            if since and sms.created < datetime.fromisoformat(since).timestamp():
                continue
            if until and sms.created > datetime.fromisoformat(until).timestamp():
                continue
            ids.append(sms.id)
        return self._json(ids)

    def _get_incoming(self, service: str, sms_id: int, number: Optional[str] = None) -> Response:
        self._check_service(service, number)
        return self._json(self._incoming(service, number, sms_id).as_json())

    def _delete_incoming(self, service: str, sms_id: int,
                         number: Optional[str] = None) -> Response:
        self._check_service(service, number)
        with self._lock:
            del self.incoming[self._incoming(service, number, sms_id).id]
        return self._json(None)
