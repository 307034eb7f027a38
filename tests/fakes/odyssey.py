"""A fake Odyssey Messaging (REST API v1) for SMS Desk tests.

It is a real HTTP server on 127.0.0.1 speaking the wire format of shared/specs/providers.md
section 4 (4.6 is this fake's own spec) and of the user guide seeds/odyssey-messaging-setup.fr.rst:
the two REST calls the adapter makes (Basic auth, JSON, ASP.NET Web API style errors) and the
JSON callbacks Odyssey posts to the account-level "CallBack API" URLs.

    from tests.fakes.odyssey import FakeOdyssey

    with FakeOdyssey() as fake:                      # or fake.start() ... fake.stop()
        config["ODYSSEY_API_BASE_URL"] = fake.base_url   # the adapter calls {base_url}/api/v1/...
        # phone credentials: fake.login ("12345.smsdesk") / fake.password, sender fake.senders[0]
        fake.status_url = ".../callbacks/odyssey/<phone>/<token>/status"     # ItemStatusChanged
        fake.inbound_url = ".../callbacks/odyssey/<phone>/<token>/inbound"   # InboundSMS
        ... the app sends a message ...
        job = fake.last_job                          # fake.jobs[job_number] for a given number
        assert job.addresses == ["0033612345678"] and job.text == "Hello"
        assert fake.requests[-1].json["JobType"] == "SMS"
        response = fake.send_status(job.job_number, "S")        # EventType 9 to status_url
        assert response.status_code == 200
        fake.send_inbound("0033611111111", "Oui")                # EventType 8 to inbound_url
        fake.send_opt_out("0033611111111")                       # EventType 1 (OPT_OUT) to inbound_url
        fake.send_event(5, JobNumber=job.job_number)             # an event the app must ignore
        fake.post_raw(fake.status_url, b"{not json", "application/json")

Failures: fake.fail_next(503), fake.fail_next(429, times=2), fake.answer_delay = 2.0.
End-to-end: fake.auto_status = True posts Outcome "S" for every recipient of each accepted job,
callback_delay (0.2 s) later, when status_url is set.

Dates in callbacks are Microsoft JSON dates, "/Date(<ms since epoch, UTC><+hhmm|-hhmm|>)/",
written like .NET writes them in JSON ("\\/Date(...)\\/", which any JSON parser reads back as
"/Date(...)/"); set fake.escape_date_slashes = False to send the bare form.
"""
from __future__ import annotations

import hmac
import json
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from http import HTTPStatus
from typing import Any, Iterable

import requests
from requests.structures import CaseInsensitiveDict
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

API_PREFIX = "/api/v1"
JSON_TYPE = "application/json; charset=utf-8"
JSON_MEDIA_TYPES = {"application/json", "text/json"}  # what ASP.NET's JSON formatter reads

ADDRESS = re.compile(r"^00\d{6,15}$")        # 00 + international digits (spec 4.1 / 4.5)
OFFSET = re.compile(r"^(?:[+-]\d{4})?$")     # "+hhmm", "-hhmm" or nothing
MS_DATE = re.compile(r'"/Date\((-?\d+(?:[+-]\d{4})?)\)/"')
SENDER_MIN, SENDER_MAX = 3, 11
LAUNCH_TYPES = {0, 1, 2}                     # send, proof, preview
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)

# Documented fields of the SMSJob model (spec 4.1). Others are ignored, as JSON.NET does,
# and listed in FakeJob.ignored_fields so a test can catch a misspelt field name.
JOB_FIELDS = {"JobType", "Text", "AdhocRecipients", "TrackingID", "LaunchType",
              "ScheduledStartTime", "Parameter", "Lists"}

EVENT_TYPES = {  # spec 4.2, RaspiSMS's enum
    "OPT_OUT": 1, "SYSTEM_ERROR": 2, "END_OF_ITEM": 3, "END_OF_JOB": 4, "JOB_STATUS_CHANGED": 5,
    "REAL_TIME_STATUS": 6, "RETRIEVE_FILE": 7, "INBOUND_SMS": 8, "ITEM_STATUS_CHANGED": 9,
    "DATA_COLLECTION_FILLED": 10,
}
ITEM_STATUS_CHANGED = EVENT_TYPES["ITEM_STATUS_CHANGED"]
INBOUND_SMS = EVENT_TYPES["INBOUND_SMS"]

DENIED = "Authorization has been denied for this request."
INVALID = "The request is invalid."


# ---------------------------------------------------------------- pure helpers

def microsoft_date(moment: datetime | None = None, offset: str = "+0100") -> str:
    """A Microsoft JSON date: '/Date(1677243600000+0100)/'.

    The number is milliseconds since the Unix epoch of the instant (UTC, as .NET writes it);
    the offset is only informative. moment: an aware datetime (a naive one is taken as UTC),
    None for now. offset: "+hhmm", "-hhmm" or "" for none."""
    if not OFFSET.match(offset):
        raise ValueError(f"offset must be '+hhmm', '-hhmm' or '', not {offset!r}")
    moment = moment or datetime.now(timezone.utc)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    milliseconds = (moment - EPOCH) // timedelta(milliseconds=1)
    return f"/Date({milliseconds}{offset})/"


def dotnet_json(payload: Any, escape_date_slashes: bool = True) -> bytes:
    """Compact UTF-8 JSON; Microsoft dates written '\\/Date(...)\\/' like .NET serializers do."""
    text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    if escape_date_slashes:
        text = MS_DATE.sub(r'"\\/Date(\1)\\/"', text)
    return text.encode("utf-8")


def json_response(body: Any, status: int = 200, headers=None) -> Response:
    return Response(dotnet_json(body), status=status, headers=headers, content_type=JSON_TYPE)


class OdysseyError(Exception):
    """Raised inside request handling; becomes an ASP.NET Web API style JSON error."""

    def __init__(self, status: int, message: str, model_state: dict | None = None, headers=None):
        super().__init__(message)
        body: dict = {"Message": message}
        if model_state is not None:
            body["ModelState"] = model_state
        self.response = json_response(body, status, headers)


# ---------------------------------------------------------------- records

@dataclass
class RecordedRequest:
    """One request the fake received, whatever its answer."""
    method: str
    path: str
    query: str                # raw query string, "" when none
    headers: CaseInsensitiveDict
    body: bytes               # the exact raw body
    json: Any                 # parsed body; None when empty or not JSON
    auth: tuple | None        # (login, password) of HTTP Basic auth, if any
    status: int = 0           # what the fake answered

    @property
    def content_type(self) -> str:
        return self.headers.get("Content-Type", "")


@dataclass
class FakeJob:
    """An accepted POST /api/v1/SMSJobs."""
    job_number: int
    recipients: list          # the AdhocRecipients dicts, as sent
    text: str
    tracking_id: str | None
    parameter: dict | None
    scheduled_start_time: str | None
    launch_type: int | None
    payload: dict             # the whole JSON body
    created: datetime
    ignored_fields: list = field(default_factory=list)   # body keys the API does not know
    outcomes: dict = field(default_factory=dict)         # address -> last Outcome sent by the fake

    @property
    def addresses(self) -> list:
        return [recipient["Address"] for recipient in self.recipients]

    @property
    def sender(self) -> str | None:
        return (self.parameter or {}).get("Sender")


@dataclass
class SentCallback:
    """One callback the fake posted, with the app's answer."""
    url: str
    body: bytes
    content_type: str
    json: Any = None
    status_code: int | None = None
    error: str | None = None


@dataclass
class Failure:
    status: int
    message: str
    body: str | None = None
    headers: dict | None = None


class QuietHandler(WSGIRequestHandler):
    def log_request(self, *args, **kwargs):
        pass


# ---------------------------------------------------------------- the fake

class FakeOdyssey:
    """Fake Odyssey Messaging account. Public state a test reads or sets:

    login, password, senders           Basic credentials and the accepted Parameter.Sender names
    base_url                           replaces https://api.odyssey-services.fr (after start())
    requests                           every RecordedRequest received, in order (sends(): SMSJobs only)
    jobs, last_job                     job number -> FakeJob, and the newest one
    status_url, inbound_url            account callback URLs (ItemStatusChanged / InboundSMS)
    callbacks                          every SentCallback the fake posted
    answer_delay                       seconds to wait before answering each API call
    auto_status, auto_outcome, callback_delay   post auto_outcome ("S") per recipient after a job
    job_numbers_as_strings             answer and call back with "JobNumber": "123" instead of 123
    escape_date_slashes                write dates as "\\/Date(...)\\/" (default) or "/Date(...)/"
    """

    def __init__(self, login: str = "12345.smsdesk", password: str | None = None,
                 senders: Iterable[str] = ("SMSDesk",), *, first_job_number: int = 7000001):
        self.login = login
        self.password = password or secrets.token_urlsafe(16)
        self.senders = tuple(senders)
        for sender in self.senders:
            if not SENDER_MIN <= len(sender) <= SENDER_MAX:
                raise ValueError(f"sender {sender!r}: Odyssey sender names have 3 to 11 characters")

        self.status_url: str | None = None
        self.inbound_url: str | None = None
        self.requests: list[RecordedRequest] = []
        self.jobs: dict[int, FakeJob] = {}
        self.callbacks: list[SentCallback] = []
        self.answer_delay = 0.0
        self.auto_status = False
        self.auto_outcome = "S"
        self.callback_delay = 0.2
        self.job_numbers_as_strings = False
        self.escape_date_slashes = True

        self._next_job_number = first_job_number
        self._failures: list[Failure] = []
        self._timers: list[threading.Timer] = []
        self._lock = threading.RLock()
        self._server = None
        self._thread = None
        self._urls = Map([
            Rule(f"{API_PREFIX}/SMSJobs", endpoint="sms_jobs", methods=["POST"]),
            Rule(f"{API_PREFIX}/JobTypes", endpoint="job_types", methods=["GET"]),
        ])

    # ---- life cycle

    def start(self) -> "FakeOdyssey":
        self._server = make_server("127.0.0.1", 0, self._wsgi, threaded=True, request_handler=QuietHandler)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="fake-odyssey", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        with self._lock:
            timers, self._timers = self._timers, []
        for timer in timers:
            timer.cancel()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=5)
            self._server = None

    def __enter__(self) -> "FakeOdyssey":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """http://127.0.0.1:PORT, standing for https://api.odyssey-services.fr."""
        if self._server is None:
            raise RuntimeError("FakeOdyssey is not started")
        return f"http://127.0.0.1:{self._server.server_port}"

    @property
    def last_job(self) -> FakeJob | None:
        with self._lock:
            return self.jobs[max(self.jobs)] if self.jobs else None

    def sends(self) -> list[RecordedRequest]:
        """The recorded POST /api/v1/SMSJobs calls, accepted or not."""
        with self._lock:
            return [r for r in self.requests if r.method == "POST" and r.path == f"{API_PREFIX}/SMSJobs"]

    # ---- test controls

    def fail_next(self, status_code: int, message: str | None = None, times: int = 1, *,
                  body: str | None = None, headers: dict | None = None) -> None:
        """The next `times` POST /SMSJobs calls answer status_code with {"Message": message}
        (or the raw `body`, e.g. a proxy's HTML page), before any check; no job is created.
        429 carries Retry-After: 1 unless headers are given."""
        if status_code == 429 and headers is None:
            headers = {"Retry-After": "1"}
        failure = Failure(status_code, message or HTTPStatus(status_code).phrase, body, headers)
        with self._lock:
            self._failures.extend([failure] * times)

    # ---- callback emitters (each returns the app's requests.Response)

    def send_status(self, job_number, outcome: str = "S", address: str | None = None,
                    tracking_id: str | None = None, *, when: datetime | None = None,
                    offset: str = "+0100", url: str | None = None,
                    extra: dict | None = None) -> requests.Response:
        """POST an ItemStatusChanged event (EventType 9) to status_url (or `url`):
        {"EventType":9,"JobNumber":n,"Outcome":outcome,"TrackingID":..,"Address":..,"EventDateTime":..}.
        For a known job, address and tracking_id default to its first recipient and its TrackingID
        (None -> null otherwise); job_number is sent as given (int, or str to test tolerance)."""
        job = self._job_for(job_number)
        if job is not None:
            address = address or job.recipients[0]["Address"]
            tracking_id = tracking_id if tracking_id is not None else job.tracking_id
            with self._lock:
                job.outcomes[address] = outcome
        body = {"EventType": ITEM_STATUS_CHANGED, "JobNumber": job_number, "Outcome": outcome,
                "TrackingID": tracking_id, "Address": address,
                "EventDateTime": microsoft_date(when, offset)}
        body.update(extra or {})
        return self.post_json(self._target(url, self.status_url, "status_url"), body)

    def send_inbound(self, from_: str, message: str, when: datetime | None = None,
                     offset: str = "+0100", *, url: str | None = None,
                     extra: dict | None = None) -> requests.Response:
        """POST an InboundSMS event (EventType 8) to inbound_url (or `url`):
        {"EventType":8,"From":from_,"Message":message,"EventDateTime":"/Date(<ms><offset>)/"}.
        when: aware datetime (naive = UTC), default now; offset "+hhmm", "-hhmm" or ""."""
        body = {"EventType": INBOUND_SMS, "From": from_, "Message": message,
                "EventDateTime": microsoft_date(when, offset)}
        body.update(extra or {})
        return self.post_json(self._target(url, self.inbound_url, "inbound_url"), body)

    def send_opt_out(self, address: str, message: str = "STOP", when: datetime | None = None,
                     offset: str = "+0100", *, url: str | None = None) -> requests.Response:
        """POST an OPT_OUT event (EventType 1) to inbound_url (or `url`), the address an OptOut
        callback is given: {"EventType":1,"Address":address,"Message":message,"EventDateTime":..}.
        Its fields are [UNVERIFIED] (spec 4.2 has the type only): Address as in ItemStatusChanged."""
        body = {"EventType": EVENT_TYPES["OPT_OUT"], "Address": address, "Message": message,
                "EventDateTime": microsoft_date(when, offset)}
        return self.post_json(self._target(url, self.inbound_url, "inbound_url"), body)

    def send_event(self, event_type: int, url: str | None = None, **fields) -> requests.Response:
        """POST {"EventType": event_type, "EventDateTime": now, **fields} to `url`, by default
        inbound_url for type 8 and status_url for any other (e.g. 5 JOB_STATUS_CHANGED, which
        the app must acknowledge with a 2xx and ignore)."""
        body = {"EventType": event_type, "EventDateTime": microsoft_date()}
        body.update(fields)
        default, name = ((self.inbound_url, "inbound_url") if event_type == INBOUND_SMS
                         else (self.status_url, "status_url"))
        return self.post_json(self._target(url, default, name), body)

    def post_json(self, url: str, payload: Any) -> requests.Response:
        """POST any JSON body the way Odyssey does (compact UTF-8, application/json; charset=utf-8)."""
        return self.post_raw(url, dotnet_json(payload, self.escape_date_slashes), JSON_TYPE)

    def post_raw(self, url: str, body_bytes: bytes, content_type: str | None = JSON_TYPE) -> requests.Response:
        """POST exactly these bytes (malformed JSON, empty body, another content type...);
        content_type None sends no Content-Type header."""
        if isinstance(body_bytes, str):
            body_bytes = body_bytes.encode("utf-8")
        try:
            parsed = json.loads(body_bytes)
        except ValueError:
            parsed = None
        record = SentCallback(url, body_bytes, content_type or "", parsed)
        with self._lock:
            self.callbacks.append(record)
        headers = {"Content-Type": content_type} if content_type else {}
        try:
            response = requests.post(url, data=body_bytes, headers=headers, timeout=15,
                                     allow_redirects=False)
        except requests.RequestException as error:
            record.error = str(error)
            raise
        record.status_code = response.status_code
        return response

    def _job_for(self, job_number) -> FakeJob | None:
        try:
            return self.jobs.get(int(job_number))
        except (TypeError, ValueError):
            return None

    @staticmethod
    def _target(url: str | None, default: str | None, name: str) -> str:
        if url:
            return url
        if not default:
            raise RuntimeError(f"fake.{name} is not set (Configurer -> CallBack API) and no url= given")
        return default

    # ---- automatic delivery reports

    def _schedule_auto_status(self, job: FakeJob) -> None:
        if not (self.auto_status and self.status_url):
            return
        for recipient in job.recipients:
            timer = threading.Timer(self.callback_delay, self._auto_status,
                                    args=(job.job_number, recipient["Address"]))
            timer.daemon = True
            with self._lock:
                self._timers.append(timer)
            timer.start()

    def _auto_status(self, job_number: int, address: str) -> None:
        number = str(job_number) if self.job_numbers_as_strings else job_number
        try:
            self.send_status(number, self.auto_outcome, address)
        except (requests.RequestException, RuntimeError):
            pass  # kept in the SentCallback's .error, in self.callbacks

    # ---- HTTP side

    def _wsgi(self, environ, start_response):
        request = Request(environ)
        record = self._record(request)
        try:
            endpoint, _ = self._urls.bind_to_environ(environ).match()
        except NotFound:
            response = json_response({"Message": "No HTTP resource was found that matches the request "
                                                 f"URI '{request.base_url}'."}, 404)
        except MethodNotAllowed:
            response = json_response({"Message": "The requested resource does not support http method "
                                                 f"'{request.method}'."}, 405)
        except HTTPException as error:
            response = error.get_response(environ)
        else:
            response = self._dispatch(endpoint, request, record)
        record.status = response.status_code
        return response(environ, start_response)

    def _record(self, request: Request) -> RecordedRequest:
        body = request.get_data(cache=True)
        try:
            parsed = json.loads(body) if body else None
        except ValueError:
            parsed = None
        auth = request.authorization
        record = RecordedRequest(
            method=request.method, path=request.path, query=request.query_string.decode("latin-1"),
            headers=CaseInsensitiveDict(request.headers.items()), body=body, json=parsed,
            auth=(auth.username, auth.password) if auth and auth.type == "basic" else None)
        with self._lock:
            self.requests.append(record)
        return record

    def _dispatch(self, endpoint: str, request: Request, record: RecordedRequest) -> Response:
        job = None
        try:
            if endpoint == "sms_jobs":
                response = self._injected_failure()
                if response is None:
                    job = self._create_job(request, record)
                    number = str(job.job_number) if self.job_numbers_as_strings else job.job_number
                    response = json_response({"JobNumber": number})
            else:
                self._check_auth(request)
                response = json_response([{"JobType": "SMS"}])
        except OdysseyError as error:
            response = error.response
        if self.answer_delay:  # the job exists already: a client that times out has still sent it
            time.sleep(self.answer_delay)
        if job is not None:
            self._schedule_auto_status(job)
        return response

    def _injected_failure(self) -> Response | None:
        with self._lock:
            if not self._failures:
                return None
            failure = self._failures.pop(0)
        if failure.body is not None:
            return Response(failure.body, failure.status, failure.headers, content_type="text/html")
        return json_response({"Message": failure.message}, failure.status, failure.headers)

    def _check_auth(self, request: Request) -> None:
        """ASP.NET [Authorize]: runs before the body is read, so a bad login wins over a bad body."""
        auth = request.authorization
        good = (auth is not None and auth.type == "basic"
                and hmac.compare_digest((auth.username or "").encode(), self.login.encode())
                and hmac.compare_digest((auth.password or "").encode(), self.password.encode()))
        if not good:
            raise OdysseyError(401, DENIED)

    # ---- POST /api/v1/SMSJobs

    def _create_job(self, request: Request, record: RecordedRequest) -> FakeJob:
        self._check_auth(request)
        payload = self._read_model(request, record)
        errors: dict[str, list[str]] = {}
        self._validate(payload, errors)
        if errors:
            raise OdysseyError(400, INVALID, errors)
        with self._lock:
            number = self._next_job_number
            self._next_job_number += 1
            job = FakeJob(
                job_number=number, recipients=[dict(r) for r in payload["AdhocRecipients"]],
                text=payload["Text"], tracking_id=payload.get("TrackingID"),
                parameter=payload.get("Parameter"), scheduled_start_time=payload.get("ScheduledStartTime"),
                launch_type=payload.get("LaunchType"), payload=payload,
                created=datetime.now(timezone.utc),
                ignored_fields=sorted(set(payload) - JOB_FIELDS))
            self.jobs[number] = job
        return job

    @staticmethod
    def _read_model(request: Request, record: RecordedRequest) -> dict:
        """What ASP.NET Web API model binding does with the body before validation."""
        if not record.body:
            raise OdysseyError(400, INVALID, {"model": ["A non-empty request body is required."]})
        media_type = request.mimetype or "application/octet-stream"
        if media_type not in JSON_MEDIA_TYPES:
            raise OdysseyError(415, f"The request entity's media type '{media_type}' is not supported "
                                    "for this resource.")
        try:
            payload = json.loads(record.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as error:
            raise OdysseyError(400, INVALID, {"model": [f"Error parsing the JSON body: {error}"]}) from None
        if not isinstance(payload, dict):
            raise OdysseyError(400, INVALID, {"model": [
                f"Cannot deserialize the current JSON {type(payload).__name__} into type 'SMSJob' "
                "because the type requires a JSON object."]})
        return payload

    def _validate(self, payload: dict, errors: dict) -> None:
        def fail(key: str, reason: str) -> None:
            errors.setdefault(f"model.{key}", []).append(reason)

        job_type = payload.get("JobType")
        if job_type is None or job_type == "":
            fail("JobType", "The JobType field is required.")
        elif job_type != "SMS":
            fail("JobType", f"The JobType '{job_type}' is not valid for this resource; expected 'SMS'.")

        text = payload.get("Text")
        if text is not None and not isinstance(text, str):
            fail("Text", "The Text field must be a string.")
        elif not text or not text.strip():
            fail("Text", "The Text field is required.")

        self._validate_recipients(payload, fail)

        tracking_id = payload.get("TrackingID")
        if tracking_id is not None and not isinstance(tracking_id, str):
            fail("TrackingID", "The TrackingID field must be a string.")

        launch_type = payload.get("LaunchType")
        if launch_type is not None and (isinstance(launch_type, bool) or launch_type not in LAUNCH_TYPES):
            fail("LaunchType", f"The LaunchType value {launch_type!r} is not valid (0 = send, 1 = proof, "
                               "2 = preview).")

        start = payload.get("ScheduledStartTime")
        if start is not None and not self._iso_datetime(start):
            fail("ScheduledStartTime", f"Could not convert {start!r} to DateTime (ISO 8601 expected, "
                                       "e.g. 2017-06-08T03:50:25.355Z).")

        self._validate_parameter(payload.get("Parameter"), fail)

    @staticmethod
    def _validate_recipients(payload: dict, fail) -> None:
        if payload.get("Lists"):
            fail("Lists", "This fake only supports AdhocRecipients, not uploaded Lists.")
        recipients = payload.get("AdhocRecipients")
        if recipients is not None and not isinstance(recipients, list):
            fail("AdhocRecipients", "The AdhocRecipients field must be a list of recipients.")
            return
        if not recipients:
            fail("AdhocRecipients", "At least one recipient is required in AdhocRecipients.")
            return
        for index, recipient in enumerate(recipients):
            key = f"AdhocRecipients[{index}]"
            if not isinstance(recipient, dict):
                fail(key, 'A recipient must be an object {"Name": ..., "Address": ...}.')
                continue
            name, address = recipient.get("Name"), recipient.get("Address")
            if not isinstance(name, str) or not name.strip():
                fail(f"{key}.Name", "The Name field is required.")
            if address is None or address == "":
                fail(f"{key}.Address", "The Address field is required.")
            elif not isinstance(address, str) or not ADDRESS.match(address):
                fail(f"{key}.Address", f"The Address {address!r} is not a valid phone number: use the "
                                       "international 00 form, e.g. 0033612345678.")

    def _validate_parameter(self, parameter, fail) -> None:
        if parameter is None:
            return
        if not isinstance(parameter, dict):
            fail("Parameter", "The Parameter field must be an SMSParameter object.")
            return
        if "Sender" in parameter and parameter["Sender"] is not None:
            sender = parameter["Sender"]
            if not isinstance(sender, str) or not SENDER_MIN <= len(sender) <= SENDER_MAX:
                fail("Parameter.Sender", f"The Sender {sender!r} must have 3 to 11 characters.")
            elif sender not in self.senders:
                fail("Parameter.Sender", f"The Sender '{sender}' is not allowed on this account.")
        media = parameter.get("Media")
        if media is not None and (isinstance(media, bool) or not isinstance(media, int)):
            fail("Parameter.Media", "The Media field must be an integer.")

    @staticmethod
    def _iso_datetime(value) -> bool:
        if not isinstance(value, str) or "T" not in value:
            return False
        try:
            datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return False
        return True
