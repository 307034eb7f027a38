"""What every provider adapter declares and returns.

An adapter turns one provider's wire format into these few plain classes, so that the
rest of the app never knows which provider it talks to. It never touches the database
or Flask's request globals: it is handed a CallbackRequest and returns data.
"""
import hashlib
import json
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime, timezone
from enum import Enum
from typing import Any, Callable
from zoneinfo import ZoneInfo

from flask_babel import lazy_gettext as _l

from ..numbers import InvalidNumber, to_e164
from ..reasons import Reason as _


class Capability(str, Enum):
    SEND = "send"
    RECEIVE = "receive"
    DELIVERY_TRACKING = "delivery_tracking"
    FLASH = "flash"
    SCHEDULED_SEND = "scheduled_send"
    CANCEL = "cancel"
    CREDITS = "credits"


CAPABILITY_LABELS = {
    Capability.SEND: _l("Send SMS"),
    Capability.RECEIVE: _l("Receive SMS"),
    Capability.DELIVERY_TRACKING: _l("Delivery reports"),
    Capability.FLASH: _l("Flash SMS"),
    Capability.SCHEDULED_SEND: _l("Scheduled sending"),
    Capability.CANCEL: _l("Cancel a scheduled SMS"),
    Capability.CREDITS: _l("Show the remaining credit"),
}


def without_invisible(text: str) -> str:
    """What a copy-paste brings with a value: surrounding spaces (no-break ones too) and invisible
    characters (zero-width spaces, byte-order marks, direction marks, soft hyphens) anywhere in it."""
    visible = "".join(character for character in text if unicodedata.category(character) != "Cf")
    return visible.strip()


def without_spaces(text: str) -> str:
    return "".join(character for character in text if not character.isspace())


@dataclass(frozen=True)
class SettingField:
    name: str
    label: Any
    help: Any = ""
    required: bool = True
    secret: bool = False
    # text, number, choice, phone_number (stored in E.164) or sender: a name, or a number stored in
    # E.164 when it is one (a short code that is no phone number stays as typed, for the pattern to judge)
    kind: str = "text"
    choices: tuple = ()  # (value, label) pairs for a choice
    pattern: str | None = None  # a regular expression the whole value must match
    pattern_message: Any = ""
    default: Any = None
    # what the value becomes before it is checked, e.g. str.lower; raises ValueError(message) to refuse it
    normalize: Callable[[str], str] | None = None

    def normalized(self, typed: str | None, default_region: str) -> str | None:
        """The value as stored: cleaned of what pasting adds, a number in E.164 (a national one read
        in default_region). Raises ValueError with the reason when it cannot be."""
        if typed is None or self.kind == "choice":
            return typed
        value = without_invisible(typed)
        if value and self.kind == "phone_number":
            value = e164_or_refusal(value, default_region)
        elif value and self.kind == "sender" and NUMBER_LIKE.fullmatch(value):
            value = e164_or_none(value, default_region) or value
        if value and self.normalize:
            value = self.normalize(value)
        return value


NUMBER_LIKE = re.compile(r"\+?[\d\s().\-/]+")  # digits as people write them: +33 (0)6 12-34.56/78


def e164_or_none(typed: str, default_region: str) -> str | None:
    try:
        return e164_or_refusal(typed, default_region)
    except ValueError:
        return None


def e164_or_refusal(typed: str, default_region: str) -> str:
    try:
        return to_e164(without_spaces(typed), default_region)  # no-break spaces too, which phonenumbers refuses
    except InvalidNumber as error:
        raise ValueError(str(_("%(number)s is not a valid number: %(reason)s.", number=typed,
                               reason=error.reason))) from None


@dataclass(frozen=True)
class CredentialStep:
    """Where to find the values of the form in the provider's console: a sentence and its links,
    as (label, URL) pairs, shown beside the form before the phone is saved."""
    text: Any
    links: tuple = ()


@dataclass(frozen=True)
class ServerOption:
    """A setting of the whole server (not of one phone) that an adapter reads from self.options,
    e.g. its API's base URL. It is read from the environment variable of the same name."""
    name: str  # the environment variable and the app config key, e.g. TWILIO_API_BASE_URL
    default: Any
    kind: type = str  # str or float: what the environment's text is turned into
    help: str = ""  # what it is for, in a few words

    def value(self, environ):
        text = environ.get(self.name)
        return self.default if text is None else self.kind(text)


@dataclass(frozen=True)
class OutboundSms:
    message_id: int
    destination: str  # E.164
    text: str
    status_callback_url: str
    reference: str = ""  # ours, unique per message: lets a provider refuse a repeated send
    attempt: int = 1
    flash: bool = False
    send_at: datetime | None = None  # aware; for providers that schedule


@dataclass(frozen=True)
class SendResult:
    provider_message_id: str
    provider_status: str | None = None
    payload: Any = None
    status: str = "sent"  # or "scheduled" when the provider sends it later


@dataclass(frozen=True)
class StatusEvent:
    provider_message_id: str
    status: str  # one of webapp.statuses
    provider_status: str | None = None
    occurred_at: datetime | None = None
    error_code: str | None = None
    reason: str | None = None
    payload: Any = None
    recipient: str | None = None  # when one provider id covers several recipients


@dataclass(frozen=True)
class InboundSms:
    provider_message_id: str
    sender: str
    text: str
    received_at: datetime | None = None
    payload: Any = None
    receiving_number: str | None = None  # ours it was sent to, where several phones share the callback URLs


@dataclass(frozen=True)
class OptOutNotice:
    """Someone replied STOP: they no longer want SMS from this account."""
    number: str
    opted_out_at: datetime | None = None
    payload: Any = None
    text: str | None = None  # what the recipient wrote, when the provider says


@dataclass
class ParsedCallback:
    """What one callback request carried; most carry one kind only."""
    status_events: list = field(default_factory=list)
    inbound: list = field(default_factory=list)
    opt_outs: list = field(default_factory=list)


@dataclass(frozen=True)
class CallbackRequest:
    """A provider's call to one of our callback URLs, as plain data."""
    method: str
    url: str  # the public URL the provider called
    headers: dict  # lower-case names
    query: dict  # name -> list of values
    form: dict  # name -> list of values
    body: bytes = b""

    def value(self, name: str, default=None):
        """A field from the form body or the query string, first value."""
        values = self.form.get(name) or self.query.get(name)
        return values[0] if values else default

    def flat_fields(self) -> dict:
        """The query string and form fields, one value each, to keep as the raw payload."""
        fields = {name: values[0] for name, values in self.query.items()}
        fields.update({name: values[0] for name, values in self.form.items()})
        return fields

    def json(self) -> Any:
        try:
            body = json.loads(self.body)
        except (ValueError, UnicodeDecodeError):
            raise CallbackRejected(400, "the body is not JSON") from None
        except RecursionError:
            raise CallbackRejected(400, "the body's JSON is nested too deeply") from None
        refuse_unstorable_json(body)
        return body


MAX_JSON_DEPTH = 32  # providers send flat objects; storing deeper ones would recurse without bound
LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def refuse_unstorable_json(value) -> None:
    """A JSON body no column can store: nested past MAX_JSON_DEPTH, or with a lone UTF-16 surrogate
    ("\\ud800"), which no UTF-8 text can hold."""
    pending = [(value, 1)]
    while pending:
        value, depth = pending.pop()
        if isinstance(value, str):
            if LONE_SURROGATE.search(value):
                raise CallbackRejected(400, "the body's JSON holds a lone surrogate (\\ud800 to \\udfff)")
        elif isinstance(value, (dict, list)):
            if depth > MAX_JSON_DEPTH:
                raise CallbackRejected(400, "the body's JSON is nested too deeply")
            items = [*value.keys(), *value.values()] if isinstance(value, dict) else value
            pending.extend((item, depth + 1) for item in items)


@dataclass(frozen=True)
class CallbackReply:
    body: str = ""
    status: int = 200
    content_type: str = "text/plain"


# settings_errors' value for a secret left blank on the edit form, which keeps the one saved
KEPT_SECRET = "(kept)"

# find_sent's answer when the provider never got the request
NOT_SENT = "not sent"


class ProviderError(Exception):
    """A provider refused or could not be reached. reason: a webapp.reasons.Reason, translated when
    shown, or the provider's own words.

    transient: nothing was sent and trying again later may work (refused connection, 429, 5xx).
    maybe_sent: the request left but no answer came back, so it may have been sent.
    answer_lost: maybe_sent because the answer was lost on the way (a read timeout, a dropped
    connection, a 5xx): sending again is safe where the provider refuses a repeated reference.
    already_accepted: the provider refused a repeat of a request it had accepted: an earlier
    attempt sent it, under an id this answer does not give (reason says what follows).
    phones_own: the provider refused for a reason of the phone's account, not of the recipient
    (credentials refused, out of credit, account suspended, a sender it may not use): nothing was
    sent, and a pool sends the message from its next phone.
    """

    def __init__(self, reason: str, code: str | None = None, transient: bool = False,
                 maybe_sent: bool = False, payload: Any = None, answer_lost: bool = False,
                 already_accepted: bool = False, phones_own: bool = False):
        super().__init__(reason)
        self.reason = reason
        self.code = code
        self.transient = transient
        self.maybe_sent = maybe_sent or answer_lost or already_accepted
        self.answer_lost = answer_lost
        self.already_accepted = already_accepted
        self.phones_own = phones_own and not self.maybe_sent
        self.payload = payload


class UnsupportedFeature(ProviderError):
    pass


class CallbackRejected(Exception):
    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status = status
        self.reason = reason


def id_text(value) -> str | None:
    """A provider's id as text, None when it gave none (str() would make None the id "None")."""
    return None if value in (None, "") else str(value)


def international_00(e164: str) -> str:
    """+33612345678 as 0033612345678, the form several providers want."""
    return "00" + e164.lstrip("+")


def local_time_to_utc(text, zone: ZoneInfo, format: str = "%Y-%m-%d %H:%M:%S") -> datetime | None:
    """A provider's zone-less date, in the zone it means, as the naive UTC we store; None when unreadable."""
    try:
        local = datetime.strptime(text, format).replace(tzinfo=zone)
        return local.astimezone(timezone.utc).replace(tzinfo=None)
    except (TypeError, ValueError, OverflowError):  # OverflowError: year 1 moved back past year 1
        return None


def content_id(*parts: str) -> str:
    """An id for an incoming SMS the provider gives none: the same when the provider posts it again."""
    return "h" + hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:40]


def json_object(request: CallbackRequest) -> dict:
    body = request.json()
    if not isinstance(body, dict):
        raise CallbackRejected(400, "the body is not a JSON object")
    return body


def required_field(body: dict, name: str, kinds=(str,)):
    """A JSON field that must be there and of one of the given types."""
    if name not in body or body[name] in (None, ""):
        raise CallbackRejected(400, f"missing field {name}")
    value = body[name]
    if not isinstance(value, kinds) or isinstance(value, bool):
        raise CallbackRejected(400, f"field {name} has the wrong type")
    return value


def required_value(request: CallbackRequest, name: str) -> str:
    value = request.value(name)
    if value in (None, ""):
        raise CallbackRejected(400, f"missing field {name}")
    return value


# The longest text accepted where a provider documents no limit: the lowest one documented by any of
# our providers (Octopush's 1,224 characters, 8 GSM-7 parts of 153), so that no text is refused by the
# provider after SMS Desk accepted it.
SAFE_TEXT_LENGTH = 1224


def asking_status_delays(first=(60, 120, 300, 900, 1800), then=3600, until=86400) -> tuple:
    """Seconds from the send of each status poll when SMS Desk asks rather than waits: after
    1, 2, 5, 15 and 30 minutes, then every hour, for a day."""
    delays, at = [], 0
    for step in first:
        at += step
        delays.append(at)
    while at + then <= until:
        at += then
        delays.append(at)
    return tuple(delays)


ASKING_STATUS_DELAYS = asking_status_delays()


class Provider:
    """Base class of adapters. Subclasses set the class attributes and override what they support."""
    key = ""
    name = ""
    company = ""  # the provider's own name, in reasons: "SMS Desk cannot reach Twilio…"
    description = ""
    fields = ()  # SettingField, in the order the form shows them
    capabilities = frozenset()
    # paragraphs shown on the phone's page; {status_url} and {inbound_url} are filled in
    setup_steps = ()
    credential_steps = ()  # CredentialStep: where each value of the form is found, shown beside the form
    status_map = {}  # the provider's status names -> ours
    simulates_inbound = False  # True when the phone's page can make up an incoming SMS
    calls_from_internet = True  # False when the callbacks come from this machine, so a local address is fine
    has_callbacks = True  # False for providers that only answer questions (then there are no URLs to show)
    # True when each send hands the provider the status URL, so nothing needs pasting for delivery reports
    sends_status_url_with_each_sms = False
    # Optional abilities; each True only where the matching method below is implemented.
    polls_statuses = False  # fetch_statuses
    polls_inbound = False  # list_inbound and acknowledge_inbound
    inbound_polling_by_settings = False  # wants_inbound_polling reads the phone's settings
    installs_callbacks = False  # install_callbacks
    previews_callback_installation = False  # installed_callbacks: what install_callbacks would replace
    cleans_numbers = False  # clean_number
    finds_sends = False  # find_sent
    # True when the provider refuses a repeated OutboundSms.reference: a send whose answer was
    # lost is sent again with the same reference, and the provider's "already have it" ends it sent
    idempotent_send = False
    # a refusal or failure with one of these codes means the recipient opted out with the provider
    opted_out_error_codes = frozenset()
    # The longest text the provider accepts, counted as sms_text.text_cost counts it (in GSM-7 € [ ] { } ^ ~ \\ |
    # count two; in UCS-2 an emoji counts two), which is never less than the characters typed. A longer
    # text is refused when it is composed, naming this limit: it is never cut.
    max_text_length = SAFE_TEXT_LENGTH
    max_batch_size = 1  # destinations of one compose action sent in one call, by send_batch
    # delays (seconds) before each status poll of a sent message, counted from the send;
    # when they run out, the message is left as it is, or made unknown if unknown_when_polls_run_out
    status_poll_delays: tuple = ()
    unknown_when_polls_run_out = False
    # set by the service layer: True when SMS Desk asks this phone's provider rather than waits to be told
    # (ASKING_STATUS_DELAYS then, and incoming SMS listed where lists_inbound_for)
    asks = False
    server_options = ()  # ServerOption: the server-wide settings this adapter reads, with their defaults

    def __init__(self, settings: dict, http, options: dict | None = None):
        self.settings = settings  # the phone's settings, secrets decrypted
        self.http = http  # a webapp.providers.http.ProviderHttp
        # app-wide settings: the declared server options (their defaults when not given) and the timeouts
        self.options = {option.name: option.default for option in self.server_options} | (options or {})

    def request(self, method: str, url: str, **kwargs):
        """An HTTP call to the provider (see ProviderHttp.request)."""
        return self.http.request(method, url, company=self.company, **kwargs)

    def send(self, sms: OutboundSms) -> SendResult:
        raise UnsupportedFeature(_("%(provider)s cannot send SMS", provider=self.company))

    def send_batch(self, messages: list[OutboundSms]) -> list:
        """A SendResult or a ProviderError per message, in order."""
        results = []
        for sms in messages:
            try:
                results.append(self.send(sms))
            except ProviderError as error:
                results.append(error)
        return results

    def find_sent(self, sms: OutboundSms, attempt_began: datetime) -> SendResult | str | None:
        """Asked after a worker died during the request: did the provider get it? Its SendResult,
        NOT_SENT, or None when it cannot tell. attempt_began: aware UTC."""
        raise UnsupportedFeature(_("%(provider)s cannot be asked whether it received an SMS", provider=self.company))

    def cancel(self, provider_message_ids: list[str]) -> dict:
        """Cancels scheduled messages at the provider: {provider id: canceled or not}."""
        raise UnsupportedFeature(_("%(provider)s cannot cancel an SMS", provider=self.company))

    def simulate_inbound(self, inbound_url: str, sender: str, text: str) -> None:
        """Only where simulates_inbound: plays the provider's part for an incoming SMS."""
        raise UnsupportedFeature(_("%(provider)s cannot make up incoming SMS", provider=self.company))

    def clean_number(self, typed: str) -> str:
        raise UnsupportedFeature(_("%(provider)s cannot check numbers", provider=self.company))

    def check_connection(self) -> str:
        """Returns a sentence saying what was checked; raises ProviderError."""
        raise UnsupportedFeature(_("%(provider)s has no connection test", provider=self.company))

    def verify_callback(self, request: CallbackRequest) -> None:
        """Raises CallbackRejected when the request cannot be from the provider."""

    def parse_callback(self, kind: str, request: CallbackRequest) -> ParsedCallback:
        """Providers that send several kinds to one URL override this; the others parse by URL."""
        if kind == "status":
            return ParsedCallback(status_events=self.parse_status_callback(request))
        return ParsedCallback(inbound=self.parse_inbound_callback(request))

    def parse_status_callback(self, request: CallbackRequest) -> list[StatusEvent]:
        raise CallbackRejected(404, "this phone receives no status reports")

    def parse_inbound_callback(self, request: CallbackRequest) -> list[InboundSms]:
        raise CallbackRejected(404, "this phone receives no SMS")

    def callback_reply(self, kind: str) -> CallbackReply:
        return CallbackReply("")

    @classmethod
    def settings_errors(cls, values: dict) -> dict:
        """Errors that involve several fields, as {field name: message}. A secret left blank on the
        edit form while one is saved comes as KEPT_SECRET."""
        return {}

    @classmethod
    def capabilities_for(cls, settings: dict | None) -> frozenset:
        """What a phone with these settings (the non-secret ones) can do; by default the provider's."""
        return cls.capabilities

    @classmethod
    def setup_steps_for(cls, settings: dict | None) -> tuple:
        """The setup steps of a phone with these settings; by default the provider's."""
        return cls.setup_steps

    # the settings that hold what recipients see as the sender, the first one set wins
    SENDER_SETTINGS = ("number", "sender", "virtual_number")

    @classmethod
    def sender_in_brief(cls, settings: dict | None) -> str:
        """The phone's number or sender name as its settings hold it, for lists; "" when none."""
        declared = {field.name for field in cls.fields}
        return next((str((settings or {})[name]) for name in cls.SENDER_SETTINGS
                     if name in declared and (settings or {}).get(name)), "")

    @classmethod
    def sender_shown(cls, settings: dict | None) -> Any:
        """What the phone's page says about the sender recipients see; None to say nothing."""
        return None

    @classmethod
    def callback_scope(cls, settings: dict) -> str | None:
        """A key shared by the phones whose callbacks the provider sends to one set of URLs (an
        OVH service has one callBack for all its numbers and senders); None when each phone has its own."""
        return None

    @classmethod
    def receiving_number(cls, settings: dict) -> str | None:
        """The number this phone receives SMS on, as its settings say it, where incoming SMS of
        several phones arrive at one URL and must be told apart."""
        return None

    def account_facts(self) -> dict:
        """Facts about the account shown on the phone's page after a connection test, e.g. the balance."""
        return {}

    def fetch_statuses(self, provider_message_ids: list[str]) -> list[StatusEvent]:
        raise UnsupportedFeature(_("%(provider)s cannot be asked for delivery statuses", provider=self.company))

    def list_inbound(self, since: datetime | None = None) -> list[InboundSms]:
        """The incoming SMS the provider holds, received since `since` (naive UTC) where it can filter."""
        raise UnsupportedFeature(_("%(provider)s cannot be asked for incoming SMS", provider=self.company))

    def wants_inbound_polling(self) -> bool:
        """Whether this phone's settings ask for incoming SMS to be fetched rather than pushed,
        whatever the server's address (then inbound_polling_by_settings)."""
        return self.polls_inbound

    def acknowledge_inbound(self, provider_message_id: str) -> None:
        """Tells the provider an incoming SMS is stored, so that it is not listed again."""

    def install_callbacks(self, status_url: str, inbound_url: str) -> str:
        raise UnsupportedFeature(_("%(provider)s cannot set its callback URLs itself", provider=self.company))

    @classmethod
    def can_be_asked(cls) -> bool:
        """Whether SMS Desk may ask this provider instead of waiting for its callbacks (a polling mode)."""
        return cls.calls_from_internet and cls.has_callbacks and (cls.polls_statuses or cls.polls_inbound)

    @classmethod
    def lists_inbound_for(cls, settings: dict | None) -> bool:
        """Whether a phone with these settings can have its incoming SMS listed (list_inbound)."""
        return cls.polls_inbound

    @classmethod
    def installs_callbacks_for(cls, settings: dict | None) -> bool:
        """Whether install_callbacks works for a phone with these settings."""
        return cls.installs_callbacks

    def installed_callbacks(self) -> list:
        """Only where previews_callback_installation: [(label, the URL the provider holds now, the kind
        of ours, "status" or "inbound", that install_callbacks puts there)]."""
        raise UnsupportedFeature(_("%(provider)s cannot say which callback URLs it has", provider=self.company))

    def status_poll_delay(self, polls_done: int) -> float | None:
        delays = self.status_poll_delays
        if self.asks and self.polls_statuses:
            delays = ASKING_STATUS_DELAYS + tuple(delay for delay in delays if delay > ASKING_STATUS_DELAYS[-1])
        return delays[polls_done] if polls_done < len(delays) else None

    def map_status(self, provider_status: str) -> str:
        from webapp import statuses
        return self.status_map.get(provider_status, statuses.UNKNOWN)

    @classmethod
    def has(cls, capability: Capability, settings: dict | None = None) -> bool:
        """Whether a phone with these settings can; without settings, whether the provider can at all."""
        return capability in (cls.capabilities if settings is None else cls.capabilities_for(settings))
