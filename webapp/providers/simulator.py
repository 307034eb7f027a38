"""A phone that needs no provider account.

Sending always succeeds; a moment later the simulator posts a delivery report to the phone's
own status callback URL over real HTTP, exactly as a provider would, so the report goes
through the same code as a real one. Like a real provider, it posts again when the post fails
(through the broker's delayed jobs), answers status questions, and remembers what it was sent:
its memory is kept in the broker, where every worker process finds it.
"""
import heapq
import itertools
import json
import logging
import secrets
import threading
import time
from datetime import datetime, timezone

import requests
from flask import current_app
from flask_babel import lazy_gettext as _l

from .. import broker, statuses, tasks
from ..reasons import Reason as _
from ..reasons import plural
from .base import (
    NOT_SENT,
    CallbackRejected,
    CallbackRequest,
    Capability,
    InboundSms,
    OutboundSms,
    Provider,
    ProviderError,
    SendResult,
    ServerOption,
    SettingField,
    StatusEvent,
    required_value,
)

log = logging.getLogger(__name__)

SIMULATED_FAILURE_CODE = "SIM-UNREACHABLE"
# Longer than any real provider takes to answer, short enough that a phone made slow on purpose
# does not hold a sender of the worker for long.
LONGEST_ANSWER_DELAY = 5
UNREACHABLE = _("The handset could not be reached (simulated).")
MEMORY_PREFIX = "smsdesk:simulator:"
MEMORY_SECONDS = 2 * 86400
REPORT_ATTEMPTS = 12  # posted again after 1, 2, 4 ... seconds, at most 5 minutes apart: about 25 minutes in all
LONGEST_REPORT_WAIT = 300


class SimulatedProvider(Provider):
    key = "simulator"
    name = _l("Simulator")
    company = _("the SMS Desk simulator")
    sends_status_url_with_each_sms = True  # its send gives the status URL
    description = _l("A pretend phone to try SMS Desk without a provider account. Nothing leaves this "
                     "machine: messages are marked delivered after a short delay, and you can make up replies.")
    fields = (
        SettingField("delivery_delay_seconds", _l("Delivery delay (seconds)"),
                     _l("How long after sending the delivery report arrives."),
                     kind="number", default="2", required=True, pattern=r"\d{1,3}(\.\d+)?",
                     pattern_message=_l("Enter a number of seconds, e.g. 2 or 0.5.")),
        SettingField("answer_delay_seconds", _l("Answer delay (seconds)"),
                     _l("How long the simulated provider takes to accept each SMS, at most 5 seconds. Real ones take 0.1 "
                        "to 0.5 s."),
                     kind="number", default="0", required=False, pattern=r"\d{1,3}(\.\d+)?",
                     pattern_message=_l("Enter a number of seconds, e.g. 2 or 0.5.")),
        SettingField("busy_attempts", _l("Busy for the first attempts"),
                     _l("Pretend the provider is overloaded for this many attempts of each SMS, to watch "
                        "SMS Desk retry. 0 means never busy."),
                     kind="number", default="0", required=False, pattern=r"\d{1,2}",
                     pattern_message=_l("Enter a whole number, e.g. 0 or 2.")),
        SettingField("fail_numbers_ending_with", _l("Fail numbers ending with"),
                     _l("Messages to numbers ending with this digit are reported as not delivered. "
                        "Leave blank to deliver everything."),
                     required=False, pattern=r"\d?", pattern_message=_l("Enter a single digit, or nothing.")),
    )
    capabilities = frozenset({Capability.SEND, Capability.RECEIVE, Capability.DELIVERY_TRACKING})
    max_text_length = 1600  # no provider behind it: the longest a real one takes (Twilio's)
    setup_steps = (
        _l("There is nothing to set up: the simulator already knows its callback URLs and calls them itself."),
        _l("Send an SMS to any valid number: it is marked sent at once and delivered a moment later."),
        _l("Use “Simulate an incoming SMS” below to receive a made-up reply in the conversation."),
    )
    simulates_inbound = True
    calls_from_internet = False
    polls_statuses = True
    finds_sends = True
    server_options = (
        ServerOption("SIMULATOR_STATUS_POLL_AFTER_SECONDS", 60.0, float,
                     "seconds before a sent SMS without a report is asked about; the next asks wait 5, 30 and "
                     "120 times as long"),
    )
    status_map = {"DELIVERED": statuses.DELIVERED, "FAILED": statuses.FAILED, "SENT": statuses.SENT}

    @classmethod
    def settings_errors(cls, values: dict) -> dict:
        if float(values.get("answer_delay_seconds") or 0) > LONGEST_ANSWER_DELAY:
            return {"answer_delay_seconds": plural("At most %(num)d second.", "At most %(num)d seconds.", LONGEST_ANSWER_DELAY)}
        return {}

    def answer_delay(self) -> float:
        """A phone saved before the delay had a bound may have a longer one: it gets the bound."""
        return min(float(self.settings.get("answer_delay_seconds") or 0), LONGEST_ANSWER_DELAY)

    @property
    def status_poll_delays(self):
        first = float(self.options["SIMULATOR_STATUS_POLL_AFTER_SECONDS"])
        return (first, first * 5, first * 30, first * 120)

    def send(self, sms: OutboundSms) -> SendResult:
        answer_delay = self.answer_delay()
        if sms.attempt <= int(self.settings.get("busy_attempts") or 0):
            time.sleep(answer_delay)
            raise ProviderError(_("the simulated provider is busy (HTTP 503)"), code="503", transient=True)
        provider_id = "SIM" + secrets.token_hex(12)
        failing_digit = self.settings.get("fail_numbers_ending_with") or None
        report = {"message_id": provider_id, "status": "DELIVERED"}
        if failing_digit and sms.destination.endswith(failing_digit):
            report = {"message_id": provider_id, "status": "FAILED", "error_code": SIMULATED_FAILURE_CODE,
                      "error_text": str(UNREACHABLE)}
        delay = float(self.settings.get("delivery_delay_seconds") or 0)
        remember_sent(sms.reference, report, time.time() + delay)  # taken, then answered slowly
        time.sleep(answer_delay)
        delayed_poster.post_later(delay, sms.status_callback_url, report, sms.message_id)
        return accepted(provider_id)

    def find_sent(self, sms: OutboundSms, attempt_began: datetime) -> SendResult | str | None:
        memory_since, provider_id = broker.redis_connection().mget(MEMORY_PREFIX + "since",
                                                                   MEMORY_PREFIX + "sent:" + sms.reference)
        if provider_id is not None:
            return accepted(provider_id.decode())
        if memory_since is None or float(memory_since) > attempt_began.timestamp():
            return None  # the broker lost the simulator's memory since
        return NOT_SENT

    def fetch_statuses(self, provider_message_ids: list[str]) -> list[StatusEvent]:
        """The reports it posted, or would have: those whose delivery delay is over."""
        if not provider_message_ids:
            return []
        kept = broker.redis_connection().mget([MEMORY_PREFIX + "report:" + provider_id
                                               for provider_id in provider_message_ids])
        events = []
        for entry in kept:
            if entry is None:
                continue
            report = json.loads(entry)
            if report.pop("due") <= time.time():
                events.append(self.status_event(report))
        return events

    def check_connection(self) -> str:
        return _("The simulator is always reachable.")

    def parse_status_callback(self, request: CallbackRequest) -> list[StatusEvent]:
        provider_status = required_value(request, "status")
        if provider_status not in self.status_map:
            raise CallbackRejected(400, f"unknown status {provider_status}")
        required_value(request, "message_id")
        return [self.status_event(request.flat_fields())]

    def status_event(self, report: dict) -> StatusEvent:
        return StatusEvent(
            provider_message_id=report["message_id"],
            status=self.map_status(report["status"]),
            provider_status=report["status"],
            error_code=report.get("error_code"),
            reason=UNREACHABLE if report.get("error_code") == SIMULATED_FAILURE_CODE else report.get("error_text"),
            payload=report,
        )

    def parse_inbound_callback(self, request: CallbackRequest) -> list[InboundSms]:
        return [InboundSms(
            provider_message_id=required_value(request, "message_id"),
            sender=required_value(request, "from"),
            text=request.value("text", ""),
            payload=request.flat_fields(),
        )]

    def simulate_inbound(self, inbound_url: str, sender: str, text: str) -> None:
        """Plays the provider's part: posts an incoming SMS to the phone's inbound URL."""
        response = self.request("POST", inbound_url, data={
            "message_id": "SIMIN" + secrets.token_hex(12), "from": sender, "text": text,
            "received_at": datetime.now(timezone.utc).isoformat(),
        })
        response.raise_for_status()


def accepted(provider_id: str) -> SendResult:
    return SendResult(provider_id, provider_status="ACCEPTED", payload={"message_id": provider_id})


def remember_sent(reference: str, report: dict, due: float) -> None:
    """What a provider keeps: the SMS it took (by our reference) and the report it will give."""
    with broker.redis_connection().pipeline(transaction=False) as pipe:
        pipe.set(MEMORY_PREFIX + "since", repr(time.time()), nx=True)
        pipe.set(MEMORY_PREFIX + "sent:" + reference, report["message_id"], ex=MEMORY_SECONDS)
        pipe.set(MEMORY_PREFIX + "report:" + report["message_id"], json.dumps(dict(report, due=due)),
                 ex=MEMORY_SECONDS)
        pipe.execute()


def post_report(url: str, form: dict, attempt: int, message_id: int, session=requests) -> bool:
    """One post of the message's delivery report; a failed one is posted again later through the
    broker, as a provider does. Returns whether it was taken."""
    try:
        taken = session.post(url, data=form, timeout=10).status_code < 500  # 4xx: refused for good
    except requests.RequestException as error:
        log.warning("simulator could not post its report to %s: %s", url.rsplit("/", 2)[0] + "/…", error)
        taken = False
    if not taken and attempt < REPORT_ATTEMPTS:
        try:
            tasks.post_simulator_report_later(min(2 ** (attempt - 1), LONGEST_REPORT_WAIT), message_id, form,
                                              attempt + 1)
        except Exception as broker_error:  # the status poll will ask for it
            log.warning("simulator could not schedule its report again: %s", broker_error)
    return taken


class DelayedPoster:
    """One background thread that posts form bodies to URLs when they fall due, in the app that
    asked (for the broker, should a post fail)."""

    def __init__(self):
        self._due = []
        self._counter = itertools.count()
        self._wakeup = threading.Condition()
        self._thread = None

    def post_later(self, delay: float, url: str, form: dict, message_id: int) -> None:
        app = current_app._get_current_object()
        with self._wakeup:
            heapq.heappush(self._due, (time.monotonic() + delay, next(self._counter), url, form, message_id, app))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="simulator-reports", daemon=True)
                self._thread.start()
            self._wakeup.notify()

    def _run(self) -> None:
        session = requests.Session()
        while True:
            with self._wakeup:
                while not self._due or self._due[0][0] > time.monotonic():
                    self._wakeup.wait(timeout=self._due[0][0] - time.monotonic() if self._due else None)
                _, _, url, form, message_id, app = heapq.heappop(self._due)
            with app.app_context():
                post_report(url, form, 1, message_id, session)


delayed_poster = DelayedPoster()
