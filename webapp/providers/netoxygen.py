"""The NetOxygen SMS gateway, through its XML-RPC interface (API v2).

It has no callbacks: delivery statuses are polled. It schedules and cancels at the gateway,
sends flash SMS, reports credits, and sends to several destinations in one call.
"""
import http.client
import io
import re
import socket
import time
import xmlrpc.client
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from flask_babel import lazy_gettext as _l

from .. import statuses
from ..sms_text import GSM7_BASIC
from ..reasons import Reason as _
from .base import (SAFE_TEXT_LENGTH, Capability, CredentialStep, OutboundSms, Provider, ProviderError, SendResult,
                   ServerOption, SettingField, StatusEvent, id_text, local_time_to_utc)
from .http import raw, unreachable

API_URL = "https://sms.netoxygen.ch/api2/"
ZURICH = ZoneInfo("Europe/Zurich")  # the gateway reads dates in Swiss time

# send_message and get_status error codes (the interface document's first table)
ERROR_CODES = {
    1: _("OK: the message is routed or being routed"),
    2: _("Gateway error"),
    3: _("Message routing error"),
    4: _("Message format error"),
    5: _("Invalid destination number: the message will not be received"),
    6: _("Invalid sender: the message will not be sent"),
    7: _("Empty message"),
    8: _("Maximum message length exceeded"),
    9: _("Pending"),
    10: _("Message canceled before it was sent"),
}
# get_status status codes (its second table) and ours
STATUS_CODES = {
    1: statuses.DELIVERED,  # delivered to the recipient device
    2: statuses.SENT,  # delivered to the recipient network, waiting there
    3: statuses.SENT,  # submitted to the recipient network
    4: statuses.FAILED,  # message error
    5: statuses.FAILED,  # routing error
    6: statuses.FAILED,  # expired before it was received
    7: statuses.FAILED,  # gateway error
    8: statuses.QUEUED,  # in the gateway's queue
    9: statuses.SCHEDULED,  # scheduled for later
}
SENT_CODES = {1, 9}
ACCOUNT_CODES = {2, 6}  # the gateway's own error, a sender the account may not use: not the recipient's
# The interface document says of the sender only that an empty one, or one the account may not "force",
# means the account's default, else "textobox.ch". What a handset shows as a name is up to 11 GSM-7
# characters (the gateway's own default has a dot); a number has up to 16 digits.
SENDER_PATTERN = "[{}]{{1,11}}|\\+?\\d{{1,16}}".format("".join(re.escape(ch) for ch in sorted(GSM7_BASIC - set("\r\n"))))
GATEWAY_DEFAULT_SENDER = "textobox.ch"


class GatewayUnreachable(Exception):
    pass


class TimeoutTransport(xmlrpc.client.Transport):
    """xmlrpc.client's transport with a connect timeout and an overall deadline (connect + read
    timeouts, as ProviderHttp's), which sends each call once: the standard one silently sends
    again when the connection drops, and a message sent twice is worse than one reported as maybe
    sent. The answer is read in a loop that gives each read what is left of the deadline."""
    BODY_CHUNK = 16384

    def __init__(self, connect_timeout: float, read_timeout: float, use_https: bool):
        super().__init__()
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.use_https = use_https
        self.deadline = None
        self._socket = None

    def make_connection(self, host):
        self.deadline = time.monotonic() + self.connect_timeout + self.read_timeout
        connection_class = http.client.HTTPSConnection if self.use_https else http.client.HTTPConnection
        connection = connection_class(host, timeout=self.connect_timeout)
        original_connect = connection.connect

        def connect():
            try:
                original_connect()
            except OSError as error:  # refused, unreachable or timed out: the call never left
                raise GatewayUnreachable(str(error) or type(error).__name__) from None
            connection.sock.settimeout(self.time_left())
            self._socket = connection.sock  # the answer reads from it after http.client lets go of it
        connection.connect = connect
        self._connection = host, connection
        return connection

    def time_left(self) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise socket.timeout("the answer was not complete before the deadline")
        return min(left, self.read_timeout)

    def request(self, host, handler, request_body, verbose=False):
        return self.single_request(host, handler, request_body, verbose)

    def parse_response(self, response):
        chunks = []
        while not response.isclosed():
            self._socket.settimeout(self.time_left())
            chunk = response.read1(self.BODY_CHUNK)  # one read of the socket at most: read() would wait for all
            if not chunk:
                break
            chunks.append(chunk)
        body = b"".join(chunks)
        if response.getheader("Content-Encoding", "") == "gzip":
            body = xmlrpc.client.gzip_decode(body)
        return super().parse_response(io.BytesIO(body))


class NetOxygenProvider(Provider):
    key = "netoxygen"
    name = _l("NetOxygen SMS gateway")
    company = "NetOxygen"
    description = _l("The Swiss NetOxygen gateway: flash SMS, SMS scheduled at the gateway and canceled there, "
                     "credits. It reports deliveries when asked, and cannot receive SMS.")
    fields = (
        SettingField("user", _l("User")),
        SettingField("password", _l("Password"), secret=True),
        SettingField("sender", _l("Default sender"),
                     _l("The name or number recipients see, if your account may choose it: up to 11 characters "
                        "(letters, digits, spaces, dots…, e.g. “Mon Ecole” or textobox.ch) or a number of up to "
                        "16 digits. Leave blank for the account's default sender (textobox.ch when the account "
                        "has none)."),
                     required=False, pattern=SENDER_PATTERN,
                     pattern_message=_l("Up to 11 characters an SMS can show (no emoji or line break), or a "
                                        "number of up to 16 digits.")),
    )
    capabilities = frozenset({Capability.SEND, Capability.DELIVERY_TRACKING, Capability.FLASH,
                              Capability.SCHEDULED_SEND, Capability.CANCEL, Capability.CREDITS})
    max_text_length = SAFE_TEXT_LENGTH  # error 8 "Max message length exceeded" gives no figure (§5.2)
    credential_steps = (
        CredentialStep(_l("User and password: those of your NetOxygen SMS gateway account, as NetOxygen gave "
                          "them. Lost them? NetOxygen's support can help."),
                       ((_l("NetOxygen's FAQs"), "https://netoxygen.ch/support/faqs/"),
                        ("support@netoxygen.ch", "mailto:support@netoxygen.ch"))),
    )
    setup_steps = (
        _l("Fill in the user and password of your NetOxygen account."),
        _l("Nothing to paste at NetOxygen: the gateway has no callbacks. SMS Desk asks it for the delivery "
           "status of your SMS, often at first and less and less as they age."),
        _l("Click “Test the connection” below: it also shows your credits, the type of account and its group id."),
        _l("When you write an SMS from this phone, you can send it as a flash SMS (shown at once on the "
           "recipient's screen) or schedule it; a scheduled SMS can be canceled from its page until its time."),
    )
    has_callbacks = False
    polls_statuses = True
    unknown_when_polls_run_out = True
    cleans_numbers = True
    max_batch_size = 100
    server_options = (
        ServerOption("NETOXYGEN_API_URL", API_URL, help="the XML-RPC gateway's address"),
        ServerOption("NETOXYGEN_STATUS_POLL_FIRST_SECONDS", 30.0, float,
                     "seconds before the first status poll; each next one waits twice as long"),
    )

    @classmethod
    def sender_shown(cls, settings: dict | None):
        sender = (settings or {}).get("sender")
        if not sender:
            return _("The default sender of your NetOxygen account (%(fallback)s when the account has none).",
                     fallback=GATEWAY_DEFAULT_SENDER)
        return _("“%(sender)s”, if your NetOxygen account may choose its sender; otherwise the account's "
                 "default sender.", sender=sender)

    @property
    def status_poll_delays(self):
        first = float(self.options["NETOXYGEN_STATUS_POLL_FIRST_SECONDS"])
        # 30 s, 1 min, 2 min ... doubling up to about 3 days after the send (or the scheduled time)
        return tuple(first * 2 ** step for step in range(14))

    # ---- XML-RPC ----

    def gateway(self) -> xmlrpc.client.ServerProxy:
        url = self.options["NETOXYGEN_API_URL"] or API_URL
        transport = TimeoutTransport(self.options.get("PROVIDER_CONNECT_TIMEOUT", 5.0),
                                     self.options.get("PROVIDER_READ_TIMEOUT", 30.0),
                                     use_https=urlsplit(url).scheme == "https")
        return xmlrpc.client.ServerProxy(url, transport=transport, encoding="utf-8")

    def call(self, function: str, *args):
        try:
            return getattr(self.gateway(), function)(self.settings["user"], self.settings["password"], *args)
        except xmlrpc.client.Fault as fault:
            raise ProviderError(_("The NetOxygen gateway refused: %(reason)s", reason=fault.faultString),
                                code=str(fault.faultCode)) from None
        except xmlrpc.client.ProtocolError as error:
            refused_untouched = error.errcode in (429, 503)
            raise ProviderError(_("The NetOxygen gateway is unavailable (HTTP %(status)d)", status=error.errcode),
                                code=str(error.errcode), transient=refused_untouched,
                                maybe_sent=error.errcode >= 500 and not refused_untouched) from None
        except GatewayUnreachable as error:
            raise ProviderError(unreachable(self.company, error), transient=True, payload=raw(error)) from None
        except socket.timeout as error:
            raise ProviderError(_("%(company)s did not answer in time", company=self.company), maybe_sent=True,
                                payload=raw(error)) from None
        except (ConnectionError, http.client.HTTPException, xmlrpc.client.ResponseError, OSError) as error:
            # the connection was up: the call may have reached the gateway
            raise ProviderError(_("the connection to %(company)s broke before it answered", company=self.company),
                                maybe_sent=True, payload=raw(error)) from None

    # ---- sending ----

    def send(self, sms: OutboundSms) -> SendResult:
        [result] = self.send_batch([sms])
        if isinstance(result, ProviderError):
            raise result
        return result

    def send_batch(self, messages: list[OutboundSms]) -> list:
        """One call for every destination of one compose action: same text, date and type."""
        first = messages[0]
        date = first.send_at.astimezone(ZURICH).strftime("%Y-%m-%d %H:%M:%S") if first.send_at else ""
        results = self.call("send_message", [sms.destination.lstrip("+") for sms in messages], first.text,
                            self.settings.get("sender") or "", date, "flash" if first.flash else "text")
        if not isinstance(results, list) or len(results) != len(messages):
            raise ProviderError(_("The NetOxygen gateway gave an unexpected answer."), maybe_sent=True,
                                payload=repr(results)[:2000])
        # the gateway answers in the order of the destinations: match by position, not by number
        return [self.result_for(sms, entry) for sms, entry in zip(messages, results)]

    def result_for(self, sms: OutboundSms, entry) -> SendResult | ProviderError:
        try:
            _destination, code, sms_id = entry
            code = int(code)
        except (TypeError, ValueError):
            return ProviderError(_("The NetOxygen gateway gave an unexpected answer."), maybe_sent=True,
                                 payload=repr(entry))
        if code not in SENT_CODES:
            meaning = ERROR_CODES.get(code)
            return ProviderError(meaning or _("error code %(code)s", code=code), code=str(code),
                                 transient=False, payload=list(entry), phones_own=code in ACCOUNT_CODES)
        status = statuses.SCHEDULED if sms.send_at else statuses.SENT
        return SendResult(provider_message_id=id_text(sms_id), provider_status=ERROR_CODES[code].msgid, status=status,
                          payload=list(entry))

    def cancel(self, provider_message_ids: list[str]) -> dict[str, bool]:
        answer = self.call("cancel_message", provider_message_ids)
        return {str(sms_id): bool(canceled) for sms_id, canceled in answer}

    # ---- statuses ----

    def fetch_statuses(self, provider_message_ids: list[str]) -> list[StatusEvent]:
        events = []
        for entry in self.call("get_status", provider_message_ids):
            sms_id, report = entry
            if not isinstance(report, dict):
                continue  # an id the gateway does not know
            events.append(self.status_event(str(sms_id), report))
        return events

    def status_event(self, sms_id: str, report: dict) -> StatusEvent:
        error_code, status_code = _int(report.get("sent_status")), _int(report.get("last_status"))
        if error_code == 10:
            status, text = statuses.CANCELED, ERROR_CODES[10]
        else:
            status = STATUS_CODES.get(status_code, statuses.UNKNOWN)
            text = report.get("last_status_text") or ""  # the gateway's own words
        reason = None
        if status in (statuses.FAILED, statuses.UNKNOWN, statuses.CANCELED):
            reason = text or _("status code %(code)s", code=status_code)
        text = text.msgid if isinstance(text, _) else text
        return StatusEvent(provider_message_id=sms_id, status=status,
                           provider_status=f"{status_code} {text}".strip(),
                           occurred_at=local_time_to_utc(report.get("last_date"), ZURICH),
                           error_code=str(status_code) if status == statuses.FAILED else None,
                           reason=reason, payload=report)

    # ---- the account ----

    def check_connection(self) -> str:
        if not self.call("auth"):
            raise ProviderError(_("The NetOxygen gateway refused the user or the password."))
        return _("The NetOxygen gateway accepted the user and the password.")

    def account_facts(self) -> dict:
        return {_("Credits"): str(self.call("get_credits")),
                _("Account type"): str(self.call("account_status")),
                _("Group id"): str(self.call("get_guid"))}

    def clean_number(self, typed: str) -> str:
        return str(self.call("clean_number", typed))


def _int(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
