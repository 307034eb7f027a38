"""A fake Twilio (Programmable Messaging, API 2010-04-01) for SMS Desk tests.

It is a real HTTP server on 127.0.0.1 speaking the wire format of shared/specs/providers.md
section 1 (1.6 is this fake's own spec): the REST calls the adapter makes, and the signed
webhooks Twilio sends back to the app.

    from tests.fakes.twilio import FakeTwilio

    with FakeTwilio() as fake:                       # or fake.start() ... fake.stop()
        config["TWILIO_API_BASE_URL"] = fake.base_url
        # phone credentials: fake.account_sid / fake.auth_token, number fake.numbers[0]
        key = fake.add_api_key()                     # or an API key: key.sid (SK…) / key.secret
        ... the app sends a message ...
        message = fake.last_message                  # fake.messages[sid] for a given sid
        assert message.params["To"] == "+33612345678"
        assert fake.requests[-1].headers["Content-Type"].startswith("application/x-www-form-urlencoded")
        response = fake.deliver(message.sid)         # signed "sent" then "delivered" callbacks
        assert response.status_code in (200, 204)
        fake.send_inbound(inbound_url, "+33611111111", fake.numbers[0], "Hello")

Failures: fake.fail_next(429), fake.fail_next(503, times=2), fake.answer_delay = 2.0,
fake.answer_trickle = 3.0 (the answer's body sent a few bytes at a time over 3 s),
fake.answer_delays["+15005550007"] = 30.0 (a slow number: sends from it are answered in 30 s).
Broken answers: fake.answer_sid = None (a null sid), OMITTED (no sid at all) or "SM…" (that sid for
every message, as a buggy provider might); FRESH, the default, gives each message its own.
End-to-end: fake.auto_callbacks = True posts "sent" then "delivered" after each create.
Forgeries: every emitter takes signature= (a string to send instead, None to omit the header).
Numbers: each of fake.numbers is an IncomingPhoneNumber of the account (fake.incoming_numbers, sid ->
resource), listed by GET IncomingPhoneNumbers.json?PhoneNumber=… and updated by a POST of SmsUrl,
SmsMethod… to IncomingPhoneNumbers/PN….json; fake.incoming_number("+1…")["sms_url"] is what it holds.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime, parsedate_to_datetime
from http import HTTPStatus
from urllib.parse import urlencode, urlsplit

import requests
from requests.structures import CaseInsensitiveDict
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

API_VERSION = "2010-04-01"
SIGN = object()  # default of the emitters' signature= keyword: sign with the auth token
FRESH, OMITTED = object(), object()  # values of answer_sid: each message's own sid, no sid in the answer

E164 = re.compile(r"^\+[1-9]\d{1,14}$")
# Twilio's AlphaSender resource: up to 11 of A-Z a-z 0-9, space, + - _ &, and not digits only
ALPHANUMERIC_SENDER = re.compile(r"^(?=.*[A-Za-z])[A-Za-z0-9 +\-_&]{1,11}$")
MAX_BODY = 1600
MAX_VALIDITY = 36000
FINAL_STATUSES = {"sent", "delivered", "undelivered", "failed", "canceled", "read", "received"}

GSM7_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = set("\f^{}\\[~]|€")

ERROR_MESSAGES = {  # default texts of delivery error codes, for the resource's error_message
    "30003": "Unreachable destination handset",
    "30005": "Unknown destination handset",
    "30006": "Landline or unreachable carrier",
    "30007": "Message filtered",
    "30008": "Unknown error",
}
DEFAULT_FAILURES = {  # status -> (Twilio code, message) used by fail_next() when none is given
    400: (21211, "The 'To' number is not a valid phone number."),
    401: (20003, "Authenticate"),
    404: (20404, "The requested resource was not found"),
    429: (20429, "Too Many Requests"),
    500: (20500, "An internal server error has occurred"),
    503: (20503, "Service Unavailable"),
}
COUNTRY_PREFIXES = {"+1": "US", "+33": "FR", "+32": "BE", "+41": "CH", "+44": "GB", "+49": "DE"}


# ---------------------------------------------------------------- pure helpers

def twilio_signature(auth_token: str, url: str, params=None) -> str:
    """X-Twilio-Signature per spec 1.4: base64(HMAC-SHA1(token, url + sorted name+value pairs)).

    params: a dict whose values are strings or lists of strings (multi-valued keys)."""
    data = url
    for name in sorted(set(params or {})):
        values = params[name]
        values = values if isinstance(values, (list, tuple)) else [values]
        for value in sorted(set(values)):
            data += name + value
    digest = hmac.new(auth_token.encode("utf-8"), data.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii").strip()


def segment_count(body: str) -> int:
    """Segments per spec section 0: GSM-7 160/153 septets (extension chars cost 2), else UCS-2 70/67."""
    if all(ch in GSM7_BASIC or ch in GSM7_EXTENSION for ch in body):
        length = sum(2 if ch in GSM7_EXTENSION else 1 for ch in body)
        single, multi = 160, 153
    else:
        length = sum(2 if ord(ch) > 0xFFFF else 1 for ch in body)  # UTF-16 code units
        single, multi = 70, 67
    if length <= single:
        return 1 if length else 0
    return -(-length // multi)


def rfc2822(moment: datetime) -> str:
    """Twilio's date format: 'Thu, 24 Aug 2023 05:01:45 +0000'."""
    return format_datetime(moment.astimezone(timezone.utc).replace(microsecond=0))


def now() -> datetime:
    return datetime.now(timezone.utc)


def new_sid(prefix: str) -> str:
    return prefix + secrets.token_hex(16)


def country_of(number: str) -> str:
    for prefix in sorted(COUNTRY_PREFIXES, key=len, reverse=True):
        if number.startswith(prefix):
            return COUNTRY_PREFIXES[prefix]
    return ""


def webhook_reply_problem(response: requests.Response, inbound: bool = True) -> str | None:
    """Why Twilio would not be happy with the app's answer to a webhook, or None if it is.

    Status callbacks: any 2xx (spec 1.2). Inbound SMS: 204 with an empty body, or 200 with
    TwiML <Response> served as text/xml or application/xml (spec 1.3)."""
    if not 200 <= response.status_code < 300:
        return f"HTTP {response.status_code}, not 2xx"
    if not inbound:
        return None
    if response.status_code == 204:
        return None if not response.content else "204 with a non-empty body"
    content_type = response.headers.get("Content-Type", "").split(";")[0].strip()
    if content_type not in ("text/xml", "application/xml"):
        return f"Content-Type {content_type or 'missing'} is not XML (Twilio logs error 11200)"
    if "<Response" not in response.text:
        return "the body is not TwiML (no <Response> element)"
    return None


def twilio_error(status: int, code: int, message: str, headers=None) -> Response:
    body = {"code": code, "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}", "status": status}
    return json_response(body, status, headers)


def json_response(body: dict, status: int = 200, headers=None) -> Response:
    return Response(json.dumps(body, ensure_ascii=False), status=status, headers=headers,
                    content_type="application/json; charset=utf-8")


class TwilioError(Exception):
    """Raised inside request handling; becomes a Twilio JSON error answer."""

    def __init__(self, status: int, code: int, message: str, headers=None):
        super().__init__(message)
        self.response = twilio_error(status, code, message, headers)


# ---------------------------------------------------------------- records

@dataclass
class RecordedRequest:
    """One request the fake received (control endpoints /_fake/* excluded)."""
    method: str
    path: str
    query: dict
    headers: CaseInsensitiveDict
    form: dict            # urlencoded body fields (last value wins for repeated keys)
    body: bytes
    auth: tuple | None    # (username, password) of HTTP Basic auth, if any

    @property
    def content_type(self) -> str:
        return self.headers.get("Content-Type", "")


@dataclass(frozen=True)
class ApiKey:
    sid: str  # SK + 32 hex
    secret: str
    key_type: str = "standard"  # or "main"


@dataclass
class FakeMessage:
    """A message known to the fake: its Twilio resource plus what the create call carried."""
    resource: dict
    status_callback: str | None = None
    params: dict = field(default_factory=dict)

    @property
    def sid(self) -> str:
        return self.resource["sid"]

    @property
    def status(self) -> str:
        return self.resource["status"]


@dataclass
class SentCallback:
    """One webhook the fake posted (status callback or inbound SMS), for replays and asserts."""
    url: str
    form: dict
    headers: dict
    method: str = "POST"
    status_code: int | None = None
    error: str | None = None


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

class FakeTwilio:
    """Fake Twilio account. Public state a test reads or sets:

    account_sid, auth_token, numbers   credentials and the numbers allowed as From
    api_keys                           SK sid -> ApiKey, made by add_api_key(): also accepted as Basic auth
    base_url, messages_url             where the adapter must send (after start())
    requests                           every RecordedRequest received, in order
    messages                           sid -> FakeMessage (resource, status_callback, params)
    callbacks                          every SentCallback the fake posted (url, form, headers, status_code)
    answer_delay                       seconds to wait before answering each create call
    answer_delays                      From number -> seconds, instead of answer_delay for sends from it
    answer_trickle                     seconds over which each create call's answer body is sent, in pieces
    answer_sid                         the sid the create call answers: FRESH (its own), None, OMITTED or a sid
    auto_callbacks, callback_delay     post "sent" then auto_final_status ("delivered") after each create
    inbound_url                        target of POST /_fake/inbound when the call gives no url
    """

    def __init__(self, account_sid: str | None = None, auth_token: str | None = None,
                 numbers=("+15005550006",), *, messaging_services=(),
                 friendly_name: str = "SMS Desk test account", account_type: str = "Full"):
        self.account_sid = account_sid or new_sid("AC")
        self.auth_token = auth_token or secrets.token_hex(16)
        self.api_keys: dict[str, ApiKey] = {}
        self.numbers = tuple(numbers)
        self.messaging_services = tuple(messaging_services)
        self.friendly_name = friendly_name
        self.account_type = account_type
        self.created = now()

        self.requests: list[RecordedRequest] = []
        self.messages: dict[str, FakeMessage] = {}
        self.callbacks: list[SentCallback] = []
        self.answer_delay = 0.0
        self.answer_delays: dict[str, float] = {}
        self.answer_trickle = 0.0
        self.answer_sid = FRESH
        self.auto_callbacks = False
        self.auto_final_status = "delivered"
        self.callback_delay = 0.2
        self.inbound_url: str | None = None
        self.incoming_numbers: dict[str, dict] = {}

        self._failures: list[Failure] = []
        self._lock = threading.RLock()
        for number in self.numbers:
            self.add_incoming_number(number)
        self._stopping = threading.Event()
        self._server = None
        self._thread = None
        self._urls = Map([
            Rule(f"/{API_VERSION}/Accounts/<account>.json", endpoint="account", methods=["GET"]),
            Rule(f"/{API_VERSION}/Accounts/<account>/Messages.json", endpoint="messages",
                 methods=["GET", "POST"]),
            Rule(f"/{API_VERSION}/Accounts/<account>/Messages/<sid>.json", endpoint="message",
                 methods=["GET", "POST", "DELETE"]),
            Rule(f"/{API_VERSION}/Accounts/<account>/IncomingPhoneNumbers.json", endpoint="incoming_numbers",
                 methods=["GET"]),
            Rule(f"/{API_VERSION}/Accounts/<account>/IncomingPhoneNumbers/<sid>.json", endpoint="incoming_number",
                 methods=["GET", "POST"]),
            Rule("/_fake/inbound", endpoint="control_inbound", methods=["POST"]),
        ])

    # ---- life cycle

    def start(self) -> "FakeTwilio":
        self._stopping.clear()
        self._server = make_server("127.0.0.1", 0, self._wsgi, threaded=True, request_handler=QuietHandler)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="fake-twilio", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=5)
            self._server = None

    def __enter__(self) -> "FakeTwilio":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("FakeTwilio is not started")
        return f"http://127.0.0.1:{self._server.server_port}"

    @property
    def messages_url(self) -> str:
        return f"{self.base_url}/{API_VERSION}/Accounts/{self.account_sid}/Messages.json"

    @property
    def last_message(self) -> FakeMessage | None:
        with self._lock:
            outbound = [m for m in self.messages.values() if m.resource["direction"] == "outbound-api"]
        return outbound[-1] if outbound else None

    # ---- test controls

    def fail_next(self, status_code: int, code: int | None = None, message: str | None = None,
                  times: int = 1, *, body: str | None = None, headers: dict | None = None) -> None:
        """The next `times` create calls answer status_code with a Twilio JSON error body
        (or the raw `body` given, to imitate a proxy's HTML page). 429 carries Retry-After: 1."""
        default_code, default_message = DEFAULT_FAILURES.get(
            status_code, (status_code, HTTPStatus(status_code).phrase))
        if status_code == 429 and headers is None:
            headers = {"Retry-After": "1"}
        failure = Failure(status_code, code or default_code, message or default_message, body, headers)
        with self._lock:
            self._failures.extend([failure] * times)

    def add_api_key(self, key_type: str = "standard") -> ApiKey:
        """An API key of the account (Console → API keys & tokens): its SID and secret are a Basic auth
        pair for the REST API, under the Account SID's URLs. A Standard key may not read the Account
        resource itself (twilio.com/docs/iam/api-keys: "except for Accounts (/Accounts) or Keys"); a
        Main key may. Twilio never signs webhooks with a key's secret: they stay signed with the Auth Token."""
        key = ApiKey(new_sid("SK"), secrets.token_hex(16), key_type)
        with self._lock:
            self.api_keys[key.sid] = key
        return key

    def add_incoming_number(self, number: str, sms_url: str = "https://demo.twilio.com/welcome/sms/reply") -> dict:
        """A number of the account as Twilio's IncomingPhoneNumber resource; a new number's SmsUrl is
        Twilio's demo reply, as in the Console."""
        sid = new_sid("PN")
        stamp = rfc2822(now())
        uri = f"/{API_VERSION}/Accounts/{self.account_sid}/IncomingPhoneNumbers/{sid}.json"
        resource = {
            "account_sid": self.account_sid, "address_requirements": "none", "address_sid": None,
            "api_version": API_VERSION, "beta": False, "bundle_sid": None,
            "capabilities": {"fax": False, "mms": True, "sms": True, "voice": True},
            "date_created": stamp, "date_updated": stamp, "emergency_address_sid": None,
            "emergency_address_status": "unregistered", "emergency_status": "Active",
            "friendly_name": number, "identity_sid": None, "origin": "twilio", "phone_number": number,
            "sid": sid, "sms_application_sid": "", "sms_fallback_method": "POST", "sms_fallback_url": "",
            "sms_method": "POST", "sms_url": sms_url, "status": "in-use", "status_callback": "",
            "status_callback_method": "POST", "subresource_uris": {
                "assigned_add_ons": uri.replace(".json", "/AssignedAddOns.json")},
            "trunk_sid": None, "uri": uri, "voice_application_sid": "", "voice_caller_id_lookup": False,
            "voice_fallback_method": "POST", "voice_fallback_url": "", "voice_method": "POST",
            "voice_receive_mode": "voice", "voice_url": "",
        }
        with self._lock:
            self.incoming_numbers[sid] = resource
        return resource

    def incoming_number(self, number: str) -> dict | None:
        with self._lock:
            return next((dict(resource) for resource in self.incoming_numbers.values()
                         if resource["phone_number"] == number), None)

    def sign(self, url: str, params=None, token: str | None = None) -> str:
        """The X-Twilio-Signature for url + params (with another token to forge one)."""
        return twilio_signature(token or self.auth_token, url, params)

    # ---- webhook emitters

    def send_status(self, sid: str, status: str, error_code=None, *, url: str | None = None,
                    signature=SIGN, extra: dict | None = None) -> requests.Response:
        """POST a signed status callback for message `sid` to its StatusCallback (or `url`)
        and record the new status on the resource. An unknown sid needs `url`."""
        message = self.messages.get(sid)
        url = url or (message.status_callback if message else None)
        if url is None:
            raise ValueError(f"message {sid} has no StatusCallback; pass url=")
        form = self._status_form(sid, message, status, error_code)
        form.update(extra or {})
        if message is not None:
            self._set_status(message, status, error_code)
        return self.post_signed(url, form, signature=signature)

    def deliver(self, sid: str, **kwargs) -> requests.Response:
        """'sent' then 'delivered'; returns the app's answer to the second callback."""
        self.send_status(sid, "sent", **kwargs)
        return self.send_status(sid, "delivered", **kwargs)

    def undeliver(self, sid: str, error_code="30003", **kwargs) -> requests.Response:
        """'sent' then 'undelivered' with ErrorCode; returns the app's answer to the second one."""
        self.send_status(sid, "sent", **kwargs)
        return self.send_status(sid, "undelivered", error_code, **kwargs)

    def set_status(self, sid: str, status: str, error_code=None) -> None:
        """The message's status changes at Twilio, and no callback tells anyone: only a fetch shows it."""
        self._set_status(self.messages[sid], status, error_code)

    def receive(self, from_: str, to: str, body: str, received_at: datetime | None = None,
                messaging_service_sid: str | None = None) -> str:
        """An SMS arrives at the number (one of that Messaging Service's Sender Pool) and no webhook
        tells anyone: only the message list shows it."""
        sid = new_sid("SM")
        self._store_inbound(sid, from_, to, body, received_at)
        self.messages[sid].resource["messaging_service_sid"] = messaging_service_sid
        return sid

    @property
    def deletes(self) -> list[RecordedRequest]:
        with self._lock:
            return [request for request in self.requests if request.method == "DELETE"]

    def send_inbound(self, url: str, from_: str, to: str, body: str, *, signature=SIGN,
                     extra: dict | None = None, method: str = "POST") -> requests.Response:
        """Send the signed 'A message comes in' webhook (spec 1.3) and return the app's answer.
        The message is also stored as an inbound resource, fetchable by its sid."""
        sid = new_sid("SM")
        form = self._inbound_form(sid, from_, to, body)
        form.update(extra or {})
        self._store_inbound(sid, from_, to, body)
        return self.post_signed(url, form, signature=signature, method=method)

    def post_signed(self, url: str, form: dict, *, signature=SIGN, method: str = "POST") -> requests.Response:
        """Send any webhook the way Twilio does: form body (or query string for GET), signed
        over the exact URL requested. signature=None omits the header, a string replaces it."""
        if method == "GET":
            url = requests.Request("GET", url, params=form).prepare().url
            signed_params = {}
        else:
            signed_params = form
        headers = {"User-Agent": "TwilioProxy/1.1", "I-Twilio-Idempotency-Token": str(uuid.uuid4())}
        if signature is SIGN:
            headers["X-Twilio-Signature"] = self.sign(url, signed_params)
        elif signature is not None:
            headers["X-Twilio-Signature"] = signature
        record = SentCallback(url, dict(form), headers, method)
        with self._lock:
            self.callbacks.append(record)
        return self._post(record)

    def replay(self, callback: SentCallback | None = None) -> requests.Response:
        """Send a webhook again, byte for byte (same signature and idempotency token)."""
        callback = callback or self.callbacks[-1]
        record = SentCallback(callback.url, dict(callback.form), dict(callback.headers), callback.method)
        with self._lock:
            self.callbacks.append(record)
        return self._post(record)

    def _post(self, record: SentCallback) -> requests.Response:
        data = None if record.method == "GET" else record.form
        try:
            response = requests.request(record.method, record.url, data=data, headers=record.headers,
                                        timeout=15, allow_redirects=False)
        except requests.RequestException as error:
            record.error = str(error)
            raise
        record.status_code = response.status_code
        return response

    def _status_form(self, sid: str, message: FakeMessage | None, status: str, error_code) -> dict:
        resource = message.resource if message else {"from": self.numbers[0], "to": "+14155550100",
                                                     "messaging_service_sid": None}
        form = {"MessageSid": sid, "SmsSid": sid, "MessageStatus": status, "SmsStatus": status,
                "AccountSid": self.account_sid, "From": resource["from"] or "", "To": resource["to"],
                "ApiVersion": API_VERSION}
        if resource.get("messaging_service_sid"):
            form["MessagingServiceSid"] = resource["messaging_service_sid"]
        if error_code is not None:
            form["ErrorCode"] = str(error_code)
        return form

    def _inbound_form(self, sid: str, from_: str, to: str, body: str) -> dict:
        return {
            "ToCountry": country_of(to), "ToState": "", "ToCity": "", "ToZip": "",
            "FromCountry": country_of(from_), "FromState": "", "FromCity": "", "FromZip": "",
            "SmsMessageSid": sid, "SmsSid": sid, "MessageSid": sid, "SmsStatus": "received",
            "NumMedia": "0", "NumSegments": str(max(segment_count(body), 1)),
            "Body": body, "From": from_, "To": to, "AccountSid": self.account_sid, "ApiVersion": API_VERSION,
        }

    def _set_status(self, message: FakeMessage, status: str, error_code) -> None:
        with self._lock:
            resource = message.resource
            resource["status"] = status
            resource["date_updated"] = rfc2822(now())
            if status == "sent" and resource["date_sent"] is None:
                resource["date_sent"] = resource["date_updated"]
            if error_code is not None:
                resource["error_code"] = int(error_code)
                resource["error_message"] = ERROR_MESSAGES.get(str(error_code))

    def _store_inbound(self, sid: str, from_: str, to: str, body: str, received_at: datetime | None = None) -> None:
        resource = self._resource(sid, to=to, from_=from_, body=body, status="received")
        resource["direction"] = "inbound"
        if received_at is not None:
            resource["date_created"] = resource["date_updated"] = rfc2822(received_at)
        resource["date_sent"] = resource["date_created"]
        with self._lock:
            self.messages[sid] = FakeMessage(resource)

    # ---- automatic callbacks

    def _start_auto_callbacks(self, message: FakeMessage) -> None:
        # "accepted" is how a Messaging Service's message starts; a scheduled one waits for its time
        if self.auto_callbacks and message.status_callback and message.status in ("queued", "accepted"):
            threading.Thread(target=self._run_auto_callbacks, args=(message,), daemon=True).start()

    def _run_auto_callbacks(self, message: FakeMessage) -> None:
        final = self.auto_final_status
        error_code = "30003" if final in ("undelivered", "failed") else None
        for status, code in (("sent", None), (final, error_code)):
            if self._stopping.wait(self.callback_delay) or message.status == "canceled":
                return
            try:
                self.send_status(message.sid, status, code)
            except requests.RequestException:
                pass  # kept in the SentCallback's .error, in self.callbacks

    # ---- HTTP side

    def _wsgi(self, environ, start_response):
        request = Request(environ)
        try:
            endpoint, args = self._urls.bind_to_environ(environ).match()
        except NotFound:
            self._record(request)
            response = twilio_error(404, 20404, f"The requested resource {request.path} was not found")
        except MethodNotAllowed:
            self._record(request)
            response = twilio_error(405, 20004, "Method not allowed")
        except HTTPException as error:
            response = error.get_response(environ)
        else:
            if not endpoint.startswith("control_"):
                self._record(request)
            response = self._dispatch(endpoint, request, args)
        return response(environ, start_response)

    def _dispatch(self, endpoint: str, request: Request, args: dict) -> Response:
        handlers = {
            "account": self._get_account,
            "messages": self._create_message if request.method == "POST" else self._list_messages,
            "message": {"POST": self._update_message, "DELETE": self._delete_message}.get(
                request.method, self._fetch_message),
            "incoming_numbers": self._list_incoming_numbers,
            "incoming_number": self._update_incoming_number if request.method == "POST" else self._fetch_incoming_number,
            "control_inbound": self._control_inbound,
        }
        try:
            return handlers[endpoint](request, **args)
        except TwilioError as error:
            return error.response

    def _record(self, request: Request) -> None:
        auth = request.authorization
        body = request.get_data()  # before the form is parsed, which would consume the stream
        record = RecordedRequest(
            method=request.method, path=request.path, query=request.args.to_dict(),
            headers=CaseInsensitiveDict(request.headers.items()), form=self._form(request),
            body=body, auth=(auth.username, auth.password) if auth and auth.type == "basic" else None)
        with self._lock:
            self.requests.append(record)

    @staticmethod
    def _form(request: Request) -> dict:
        """Twilio reads parameters from an application/x-www-form-urlencoded body only."""
        if request.mimetype != "application/x-www-form-urlencoded":
            return {}
        return request.form.to_dict()

    def _check_auth(self, request: Request, account: str, account_resource: bool = False) -> None:
        """Basic auth with the Account SID and Auth Token, or with an API key's SID and secret (spec 1.1),
        on the URLs of this account only."""
        auth = request.authorization
        username, password = (auth.username or "", auth.password or "") if auth and auth.type == "basic" else ("", "")
        key = self.api_keys.get(username)
        if key is not None:
            good = hmac.compare_digest(password, key.secret) and (key.key_type == "main" or not account_resource)
        else:
            good = hmac.compare_digest(username, self.account_sid) and hmac.compare_digest(password, self.auth_token)
        if not good or account != self.account_sid:
            raise TwilioError(401, 20003, "Authenticate", {"WWW-Authenticate": 'Basic realm="Twilio API"'})

    # ---- REST endpoints

    def _get_account(self, request: Request, account: str) -> Response:
        self._check_auth(request, account, account_resource=True)
        uri = f"/{API_VERSION}/Accounts/{self.account_sid}"
        return json_response({
            "auth_token": self.auth_token, "date_created": rfc2822(self.created),
            "date_updated": rfc2822(self.created), "friendly_name": self.friendly_name,
            "owner_account_sid": self.account_sid, "sid": self.account_sid, "status": "active",
            "subresource_uris": {"messages": f"{uri}/Messages.json"}, "type": self.account_type,
            "uri": f"{uri}.json",
        })

    def _create_message(self, request: Request, account: str) -> Response:
        """The message is stored before answer_delay: a client that times out has still sent it."""
        message = None
        try:
            response = self._injected_failure()
            if response is None:
                message = self._create(request, account)
                response = json_response(self._answered_resource(message), 201)
        except TwilioError as error:
            response = error.response
        delay = self.answer_delays.get(message.params.get("From"), self.answer_delay) if message else self.answer_delay
        if delay:
            time.sleep(delay)
        if message is not None:
            self._start_auto_callbacks(message)
        return self._trickled(response) if self.answer_trickle else response

    def _trickled(self, response: Response, pieces: int = 10) -> Response:
        """The same answer, its body sent in pieces spread over answer_trickle seconds: each read
        of the client's socket gets something well within any read timeout."""
        body = response.get_data()
        size = -(-len(body) // pieces)
        pause = self.answer_trickle / pieces

        def slowly():
            for start in range(0, len(body), size):
                time.sleep(pause)
                yield body[start:start + size]
        headers = dict(response.headers, **{"Content-Length": str(len(body))})
        return Response(slowly(), response.status_code, headers, direct_passthrough=True)

    def _answered_resource(self, message: FakeMessage) -> dict:
        answer = dict(message.resource)
        if self.answer_sid is OMITTED:
            del answer["sid"]
        elif self.answer_sid is not FRESH:
            answer["sid"] = self.answer_sid
        return answer

    def _injected_failure(self) -> Response | None:
        with self._lock:
            if not self._failures:
                return None
            failure = self._failures.pop(0)
        if failure.body is not None:
            return Response(failure.body, failure.status, failure.headers, content_type="text/html")
        return twilio_error(failure.status, failure.code, failure.message, failure.headers)

    def _create(self, request: Request, account: str) -> FakeMessage:
        self._check_auth(request, account)
        params = self._form(request)
        self._validate_create(params)
        status = "queued"
        if params.get("MessagingServiceSid"):
            status = "scheduled" if params.get("ScheduleType") else "accepted"
        sid = new_sid("SM")
        resource = self._resource(sid, to=params["To"], from_=params.get("From"), body=params["Body"],
                                  status=status, messaging_service_sid=params.get("MessagingServiceSid"))
        message = FakeMessage(resource, params.get("StatusCallback"), params)
        with self._lock:
            self.messages[sid] = message
        return message

    def _validate_create(self, params: dict) -> None:
        to, sender, body = params.get("To"), params.get("From"), params.get("Body")
        service = params.get("MessagingServiceSid")
        if not to:
            raise TwilioError(400, 21604, "A 'To' phone number is required.")
        if not sender and not service:
            raise TwilioError(400, 21603, "A 'From' phone number is required.")
        if not body:
            raise TwilioError(400, 21602, "Message body is required.")
        if not E164.match(to):
            raise TwilioError(400, 21211, f"The 'To' number {to} is not a valid phone number.")
        if sender and sender not in self.numbers and not ALPHANUMERIC_SENDER.match(sender):
            raise TwilioError(400, 21606, f"The From phone number {sender} is not a valid, SMS-capable "
                                          "inbound phone number or short code for your account.")
        if service and service not in self.messaging_services:
            raise TwilioError(400, 21701, f"The Messaging Service Sid {service} is invalid.")
        if sender == to:
            raise TwilioError(400, 21266, "'To' and 'From' number cannot be the same")
        if len(body) > MAX_BODY:
            raise TwilioError(400, 21617, "The concatenated message body exceeds the 1600 character limit.")
        self._validate_status_callback(params.get("StatusCallback"))
        self._validate_validity(params.get("ValidityPeriod"))
        self._validate_schedule(params)

    @staticmethod
    def _validate_status_callback(url: str | None) -> None:
        if url is None:
            return
        parts = urlsplit(url)
        if (parts.scheme not in ("http", "https") or not parts.hostname or "_" in parts.hostname
                or len(url) > 4000):
            raise TwilioError(400, 21609, f"The StatusCallback URL {url} is not a valid URL.")

    @staticmethod
    def _validate_validity(value: str | None) -> None:
        if value is None:
            return
        if not value.isdigit() or not 1 <= int(value) <= MAX_VALIDITY:
            raise TwilioError(400, 21624, "Invalid validity period value")

    @staticmethod
    def _validate_schedule(params: dict) -> None:
        schedule_type, send_at = params.get("ScheduleType"), params.get("SendAt")
        if schedule_type is None:
            return
        if schedule_type != "fixed":
            raise TwilioError(400, 35126, "The ScheduleType value provided is not supported for this channel")
        if not send_at:
            raise TwilioError(400, 35111, "You must indicate SendAt timestamp if ScheduleType is 'fixed'.")
        if not params.get("MessagingServiceSid"):
            raise TwilioError(400, 35118, "MessagingServiceSid is required to schedule a message")
        try:
            moment = datetime.fromisoformat(send_at.replace("Z", "+00:00"))
        except ValueError:
            moment = None
        if moment is None or moment.tzinfo is None or not (
                timedelta(seconds=300) < moment - now() <= timedelta(days=35)):
            raise TwilioError(400, 35115, "Scheduling does not support this timestamp")

    def _resource(self, sid: str, *, to: str, from_: str | None, body: str, status: str,
                  messaging_service_sid: str | None = None) -> dict:
        stamp = rfc2822(now())
        uri = f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{sid}"
        return {
            "account_sid": self.account_sid, "api_version": API_VERSION, "body": body,
            "date_created": stamp, "date_sent": None, "date_updated": stamp,
            "direction": "outbound-api", "error_code": None, "error_message": None,
            "from": from_, "messaging_service_sid": messaging_service_sid, "num_media": "0",
            "num_segments": str(segment_count(body)), "price": None, "price_unit": "USD",
            "sid": sid, "status": status, "subresource_uris": {"media": f"{uri}/Media.json"},
            "to": to, "uri": f"{uri}.json",
        }

    def _known_message(self, request: Request, sid: str) -> FakeMessage:
        message = self.messages.get(sid)
        if message is None:
            raise TwilioError(404, 20404, f"The requested resource {request.path} was not found")
        return message

    def _fetch_message(self, request: Request, account: str, sid: str) -> Response:
        self._check_auth(request, account)
        message = self._known_message(request, sid)
        with self._lock:  # a callback thread may be updating it
            return json_response(message.resource)

    def _update_message(self, request: Request, account: str, sid: str) -> Response:
        self._check_auth(request, account)
        message = self._known_message(request, sid)
        status = self._form(request).get("Status")
        if status != "canceled":
            raise TwilioError(400, 20001, "Invalid parameter: Status must be 'canceled'")
        if message.status in FINAL_STATUSES:
            raise TwilioError(400, 30409, "This message cannot be canceled")
        self._set_status(message, "canceled", None)
        with self._lock:
            return json_response(message.resource)

    def _delete_message(self, request: Request, account: str, sid: str) -> Response:
        """Twilio deletes the resource (204); recorded in requests, see deletes."""
        self._check_auth(request, account)
        self._known_message(request, sid)
        with self._lock:
            del self.messages[sid]
        return Response(status=204)

    def _list_messages(self, request: Request, account: str) -> Response:
        """Newest first, filtered by To, From and DateSent (=, <=, >= a date or an ISO 8601 moment),
        PageSize per page (50 by default), the next page at next_page_uri (Page and PageToken)."""
        self._check_auth(request, account)
        wanted = {key: request.args[arg] for key, arg in (("to", "To"), ("from", "From")) if arg in request.args}
        with self._lock:
            known = [dict(m.resource) for m in self.messages.values()]
        found = [resource for resource in reversed(known)
                 if all(resource[key] == value for key, value in wanted.items())
                 and self._sent_in_range(resource, request.args)]
        size = min(int(request.args.get("PageSize", 50)), 1000)
        number = int(request.args.get("Page", 0))
        page = found[number * size:(number + 1) * size]
        uri = f"/{API_VERSION}/Accounts/{self.account_sid}/Messages.json"
        kept = [(key, value) for key, value in request.args.items(multi=True) if key not in ("Page", "PageToken")]
        query = lambda page_number: "?" + urlencode(kept + [("Page", str(page_number)),  # noqa: E731
                                                            ("PageToken", f"PA{new_sid('')}")])
        more = (number + 1) * size < len(found)
        return json_response({"messages": page, "page": number, "page_size": size, "start": number * size,
                              "end": number * size + max(len(page) - 1, 0), "uri": uri + query(number),
                              "first_page_uri": uri + query(0),
                              "next_page_uri": uri + query(number + 1) if more else None,
                              "previous_page_uri": uri + query(number - 1) if number else None})

    @staticmethod
    def _sent_in_range(resource: dict, args) -> bool:
        sent = parsedate_to_datetime(resource["date_sent"]) if resource.get("date_sent") else None
        for arg, keep in (("DateSent>", lambda s, b: s >= b), ("DateSent<", lambda s, b: s <= b),
                          ("DateSent", lambda s, b: s.date() == b.date())):
            if arg in args:
                bound = datetime.fromisoformat(args[arg].replace("Z", "+00:00"))
                bound = bound if bound.tzinfo else bound.replace(tzinfo=timezone.utc)
                if sent is None or not keep(sent, bound):
                    return False
        return True

    # ---- IncomingPhoneNumbers (twilio.com/docs/phone-numbers/api/incomingphonenumber-resource)

    UPDATABLE_NUMBER_FIELDS = {"SmsUrl": "sms_url", "SmsMethod": "sms_method", "SmsFallbackUrl": "sms_fallback_url",
                               "SmsFallbackMethod": "sms_fallback_method", "FriendlyName": "friendly_name",
                               "StatusCallback": "status_callback", "StatusCallbackMethod": "status_callback_method"}

    def _list_incoming_numbers(self, request: Request, account: str) -> Response:
        """PhoneNumber filters by its digits, a part of the number or with * for any digit, as Twilio does."""
        self._check_auth(request, account)
        wanted = re.sub(r"[^\d*]", "", request.args.get("PhoneNumber", ""))
        pattern = re.compile(re.escape(wanted).replace(r"\*", r"\d"))
        with self._lock:
            found = [dict(resource) for resource in self.incoming_numbers.values()
                     if pattern.search(re.sub(r"\D", "", resource["phone_number"]))]
        uri = f"/{API_VERSION}/Accounts/{self.account_sid}/IncomingPhoneNumbers.json"
        return json_response({"incoming_phone_numbers": found, "page": 0, "page_size": 50, "start": 0,
                              "end": max(len(found) - 1, 0), "uri": uri, "first_page_uri": uri + "?Page=0&PageSize=50",
                              "next_page_uri": None, "previous_page_uri": None})

    def _known_incoming_number(self, request: Request, sid: str) -> dict:
        resource = self.incoming_numbers.get(sid)
        if resource is None:
            raise TwilioError(404, 20404, f"The requested resource {request.path} was not found")
        return resource

    def _fetch_incoming_number(self, request: Request, account: str, sid: str) -> Response:
        self._check_auth(request, account)
        with self._lock:
            return json_response(dict(self._known_incoming_number(request, sid)))

    def _update_incoming_number(self, request: Request, account: str, sid: str) -> Response:
        self._check_auth(request, account)
        params = self._form(request)
        for name in ("SmsMethod", "SmsFallbackMethod", "StatusCallbackMethod"):
            if name in params and params[name] not in ("GET", "POST"):
                raise TwilioError(400, 20001,
                                  f"{name} must be either GET or POST")
        for name in ("SmsUrl", "SmsFallbackUrl", "StatusCallback"):
            if params.get(name):
                parts = urlsplit(params[name])
                if parts.scheme not in ("http", "https") or not parts.hostname:
                    raise TwilioError(400, 21502, f"{name} is not valid")
        with self._lock:
            resource = self._known_incoming_number(request, sid)
            for name, key in self.UPDATABLE_NUMBER_FIELDS.items():
                if name in params:
                    resource[key] = params[name]
            resource["date_updated"] = rfc2822(now())
            return json_response(dict(resource))

    def _control_inbound(self, request: Request) -> Response:
        """POST /_fake/inbound {url?, from, to, body} (JSON or form): send an inbound webhook
        (to `url` or fake.inbound_url) and report the app's answer."""
        payload = request.get_json(silent=True) or request.form.to_dict()
        url = payload.get("url") or self.inbound_url
        missing = [key for key in ("from", "to", "body") if key not in payload]
        if not url or missing:
            return json_response({"error": f"need url (or fake.inbound_url) and {missing}"}, 400)
        answer = self.send_inbound(url, payload["from"], payload["to"], payload["body"])
        return json_response({"status": answer.status_code, "problem": webhook_reply_problem(answer)})
