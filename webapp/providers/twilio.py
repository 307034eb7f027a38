"""Twilio Programmable Messaging with a virtual number (API 2010-04-01)."""
import base64
import hashlib
import hmac
import re
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit, urlunsplit

from flask_babel import lazy_gettext as _l

from .. import statuses
from ..reasons import Reason as _
from .base import (
    CallbackRejected,
    CallbackReply,
    CallbackRequest,
    Capability,
    CredentialStep,
    InboundSms,
    NOT_SENT,
    OutboundSms,
    Provider,
    ProviderError,
    SendResult,
    ServerOption,
    SettingField,
    StatusEvent,
    required_value,
)

API_VERSION = "2010-04-01"
# Twilio's clock and ours may differ: a message it dates a little before our attempt may be ours.
# The margin is wide, because too narrow would send again what Twilio has; an earlier message alike
# that SMS Desk sent is recognised by its sid, and the interrupted one is then left unknown.
CLOCK_MARGIN = timedelta(minutes=10)
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'

# Twilio error codes a user can act on, in their words
ACCOUNT_ID = re.compile(r"\bAC[0-9a-fA-F]{32}\b")  # named in some of Twilio's error messages
ERROR_EXPLANATIONS = {
    20003: _("Twilio refused the Account SID or the Auth Token: check them in the phone's settings."),
    20404: _("Twilio does not know this message or account."),
    21211: _("Twilio says the destination number is not valid."),
    21408: _("Your Twilio account is not allowed to send SMS to this country (Messaging Geo-Permissions)."),
    21606: _("This Twilio number cannot send SMS: check the number in the phone's settings."),
    21610: _("The recipient has replied STOP to your number and no longer receives your SMS."),
    21614: _("The destination number cannot receive SMS."),
    30003: _("The handset is unreachable (switched off or out of coverage)."),
    30004: _("The message was blocked (the recipient blocks your number, or the carrier does)."),
    30005: _("The destination number does not exist."),
    30006: _("The destination is a landline or cannot receive SMS."),
    30007: _("The carrier filtered the message as spam."),
    30008: _("The carrier could not deliver the message (unknown error)."),
}


def twilio_signature(auth_token: str, url: str, params: dict) -> str:
    """X-Twilio-Signature: HMAC-SHA1 of the URL followed by every POST parameter, sorted."""
    payload = url
    for name in sorted(params):
        for value in sorted(set(params[name])):
            payload += name + value
    digest = hmac.new(auth_token.encode(), payload.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode().strip()


def url_variants(url: str) -> list[str]:
    """The URL as called, with and without its default port: Twilio signs either form."""
    parts = urlsplit(url)
    default_port = 443 if parts.scheme == "https" else 80
    host = parts.hostname or ""
    with_port = parts._replace(netloc=f"{host}:{parts.port or default_port}")
    without_port = parts._replace(netloc=host) if parts.port in (None, default_port) else parts
    return list(dict.fromkeys([url, urlunsplit(with_port), urlunsplit(without_port)]))


class TwilioProvider(Provider):
    key = "twilio"
    name = _l("Twilio virtual number")
    company = "Twilio"
    description = _l("A phone number rented from Twilio. Your contacts can text it, and you get delivery reports.")
    fields = (
        SettingField("account_sid", _l("Account SID"),
                     _l("On the home page of your Twilio Console, under “Account Info”. It starts with AC."),
                     pattern=r"AC[0-9a-fA-F]{32}",
                     pattern_message=_l("An Account SID is AC followed by 32 letters and digits.")),
        SettingField("auth_token", _l("Auth Token"),
                     _l("Just below the Account SID: click “Show” and copy it."), secret=True,
                     pattern=r"[0-9a-fA-F]{32}", pattern_message=_l("An Auth Token has 32 letters and digits.")),
        SettingField("number", _l("Your Twilio number"),
                     _l("As shown in Phone Numbers → Active numbers, e.g. +33 7 57 00 00 00. Spaces are fine."),
                     kind="phone_number"),
    )
    credential_steps = (
        CredentialStep(_l("No Twilio account yet? Sign up, then buy a number that can send and receive SMS. "
                          "Some countries need a check by Twilio first: wait until the number is active."),
                       ((_l("Sign up at Twilio"), "https://www.twilio.com/try-twilio"),)),
        CredentialStep(_l("Account SID and Auth Token: on the home page of the Twilio Console, under “Account "
                          "Info” (“Project Info” on older consoles). Click “Show” under Auth Token to see it."),
                       ((_l("Twilio Console"), "https://www.twilio.com/console"),)),
        CredentialStep(_l("Your Twilio number: in Phone Numbers → Active numbers, in the “Number” column."),
                       ((_l("Active numbers"), "https://www.twilio.com/console/phone-numbers/incoming"),)),
    )
    capabilities = frozenset({Capability.SEND, Capability.RECEIVE, Capability.DELIVERY_TRACKING})
    setup_steps = (
        _l("Sign up at Twilio and buy a phone number that can send and receive SMS (Console → Phone Numbers → "
           "Buy a number). Some countries need a manual check by Twilio first: wait until the number is active."),
        _l("Copy the Account SID and the Auth Token from the home page of your Twilio Console, and the number "
           "from Phone Numbers → Active numbers, into this phone's settings."),
        _l("Delivery reports need nothing more: SMS Desk gives Twilio the status URL with every SMS it sends."),
        _l("To receive SMS: in Twilio, open Phone Numbers → Active numbers → your number → Messaging "
           "configuration. Under “A message comes in”, choose Webhook, paste this URL and choose HTTP POST: "
           "{inbound_url}"),
        _l("Click “Test the connection” below to check the Account SID and Auth Token."),
    )
    status_map = {
        "accepted": statuses.QUEUED, "scheduled": statuses.QUEUED, "queued": statuses.QUEUED,
        "sending": statuses.QUEUED, "sent": statuses.SENT, "partially_delivered": statuses.SENT,
        "delivered": statuses.DELIVERED, "read": statuses.DELIVERED,
        "undelivered": statuses.FAILED, "failed": statuses.FAILED, "canceled": statuses.FAILED,
    }
    polls_statuses = True
    finds_sends = True
    server_options = (
        ServerOption("TWILIO_API_BASE_URL", "https://api.twilio.com", help="the REST API's address"),
        ServerOption("TWILIO_STATUS_POLL_AFTER_SECONDS", 600.0, float,
                     "seconds before the first status poll; the next ones wait 3, 12 and 72 times as long"),
    )

    @property
    def status_poll_delays(self):
        first = float(self.options["TWILIO_STATUS_POLL_AFTER_SECONDS"])
        return (first, first * 3, first * 12, first * 72)  # e.g. 10 min, 30 min, 2 h, 12 h after sending

    # ---- the API ----

    def api_url(self, path: str) -> str:
        base = self.options["TWILIO_API_BASE_URL"].rstrip("/")
        return f"{base}/{API_VERSION}/Accounts/{self.settings['account_sid']}{path}"

    def call(self, method: str, path: str, **kwargs) -> dict:
        response = self.request(method, self.api_url(path), auth=(self.settings["account_sid"],
                                                                   self.settings["auth_token"]),
                                headers={"Accept": "application/json"}, **kwargs)
        body = _json_or_empty(response)
        if response.status_code >= 400:
            raise twilio_error(response.status_code, body)
        return body

    def send(self, sms: OutboundSms) -> SendResult:
        body = self.call("POST", "/Messages.json", data={
            "To": sms.destination, "From": self.settings["number"], "Body": sms.text,
            "StatusCallback": sms.status_callback_url})
        return SendResult(provider_message_id=body.get("sid"), provider_status=body.get("status"), payload=body)

    def find_sent(self, sms: OutboundSms, attempt_began: datetime) -> SendResult | str | None:
        """Twilio's newest messages to that number from ours, first page: the one with our text
        created since the attempt began is ours; two alike cannot be told apart."""
        page = self.call("GET", "/Messages.json", params={"To": sms.destination, "From": self.settings["number"],
                                                           "PageSize": 50})
        listed = page.get("messages") or []
        since = attempt_began - CLOCK_MARGIN
        recent = [message for message in listed if created_at(message) is not None and created_at(message) >= since]
        ours = [message for message in recent if message.get("body") == sms.text
                and message.get("direction", "").startswith("outbound")]
        if len(ours) == 1:
            return SendResult(ours[0]["sid"], provider_status=ours[0].get("status"), payload=ours[0])
        if ours or (len(recent) == len(listed) and page.get("next_page_uri")):
            return None  # two alike, or more recent messages than one page holds
        return NOT_SENT

    def check_connection(self) -> str:
        account = self.call("GET", ".json")
        return _("Twilio accepted the credentials of the account “%(name)s” (%(status)s).",
                 name=account.get("friendly_name", self.settings["account_sid"]),
                 status=account.get("status", "active"))

    def fetch_statuses(self, provider_message_ids: list[str]) -> list[StatusEvent]:
        events = []
        for sid in provider_message_ids:
            body = self.call("GET", f"/Messages/{sid}.json")
            events.append(self.status_event(sid, body.get("status", ""), body.get("error_code"), body))
        return events

    # ---- callbacks ----

    def verify_callback(self, request: CallbackRequest) -> None:
        signature = request.headers.get("x-twilio-signature")
        if not signature:
            raise CallbackRejected(403, "missing X-Twilio-Signature")
        params = request.form if request.method == "POST" else {}
        token = self.settings["auth_token"]
        if not any(hmac.compare_digest(twilio_signature(token, url, params), signature)
                   for url in url_variants(request.url)):
            raise CallbackRejected(403, "invalid X-Twilio-Signature")

    def parse_status_callback(self, request: CallbackRequest) -> list[StatusEvent]:
        return [self.status_event(required_value(request, "MessageSid"), required_value(request, "MessageStatus"),
                                  request.value("ErrorCode"), request.flat_fields())]

    def status_event(self, sid: str, provider_status: str, error_code, payload) -> StatusEvent:
        status = self.map_status(provider_status)
        reason = None
        if status == statuses.FAILED or error_code:
            reason = explain(error_code) or _("Twilio reported the message as %(status)s.", status=provider_status)
        return StatusEvent(provider_message_id=sid, status=status, provider_status=provider_status,
                           error_code=str(error_code) if error_code else None, reason=reason, payload=payload)

    def parse_inbound_callback(self, request: CallbackRequest) -> list[InboundSms]:
        return [InboundSms(provider_message_id=required_value(request, "MessageSid"),
                           sender=required_value(request, "From"), text=request.value("Body", ""),
                           payload=request.flat_fields())]

    def callback_reply(self, kind: str) -> CallbackReply:
        if kind == "inbound":
            return CallbackReply(EMPTY_TWIML, 200, "text/xml")
        return CallbackReply("", 204)


def explain(error_code) -> _ | None:
    try:
        explanation = ERROR_EXPLANATIONS.get(int(error_code))
    except (TypeError, ValueError):
        return None
    return explanation


def twilio_error(http_status: int, body: dict) -> ProviderError:
    code = body.get("code")
    twilio_message = ACCOUNT_ID.sub("AC…", body.get("message") or body.get("detail") or f"HTTP {http_status}")
    reason = explain(code)
    reason = _("%(explanation)s (%(message)s)", explanation=reason, message=twilio_message) if reason \
        else _("Twilio refused: %(message)s", message=twilio_message)
    return ProviderError(reason, code=str(code or http_status), payload=body)


def created_at(message: dict) -> datetime | None:
    try:
        return parsedate_to_datetime(message.get("date_created") or "")
    except (TypeError, ValueError):
        return None


def _json_or_empty(response) -> dict:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
