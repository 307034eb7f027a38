"""OVHcloud SMS, through its signed REST API (v1), with a virtual number or a sender name."""
import hashlib
import json
import threading
import time
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
    id_text,
    international_00,
    required_value,
)

ENDPOINTS = {"ovh-eu": "https://eu.api.ovh.com/1.0", "ovh-ca": "https://ca.api.ovh.com/1.0"}
CREDENTIAL_ERRORS = {"INVALID_KEY", "INVALID_CREDENTIAL", "NOT_CREDENTIAL", "NOT_GRANTED_CALL", "FORBIDDEN"}
TIME_DELTA_MAX_AGE = 3600.0
# The account's stopCallBack is our incoming SMS URL with this query: the URL itself says it is a STOP
# notice, since what OVH sends there is not documented (spec 2.3 names the setting only)
STOP_NOTICE_QUERY = ("notice", "stop")
# where the number that said STOP may be, in the order tried: the CGI push's sender field first (spec 2.4)
STOP_NUMBER_FIELDS = ("senderid", "sender", "number", "receiver")
# what OVH takes as a sender (spec §2.2, §2.6): a validated name of up to 11 alphanumerics, or a number
SENDER_PATTERN = r"[A-Za-z0-9]{1,11}|\+[1-9]\d{5,14}"

# The server's clock minus ours, per API address: requests are signed with the server's time.
_time_deltas: dict[str, tuple[int, float]] = {}
_time_deltas_lock = threading.Lock()


def ovh_signature(application_secret: str, consumer_key: str, method: str, url: str, body: str,
                  timestamp: str) -> str:
    signed = "+".join([application_secret, consumer_key, method.upper(), url, body, timestamp])
    return "$1$" + hashlib.sha1(signed.encode()).hexdigest()


class OvhProvider(Provider):
    key = "ovh"
    name = _l("OVH SMS")
    company = "OVH"
    description = _l("An OVHcloud SMS account, sending from a virtual number (your contacts can reply) or "
                     "from a sender name.")
    fields = (
        SettingField("endpoint", _l("OVH region"), _l("Where your OVH account is: Europe or Canada."),
                     kind="choice", choices=(("ovh-eu", "OVH Europe"), ("ovh-ca", "OVH Canada")), default="ovh-eu"),
        SettingField("application_key", _l("Application Key"),
                     _l("Shown when you create your API keys (see “Where to find each value”)."),
                     pattern=r"[A-Za-z0-9]{8,64}", pattern_message=_l("Copy the key exactly, without spaces.")),
        SettingField("application_secret", _l("Application Secret"), secret=True,
                     pattern=r"[A-Za-z0-9]{8,64}", pattern_message=_l("Copy the secret exactly, without spaces.")),
        SettingField("consumer_key", _l("Consumer Key"), secret=True,
                     pattern=r"[A-Za-z0-9]{8,64}", pattern_message=_l("Copy the key exactly, without spaces.")),
        SettingField("service_name", _l("Service name"),
                     _l("At the top left of your SMS offer in the OVH Control Panel, e.g. sms-ab12345-1."),
                     pattern=r"sms-[a-z]{2}\d+-\d+", pattern_message=_l("It looks like sms-ab12345-1."),
                     normalize=str.lower),
        SettingField("virtual_number", _l("Virtual number"),
                     _l("Your OVH virtual number, e.g. +33 6 12 34 56 78 (spaces are fine). Fill in this or a "
                        "sender name."),
                     required=False, kind="phone_number"),
        SettingField("sender", _l("Sender name or number"),
                     _l("A sender OVH has already validated (Control Panel → Senders): a name of up to 11 letters "
                        "and digits, or a number with its country code. Recipients cannot reply to a name."),
                     required=False, kind="sender", pattern=SENDER_PATTERN,
                     pattern_message=_l("Up to 11 letters and digits with no spaces, or a number such as "
                                        "+33612345678.")),
        SettingField("inbound_mode", _l("How incoming SMS arrive"),
                     kind="choice", default="push", choices=(
                         ("push", _l("OVH calls SMS Desk (needs the incoming SMS URL set at OVH)")),
                         ("poll", _l("SMS Desk asks OVH every 30 seconds")))),
    )
    capabilities = frozenset({Capability.SEND, Capability.RECEIVE, Capability.DELIVERY_TRACKING})
    max_text_length = SAFE_TEXT_LENGTH  # OVH documents none (specs/providers.md §2.6, seeds/ovh-sms-setup)
    credential_steps = (
        CredentialStep(_l("No SMS offer yet? Order one with a virtual number at OVH."),
                       ((_l("OVH virtual numbers"), "https://www.ovhtelecom.fr/sms/reponse/numeros-virtuels.xml"),)),
        CredentialStep(_l("Service name: in the SMS part of the OVH Control Panel, click your SMS offer; its "
                          "service name is at the top left, e.g. sms-ab12345-1. Your virtual number and your "
                          "validated sender names are under “Senders” (“Expéditeurs”)."),
                       ((_l("OVH Control Panel: SMS"), "https://www.ovhtelecom.fr/manager/#/sms/"),)),
        CredentialStep(_l("Application Key, Application Secret and Consumer Key: on OVH's page for creating API "
                          "keys, sign in with your OVH account, give the script any name, choose Validity: "
                          "Unlimited, keep the rights as they are and click “Create keys”. If OVH says the name "
                          "exists already, choose another."),
                       ((_l("Create the API keys (OVH Europe)"),
                         "https://eu.api.ovh.com/createToken/index.cgi?GET=/sms&GET=/sms/*&POST=/sms/*&PUT=/sms/*"
                         "&DELETE=/sms/*&"),
                        (_l("(OVH Canada)"),
                         "https://ca.api.ovh.com/createToken/index.cgi?GET=/sms&GET=/sms/*&POST=/sms/*&PUT=/sms/*"
                         "&DELETE=/sms/*&"))),
    )
    setup_steps = (
        _l("In the OVH Control Panel (Telecom → SMS), open your SMS offer. Its service name is at the top left "
           "(e.g. sms-ab12345-1); your virtual number or your validated sender names are under “Senders”."),
        _l("Create API keys at https://eu.api.ovh.com/createToken/?GET=/sms&GET=/sms/*&POST=/sms/*&PUT=/sms/*"
           "&DELETE=/sms/* (for Canada, ca.api.ovh.com): sign in with your OVH account, give the script any "
           "name, choose Validity: Unlimited and keep the rights as they are. Copy the Application Key, "
           "Application Secret and Consumer Key into this phone's settings."),
        _l("Click “Set the callback URLs at OVH SMS for me” below. Or do it by hand: in your SMS offer, "
           "Options → General options → Modify, paste this in “URL de callback changements d'état”: "
           "{status_url}"),
        _l("To receive SMS on your virtual number, the same button sets the incoming SMS address; by hand, "
           "paste this as the answer URL (CGI) of your number: {inbound_url} — or choose “SMS Desk asks OVH” "
           "in the settings, and nothing needs pasting."),
        _l("The same button also tells OVH where to report the recipients who reply STOP (its “stopCallBack”), "
           "so that SMS Desk no longer sends them your SMS: {inbound_url}?notice=stop"),
    )
    # OVH's dlr codes follow Kannel's: 1 on the handset, 2 not on the handset, 4 queued at the SMSC,
    # 8 delivered to the SMSC, 16 refused by the SMSC
    status_map = {"1": statuses.DELIVERED, "2": statuses.FAILED, "16": statuses.FAILED,
                  "4": statuses.QUEUED, "8": statuses.SENT}
    server_options = (
        ServerOption("OVH_API_BASE_URL", "", help="the API's address; empty: the phone's endpoint (ovh-eu, ovh-ca)"),
        ServerOption("OVH_STATUS_POLL_AFTER_SECONDS", 900.0, float,
                     "seconds before asking OVH about an SMS with no delivery report; the next asks wait 4, 16 "
                     "and 196 times as long, then the SMS is unknown"),
    )
    polls_inbound = True
    inbound_polling_by_settings = True
    installs_callbacks = True
    polls_statuses = True  # a lost delivery report would leave the message "sent" for ever
    unknown_when_polls_run_out = True

    @property
    def status_poll_delays(self):
        first = float(self.options["OVH_STATUS_POLL_AFTER_SECONDS"])
        # e.g. 15 min, 1 h, 4 h and 49 h after sending: OVH gives up on an SMS after 48 h (validityPeriod)
        return (first, first * 4, first * 16, first * 196)

    @classmethod
    def callback_scope(cls, settings: dict) -> str | None:
        """OVH keeps one callBack and one smsResponse per SMS service, whichever keys set them."""
        service = (settings.get("service_name") or "").strip().lower()
        return f"{settings.get('endpoint') or 'ovh-eu'}/{service}" if service else None

    @classmethod
    def receiving_number(cls, settings: dict) -> str | None:
        return settings.get("virtual_number") or None

    @classmethod
    def settings_errors(cls, values: dict) -> dict:
        if values.get("virtual_number") and values.get("sender"):
            return {"sender": _("Fill in a virtual number or a sender name, not both.")}
        if not values.get("virtual_number") and not values.get("sender"):
            return {"virtual_number": _("Fill in your virtual number, or a sender name below.")}
        return {}

    def wants_inbound_polling(self) -> bool:
        return self.settings.get("inbound_mode") == "poll" and self.lists_inbound_for(self.settings)

    @classmethod
    def lists_inbound_for(cls, settings: dict | None) -> bool:
        return bool((settings or {}).get("virtual_number"))

    # ---- the signed API ----

    @property
    def base_url(self) -> str:
        return (self.options["OVH_API_BASE_URL"] or ENDPOINTS[self.settings.get("endpoint") or "ovh-eu"]).rstrip("/")

    def server_time_delta(self) -> int:
        with _time_deltas_lock:
            cached = _time_deltas.get(self.base_url)
        if cached and time.monotonic() - cached[1] < TIME_DELTA_MAX_AGE:
            return cached[0]
        response = self.request("GET", self.base_url + "/auth/time",
                                headers={"X-Ovh-Application": self.settings["application_key"]})
        try:
            delta = int(response.json()) - int(time.time())
        except (ValueError, TypeError):
            raise ProviderError(_("OVH did not give its time (HTTP %(status)d).", status=response.status_code),
                                transient=True) from None
        with _time_deltas_lock:
            _time_deltas[self.base_url] = (delta, time.monotonic())
        return delta

    def call(self, method: str, path: str, payload=None):
        url = self.base_url + path
        body = "" if payload is None else json.dumps(payload, separators=(",", ":"))
        timestamp = str(int(time.time()) + self.server_time_delta())
        headers = {
            "X-Ovh-Application": self.settings["application_key"],
            "X-Ovh-Consumer": self.settings["consumer_key"],
            "X-Ovh-Timestamp": timestamp,
            "X-Ovh-Signature": ovh_signature(self.settings["application_secret"], self.settings["consumer_key"],
                                             method, url, body, timestamp),
        }
        if body:
            headers["Content-Type"] = "application/json"
        response = self.request(method, url, headers=headers, data=body.encode() if body else None)
        try:
            answer = response.json() if response.content else None
        except ValueError:
            answer = None
        if response.status_code >= 400:
            raise self.error(response.status_code, answer if isinstance(answer, dict) else {})
        return answer

    def error(self, http_status: int, body: dict) -> ProviderError:
        code = body.get("errorCode")
        ovh_message = body.get("message") or f"HTTP {http_status}"
        if code in CREDENTIAL_ERRORS:
            reason = _("OVH refused the API keys (%(message)s): check the Application Key and the Consumer Key, "
                       "and that the keys have the rights on /sms.", message=ovh_message)
        elif code == "INVALID_SIGNATURE":
            reason = _("OVH refused the request's signature: check the Application Secret (and that this "
                       "computer's clock is right).")
        elif http_status == 404:
            reason = _("OVH does not know this (%(message)s): check the service name and the virtual number.",
                       message=ovh_message)
        else:
            reason = _("OVH refused: %(message)s", message=ovh_message)
        account_refused = code in CREDENTIAL_ERRORS or code == "INVALID_SIGNATURE" or http_status in (401, 403)
        return ProviderError(reason, code=code or str(http_status), payload=body, phones_own=account_refused)

    @property
    def service_path(self) -> str:
        return f"/sms/{self.settings['service_name']}"

    @property
    def number_path(self) -> str:
        """Where the virtual number's jobs and incoming SMS are, or the account's."""
        number = self.settings.get("virtual_number")
        return f"{self.service_path}/virtualNumbers/{international_00(number)}" if number else self.service_path

    def send(self, sms: OutboundSms) -> SendResult:
        job = {"message": sms.text, "receivers": [sms.destination], "charset": "UTF-8"}
        if not self.settings.get("virtual_number"):
            # a sender name; noStopClause: these are not marketing SMS, so no "STOP 36111" and no night deferral
            job.update(sender=self.settings["sender"], noStopClause=True)
        report = self.call("POST", f"{self.number_path}/jobs", job) or {}
        if sms.destination in (report.get("invalidReceivers") or []) or not report.get("ids"):
            raise ProviderError(_("OVH refused to send to %(number)s: it considers the number invalid.",
                                  number=sms.destination), code="invalidReceivers", payload=report)
        return SendResult(provider_message_id=id_text(report["ids"][0]), payload=report)

    def check_connection(self) -> str:
        account = self.call("GET", self.service_path) or {}
        credits_left = account.get("creditsLeft")
        if credits_left is None:
            return _("OVH accepted the API keys for %(service)s.", service=self.settings["service_name"])
        return _("OVH accepted the API keys for %(service)s: %(credits)s credits left.",
                 service=self.settings["service_name"], credits=credits_left)

    def install_callbacks(self, status_url: str, inbound_url: str) -> str:
        self.call("PUT", self.service_path, {"callBack": status_url, "stopCallBack": stop_notice_url(inbound_url),
                                             "smsResponse": {"cgiUrl": inbound_url, "responseType": "cgi"}})
        return _("Your OVH account now sends delivery reports, incoming SMS and STOP replies to SMS Desk.")

    # ---- callbacks ----

    def parse_callback(self, kind: str, request: CallbackRequest) -> ParsedCallback:
        name, value = STOP_NOTICE_QUERY
        if kind == "inbound" and value in request.query.get(name, ()):
            return ParsedCallback(opt_outs=[self.stop_notice(request)])
        return super().parse_callback(kind, request)

    def stop_notice(self, request: CallbackRequest) -> OptOutNotice:
        """A call to the stopCallBack: someone replied STOP and OVH blacklisted their number. Its fields
        are not documented: the number is taken from the first of STOP_NUMBER_FIELDS given, in the
        query or a form, and the date is when it arrives."""
        number = next((request.value(name) for name in STOP_NUMBER_FIELDS if request.value(name)), None)
        if number is None:
            raise CallbackRejected(400, "missing field senderid")
        fields = request.flat_fields()
        fields.pop(STOP_NOTICE_QUERY[0], None)
        return OptOutNotice(number=number, payload=fields, text=request.value("message") or None)

    def parse_status_callback(self, request: CallbackRequest) -> list[StatusEvent]:
        dlr = required_value(request, "dlr")
        status = self.map_status(dlr)
        reason = _("OVH reported the SMS as not delivered (code %(dlr)s).", dlr=dlr) if status == statuses.FAILED else None
        return [StatusEvent(provider_message_id=required_value(request, "id"), status=status,
                            provider_status=f"dlr {dlr}", error_code=dlr if status == statuses.FAILED else None,
                            reason=reason, payload=request.flat_fields())]

    def parse_inbound_callback(self, request: CallbackRequest) -> list[InboundSms]:
        return [InboundSms(provider_message_id=required_value(request, "id"),
                           sender=required_value(request, "senderid"), text=request.value("message", ""),
                           payload=request.flat_fields(), receiving_number=request.value("shortcode") or None)]

    # ---- asking about sent SMS ----

    def fetch_statuses(self, provider_message_ids: list[str]) -> list[StatusEvent]:
        """The outgoing record of each SMS OVH has handed on; one still waiting in its jobs (404
        here) tells nothing yet."""
        events = []
        for provider_message_id in provider_message_ids:
            try:
                record = self.call("GET", f"{self.service_path}/outgoing/{provider_message_id}") or {}
            except ProviderError as error:
                if error.code == "404":
                    continue
                raise
            events.append(self.outgoing_status(provider_message_id, record))
        return events

    def outgoing_status(self, provider_message_id: str, record: dict) -> StatusEvent:
        # deliveredAt is documented; deliveryReceipt is read as a dlr code, which is unverified (spec §2.3)
        receipt = str(record.get("deliveryReceipt") or "")
        if record.get("deliveredAt"):
            status = statuses.DELIVERED
        elif self.map_status(receipt) == statuses.FAILED:
            status = statuses.FAILED
        else:
            status = statuses.SENT
        failed = status == statuses.FAILED
        return StatusEvent(provider_message_id=provider_message_id, status=status,
                           provider_status=f"outgoing, deliveryReceipt {receipt or 0}",
                           error_code=receipt if failed else None, payload=record,
                           reason=_("OVH reported the SMS as not delivered (code %(dlr)s).", dlr=receipt)
                           if failed else None)

    # ---- polling incoming SMS ----

    def list_inbound(self, since: datetime | None = None) -> list[InboundSms]:
        incoming = []
        for incoming_id in self.call("GET", f"{self.number_path}/incoming") or []:
            sms = self.call("GET", f"{self.number_path}/incoming/{incoming_id}") or {}
            incoming.append(InboundSms(provider_message_id=str(sms.get("id", incoming_id)),
                                       sender=sms.get("sender", ""), text=sms.get("message", ""),
                                       received_at=_utc_naive(sms.get("creationDatetime")), payload=sms,
                                       receiving_number=self.settings.get("virtual_number") or None))
        return incoming

    def acknowledge_inbound(self, provider_message_id: str) -> None:
        self.call("DELETE", f"{self.number_path}/incoming/{provider_message_id}")


def stop_notice_url(inbound_url: str) -> str:
    name, value = STOP_NOTICE_QUERY
    return f"{inbound_url}{'&' if '?' in inbound_url else '?'}{name}={value}"


def _utc_naive(iso_text: str | None) -> datetime | None:
    if not iso_text:
        return None
    try:
        moment = datetime.fromisoformat(iso_text)
    except ValueError:
        return None
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc).replace(tzinfo=None)
    return moment
