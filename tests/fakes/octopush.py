"""A fake Octopush (v1 public JSON API, api.octopush.com) for SMS Desk tests.

It is a real HTTP server on 127.0.0.1 speaking the wire format of shared/specs/providers.md
section 3 (3.1-3.5; 3.6 is this fake's own spec; the legacy API of 3.7 is not served): the
two REST calls an adapter makes, and the JSON callbacks Octopush pushes to the account-level
URLs the user pastes in the Octopush interface, "Callbacks" menu.

    from tests.fakes.octopush import FakeOctopush, reply_problem

    with FakeOctopush() as fake:                     # or fake.start() ... fake.stop()
        config["OCTOPUSH_API_BASE_URL"] = fake.base_url   # replaces https://api.octopush.com
        # phone credentials: fake.api_login / fake.api_key, virtual number fake.virtual_number
        fake.status_url = app_url + "/callbacks/octopush/<phone>/<token>/status"
        fake.inbound_url = app_url + "/callbacks/octopush/<phone>/<token>/inbound"
        ... the app sends a message ...
        campaign = fake.last_campaign                # fake.campaigns[ticket] for a given ticket
        assert campaign.recipients == ["+33612345678"] and campaign.type == "sms_premium"
        assert fake.sends()[-1].headers["Content-Type"].startswith("application/json")
        response = fake.send_dlr(campaign.ticket, "+33612345678")          # DELIVERED
        assert reply_problem(response) is None       # 2xx, empty body, under 1 s
        fake.send_inbound("+33612345678", "Yes")     # to fake.inbound_url
        fake.send_stop("+33612345678")               # also to fake.inbound_url (url= to change)

Failures: fake.fail_next(503), fake.fail_next(500, times=2, body="<html>..."), fake.answer_delay = 2.0
(the campaign is recorded before the delay: a client that times out has still sent it).
Lost answers, for the next send calls only: fake.drop_next() closes the connection before
anything is checked (nothing sent); fake.drop_next(after_accepting=True) accepts the campaign,
then closes the connection instead of answering; fake.answer_late_next(2.0) accepts it and
answers 2 s late. A client that then sends the same request_id again is refused (step 5): the
refusal names no ticket, and no call finds a campaign by request_id (spec 3.1-3.2 know none),
so the ticket of a campaign whose answer was lost is never told. fake.accepted_for(number)
lists the campaigns accepted for a number: an SMS sent twice is there twice.
End-to-end: fake.auto_dlr = True posts DELIVERED for every recipient callback_delay (0.2 s) after
each accepted campaign, when status_url is set.

What the send call checks, in this order (spec 3.1, 3.5, 3.6):
  1. fail_next() injections (before anything else, like a proxy or an outage);
  2. headers `api-login` and `api-key` both present and right, else 401 code 1000;
  3. a JSON object body (Content-Type application/json), else 400 code 1001;
  4. `recipients`: a list of 1-500 objects, each with `phone_number` matching ^\\+\\d{6,15}$
     (code 1002 missing, 1003 wrong shape, 1004 bad number - the message names the number);
     `text`: a string of 1-1224 characters; `type`: sms_premium | sms_low_cost (required);
     optional fields, when present, must have their documented type and values (a JSON null is
     refused: omit the field instead): `sender` 3-11 [A-Za-z0-9], `with_replies` bool, `purpose`
     alert | wholesale, `send_at` ISO 8601 string, `simulation_mode` / `auto_optimize_text` /
     `auto_remove_blacklisted_numbers` bool, `request_id` non-empty string. Unknown fields are
     ignored (and listed in campaign.unknown_fields so a test can assert there are none);
  5. `request_id` already accepted less than request_id_ttl (24 h) ago: 400 code 120 (the
     code of a duplicate request_id in Octopush's list, spec 3.7), message "Duplicate request:
     this request_id was already used", nothing recorded, nothing debited, no callback;
  6. credit: 0.05 EUR per recipient; more than the balance -> 400 code 1006.
The error body is always {"code": <int>, "message": <str>} [shape per spec 3.1; the codes
other than 1000 and 120 and the exact HTTP statuses are this fake's choice - the spec marks them
UNVERIFIED]. Success: `success_status` (201, or 200) with {"sms_ticket": "sms_<13 hex>",
"number_of_contacts": n, "total_cost": 0.05*n, "number_of_sms_needed": segments of the text,
"residual_credit": balance left}.
"""
from __future__ import annotations

import json
import re
import secrets
import socket
import string
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from http import HTTPStatus
from typing import Any
from zoneinfo import ZoneInfo

import requests
from requests.structures import CaseInsensitiveDict
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

PARIS = ZoneInfo("Europe/Paris")
DATE_FORMAT = "%Y-%m-%d %H:%M:%S"        # Octopush callback dates, Europe/Paris local time
SEND_PATH = "/v1/public/sms-campaign/send"
BALANCE_PATH = "/v1/public/wallet/check-balance"

PHONE_NUMBER = re.compile(r"\+[0-9]{6,15}")          # used with fullmatch (no trailing newline)
SENDER = re.compile(r"[A-Za-z0-9]{3,11}")
TYPES = ("sms_premium", "sms_low_cost")
PURPOSES = ("alert", "wholesale")
MAX_TEXT = 1224
MAX_RECIPIENTS = 500
UNIT_PRICE = 0.05
REQUEST_ID_TTL = 24 * 3600
KNOWN_FIELDS = {"recipients", "text", "type", "sender", "purpose", "with_replies", "send_at",
                "simulation_mode", "request_id", "auto_optimize_text",
                "auto_remove_blacklisted_numbers"}
BOOLEAN_FIELDS = ("with_replies", "simulation_mode", "auto_optimize_text",
                  "auto_remove_blacklisted_numbers")
RECIPIENT_FIELDS = {"phone_number", "first_name", "last_name",
                    "param1", "param2", "param3", "param4", "param5"}

# Error codes of the JSON error body. 1000 (authentication) is the brief's, 120 (duplicate
# request_id) Octopush's own (spec 3.7); the others are this fake's own numbering (Octopush does
# not publish its v1 codes).
AUTH_FAILED = 1000
INVALID_BODY = 1001
MISSING_FIELD = 1002
INVALID_FIELD = 1003
INVALID_PHONE_NUMBER = 1004
DUPLICATE_REQUEST_ID = 120
INSUFFICIENT_CREDIT = 1006
DEFAULT_FAILURES = {  # status -> code used by fail_next() when none is given
    400: INVALID_FIELD,
    401: AUTH_FAILED,
    403: AUTH_FAILED,
}

GSM7_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = set("\f^{}\\[~]|€")


# ---------------------------------------------------------------- pure helpers

def segment_count(text: str) -> int:
    """SMS segments per spec section 0: GSM-7 160/153 septets (extension chars cost 2),
    else UCS-2 70/67 UTF-16 code units."""
    if all(ch in GSM7_BASIC or ch in GSM7_EXTENSION for ch in text):
        length = sum(2 if ch in GSM7_EXTENSION else 1 for ch in text)
        single, multi = 160, 153
    else:
        length = len(text.encode("utf-16-le")) // 2
        single, multi = 70, 67
    if length <= single:
        return 1 if length else 0
    return -(-length // multi)


def paris_date(moment: datetime | str | None = None) -> str:
    """Octopush's callback date: 'Y-m-d H:i:s' in Europe/Paris local time. A naive datetime is
    taken as Paris time already; a string is returned as it is (to send odd values)."""
    if isinstance(moment, str):
        return moment
    if moment is None:
        moment = datetime.now(PARIS)
    elif moment.tzinfo is not None:
        moment = moment.astimezone(PARIS)
    return moment.strftime(DATE_FORMAT)


def money(value: float) -> float:
    """Euros as Octopush prints them (no binary noise: 0.15, not 0.15000000000000002)."""
    return round(value, 4)


def reply_problem(response: requests.Response | None, limit: float = 1.0) -> str | None:
    """Why Octopush would not be happy with the app's answer to a callback, or None if it is.

    Octopush wants (spec 3.2-3.4): any 2xx, nothing printed ("not even a blank HTML body"),
    within about 1 s (the French page says 2 s: pass limit=2.0 to be lenient)."""
    if response is None:
        return "no answer"
    problems = []
    if not 200 <= response.status_code < 300:
        problems.append(f"HTTP {response.status_code}, not 2xx")
    if response.content:
        problems.append(f"non-empty body ({len(response.content)} bytes: {response.content[:60]!r})")
    elapsed = response.elapsed.total_seconds()
    if elapsed >= limit:
        problems.append(f"answered in {elapsed:.2f} s, Octopush wants under {limit:g} s")
    return "; ".join(problems) or None


def json_response(body: Any, status: int = 200, headers=None) -> Response:
    return Response(json.dumps(body), status=status, headers=headers,
                    content_type="application/json")


class OctopushError(Exception):
    """Raised while handling a request; becomes {"code": ..., "message": ...}."""

    def __init__(self, status: int, code: int, message: str, headers=None):
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers

    @property
    def response(self) -> Response:
        return json_response({"code": self.code, "message": self.message}, self.status, self.headers)


# ---------------------------------------------------------------- records

@dataclass
class RecordedRequest:
    """One request the fake received, in arrival order."""
    method: str
    path: str
    query: dict
    headers: CaseInsensitiveDict
    body: bytes           # the exact raw body
    json: Any             # parsed body, None when empty or not JSON
    status: int = 0       # what the fake answered
    error: str = ""       # the error message the fake answered, if any

    @property
    def content_type(self) -> str:
        return self.headers.get("Content-Type", "")


@dataclass
class FakeCampaign:
    """An accepted POST /v1/public/sms-campaign/send."""
    ticket: str                      # sms_ticket, the provider id (= callbacks' message_id)
    recipients: list                 # phone numbers, in request order
    text: str
    type: str
    with_replies: bool               # False when the field was absent
    sender: str | None
    request_id: str | None
    purpose: str | None
    send_at: str | None
    simulation: bool                 # simulation_mode: no debit, no callbacks
    segments: int                    # number_of_sms_needed
    total_cost: float
    payload: dict                    # the whole JSON body
    created: float = field(default_factory=time.time)
    unknown_fields: list = field(default_factory=list)
    statuses: dict = field(default_factory=dict)   # number -> last status an emitter sent


@dataclass
class SentCallback:
    """One callback the fake posted, for asserts."""
    kind: str                        # "dlr" | "inbound" | "stop" | "raw"
    url: str
    body: bytes
    content_type: str
    payload: dict | None = None      # the JSON object sent (None for post_raw)
    status_code: int | None = None
    elapsed: float | None = None
    error: str | None = None


@dataclass
class LostAnswer:
    """What happens to the answer of one send call: dropped, before or after accepting, or late."""
    accept: bool
    drop: bool
    late_by: float = 0.0


class ConnectionDropped(ConnectionResetError):
    """Raised once the fake closed a connection: werkzeug's server ignores a dropped connection."""


@dataclass
class Failure:
    status: int
    code: int
    message: str
    body: str | None = None
    headers: dict | None = None


class QuietHandler(WSGIRequestHandler):
    def log_request(self, *args, **kwargs):
        pass


# ---------------------------------------------------------------- the fake

class FakeOctopush:
    """Fake Octopush account. Public state a test reads or sets:

    api_login, api_key                 credentials (the "API credentials" page: Login, Clé API)
    virtual_number                     the number replies come to (inbound sim_card_number)
    balance                            credit in EUR; each accepted campaign debits 0.05 per recipient
    success_status                     HTTP status of an accepted send (201, or 200)
    base_url, send_url, balance_url    where the adapter must call (after start())
    requests                           every RecordedRequest received, in order
    campaigns                          sms_ticket -> FakeCampaign, in order; last_campaign
    callbacks                          every SentCallback the emitters posted
    status_url, inbound_url            the account-level callback URLs ("Callbacks" menu)
    answer_delay                       seconds to wait before answering each API call
    drop_next(), answer_late_next()    lose the answer of the next send calls
    accepted_for(number)               the campaigns accepted for a number
    auto_dlr, callback_delay           post DELIVERED per recipient after each accepted campaign
    request_id_ttl                     seconds a request_id stays used (24 h)
    reply_problem(response)            None if an answer to a callback suits Octopush, else why
    """

    def __init__(self, api_login: str = "user@example.org", api_key: str | None = None,
                 virtual_number: str = "+33644630000", balance: float = 10.0,
                 success_status: int = 201):
        if success_status not in (200, 201):
            raise ValueError("success_status must be 200 or 201")
        self.api_login = api_login
        # real keys look like 32 letters and digits
        self.api_key = api_key or "".join(secrets.choice(string.ascii_letters + string.digits)
                                           for _ in range(32))
        self.virtual_number = virtual_number
        self.balance = float(balance)
        self.success_status = success_status

        self.requests: list[RecordedRequest] = []
        self.campaigns: dict[str, FakeCampaign] = {}
        self.callbacks: list[SentCallback] = []
        self.status_url: str | None = None
        self.inbound_url: str | None = None
        self.answer_delay = 0.0
        self.auto_dlr = False
        self.callback_delay = 0.2
        self.request_id_ttl = REQUEST_ID_TTL

        self._request_ids: dict[str, float] = {}   # request_id -> time accepted
        self._failures: list[Failure] = []
        self._lost_answers: list[LostAnswer] = []
        self._last_ticket = 0
        self._lock = threading.RLock()
        self._stopping = threading.Event()
        self._server = None
        self._thread = None
        self._urls = Map([
            Rule(SEND_PATH, endpoint="send", methods=["POST"]),
            Rule(BALANCE_PATH, endpoint="balance", methods=["GET"]),
        ])

    # ---- life cycle

    def start(self) -> "FakeOctopush":
        self._stopping.clear()
        self._server = make_server("127.0.0.1", 0, self._wsgi, threaded=True,
                                   request_handler=QuietHandler)
        # a short poll interval makes stop() quick (shutdown waits up to one interval)
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.01},
                                        name="fake-octopush", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=5)
            self._server = None

    def __enter__(self) -> "FakeOctopush":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """http://127.0.0.1:PORT, to use instead of https://api.octopush.com."""
        if self._server is None:
            raise RuntimeError("FakeOctopush is not started")
        return f"http://127.0.0.1:{self._server.server_port}"

    @property
    def send_url(self) -> str:
        return self.base_url + SEND_PATH

    @property
    def balance_url(self) -> str:
        return self.base_url + BALANCE_PATH

    @property
    def last_campaign(self) -> FakeCampaign | None:
        with self._lock:
            return next(reversed(self.campaigns.values()), None)

    reply_problem = staticmethod(reply_problem)

    def sends(self) -> list[RecordedRequest]:
        """Recorded POST /v1/public/sms-campaign/send requests (accepted or not), oldest first."""
        with self._lock:
            return [r for r in self.requests if r.method == "POST" and r.path == SEND_PATH]

    # ---- test controls

    def fail_next(self, status_code: int, code: int | None = None, message: str | None = None,
                  times: int = 1, *, body: str | None = None, headers: dict | None = None) -> None:
        """The next `times` send calls answer status_code with {"code", "message"} (or the raw
        `body` given, served as text/html, to imitate a proxy's page), before any check and
        without recording a campaign. 429 carries Retry-After: 1 unless headers are given."""
        phrase = HTTPStatus(status_code).phrase
        if status_code == 429 and headers is None:
            headers = {"Retry-After": "1"}
        failure = Failure(status_code, code or DEFAULT_FAILURES.get(status_code, status_code),
                          message or phrase, body, headers)
        with self._lock:
            self._failures.extend([failure] * times)

    def drop_next(self, times: int = 1, *, after_accepting: bool = False) -> None:
        """The next `times` send calls get their connection closed with no answer: before
        anything is checked (nothing is sent), or once the campaign is accepted (it is sent, and
        the client never learns its ticket)."""
        with self._lock:
            self._lost_answers.extend([LostAnswer(accept=after_accepting, drop=True)] * times)

    def answer_late_next(self, seconds: float, times: int = 1) -> None:
        """The next `times` send calls are handled as usual (accepted, if valid), then answered
        `seconds` late: a client with a shorter read timeout has sent it without its ticket."""
        with self._lock:
            self._lost_answers.extend([LostAnswer(accept=True, drop=False, late_by=seconds)] * times)

    def accepted_for(self, number: str) -> list[FakeCampaign]:
        """The campaigns accepted (not simulated) with `number` among their recipients, in order."""
        with self._lock:
            return [campaign for campaign in self.campaigns.values()
                    if number in campaign.recipients and not campaign.simulation]

    def forget_request_ids(self) -> None:
        """As if 24 h had passed: every request_id can be used again."""
        with self._lock:
            self._request_ids.clear()

    # ---- callback emitters (what Octopush POSTs to the app)

    def send_dlr(self, ticket: str, number: str, status: str = "DELIVERED",
                 delivery_date: datetime | str | None = None, *, url: str | None = None,
                 extra: dict | None = None) -> requests.Response:
        """POST the delivery receipt (spec 3.2) of `number` in campaign `ticket` to status_url
        (or `url`) and return the app's answer. The ticket need not be known to the fake.
        `extra` adds or replaces fields (a value of ... removes the field)."""
        payload = {"channel": "sms", "message_id": ticket, "list_name": "", "number": number,
                   "status": status, "unit_price": UNIT_PRICE,
                   "delivery_date": paris_date(delivery_date), "meta_data": {}}
        with self._lock:
            campaign = self.campaigns.get(ticket)
            if campaign is not None:
                campaign.statuses[number] = status
        return self._emit("dlr", url or self.status_url, "status_url", payload, extra)

    def deliver(self, ticket: str, status: str = "DELIVERED", **kwargs) -> list[requests.Response]:
        """send_dlr() for every recipient of a known campaign; the app's answers, in order."""
        return [self.send_dlr(ticket, number, status, **kwargs)
                for number in self.campaigns[ticket].recipients]

    def send_inbound(self, number: str, text: str, message_id: str | None = None, *,
                     reception_date: datetime | str | None = None, url: str | None = None,
                     sim_card_number: str | None = None,
                     extra: dict | None = None) -> requests.Response:
        """POST an inbound SMS (spec 3.3) from `number` to inbound_url (or `url`).
        message_id=None does what Octopush does: the ticket of the latest campaign sent to
        `number`, or JSON null when there is none (pass "" to send an empty string)."""
        payload = {"message_id": self._original_ticket(number, message_id), "number": number,
                   "text": text, "sim_card_number": sim_card_number or self.virtual_number,
                   "reception_date": paris_date(reception_date)}
        return self._emit("inbound", url or self.inbound_url, "inbound_url", payload, extra)

    def send_stop(self, number: str, message_id: str | None = None, *,
                  stop_date: datetime | str | None = None, url: str | None = None,
                  text: str = "STOP", extra: dict | None = None) -> requests.Response:
        """POST an opt-out (spec 3.3) from `number` to inbound_url (or `url`); message_id as
        in send_inbound()."""
        payload = {"message_id": self._original_ticket(number, message_id), "number": number,
                   "text": text, "stop_date": paris_date(stop_date)}
        return self._emit("stop", url or self.inbound_url, "inbound_url", payload, extra)

    def post_raw(self, url: str, body: bytes | str, content_type: str | None = "application/json"
                 ) -> requests.Response:
        """POST any bytes (malformed JSON, a form, nothing) to `url`; content_type=None omits
        the header."""
        data = body.encode("utf-8") if isinstance(body, str) else body
        headers = {"Content-Type": content_type} if content_type is not None else {}
        record = SentCallback("raw", url, data, content_type or "")
        return self._post(record, headers)

    # ---- emitter internals

    def _original_ticket(self, number: str, message_id: str | None) -> str | None:
        if message_id is not None:
            return message_id
        with self._lock:
            for campaign in reversed(list(self.campaigns.values())):
                if number in campaign.recipients and not campaign.simulation:
                    return campaign.ticket
        return None

    def _emit(self, kind: str, url: str | None, setting: str, payload: dict,
              extra: dict | None) -> requests.Response:
        if not url:
            raise ValueError(f"no {setting} set on the fake; set it or pass url=")
        for key, value in (extra or {}).items():
            if value is ...:
                payload.pop(key, None)
            else:
                payload[key] = value
        body = json.dumps(payload).encode("utf-8")
        record = SentCallback(kind, url, body, "application/json", payload)
        return self._post(record, {"Content-Type": "application/json"})

    def _post(self, record: SentCallback, headers: dict) -> requests.Response:
        with self._lock:
            self.callbacks.append(record)
        try:
            response = requests.post(record.url, data=record.body, headers=headers, timeout=10,
                                     allow_redirects=False)
        except requests.RequestException as error:
            record.error = repr(error)
            raise
        record.status_code = response.status_code
        record.elapsed = response.elapsed.total_seconds()
        return response

    def _start_auto_dlr(self, campaign: FakeCampaign) -> None:
        if self.auto_dlr and self.status_url and not campaign.simulation:
            threading.Thread(target=self._run_auto_dlr, args=(campaign,), daemon=True,
                             name="fake-octopush-dlr").start()

    def _run_auto_dlr(self, campaign: FakeCampaign) -> None:
        if self._stopping.wait(self.callback_delay):
            return
        for number in campaign.recipients:
            if self._stopping.is_set():
                return
            try:
                self.send_dlr(campaign.ticket, number)
            except (requests.RequestException, ValueError):
                pass  # kept in the SentCallback's .error, in self.callbacks

    # ---- HTTP side

    def _wsgi(self, environ, start_response):
        request = Request(environ)
        record = self._record(request)
        try:
            endpoint, _ = self._urls.bind_to_environ(environ).match()
        except NotFound:
            response = OctopushError(404, 404, f"Route {request.path} not found").response
        except MethodNotAllowed:
            response = OctopushError(405, 405, f"Method {request.method} not allowed").response
        except HTTPException as error:
            response = error.get_response(environ)
        else:
            handler = self._send if endpoint == "send" else self._balance
            response = handler(request, record)
        record.status = response.status_code
        return response(environ, start_response)

    def _record(self, request: Request) -> RecordedRequest:
        body = request.get_data()
        try:
            parsed = json.loads(body) if body else None
        except ValueError:
            parsed = None
        record = RecordedRequest(request.method, request.path, request.args.to_dict(),
                                 CaseInsensitiveDict(request.headers.items()), body, parsed)
        with self._lock:
            self.requests.append(record)
        return record

    def _check_auth(self, request: Request) -> None:
        login, key = request.headers.get("api-login"), request.headers.get("api-key")
        if not login or not key:
            missing = " and ".join(name for name, value in (("api-login", login), ("api-key", key))
                                   if not value)
            raise OctopushError(401, AUTH_FAILED, f"Authentication failed: missing {missing} header")
        if not (secrets.compare_digest(login.encode(), self.api_login.encode())
                and secrets.compare_digest(key.encode(), self.api_key.encode())):
            raise OctopushError(401, AUTH_FAILED, "Authentication failed: invalid api-login or api-key")

    def _delay(self) -> None:
        if self.answer_delay:
            time.sleep(self.answer_delay)

    def _balance(self, request: Request, record: RecordedRequest) -> Response:
        try:
            self._check_auth(request)
        except OctopushError as error:
            record.error = error.message
            response = error.response
        else:
            with self._lock:
                response = json_response({"amount": money(self.balance), "unit": "EUR"})
        self._delay()
        return response

    def _send(self, request: Request, record: RecordedRequest) -> Response:
        """The campaign is recorded before answer_delay: a client that times out has sent it."""
        lost = self._next_lost_answer()
        if lost and not lost.accept:
            self._drop(request, record)
        campaign = None
        try:
            response = self._injected_failure()
            if response is None:
                campaign = self._accept(request, record)
                response = json_response(self._success_body(campaign), self.success_status)
        except OctopushError as error:
            record.error = error.message
            response = error.response
        if lost and lost.drop:
            if campaign is not None:
                self._start_auto_dlr(campaign)
            self._drop(request, record)
        self._delay()
        if lost:
            time.sleep(lost.late_by)
        if campaign is not None:
            self._start_auto_dlr(campaign)
        return response

    def _next_lost_answer(self) -> LostAnswer | None:
        with self._lock:
            return self._lost_answers.pop(0) if self._lost_answers else None

    @staticmethod
    def _drop(request: Request, record: RecordedRequest) -> None:
        """Closes the connection without a word: the client reads the end of the stream."""
        record.error = "connection dropped"
        connection = request.environ["werkzeug.socket"]
        connection.shutdown(socket.SHUT_RDWR)
        raise ConnectionDropped("the fake dropped the connection")

    def _injected_failure(self) -> Response | None:
        with self._lock:
            if not self._failures:
                return None
            failure = self._failures.pop(0)
        if failure.body is not None:
            return Response(failure.body, failure.status, failure.headers, content_type="text/html")
        return OctopushError(failure.status, failure.code, failure.message, failure.headers).response

    def _success_body(self, campaign: FakeCampaign) -> dict:
        with self._lock:
            residual = money(self.balance)
        return {"sms_ticket": campaign.ticket, "number_of_contacts": len(campaign.recipients),
                "total_cost": campaign.total_cost, "number_of_sms_needed": campaign.segments,
                "residual_credit": residual}

    def _accept(self, request: Request, record: RecordedRequest) -> FakeCampaign:
        self._check_auth(request)
        payload = self._body(request, record)
        numbers = self._validate(payload)
        text = payload["text"]
        simulation = payload.get("simulation_mode", False)
        request_id = payload.get("request_id")
        total_cost = money(UNIT_PRICE * len(numbers))
        with self._lock:  # duplicate check, debit and record are one atomic step
            now = time.time()
            if request_id is not None and not simulation:
                used_at = self._request_ids.get(request_id)
                if used_at is not None and now - used_at < self.request_id_ttl:
                    raise OctopushError(400, DUPLICATE_REQUEST_ID,
                                        "Duplicate request: this request_id was already used")
            if not simulation and total_cost > money(self.balance):
                raise OctopushError(400, INSUFFICIENT_CREDIT,
                                    f"Insufficient credit: {total_cost} EUR needed, "
                                    f"{money(self.balance)} EUR left")
            campaign = FakeCampaign(
                ticket=self._new_ticket(now), recipients=numbers, text=text, type=payload["type"],
                with_replies=payload.get("with_replies", False), sender=payload.get("sender"),
                request_id=request_id, purpose=payload.get("purpose"),
                send_at=payload.get("send_at"), simulation=simulation,
                segments=segment_count(text), total_cost=total_cost, payload=payload,
                created=now, unknown_fields=sorted(set(payload) - KNOWN_FIELDS))
            if not simulation:
                self.balance = money(self.balance - total_cost)
                if request_id is not None:
                    self._request_ids[request_id] = now
            self.campaigns[campaign.ticket] = campaign
        return campaign

    def _new_ticket(self, now: float) -> str:
        """'sms_' + 13 hex digits, like PHP uniqid(): seconds (8 hex) then microseconds (5 hex);
        strictly increasing, so unique. Call with the lock held."""
        value = int(now) * 0x100000 + int((now % 1) * 1_000_000)
        value = max(value, self._last_ticket + 1)
        self._last_ticket = value
        return f"sms_{value:013x}"

    @staticmethod
    def _body(request: Request, record: RecordedRequest) -> dict:
        if request.mimetype != "application/json":
            raise OctopushError(400, INVALID_BODY, "The body must be JSON sent with "
                                f"Content-Type: application/json (got {request.mimetype or 'none'})")
        if not isinstance(record.json, dict):
            raise OctopushError(400, INVALID_BODY, "The body must be a JSON object")
        return record.json

    @staticmethod
    def _validate(payload: dict) -> list:
        """Check the fields (spec 3.1, 3.5); return the recipients' phone numbers."""
        for name in ("recipients", "text", "type"):
            if name not in payload:
                raise OctopushError(400, MISSING_FIELD, f"The field {name} is required")
        recipients = payload["recipients"]
        if not isinstance(recipients, list) or not recipients:
            raise OctopushError(400, INVALID_FIELD, "recipients must be a non-empty list of objects")
        if len(recipients) > MAX_RECIPIENTS:
            raise OctopushError(400, INVALID_FIELD,
                                f"recipients: at most {MAX_RECIPIENTS} per request ({len(recipients)} given)")
        numbers = []
        for index, recipient in enumerate(recipients):
            if not isinstance(recipient, dict):
                raise OctopushError(400, INVALID_FIELD,
                                    f"recipients[{index}] must be an object like "
                                    '{"phone_number": "+33600000000"}')
            if "phone_number" not in recipient:
                raise OctopushError(400, MISSING_FIELD, f"recipients[{index}].phone_number is required")
            number = recipient["phone_number"]
            if not isinstance(number, str) or not PHONE_NUMBER.fullmatch(number):
                raise OctopushError(400, INVALID_PHONE_NUMBER,
                                    f"Invalid phone number {number!r} (recipients[{index}].phone_number): "
                                    "international format with a leading + expected, e.g. +33600000000")
            numbers.append(number)

        text = payload["text"]
        if not isinstance(text, str) or not 1 <= len(text) <= MAX_TEXT:
            size = len(text) if isinstance(text, str) else type(text).__name__
            raise OctopushError(400, INVALID_FIELD,
                                f"text must be a string of 1 to {MAX_TEXT} characters ({size} given)")
        if payload["type"] not in TYPES:
            raise OctopushError(400, INVALID_FIELD,
                                f"type {payload['type']!r} is invalid: one of {', '.join(TYPES)}")

        if "sender" in payload:
            sender = payload["sender"]
            if not isinstance(sender, str) or not SENDER.fullmatch(sender):
                raise OctopushError(400, INVALID_FIELD,
                                    f"sender {sender!r} is invalid: 3 to 11 characters among "
                                    "a-z, A-Z and 0-9 (no space, accent or punctuation)")
        for name in BOOLEAN_FIELDS:
            if name in payload and not isinstance(payload[name], bool):
                raise OctopushError(400, INVALID_FIELD, f"{name} must be a boolean "
                                                        f"({payload[name]!r} given)")
        if "purpose" in payload and payload["purpose"] not in PURPOSES:
            raise OctopushError(400, INVALID_FIELD,
                                f"purpose {payload['purpose']!r} is invalid: one of {', '.join(PURPOSES)}")
        if "send_at" in payload:
            FakeOctopush._validate_send_at(payload["send_at"])
        if "request_id" in payload:
            request_id = payload["request_id"]
            if not isinstance(request_id, str) or not request_id:
                raise OctopushError(400, INVALID_FIELD, "request_id must be a non-empty string")
        return numbers

    @staticmethod
    def _validate_send_at(value) -> None:
        moment = None
        if isinstance(value, str):
            try:
                moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                moment = None
        if moment is None:
            raise OctopushError(400, INVALID_FIELD,
                                f"send_at {value!r} is not an ISO 8601 date, e.g. 2018-10-03T07:42:39-07:00")


__all__ = ["FakeOctopush", "FakeCampaign", "RecordedRequest", "SentCallback", "reply_problem",
           "segment_count", "paris_date", "DATE_FORMAT", "SEND_PATH", "BALANCE_PATH",
           "AUTH_FAILED", "INVALID_BODY", "MISSING_FIELD", "INVALID_FIELD", "INVALID_PHONE_NUMBER",
           "DUPLICATE_REQUEST_ID", "INSUFFICIENT_CREDIT"]
