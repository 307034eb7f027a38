"""Odyssey Messaging, REST API v1 with Basic authentication."""
import re
from datetime import datetime, timezone

from flask_babel import lazy_gettext as _l

from .. import statuses
from ..reasons import Reason as _
from .base import (
    SAFE_TEXT_LENGTH,
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
    international_00,
    json_object,
    required_field,
)

ITEM_STATUS_CHANGED = 9
INBOUND_SMS = 8
OPT_OUT = 1  # a recipient replied STOP and Odyssey put them on the account's opt-out list (spec 4.2)
MICROSOFT_DATE = re.compile(r"/Date\((-?\d+)([+-]\d{4})?\)/")


def microsoft_date_to_utc(text: str) -> datetime:
    """"/Date(1677243600000+0100)/": milliseconds since the epoch (UTC), then the sender's offset."""
    match = MICROSOFT_DATE.fullmatch(text.strip()) if isinstance(text, str) else None
    if not match:
        raise CallbackRejected(400, f"unreadable date {text!r}")
    try:
        return datetime.fromtimestamp(int(match.group(1)) / 1000, timezone.utc).replace(tzinfo=None)
    except (OverflowError, OSError, ValueError):  # past what a date can be
        raise CallbackRejected(400, f"date out of range {text[:40]!r}") from None


class OdysseyProvider(Provider):
    key = "odyssey"
    name = _l("Odyssey Messaging")
    company = "Odyssey"
    description = _l("An Odyssey Messaging account: send SMS, with an optional sender name, and receive replies.")
    fields = (
        SettingField("login", _l("Odyssey login"), _l("Your account number, a dot and your user, e.g. 12345.user."),
                     pattern=r"\d+\.[^\s:]+", pattern_message=_l("It looks like 12345.user.")),
        SettingField("password", _l("Password"), _l("The password of that Odyssey user."), secret=True),
        SettingField("sender", _l("Sender name"),
                     _l("Optional: 3 to 11 characters shown instead of a number. Leave blank to send from "
                        "Odyssey's number (recipients can then reply)."),
                     required=False, pattern=r"[A-Za-z0-9 ]{3,11}",
                     pattern_message=_l("3 to 11 letters and digits.")),
    )
    capabilities = frozenset({Capability.SEND, Capability.RECEIVE, Capability.DELIVERY_TRACKING})
    max_text_length = SAFE_TEXT_LENGTH  # "other limits undocumented" (specs/providers.md §4.5)
    credential_steps = (
        CredentialStep(_l("Odyssey login and password: those Odyssey Messaging gave you for the API: your account "
                          "number, a dot and the user (12345.user), and that user's password."),
                       ((_l("Odyssey Messaging"), "https://www.odyssey-messaging.com/"),)),
        CredentialStep(_l("Sender name: leave it blank unless you want a name shown instead of a number.")),
    )
    setup_steps = (
        _l("Fill in your Odyssey login (account number, dot, user: 12345.user) and its password."),
        _l("For delivery reports: in Odyssey Messaging, open Configurer → CallBack API and add a callback of "
           "type ItemStatusChanged, protocol PostHttp, format JSON, with this address: {status_url}"),
        _l("To receive SMS: add another callback, of type InboundSMS, protocol PostHttp, format JSON, with "
           "this address: {inbound_url}"),
        _l("So that a recipient who replies STOP to Odyssey is no longer sent your SMS: add a callback of type "
           "OptOut, protocol PostHttp, format JSON, with the same address: {inbound_url}"),
        _l("Click “Test the connection” below to check the login and password."),
    )
    # Odyssey's outcome letters: S success; B is still pending (busy); anything else is a failure
    status_map = {"S": statuses.DELIVERED, "B": statuses.UNKNOWN}
    server_options = (
        ServerOption("ODYSSEY_API_BASE_URL", "https://api.odyssey-services.fr", help="the API's address"),
    )

    @property
    def base_url(self) -> str:
        return self.options["ODYSSEY_API_BASE_URL"].rstrip("/")

    def call(self, method: str, path: str, payload=None):
        response = self.request(method, f"{self.base_url}/api/v1{path}", json=payload,
                                     auth=(self.settings["login"], self.settings["password"]),
                                     headers={"Accept": "application/json"})
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code >= 400:
            raise self.error(response.status_code, body if isinstance(body, dict) else {})
        return body

    def error(self, http_status: int, body: dict) -> ProviderError:
        if http_status == 401:
            return ProviderError(_("Odyssey refused the login or the password."), code="401", payload=body,
                                 phones_own=True)
        details = "; ".join(message for messages in (body.get("ModelState") or {}).values()
                            for message in (messages if isinstance(messages, list) else [messages]))
        odyssey_message = body.get("Message") or f"HTTP {http_status}"
        if details:
            odyssey_message = f"{odyssey_message} {details}"
        return ProviderError(_("Odyssey refused: %(message)s", message=odyssey_message), code=str(http_status),
                             payload=body)

    def send(self, sms: OutboundSms) -> SendResult:
        job = {"JobType": "SMS", "Text": sms.text, "TrackingID": sms.reference,
               "AdhocRecipients": [{"Name": sms.reference, "Address": international_00(sms.destination)}]}
        if self.settings.get("sender"):
            job["Parameter"] = {"Sender": self.settings["sender"]}
        answer = self.call("POST", "/SMSJobs", job)
        job_number = answer.get("JobNumber") if isinstance(answer, dict) else None
        if job_number in (None, ""):
            raise ProviderError(_("Odyssey answered without a job number."), maybe_sent=True, payload=answer)
        return SendResult(provider_message_id=str(job_number), payload=answer)

    def check_connection(self) -> str:
        self.call("GET", "/JobTypes")
        return _("Odyssey accepted the login and the password.")

    def parse_callback(self, kind: str, request: CallbackRequest) -> ParsedCallback:
        body = json_object(request)
        event_type = required_field(body, "EventType", (int,))
        if event_type == ITEM_STATUS_CHANGED:
            return ParsedCallback(status_events=[self.status_event(body)])
        if event_type == INBOUND_SMS:
            return ParsedCallback(inbound=[self.inbound_sms(body)])
        if event_type == OPT_OUT:
            return ParsedCallback(opt_outs=[self.opt_out_notice(body)])
        return ParsedCallback()  # other events (job finished, file retrieved...) are acknowledged and ignored

    def status_event(self, body: dict) -> StatusEvent:
        job_number = required_field(body, "JobNumber", (int, str))
        outcome = required_field(body, "Outcome")
        status = self.status_map.get(outcome, statuses.FAILED)
        return StatusEvent(provider_message_id=str(job_number), status=status, provider_status=outcome,
                           error_code=outcome if status == statuses.FAILED else None,
                           reason=_("Odyssey reported the SMS as not delivered (outcome %(outcome)s).",
                                    outcome=outcome) if status == statuses.FAILED else None,
                           payload=body)

    def inbound_sms(self, body: dict) -> InboundSms:
        sender = required_field(body, "From")
        sent_at = required_field(body, "EventDateTime")
        text = body.get("Message", "")
        if not isinstance(text, str):
            raise CallbackRejected(400, "field Message has the wrong type")
        return InboundSms(provider_message_id=content_id(sender, sent_at, text), sender=sender, text=text,
                          received_at=microsoft_date_to_utc(sent_at), payload=body)

    def opt_out_notice(self, body: dict) -> OptOutNotice:
        """The OPT_OUT event's fields are not documented (spec 4.2): the number is read from Address,
        as an ItemStatusChanged event names its recipient, or From, as an InboundSMS names its sender."""
        number = body.get("Address") or body.get("From")
        if not number:
            raise CallbackRejected(400, "missing field Address")
        if not isinstance(number, str):
            raise CallbackRejected(400, "field Address has the wrong type")
        text = body.get("Message")
        sent_at = body.get("EventDateTime")
        return OptOutNotice(number=number, opted_out_at=microsoft_date_to_utc(sent_at) if sent_at else None,
                            payload=body, text=text if isinstance(text, str) and text else None)
