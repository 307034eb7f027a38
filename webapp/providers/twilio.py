"""Twilio Programmable Messaging with a virtual number (API 2010-04-01)."""
import base64
import hashlib
import hmac
import re
from datetime import datetime, timedelta, timezone
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


API_KEY_REFUSED = _("Twilio refused the API key SID or its secret, or the key is not one of this Account SID's: "
                    "check them in the phone's settings.")
# error 35114/35115/35117: "SendAt time must be between 300 seconds and 35 days ... in the future"
SCHEDULING_WINDOW = _("Twilio schedules an SMS from 5 minutes to 35 days ahead: choose a time in that window.")
SCHEDULE_EXPLANATIONS = dict.fromkeys((35114, 35115, 35117), SCHEDULING_WINDOW)

# What the sender setting may be (its key stays "number", the only kind there was at first).
# Numbers and the MG… form: spec 1.1 (From, MessagingServiceSid); a sender ID's characters: Twilio's
# AlphaSender resource (up to 11 of A-Z a-z 0-9, space, + - _ &, not only digits).
API_KEY_SID = r"SK[0-9a-fA-F]{32}"
SENDER_FORMS = {
    "number": re.compile(r"\+[1-9]\d{5,14}"),
    "short code": re.compile(r"\d{5,6}"),
    "service": re.compile(r"MG[0-9a-fA-F]{32}"),
    "sender id": re.compile(r"(?=[^A-Za-z]*[A-Za-z])[A-Za-z0-9 +\-_&]{1,11}"),
}
LONGEST_SENDER_ID = 11

BUY_A_NUMBER = _l(
    "Sign up at Twilio and buy a phone number that can send and receive SMS (Console → Phone Numbers → "
    "Buy a number). Some countries need a manual check by Twilio first: wait until the number is active.")
MAKE_A_SERVICE = _l(
    "In the Twilio Console, open Messaging → Services, create a Messaging Service (or open yours) and add "
    "your numbers or sender IDs to its Sender Pool. Its SID (MG…) is this phone's sender: for each SMS, "
    "Twilio picks the sender from the pool.")
USE_A_SENDER_ID = _l(
    "Alphanumeric sender IDs need an upgraded (paid) Twilio account, and only work in the countries that "
    "allow them; some countries want the sender ID registered first (Console → Messaging → Regulatory "
    "Compliance). Recipients see the name and cannot reply, so this phone receives no SMS.")
COPY_THE_CREDENTIALS = _l(
    "Copy the Account SID and the Auth Token from the home page of your Twilio Console into this phone's "
    "settings. Twilio recommends an API key for the calls SMS Desk makes (Account → API keys & tokens → "
    "Create API key): fill in its SID and secret too. The Auth Token is asked for in any case, because "
    "Twilio signs its delivery reports and incoming SMS with it.")
REPORTS_NEED_NOTHING = _l(
    "Delivery reports need nothing more: SMS Desk gives Twilio the status URL with every SMS it sends.")
NUMBER_INBOUND_URL = _l(
    "To receive SMS: in Twilio, open Phone Numbers → Active numbers → your number → Messaging "
    "configuration. Under “A message comes in”, choose Webhook, paste this URL and choose HTTP POST: "
    "{inbound_url}")
SERVICE_INBOUND_URL = _l(
    "To receive SMS: in Twilio, open Messaging → Services → your service → Integration. Under “Incoming "
    "Messages”, choose “Send a webhook”, paste this URL as the Request URL and choose HTTP POST: {inbound_url}")
SERVICE_SCHEDULES = _l(
    "When you write an SMS from this phone, you can schedule it from 5 minutes to 35 days ahead: Twilio "
    "holds it, and it can be canceled from its page until its time.")
TEST_THE_CONNECTION = _l("Click “Test the connection” below to check the credentials.")


def sender_form(sender: str | None) -> str | None:
    """Which of SENDER_FORMS the sender setting is, None when none."""
    return next((form for form, pattern in SENDER_FORMS.items() if pattern.fullmatch(sender or "")), None)


def sender_problem(sender: str) -> _:
    """Why a sender is none of SENDER_FORMS, guessing from its look what was meant."""
    if sender.upper().startswith("MG") and len(sender) > LONGEST_SENDER_ID:
        return _("A Messaging Service SID is MG followed by 32 letters and digits.")
    if re.fullmatch(r"[+\d\s().-]+", sender):
        return _("Write the number with its country code, e.g. +33 7 57 00 00 00.")
    return _("A sender ID has up to 11 letters, digits, spaces or + - _ &, with at least one letter.")


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
    sends_status_url_with_each_sms = True  # its send gives the status URL
    opted_out_error_codes = frozenset({"21610"})  # "Attempt to send to unsubscribed recipient" (spec 1.1)
    description = _l("A phone number rented from Twilio. Your contacts can text it, and you get delivery reports.")
    fields = (
        SettingField("account_sid", _l("Account SID"),
                     _l("On the home page of your Twilio Console, under “Account Info”. It starts with AC."),
                     pattern=r"AC[0-9a-fA-F]{32}",
                     pattern_message=_l("An Account SID is AC followed by 32 letters and digits.")),
        SettingField("auth_token", _l("Auth Token"),
                     _l("Just below the Account SID: click “Show” and copy it. Twilio signs every delivery "
                        "report and incoming SMS with the Auth Token, so SMS Desk needs it to check that they "
                        "come from Twilio, even when an API key makes the calls."), secret=True,
                     pattern=r"[0-9a-fA-F]{32}", pattern_message=_l("An Auth Token has 32 letters and digits.")),
        SettingField("api_key_sid", _l("API key SID (optional)"),
                     _l("Twilio recommends an API key for the calls SMS Desk makes: Console → Account → API keys "
                        "& tokens → Create API key (Standard). It starts with SK. Leave blank to make the calls "
                        "with the Auth Token."),
                     required=False, pattern=API_KEY_SID,
                     pattern_message=_l("An API key SID is SK followed by 32 letters and digits.")),
        SettingField("api_key_secret", _l("API key secret"),
                     _l("Shown once, when the API key is created."), required=False, secret=True),
        SettingField("number", _l("Sender"),
                     _l("Your Twilio number with the country code, e.g. +33757000000 (Phone Numbers → Active "
                        "numbers); or a Messaging Service SID, MG… (Messaging → Services); or an alphanumeric "
                        "sender ID of up to 11 letters, digits and spaces, in the countries that allow it: "
                        "recipients cannot reply to a sender ID."), kind="sender"),
    )
    credential_steps = (
        CredentialStep(_l("No Twilio account yet? Sign up, then buy a number that can send and receive SMS. "
                          "Some countries need a check by Twilio first: wait until the number is active."),
                       ((_l("Sign up at Twilio"), "https://www.twilio.com/try-twilio"),)),
        CredentialStep(_l("Account SID and Auth Token: on the home page of the Twilio Console, under “Account "
                          "Info” (“Project Info” on older consoles). Click “Show” under Auth Token to see it."),
                       ((_l("Twilio Console"), "https://www.twilio.com/console"),)),
        CredentialStep(_l("An API key (optional, recommended by Twilio): Account → API keys & tokens → Create "
                          "API key, type Standard. Copy its SID (SK…) and its secret, which is shown only once."),
                       ((_l("API keys & tokens"), "https://www.twilio.com/console/project/api-keys"),)),
        CredentialStep(_l("A Messaging Service instead of a number: Messaging → Services, its SID starts with MG."),
                       ((_l("Messaging Services"), "https://www.twilio.com/console/sms/services"),)),
        CredentialStep(_l("Your Twilio number: in Phone Numbers → Active numbers, in the “Number” column."),
                       ((_l("Active numbers"), "https://www.twilio.com/console/phone-numbers/incoming"),)),
    )
    capabilities = frozenset({Capability.SEND, Capability.RECEIVE, Capability.DELIVERY_TRACKING})
    max_text_length = 1600  # "Body … can be up to 1,600 characters" (specs/providers.md §1.5, official)
    setup_steps = (BUY_A_NUMBER, COPY_THE_CREDENTIALS, REPORTS_NEED_NOTHING, NUMBER_INBOUND_URL, TEST_THE_CONNECTION)
    service_steps = (MAKE_A_SERVICE, COPY_THE_CREDENTIALS, REPORTS_NEED_NOTHING, SERVICE_INBOUND_URL,
                     SERVICE_SCHEDULES, TEST_THE_CONNECTION)
    sender_id_steps = (USE_A_SENDER_ID, COPY_THE_CREDENTIALS, REPORTS_NEED_NOTHING, TEST_THE_CONNECTION)
    status_map = {
        "accepted": statuses.QUEUED, "scheduled": statuses.QUEUED, "queued": statuses.QUEUED,
        "sending": statuses.QUEUED, "sent": statuses.SENT, "partially_delivered": statuses.SENT,
        "delivered": statuses.DELIVERED, "read": statuses.DELIVERED,
        "undelivered": statuses.FAILED, "failed": statuses.FAILED, "canceled": statuses.FAILED,
    }
    polls_statuses = True
    polls_inbound = True  # only when SMS Desk asks (wants_inbound_polling is False)
    finds_sends = True
    # a number's incoming SMS URL (its IncomingPhoneNumber's SmsUrl); reports need none, see REPORTS_NEED_NOTHING
    installs_callbacks = True
    previews_callback_installation = True
    server_options = (
        ServerOption("TWILIO_API_BASE_URL", "https://api.twilio.com", help="the REST API's address"),
        ServerOption("TWILIO_STATUS_POLL_AFTER_SECONDS", 600.0, float,
                     "seconds before the first status poll; the next ones wait 3, 12 and 72 times as long"),
    )

    # ---- what the sender makes of the phone ----

    @classmethod
    def capabilities_for(cls, settings: dict | None) -> frozenset:
        form = sender_form((settings or {}).get("number"))
        if form == "sender id":  # a name cannot be replied to
            return cls.capabilities - {Capability.RECEIVE}
        if form == "service":  # Twilio schedules only through a Messaging Service (spec 1.1, SendAt)
            return cls.capabilities | {Capability.SCHEDULED_SEND, Capability.CANCEL}
        return cls.capabilities

    @classmethod
    def setup_steps_for(cls, settings: dict | None) -> tuple:
        form = sender_form((settings or {}).get("number"))
        return {"service": cls.service_steps, "sender id": cls.sender_id_steps}.get(form, cls.setup_steps)

    @classmethod
    def sender_shown(cls, settings: dict | None):
        sender = (settings or {}).get("number") or ""
        form = sender_form(sender)
        if form == "service":
            return _("The Messaging Service %(sid)s: Twilio picks a sender of its Sender Pool for each SMS.",
                     sid=sender)
        if form == "sender id":
            return _("The sender ID “%(name)s”: recipients see this name and cannot reply.", name=sender)
        return _("%(number)s: recipients can reply to it.", number=sender) if sender else None

    @classmethod
    def installs_callbacks_for(cls, settings: dict | None) -> bool:
        """A Messaging Service has its own incoming URL, and a sender ID receives nothing."""
        return sender_form((settings or {}).get("number")) == "number"

    @classmethod
    def settings_errors(cls, values: dict) -> dict:
        errors = {}
        sender = values.get("number") or ""
        if sender and sender_form(sender) is None:
            errors["number"] = sender_problem(sender)
        if values.get("api_key_sid") and not values.get("api_key_secret"):
            errors["api_key_secret"] = _("Paste the API key's secret too: Twilio shows it once, when the key is "
                                         "created.")
        elif values.get("api_key_secret") and not values.get("api_key_sid"):
            errors["api_key_sid"] = _("Fill in the SID (SK…) of the API key this secret belongs to.")
        return errors

    @property
    def status_poll_delays(self):
        first = float(self.options["TWILIO_STATUS_POLL_AFTER_SECONDS"])
        return (first, first * 3, first * 12, first * 72)  # e.g. 10 min, 30 min, 2 h, 12 h after sending

    # ---- the API ----

    def api_url(self, path: str) -> str:
        base = self.options["TWILIO_API_BASE_URL"].rstrip("/")
        return f"{base}/{API_VERSION}/Accounts/{self.settings['account_sid']}{path}"

    @property
    def uses_api_key(self) -> bool:
        return bool(self.settings.get("api_key_sid"))

    def credentials(self) -> tuple[str, str]:
        """HTTP Basic's pair: the API key when there is one (Twilio's advice), else the Account SID and
        Auth Token. The URL names the account either way."""
        if self.uses_api_key:
            return self.settings["api_key_sid"], self.settings.get("api_key_secret") or ""
        return self.account_credentials()

    def account_credentials(self) -> tuple[str, str]:
        return self.settings["account_sid"], self.settings["auth_token"]

    def call(self, method: str, path: str, credentials: tuple[str, str] | None = None, **kwargs) -> dict:
        return self.call_url(method, self.api_url(path), credentials, **kwargs)

    def call_url(self, method: str, url: str, credentials: tuple[str, str] | None = None, **kwargs) -> dict:
        credentials = credentials or self.credentials()
        response = self.request(method, url, auth=credentials,
                                headers={"Accept": "application/json"}, **kwargs)
        body = _json_or_empty(response)
        if response.status_code >= 400:
            refusals = {20003: API_KEY_REFUSED} if credentials != self.account_credentials() else {}
            raise twilio_error(response.status_code, body, ERROR_EXPLANATIONS | SCHEDULE_EXPLANATIONS | refusals)
        return body

    @property
    def service_sid(self) -> str | None:
        sender = self.settings["number"]
        return sender if sender_form(sender) == "service" else None

    def sender_fields(self) -> dict:
        if self.service_sid:
            return {"MessagingServiceSid": self.service_sid}
        return {"From": self.settings["number"]}

    def send(self, sms: OutboundSms) -> SendResult:
        fields = {"To": sms.destination, **self.sender_fields(), "Body": sms.text,
                  "StatusCallback": sms.status_callback_url}
        if sms.send_at is not None:
            fields.update(ScheduleType="fixed", SendAt=sms.send_at.astimezone(timezone.utc).strftime(
                "%Y-%m-%dT%H:%M:%SZ"))
        body = self.call("POST", "/Messages.json", data=fields)
        status = statuses.SCHEDULED if body.get("status") == "scheduled" else statuses.SENT
        return SendResult(provider_message_id=body.get("sid"), provider_status=body.get("status"), payload=body,
                          status=status)

    def cancel(self, provider_message_ids: list[str]) -> dict:
        """Twilio cancels a scheduled message on a POST of Status=canceled; it refuses once it is sent."""
        canceled = {}
        for sid in provider_message_ids:
            try:
                body = self.call("POST", f"/Messages/{sid}.json", data={"Status": "canceled"})
            except ProviderError as error:
                if error.transient or error.code in ("20003", "401"):
                    raise
                canceled[sid] = False
            else:
                canceled[sid] = body.get("status") == "canceled"
        return canceled

    def find_sent(self, sms: OutboundSms, attempt_began: datetime) -> SendResult | str | None:
        """Twilio's newest messages to that number from ours, first page: the one with our text
        created since the attempt began is ours; two alike cannot be told apart."""
        page = self.call("GET", "/Messages.json", params={"To": sms.destination, **self.listed_from(),
                                                           "PageSize": 50})
        listed = [message for message in page.get("messages") or []
                  if not self.service_sid or message.get("messaging_service_sid") == self.service_sid]
        since = attempt_began - CLOCK_MARGIN
        recent = [message for message in listed if created_at(message) is not None and created_at(message) >= since]
        ours = [message for message in recent if message.get("body") == sms.text
                and message.get("direction", "").startswith("outbound")]
        if len(ours) == 1:
            return SendResult(ours[0]["sid"], provider_status=ours[0].get("status"), payload=ours[0])
        if ours or (len(recent) == len(listed) and page.get("next_page_uri")):
            return None  # two alike, or more recent messages than one page holds
        return NOT_SENT

    def listed_from(self) -> dict:
        """The list's From filter: a Messaging Service's sender is the number Twilio picked, so none."""
        return {} if self.service_sid else {"From": self.settings["number"]}

    def check_connection(self) -> str:
        """Checks the Auth Token too, which the callbacks are checked with, and the API key on a resource
        a Standard key may read (not the account's own)."""
        if self.uses_api_key:
            self.call("GET", "/Messages.json", params={"PageSize": 1})
        account = self.call("GET", ".json", credentials=self.account_credentials())
        name, status = account.get("friendly_name", self.settings["account_sid"]), account.get("status", "active")
        if self.uses_api_key:
            return _("Twilio accepted the API key and the Auth Token of the account “%(name)s” (%(status)s).",
                     name=name, status=status)
        return _("Twilio accepted the credentials of the account “%(name)s” (%(status)s).", name=name, status=status)

    def fetch_statuses(self, provider_message_ids: list[str]) -> list[StatusEvent]:
        events = []
        for sid in provider_message_ids:
            body = self.call("GET", f"/Messages/{sid}.json")
            events.append(self.status_event(sid, body.get("status", ""), body.get("error_code"), body))
        return events

    # ---- asking for incoming SMS ----

    def wants_inbound_polling(self) -> bool:
        return False  # Twilio posts them, unless SMS Desk asks because Twilio cannot reach it

    @classmethod
    def lists_inbound_for(cls, settings: dict | None) -> bool:
        return sender_form((settings or {}).get("number")) in ("number", "service")

    def list_inbound(self, since: datetime | None = None) -> list[InboundSms]:
        """The SMS received on the number (or by the Messaging Service, on any of its numbers) since
        then, every page of them. They stay at Twilio: SMS Desk stores each once, by its sid."""
        params = {"PageSize": 100} if self.service_sid else {"To": self.settings["number"], "PageSize": 100}
        if since is not None:
            params["DateSent>"] = since.strftime("%Y-%m-%dT%H:%M:%SZ")  # twilio-python's date_sent_after
        page = self.call("GET", "/Messages.json", params=params)
        listed = list(page.get("messages") or [])
        while page.get("next_page_uri"):
            page = self.call_url("GET", self.options["TWILIO_API_BASE_URL"].rstrip("/") + page["next_page_uri"])
            listed.extend(page.get("messages") or [])
        return [self.listed_inbound(message) for message in listed
                if message.get("direction") == "inbound" and message.get("sid")
                and (not self.service_sid or message.get("messaging_service_sid") == self.service_sid)]

    def listed_inbound(self, message: dict) -> InboundSms:
        received = created_at({"date_created": message.get("date_sent") or message.get("date_created")})
        return InboundSms(provider_message_id=message["sid"], sender=message.get("from") or "",
                          text=message.get("body") or "", payload=message,
                          received_at=received.astimezone(timezone.utc).replace(tzinfo=None) if received else None)

    def incoming_number(self) -> dict:
        """The number's IncomingPhoneNumber resource on the account; PhoneNumber filters by part of
        the number, so the exact one is picked out of the list."""
        number = self.settings["number"]
        page = self.call("GET", "/IncomingPhoneNumbers.json", params={"PhoneNumber": number})
        found = [resource for resource in page.get("incoming_phone_numbers") or []
                 if resource.get("phone_number") == number]
        if not found:
            raise ProviderError(_("The number %(number)s is not one of the Twilio account %(account)s's numbers: "
                                  "check the sender in the phone's settings against Phone Numbers → Active "
                                  "numbers, and the Account SID.", number=number,
                                  account=self.settings["account_sid"]), code="20404")
        return found[0]

    def installed_callbacks(self) -> list:
        return [(_("Incoming SMS URL (“A message comes in”)"), self.incoming_number().get("sms_url") or "",
                 "inbound")]

    def install_callbacks(self, status_url: str, inbound_url: str) -> str:
        """Only the incoming SMS URL: the status URL goes with every SMS sent."""
        resource = self.incoming_number()
        self.call("POST", f"/IncomingPhoneNumbers/{resource['sid']}.json",
                  data={"SmsUrl": inbound_url, "SmsMethod": "POST"})
        return _("Twilio now sends the SMS that %(number)s receives to SMS Desk. Delivery reports need nothing: "
                 "their URL goes with every SMS.", number=self.settings["number"])

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


def explain(error_code, explanations=ERROR_EXPLANATIONS) -> _ | None:
    try:
        explanation = explanations.get(int(error_code))
    except (TypeError, ValueError):
        return None
    return explanation


# refusals for the account's own reason (its credentials, its number, its permissions), not the recipient's
ACCOUNT_ERRORS = frozenset({20003, 21408, 21606})


def twilio_error(http_status: int, body: dict, explanations=ERROR_EXPLANATIONS) -> ProviderError:
    code = body.get("code")
    twilio_message = ACCOUNT_ID.sub("AC…", body.get("message") or body.get("detail") or f"HTTP {http_status}")
    reason = explain(code, explanations)
    reason = _("%(explanation)s (%(message)s)", explanation=reason, message=twilio_message) if reason \
        else _("Twilio refused: %(message)s", message=twilio_message)
    try:
        account_refused = int(code or http_status) in ACCOUNT_ERRORS or http_status in (401, 403)
    except (TypeError, ValueError):
        account_refused = http_status in (401, 403)
    return ProviderError(reason, code=str(code or http_status), payload=body, phones_own=account_refused)


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
