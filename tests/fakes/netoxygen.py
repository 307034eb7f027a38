"""A fake NetOxygen SMS gateway (XML-RPC API v2) for SMS Desk tests.

It is a real XML-RPC server on 127.0.0.1 (xmlrpc.server.SimpleXMLRPCServer, threaded) speaking
the interface of shared/specs/providers.md section 5 (5.4 is this fake's own spec) and of the
gateway's own document, shared/specs/seeds/netoxygen-xmlrpc-api.fr.txt, which is the authority
for the eight functions' positional signatures and for the two code tables.

    import xmlrpc.client
    from tests.fakes.netoxygen import FakeNetOxygen, MovableClock

    clock = MovableClock()                            # optional: lets a test move the fake's time
    with FakeNetOxygen(clock=clock) as fake:          # or fake.start() ... fake.stop()
        url = fake.base_url                           # http://127.0.0.1:PORT/api2/ (the adapter's endpoint)
        # phone credentials: fake.user / fake.password
        proxy = xmlrpc.client.ServerProxy(fake.base_url)
        [[dest, code, sms_id]] = proxy.send_message(fake.user, fake.password, ["0791234567"], "Hi", "", "", "text")
        fake.advance(sms_id)                          # 8 (in queue) -> 3 (submitted)
        fake.advance(sms_id, to=1)                    # straight to 1 (delivered)
        fake.outcome_for["0792223344"] = 4            # messages to it end at status 4 (failed)
        fake.outcome_for["0792223355"] = (42, "Carrier says no")   # an unknown status code
        fake.auto_advance_seconds = 5                 # or: 8 -> 3 -> 1, one step per 5 s of age
        clock.advance(minutes=1)

Failures: fake.fail_next("fault"), fake.fail_next("http500", times=2), fake.fail_next("drop"),
fake.fail_next("drop", after_call=True) (executed, then no answer), fake.answer_delay = 2.0,
fake.answer_trickle = 3.0 (the answer sent in pieces over 3 s).

Beware: xmlrpc.client.Transport.request silently retries a call ONCE when the server closes the
connection without answering (http.client.RemoteDisconnected, ECONNRESET, EPIPE). So a single
"drop" is invisible to the caller, and a "drop" with after_call=True on send_message makes the
client send the message twice. fail_next("drop", times=2) is what makes ServerProxy raise.

Choices where neither the document nor the spec says (spec 7.4: fault codes are undocumented):

- wrong credentials: auth() answers False; the seven other functions raise
  Fault(401, "Authentification échouée : nom d'utilisateur ou mot de passe invalide")
  (fake.auth_fault). The document says get_credits and get_guid return "... ou FALSE":
  fake.false_on_bad_credentials = True makes those two answer False instead.
- bad parameters (type not "text"/"flash", wrong XML-RPC types, nil): Fault(-32602, French text);
  wrong number of parameters: Fault(-32602, "server error. wrong number of method parameters");
  unknown function: Fault(-32601, "server error. requested method X does not exist.");
  unparsable request: Fault(-32700, "parse error. not well formed") (IXR's own codes and texts).
- an injected fault defaults to Fault(-32500, "Erreur interne de la passerelle, veuillez réessayer
  plus tard").
- get_status of an unknown id: [id, {... "sent_status": 0, "last_status": 0, both texts
  "Unknown message id", empty dates, length 0}] (0 is in neither table: the adapter must map it to
  unknown). fake.unknown_id_style = "false" answers [id, False] instead.
- *_status_text are the English "description" column of the document's tables (the official PHP
  client documents these texts as "in english"); fake.use_french_texts() switches to the French
  "commentaire" column. sent_status is the error code (table 1), last_status the status code
  (table 2).
"""
from __future__ import annotations

import inspect
import re
import secrets
import socketserver
import threading
import time
import uuid
import xmlrpc.client
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Optional
from xmlrpc.client import Binary, Fault
from xmlrpc.server import SimpleXMLRPCRequestHandler, SimpleXMLRPCServer
from zoneinfo import ZoneInfo

ZURICH = ZoneInfo("Europe/Zurich")
DATE_FORMAT = "%Y-%m-%d %H:%M:%S"          # the document's ISO example "2006-12-06 20:05:00"
FALLBACK_SENDER = "textobox.ch"            # used when the account has no default sender
MAX_MESSAGE_LENGTH = 1530                  # the document gives no maximum: 10 x 153 GSM-7 chars
DESTINATION_DIGITS = (8, 15)               # accepted length of the cleaned number (E.164 max 15)
SWISS_PREFIX = "41"

# Error codes (send_message, get_status sent_status): code -> (description, commentaire).
ERROR_CODES = {
    1: ("OK", "Le message a été acheminé ou est en cours d'acheminement."),
    2: ("Gateway error", "Problème avec la passerelle."),
    3: ("Message routing error", "Problème de routage du SMS."),
    4: ("Message format error", "Problème avec le format du message."),
    5: ("Invalid destination number", "Numéro de destination invalide, le message ne sera pas reçu."),
    6: ("Invalid source number", "Numéro source invalide, le message ne sera pas envoyé."),
    7: ("Empty message", "Le message était vide."),
    8: ("Max message length exceeded", "La taille maximale de message a été dépassée."),
    9: ("Pending", "Le message est en attente."),
    10: ("Message canceled", "Le message planifié a été annulé avant l'envoi."),
}
# Status codes (get_status last_status): code -> (description, commentaire).
STATUS_CODES = {
    1: ("Delivered to the recipient device", "Le message a été reçu par le destinataire."),
    2: ("Delivered to the recipient network", "Le message est en attente sur le réseau du destinataire."),
    3: ("Message submitted", "Le message a été soumis au réseau du destinataire."),
    4: ("Message error, delivery failed", "Une erreur liée au message est survenue."),
    5: ("Routing error, delivery failed", "Une erreur liée au routage du SMS est survenue."),
    6: ("Message expired, delivery cancelled",
        "Le destinataire n'a pas reçu le message avant son expiration."),
    7: ("Gateway error", "Erreur de la passerelle."),
    8: ("Message in queue", "Le message est en cours de traitement par notre passerelle."),
    9: ("Message scheduled", "Le message est planifié pour un envoi dans le futur."),
}
ACCEPTED = (1, 9)                          # error codes of messages that will be sent
REJECTED_STATUS = {2: 7, 3: 5}             # status shown for a message refused at send (else 4)
UNKNOWN_CODE = 0
UNKNOWN_ID_TEXT = "Unknown message id"
UNKNOWN_STATUS_TEXT = "Unknown status"

AUTH_FAULT = (401, "Authentification échouée : nom d'utilisateur ou mot de passe invalide")
INJECTED_FAULT = (-32500, "Erreur interne de la passerelle, veuillez réessayer plus tard")
BAD_PARAMS = -32602
UNKNOWN_METHOD = -32601
INVALID_REQUEST = -32600
PARSE_ERROR = -32700
HTTP500_BODY = "<html><body><h1>500 Internal Server Error</h1></body></html>"

METHODS = ("auth", "send_message", "get_status", "cancel_message", "get_credits",
           "account_status", "get_guid", "clean_number")

GSM7_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = set("\f^{}\\[~]|€")
NUMBER_CHARACTERS = re.compile(r"\+?[\d\s/().\-]+")
NUMERIC_SENDER = re.compile(r"\+?\d{1,16}")


# ---------------------------------------------------------------- pure helpers

def clean_number(number: str, country_prefix: str = SWISS_PREFIX) -> str:
    """The gateway's normalisation (document: clean_number('022/364 8000') -> '41223648000'):
    international digits, no '+', no '00'. A national number (one leading 0) gets the Swiss
    prefix 41; '+' and '00' numbers keep their digits; a '(0)' trunk marker is dropped;
    anything that is not a digit is removed (so 'abc' gives '')."""
    text = number.strip().replace("(0)", "")
    digits = re.sub(r"\D", "", text)
    if text.startswith("+"):
        return digits
    if digits.startswith("00"):
        return digits[2:]
    if digits.startswith("0"):
        return country_prefix + digits[1:]
    return digits


def valid_destination(number: str) -> bool:
    """Only digits and separators (spaces / ( ) . -, one leading +), 8 to 15 digits once cleaned."""
    if not NUMBER_CHARACTERS.fullmatch(number.strip()):
        return False
    low, high = DESTINATION_DIGITS
    return low <= len(clean_number(number)) <= high


def valid_sender(sender: str) -> bool:
    """Up to 11 GSM-7 characters (alphanumeric sender), or a numeric one of up to 16 digits."""
    if NUMERIC_SENDER.fullmatch(sender):
        return True
    return len(sender) <= 11 and all(ch in GSM7_BASIC and ch not in "\r\n" for ch in sender)


def segment_count(text: str) -> int:
    """Segments per spec section 0: GSM-7 160/153 septets (extension chars cost 2), else UCS-2 70/67."""
    if all(ch in GSM7_BASIC or ch in GSM7_EXTENSION for ch in text):
        length = sum(2 if ch in GSM7_EXTENSION else 1 for ch in text)
        single, multi = 160, 153
    else:
        length = len(text.encode("utf-16-le")) // 2
        single, multi = 70, 67
    if length <= single:
        return 1 if length else 0
    return -(-length // multi)


def parse_date(value: str) -> Optional[datetime]:
    """'YYYY-MM-DD HH:MM:SS' in Europe/Zurich -> aware datetime; None when empty or invalid."""
    try:
        return datetime.strptime(value.strip(), DATE_FORMAT).replace(tzinfo=ZURICH)
    except ValueError:
        return None


def format_date(moment: Optional[datetime]) -> str:
    return moment.astimezone(ZURICH).strftime(DATE_FORMAT) if moment else ""


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(timezone.utc)


def _later(moment: datetime, seconds: float) -> datetime:
    """moment + seconds of real time (aware arithmetic through UTC, safe across DST)."""
    return (_utc(moment) + timedelta(seconds=seconds)).astimezone(ZURICH)


class MovableClock:
    """A clock for FakeNetOxygen(clock=...): call it for the time, advance() or set() to move it."""

    def __init__(self, start: Optional[datetime] = None):
        self.current = (start or datetime.now(ZURICH)).astimezone(ZURICH)

    def __call__(self) -> datetime:
        return self.current

    def advance(self, seconds: float = 0.0, **kwargs) -> datetime:
        """advance(90), advance(hours=2): move forward by real (UTC) time."""
        self.current = (_utc(self.current) + timedelta(seconds=seconds, **kwargs)).astimezone(ZURICH)
        return self.current

    def set(self, moment: datetime) -> datetime:
        self.current = (moment if moment.tzinfo else moment.replace(tzinfo=ZURICH)).astimezone(ZURICH)
        return self.current


# ---------------------------------------------------------------- records

@dataclass
class RecordedCall:
    """One XML-RPC call the fake received."""
    name: str
    args: tuple               # the positional parameters without the password (the 2nd one)
    time: datetime            # the fake's clock (Europe/Zurich)
    authenticated: Optional[bool] = None   # None when the call never reached the check
    outcome: str = "ok"       # "ok" | "fault" | "http500" | "drop"
    fault: Optional[tuple] = None          # (faultCode, faultString) when a fault was answered
    result: Any = None        # the value the function returned (even if then dropped)
    injected: bool = False    # the outcome came from fail_next()


@dataclass
class FakeMessage:
    """One message (one destination of a send_message call)."""
    sms_id: str
    destination: str          # as given by the caller
    to: str                   # clean_number(destination)
    text: str
    sender: str               # the effective sender ("from" in get_status)
    requested_sender: str
    date: Optional[datetime]  # scheduled time (Europe/Zurich) or None when sent immediately
    requested_date: str
    type: str                 # "text" | "flash"
    error_code: int           # error table: 1, 5..8 at send, 9 while scheduled, 10 once canceled
    status: int               # status table: 9 scheduled, 8 in queue, 3 submitted, 1 delivered ...
    created: datetime
    segments: int             # credits charged
    path: list                # statuses it goes through, e.g. [9, 8, 3, 1]
    step: int = 0             # index of status in path
    last_date: Optional[datetime] = None
    canceled: bool = False
    texts: dict = field(default_factory=dict)     # per-message status texts (forced unknown codes)
    history: list = field(default_factory=list)   # {"at", "error_code", "status"} per change

    @property
    def rejected(self) -> bool:
        return self.error_code not in ACCEPTED and not self.canceled

    @property
    def final(self) -> bool:
        return self.canceled or self.rejected or self.step >= len(self.path) - 1


@dataclass
class _Failure:
    kind: str
    code: Optional[int]
    text: Optional[str]
    times: int
    method: Optional[str]
    after_call: bool


# ---------------------------------------------------------------- XML-RPC plumbing

class _Handler(SimpleXMLRPCRequestHandler):
    rpc_paths = ("/api2/", "/api2")

    def do_POST(self):
        if not self.is_rpc_path_valid():
            self.report_404()
            return
        try:
            length = int(self.headers.get("content-length", ""))
        except ValueError:
            self.send_error(411)
            return
        data = self.decode_request_content(self.rfile.read(length))
        if data is None:
            return  # decode_request_content has answered 501
        fake = self.server.fake
        action, status, body, content_type = fake._handle_request(data)
        if fake.answer_delay:
            time.sleep(fake.answer_delay)
        if action == "drop":
            self.close_connection = True  # nothing written: the client sees the connection close
            return
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        if (self.encode_threshold is not None and len(body) > self.encode_threshold
                and self.accept_encodings().get("gzip", 0)):
            body = xmlrpc.client.gzip_encode(body)
            self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.write_answer(body, fake.answer_trickle)

    def write_answer(self, body: bytes, trickle: float, pieces: int = 10) -> None:
        """All at once, or in pieces spread over `trickle` seconds."""
        if not trickle:
            self.wfile.write(body)
            return
        size = -(-len(body) // pieces)
        for start in range(0, len(body), size):
            time.sleep(trickle / pieces)
            self.wfile.write(body[start:start + size])
            self.wfile.flush()

    def log_message(self, format, *args):  # keep pytest output clean
        pass


class _Server(socketserver.ThreadingMixIn, SimpleXMLRPCServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, fake: "FakeNetOxygen"):
        self.fake = fake
        super().__init__(("127.0.0.1", 0), requestHandler=_Handler, logRequests=False,
                         allow_none=False, encoding="utf-8")

    def handle_error(self, request, client_address):  # e.g. a client gone during answer_delay
        pass


# ---------------------------------------------------------------- the fake

class FakeNetOxygen:
    """Fake sms.netoxygen.ch/api2/ for one account. Public state a test reads or sets:

    user, password, guid             credentials and the account's group id (get_guid)
    credits, account_status          get_credits (decremented by segments, may go negative) / 'regular'|'free'
    default_sender, can_force_sender sender used when none is given (or forcing is not allowed)
    clock                            callable -> aware datetime (Europe/Zurich): the fake's now
    base_url                         http://127.0.0.1:PORT/api2/ (after start())
    calls                            every RecordedCall (name, args without password, time, outcome ...)
    messages                         sms_id -> FakeMessage (destination, text, sender, date, type,
                                     error_code, status, history ...)
    outcome_for                      destination -> final status code, or (code, text), applied at send
    error_for                        destination -> send-time error code (e.g. 2 gateway error)
    auto_advance_seconds             None, or n: messages move one step per n seconds of age
    answer_delay                     seconds to wait before answering each call (after executing it)
    answer_trickle                   seconds over which each answer is sent, in pieces
    max_length                       longest accepted message in characters (error 8 above)
    auth_fault                       (code, text) of the fault for wrong credentials
    false_on_bad_credentials         get_credits/get_guid answer False instead of a fault
    unknown_id_style                 "code0" (default) or "false": get_status of an unknown id
    return_clean_destinations        send_message echoes the cleaned number (True) or the input
    error_texts, status_texts        code -> text used for *_status_text (add unknown codes here)
    """

    def __init__(self, user: str = "smsdesk", password: Optional[str] = None, *, credits: int = 250,
                 account_status: str = "regular", guid: Optional[str] = None,
                 default_sender: str = "SMSDesk",
                 clock: Optional[Callable[[], datetime]] = None):
        self.user = user
        self.password = password or secrets.token_urlsafe(12)
        self.credits = credits
        self.account_status = account_status
        self.guid = guid or str(uuid.uuid4())
        self.default_sender = default_sender
        self.can_force_sender = True
        self.clock = clock or (lambda: datetime.now(ZURICH))

        self.calls: list[RecordedCall] = []
        self.messages: dict[str, FakeMessage] = {}
        self.outcome_for: dict[str, Any] = {}
        self.error_for: dict[str, int] = {}
        self.auto_advance_seconds: Optional[float] = None
        self.answer_delay = 0.0
        self.answer_trickle = 0.0
        self.max_length = MAX_MESSAGE_LENGTH
        self.auth_fault = AUTH_FAULT
        self.false_on_bad_credentials = False
        self.unknown_id_style = "code0"
        self.return_clean_destinations = True
        self.error_texts = {code: texts[0] for code, texts in ERROR_CODES.items()}
        self.status_texts = {code: texts[0] for code, texts in STATUS_CODES.items()}

        self._failures: list[_Failure] = []
        self._lock = threading.RLock()
        self._server: Optional[_Server] = None
        self._thread: Optional[threading.Thread] = None

    # ---- life cycle

    def start(self) -> "FakeNetOxygen":
        self._server = _Server(self)
        for name in METHODS:
            self._server.register_function(getattr(self, "_rpc_" + name), name)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="fake-netoxygen", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=5)
            self._server = None

    def __enter__(self) -> "FakeNetOxygen":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("FakeNetOxygen is not started")
        return f"http://127.0.0.1:{self._server.server_address[1]}/api2/"

    def now(self) -> datetime:
        """The fake's clock, as an aware Europe/Zurich datetime."""
        moment = self.clock()
        return (moment if moment.tzinfo else moment.replace(tzinfo=ZURICH)).astimezone(ZURICH)

    # ---- test controls

    def fail_next(self, kind: str = "fault", code: Optional[int] = None, text: Optional[str] = None,
                  times: int = 1, *, method: Optional[str] = None, after_call: bool = False) -> None:
        """The next `times` calls (of `method` only, if given) fail:

        "fault"   answer Fault(code, text) (default INJECTED_FAULT) without executing the call;
        "http500" answer HTTP `code` (default 500) with `text` (default an HTML page) as body;
        "drop"    close the connection without any answer.
        after_call=True (http500/drop): the call is executed first (a message is really sent)."""
        if kind not in ("fault", "http500", "drop"):
            raise ValueError(f"unknown failure kind {kind!r}")
        if kind == "fault" and after_call:
            raise ValueError("a fault is the answer: after_call makes no sense with it")
        with self._lock:
            self._failures.append(_Failure(kind, code, text, times, method, after_call))

    def advance(self, sms_id: Optional[str] = None, to: Optional[int] = None) -> list[FakeMessage]:
        """Move one message (or every message) one step along its path (9 -> 8 -> 3 -> 1, or the
        forced outcome), or straight to status `to` (any code, known or not). Canceled, refused
        and finished messages do not move; without sms_id, scheduled messages whose date is still
        ahead do not move either. Returns the messages that changed."""
        with self._lock:
            self._refresh()
            now = self.now()
            targets = [self.messages[sms_id]] if sms_id is not None else list(self.messages.values())
            changed = []
            for message in targets:
                if message.canceled or message.rejected:
                    continue
                if (sms_id is None and message.status == 9 and message.date is not None
                        and _utc(message.date) > _utc(now)):
                    continue
                if to is None:
                    if message.final:
                        continue
                    index = message.step + 1
                elif to == message.status:
                    continue
                elif to in message.path[message.step + 1:]:
                    index = message.path.index(to, message.step + 1)
                else:
                    message.path = message.path[:message.step + 1] + [to]
                    index = message.step + 1
                self._move(message, index, now)
                changed.append(message)
            return changed

    def use_french_texts(self) -> None:
        """*_status_text from the document's French 'commentaire' column instead of 'description'."""
        self.error_texts.update({code: texts[1] for code, texts in ERROR_CODES.items()})
        self.status_texts.update({code: texts[1] for code, texts in STATUS_CODES.items()})

    def calls_to(self, name: str) -> list[RecordedCall]:
        with self._lock:
            return [call for call in self.calls if call.name == name]

    @property
    def last_message(self) -> Optional[FakeMessage]:
        with self._lock:
            return list(self.messages.values())[-1] if self.messages else None

    # ---- request handling (called by _Handler in the server's threads)

    def _handle_request(self, data: bytes) -> tuple[str, int, bytes, str]:
        """-> (action "answer"|"drop", HTTP status, body, content type)."""
        try:
            params, method = xmlrpc.client.loads(data, use_builtin_types=False)
        except Exception:
            return self._answer_fault(Fault(PARSE_ERROR, "parse error. not well formed"))
        if method is None:
            return self._answer_fault(Fault(INVALID_REQUEST, "server error. invalid xml-rpc. not "
                                            "conforming to spec. Request must be a methodCall"))
        record = RecordedCall(method, tuple(params[:1]) + tuple(params[2:]), self.now())
        with self._lock:
            self.calls.append(record)
        failure = self._take_failure(method)
        if failure is not None and not failure.after_call:
            return self._failure_answer(record, failure)
        try:
            record.result = self._dispatch(method, params, record)
            body = xmlrpc.client.dumps((record.result,), methodresponse=True,
                                       allow_none=self._server.allow_none, encoding=self._server.encoding)
            answer = ("answer", 200, body.encode(self._server.encoding, "xmlcharrefreplace"), "text/xml")
        except Fault as fault:
            record.outcome, record.fault = "fault", (fault.faultCode, fault.faultString)
            answer = self._answer_fault(fault)
        if failure is not None:
            return self._failure_answer(record, failure)
        return answer

    def _answer_fault(self, fault: Fault) -> tuple[str, int, bytes, str]:
        body = xmlrpc.client.dumps(fault, allow_none=False, encoding="utf-8")
        return "answer", 200, body.encode("utf-8", "xmlcharrefreplace"), "text/xml"

    def _take_failure(self, method: str) -> Optional[_Failure]:
        with self._lock:
            for failure in self._failures:
                if failure.method in (None, method):
                    failure.times -= 1
                    if failure.times <= 0:
                        self._failures.remove(failure)
                    return failure
        return None

    def _failure_answer(self, record: RecordedCall, failure: _Failure) -> tuple[str, int, bytes, str]:
        record.injected, record.outcome = True, failure.kind
        if failure.kind == "fault":
            fault = Fault(failure.code if failure.code is not None else INJECTED_FAULT[0],
                          failure.text if failure.text is not None else INJECTED_FAULT[1])
            record.fault = (fault.faultCode, fault.faultString)
            return self._answer_fault(fault)
        if failure.kind == "http500":
            body = failure.text if failure.text is not None else HTTP500_BODY
            return "answer", failure.code or 500, body.encode("utf-8"), "text/html; charset=utf-8"
        return "drop", 0, b"", ""

    def _dispatch(self, method: str, params: tuple, record: RecordedCall) -> Any:
        function = self._server.funcs.get(method)
        if function is None:
            raise Fault(UNKNOWN_METHOD, f"server error. requested method {method} does not exist.")
        try:
            inspect.signature(function).bind(*params)
        except TypeError:
            raise Fault(BAD_PARAMS, "server error. wrong number of method parameters") from None
        if any(param is None for param in params):
            raise Fault(BAD_PARAMS, "Paramètres invalides : valeur nulle (nil) non supportée")
        record.authenticated = self._credentials_ok(params[0], params[1])
        with self._lock:
            self._refresh()
            if method != "auth" and not record.authenticated:
                if self.false_on_bad_credentials and method in ("get_credits", "get_guid"):
                    return False
                raise Fault(*self.auth_fault)
            return function(*params)

    def _credentials_ok(self, user: Any, password: Any) -> bool:
        return (isinstance(user, str) and isinstance(password, str)
                and secrets.compare_digest(user.encode(), self.user.encode())
                and secrets.compare_digest(password.encode(), self.password.encode()))

    # ---- the eight functions, with the document's positional signatures

    def _rpc_auth(self, user, password):
        return self._credentials_ok(user, password)

    def _rpc_send_message(self, user, password, dest, message, sender="", date="", type="text"):
        destinations = self._string_list(dest, "dest")
        text = self._text(message, "message")
        requested_sender = self._text(sender, "sender")
        if not isinstance(date, str):
            raise Fault(BAD_PARAMS, "Paramètre invalide : date doit être une chaîne "
                                    "« AAAA-MM-JJ HH:MM:SS » (Europe/Zurich)")
        kind = self._text(type, "type") or "text"
        if kind not in ("text", "flash"):
            raise Fault(BAD_PARAMS, f"Paramètre invalide : type « {kind} » inconnu "
                                    "(valeurs possibles : « text » ou « flash »)")
        now = self.now()
        when = parse_date(date)
        scheduled = when if when is not None and _utc(when) > _utc(now) else None
        effective_sender, sender_error = self._resolve_sender(requested_sender)
        answer = []
        for destination in destinations:
            message_record = self._create(destination, text, effective_sender, requested_sender,
                                          sender_error, date, scheduled, kind, now)
            echoed = destination
            if self.return_clean_destinations and message_record.error_code in ACCEPTED:
                echoed = message_record.to
            answer.append([echoed, message_record.error_code, message_record.sms_id])
        return answer

    def _rpc_get_status(self, user, password, ids):
        return [[sms_id, self._status_entry(sms_id)] for sms_id in self._string_list(ids, "identifiant")]

    def _rpc_cancel_message(self, user, password, ids):
        now = self.now()
        answer = []
        for sms_id in self._string_list(ids, "identifiant"):
            message = self.messages.get(sms_id)
            ok = (message is not None and not message.canceled and message.status == 9
                  and message.date is not None and _utc(message.date) > _utc(now))
            if ok:
                message.canceled = True
                message.error_code = 10
                message.last_date = now
                message.history.append({"at": now, "error_code": 10, "status": message.status})
                self.credits += message.segments
            answer.append([sms_id, ok])
        return answer

    def _rpc_get_credits(self, user, password):
        return int(self.credits)

    def _rpc_account_status(self, user, password):
        return self.account_status

    def _rpc_get_guid(self, user, password):
        return self.guid

    def _rpc_clean_number(self, user, password, number):
        return clean_number(self._text(number, "numéro"))

    # ---- helpers of the functions

    @staticmethod
    def _text(value: Any, name: str) -> str:
        if isinstance(value, str):
            return value
        if isinstance(value, Binary):  # the document's Perl example sends base64 UTF-8
            return value.data.decode("utf-8", errors="replace")
        raise Fault(BAD_PARAMS, f"Paramètre invalide : {name} doit être une chaîne de caractères")

    def _string_list(self, value: Any, name: str) -> list[str]:
        """The document: 'une chaîne de caractères, soit un tableau contenant plusieurs chaînes'."""
        if isinstance(value, list):
            return [self._text(item, name) for item in value]
        return [self._text(value, name)]

    def _resolve_sender(self, requested: str) -> tuple[str, Optional[int]]:
        default = self.default_sender or FALLBACK_SENDER
        if not requested.strip() or not self.can_force_sender:
            return default, None
        if not valid_sender(requested):
            return requested, 6
        return requested, None

    @staticmethod
    def _lookup(mapping: dict, destination: str, cleaned: str) -> Any:
        """The entry for the destination as given, else for any key that cleans to the same number."""
        if destination in mapping:
            return mapping[destination]
        for key, value in mapping.items():
            if clean_number(key) == cleaned:
                return value
        return None

    def _create(self, destination: str, text: str, sender: str, requested_sender: str,
                sender_error: Optional[int], requested_date: str, scheduled: Optional[datetime],
                kind: str, now: datetime) -> FakeMessage:
        cleaned = clean_number(destination)
        if not valid_destination(destination):
            error = 5
        elif sender_error:
            error = sender_error
        elif not text.strip():
            error = 7
        elif len(text) > self.max_length:
            error = 8
        else:
            error = self._lookup(self.error_for, destination, cleaned) or (9 if scheduled else 1)
        texts = {}
        if error in ACCEPTED:
            outcome = self._lookup(self.outcome_for, destination, cleaned)
            if isinstance(outcome, (tuple, list)):
                code, text_of_code = outcome
                outcome, texts[int(code)] = code, text_of_code
            final = 1 if outcome is None else int(outcome)
            path = [8, 3]
            path = path[:path.index(final) + 1] if final in path else path + [final]
            if error == 9:
                path = [9] + path
        else:
            path = [REJECTED_STATUS.get(error, 4)]
        segments = segment_count(text) if error in ACCEPTED else 0
        message = FakeMessage(
            sms_id=str(uuid.uuid4()), destination=destination, to=cleaned, text=text, sender=sender,
            requested_sender=requested_sender, date=scheduled if error == 9 else None,
            requested_date=requested_date, type=kind, error_code=error, status=path[0], created=now,
            segments=segments, path=path, last_date=now, texts=texts,
            history=[{"at": now, "error_code": error, "status": path[0]}])
        self.messages[message.sms_id] = message
        self.credits -= segments
        return message

    def _move(self, message: FakeMessage, index: int, at: datetime) -> None:
        message.step = index
        message.status = message.path[index]
        if message.error_code == 9 and message.status != 9:
            message.error_code = 1  # sent at its date: routed, or being routed
        message.last_date = at
        message.history.append({"at": at, "error_code": message.error_code, "status": message.status})

    def _refresh(self) -> None:
        """Scheduled messages whose date has passed leave status 9 (-> 8); with
        auto_advance_seconds = n, a message moves to step k of its path once it is k x n seconds
        old (age counted from its send time: now, or its scheduled date)."""
        now = self.now()
        period = self.auto_advance_seconds
        for message in self.messages.values():
            if message.final:
                continue
            if message.status == 9 and message.date is not None and _utc(message.date) <= _utc(now):
                self._move(message, message.step + 1, message.date)
            if not period or message.status == 9 or message.final:
                continue
            start = message.date or message.created
            first = 1 if message.path[0] == 9 else 0
            elapsed = (_utc(now) - _utc(start)).total_seconds()
            if elapsed < 0:
                continue
            target = min(first + int(elapsed // period), len(message.path) - 1)
            while message.step < target:
                at = _later(start, (message.step + 1 - first) * period)
                if message.last_date is not None and _utc(at) < _utc(message.last_date):
                    at = message.last_date
                self._move(message, message.step + 1, at)

    def _status_entry(self, sms_id: str) -> Any:
        message = self.messages.get(sms_id)
        if message is None:
            if self.unknown_id_style == "false":
                return False
            return {"from": "", "to": "", "length": 0,
                    "sent_date": "", "sent_status": UNKNOWN_CODE, "sent_status_text": UNKNOWN_ID_TEXT,
                    "last_date": "", "last_status": UNKNOWN_CODE, "last_status_text": UNKNOWN_ID_TEXT}
        return {
            "from": message.sender,
            "to": message.to if message.error_code != 5 else message.destination,
            "length": len(message.text),
            "sent_date": format_date(message.created),
            "sent_status": message.error_code,
            "sent_status_text": self.error_texts.get(message.error_code, UNKNOWN_STATUS_TEXT),
            "last_date": format_date(message.last_date),
            "last_status": message.status,
            "last_status_text": (message.texts.get(message.status)
                                 or self.status_texts.get(message.status, UNKNOWN_STATUS_TEXT)),
        }
