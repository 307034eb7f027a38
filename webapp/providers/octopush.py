"""Octopush, v1 public JSON API, with a virtual number for replies."""
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from flask_babel import lazy_gettext as _l

from .. import statuses
from ..reasons import Reason as _
from .base import (
    CallbackRejected,
    CallbackRequest,
    Capability,
    CredentialStep,
    InboundSms,
    OptOutNotice,
    OutboundSms,
    ParsedCallback,
    Provider,
    ProviderError,
    SendResult,
    ServerOption,
    SettingField,
    StatusEvent,
    content_id,
    json_object,
    local_time_to_utc,
    required_field,
)

REQUEST_ID_LIFETIME = timedelta(hours=23)  # Octopush keeps a request_id 24 h
REPEATED_REQUEST = "120"  # the code of Octopush's refusal of a request_id it already has (spec 3.1, 3.7)
PURPOSES = (("alert", _l("Alert (transactional)")), ("wholesale", _l("Wholesale (marketing)")))
PARIS = ZoneInfo("Europe/Paris")  # Octopush's dates carry no zone; its platform runs on French time


def paris_time_to_utc(text: str | None) -> datetime | None:
    if not text:
        return None
    moment = local_time_to_utc(text, PARIS)
    if moment is None:
        raise CallbackRejected(400, f"unreadable date {text!r}")
    return moment


def already_accepted(refusal: ProviderError) -> ProviderError:
    """A retry refused as a repeat: an earlier attempt's request reached Octopush, which sent it.
    Its ticket is lost: the refusal does not give it, and Octopush has no call that finds a
    campaign by request_id (spec 3.1-3.2), so its delivery reports cannot be matched."""
    return ProviderError(_("Octopush had already accepted this SMS from an earlier attempt whose answer was "
                           "lost: it refused the repeat (code 120) without giving that attempt's ticket, and "
                           "has no way to ask for it, so this SMS's delivery reports cannot be matched."),
                         code=refusal.code, already_accepted=True, payload=refusal.payload)


class OctopushProvider(Provider):
    key = "octopush"
    name = _l("Octopush virtual number")
    company = "Octopush"
    description = _l("An Octopush account with a virtual number, so that your contacts can reply.")
    fields = (
        SettingField("api_login", _l("Octopush login"),
                     _l("The e-mail address of your Octopush account, shown under “API credentials”."),
                     pattern=r"[^@\s]+@[^@\s]+\.[^@\s]+", pattern_message=_l("This is an e-mail address.")),
        SettingField("api_key", _l("API key"), _l("Shown under “API credentials” in your Octopush account."),
                     secret=True),
        SettingField("virtual_number", _l("Virtual number"),
                     _l("The number Octopush gave you, e.g. +33 6 44 63 00 00. Spaces are fine."),
                     kind="phone_number"),
        SettingField("message_type", _l("Message type"),
                     _l("Premium SMS come with delivery reports; low cost ones are cheaper but have none."),
                     kind="choice", default="sms_premium",
                     choices=(("sms_premium", _l("Premium")), ("sms_low_cost", _l("Low cost")))),
        SettingField("purpose", _l("Purpose"),
                     _l("Alert: transactional SMS, one person's own business (a code, a reminder, an answer). "
                        "Wholesale: marketing (offers, newsletters); in France these must carry the STOP "
                        "mention. Octopush's documents disagree on which it assumes, so SMS Desk always sends "
                        "the one chosen here."),
                     kind="choice", default="alert", choices=PURPOSES),
        SettingField("sender", _l("Sender name"),
                     _l("Optional: 3 to 11 letters and digits shown instead of your number. Recipients "
                        "cannot reply to a name."),
                     required=False, pattern=r"[A-Za-z0-9]{3,11}",
                     pattern_message=_l("3 to 11 letters and digits, no spaces.")),
    )
    credential_steps = (
        CredentialStep(_l("No virtual number yet? Open an account at Octopush and ask for one through their "
                          "contact page; wait until you have it."),
                       (("Octopush", "https://www.octopush.com/"),)),
        CredentialStep(_l("Octopush login and API key: sign in to Octopush and open “API credentials”. Copy "
                          "the “Login” box into Octopush login and the “API key” box into API key."),
                       ((_l("Octopush API credentials"), "https://www.octopush-dm.com/api-logins"),)),
        CredentialStep(_l("Virtual number: the one Octopush gave you, as they wrote it.")),
    )
    finds_sends = True  # by sending again: Octopush refuses a request_id it already has
    idempotent_send = True  # for the same reason, a send whose answer was lost is sent again
    opted_out_error_codes = frozenset({"BLACKLISTED_NUMBER"})  # its report for a number on its STOP list (spec 3.2)
    capabilities = frozenset({Capability.SEND, Capability.RECEIVE, Capability.DELIVERY_TRACKING,
                              Capability.CREDITS})
    max_text_length = 1224  # "text: 1–1224 characters" (specs/providers.md §3.5, official)
    setup_steps = (
        _l("Open an account at Octopush and ask them for a virtual number (through their contact page). "
           "Wait until the number is active."),
        _l("In your Octopush account, open “API credentials” and copy the login and the API key into this "
           "phone's settings, with your virtual number."),
        _l("Octopush calls SMS Desk when the status of an SMS changes and when an SMS comes in. In your "
           "Octopush account, open the “Callbacks” menu and paste the status URL for delivery reports: "
           "{status_url}"),
        _l("… and this URL for incoming SMS and STOP replies: {inbound_url} — if your account has no "
           "“Callbacks” menu, send both addresses to Octopush's support and ask them to set them."),
        _l("Click “Test the connection” below: it also shows your balance."),
    )
    status_map = {
        "ACK": statuses.SENT, "PROCESSED": statuses.SENT, "DELIVERED": statuses.DELIVERED,
        "READ": statuses.DELIVERED, "NOT_DELIVERED": statuses.FAILED, "NOT_ALLOWED": statuses.FAILED,
        "BAD_DESTINATION": statuses.FAILED, "BLACKLISTED_NUMBER": statuses.FAILED,
    }
    server_options = (ServerOption("OCTOPUSH_API_BASE_URL", "https://api.octopush.com", help="the API's address"),)
    failure_reasons = {
        "NOT_DELIVERED": _("The SMS could not be delivered to the handset."),
        "NOT_ALLOWED": _("Octopush is not allowed to send to this destination."),
        "BAD_DESTINATION": _("The destination number does not exist or cannot receive SMS."),
        "BLACKLISTED_NUMBER": _("This number is on Octopush's blacklist (it asked not to receive SMS)."),
    }

    @property
    def base_url(self) -> str:
        return self.options["OCTOPUSH_API_BASE_URL"].rstrip("/")

    def call(self, method: str, path: str, payload=None) -> dict:
        response = self.request(method, self.base_url + path, json=payload, headers={
            "api-login": self.settings["api_login"], "api-key": self.settings["api_key"],
            "Accept": "application/json", "cache-control": "no-cache"})
        try:
            body = response.json()
        except ValueError:
            body = {}
        body = body if isinstance(body, dict) else {}
        if response.status_code >= 400:
            raise self.error(response.status_code, body)
        return body

    def error(self, http_status: int, body: dict) -> ProviderError:
        octopush_message = body.get("message") or f"HTTP {http_status}"
        if http_status in (401, 403):
            return ProviderError(_("Octopush refused the login or the API key (%(message)s).",
                                   message=octopush_message), code=str(body.get("code", http_status)), payload=body,
                                 phones_own=True)
        if str(body.get("code")) == REPEATED_REQUEST:
            # our reference was already used: an earlier attempt did reach Octopush
            return ProviderError(_("Octopush had already received this SMS from an earlier attempt; it may "
                                   "have been sent."), code=REPEATED_REQUEST, maybe_sent=True, payload=body)
        return ProviderError(_("Octopush refused: %(message)s", message=octopush_message),
                             code=str(body.get("code", http_status)), payload=body)

    def send(self, sms: OutboundSms) -> SendResult:
        campaign = {"recipients": [{"phone_number": sms.destination}], "text": sms.text,
                    "type": self.settings.get("message_type") or "sms_premium",
                    "purpose": self.settings.get("purpose") or "alert", "request_id": sms.reference}
        if self.settings.get("sender"):
            campaign["sender"] = self.settings["sender"]
        else:
            campaign["with_replies"] = True  # sent from the virtual number, so replies come back
        try:
            answer = self.call("POST", "/v1/public/sms-campaign/send", campaign)
        except ProviderError as error:
            raise already_accepted(error) if error.code == REPEATED_REQUEST and sms.attempt > 1 else error
        if not answer.get("sms_ticket"):
            raise ProviderError(_("Octopush answered without a ticket number."), maybe_sent=True, payload=answer)
        return SendResult(provider_message_id=answer["sms_ticket"], payload=answer)

    def find_sent(self, sms: OutboundSms, attempt_began: datetime) -> SendResult | None:
        """Sends it again with the same request_id: Octopush refuses it if the first request
        reached it (then its ticket is unknown: None), and sends it if not."""
        if datetime.now(timezone.utc) - attempt_began > REQUEST_ID_LIFETIME:
            return None  # Octopush has forgotten the request_id: a resend could send it twice
        try:
            return self.send(sms)
        except ProviderError as error:
            if error.maybe_sent:
                return None
            raise

    def balance(self) -> dict:
        if not hasattr(self, "_balance"):  # the connection test and the facts ask once
            self._balance = self.call("GET", "/v1/public/wallet/check-balance")
        return self._balance

    def check_connection(self) -> str:
        self.balance()
        return _("Octopush accepted the login and the API key.")

    def account_facts(self) -> dict:
        balance = self.balance()
        amount, unit = balance.get("amount"), balance.get("unit", "")
        return {_("Balance"): f"{amount} {unit}".strip()} if amount is not None else {}

    # ---- callbacks: one JSON shape per kind, told apart by its date field ----

    def parse_callback(self, kind: str, request: CallbackRequest) -> ParsedCallback:
        if request.method == "GET" or not request.body:
            return ParsedCallback()  # Octopush's test of a callback page (spec 3.4): answered 200, empty
        body = json_object(request)
        if "delivery_date" in body or "status" in body:
            return ParsedCallback(status_events=[self.status_event(body)])
        if "stop_date" in body:
            return ParsedCallback(opt_outs=[OptOutNotice(number=required_field(body, "number"),
                                                         opted_out_at=paris_time_to_utc(body.get("stop_date")),
                                                         payload=body, text=body.get("text"))])
        if "reception_date" in body:
            return ParsedCallback(inbound=[self.inbound_sms(body)])
        raise CallbackRejected(400, "neither a delivery report, an incoming SMS nor a STOP")

    def status_event(self, body: dict) -> StatusEvent:
        provider_status = required_field(body, "status")
        status = self.map_status(provider_status)
        reason = self.failure_reasons.get(provider_status)
        return StatusEvent(provider_message_id=required_field(body, "message_id"), status=status,
                           provider_status=provider_status, recipient=required_field(body, "number"),
                           occurred_at=paris_time_to_utc(body.get("delivery_date")),
                           error_code=provider_status if status == statuses.FAILED else None,
                           reason=reason, payload=body)

    def inbound_sms(self, body: dict) -> InboundSms:
        sender = required_field(body, "number")
        received_at = paris_time_to_utc(required_field(body, "reception_date"))
        text = body.get("text", "")
        if not isinstance(text, str):
            raise CallbackRejected(400, "field text has the wrong type")
        return InboundSms(provider_message_id=content_id(sender, body["reception_date"], text), sender=sender, text=text, received_at=received_at,
                          payload=body)
