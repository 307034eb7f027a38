"""A phone that needs no provider account.

Sending always succeeds; a moment later the simulator posts a delivery report to the phone's
own status callback URL over real HTTP, exactly as a provider would, so the report goes
through the same code as a real one.
"""
import heapq
import itertools
import logging
import secrets
import threading
import time
from datetime import datetime, timezone

import requests
from flask_babel import lazy_gettext as _l

from .. import statuses
from ..reasons import Reason as _
from .base import (
    CallbackRejected,
    CallbackRequest,
    Capability,
    InboundSms,
    OutboundSms,
    Provider,
    ProviderError,
    SendResult,
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


class SimulatedProvider(Provider):
    key = "simulator"
    name = _l("Simulator")
    company = _("the SMS Desk simulator")
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
    setup_steps = (
        _l("There is nothing to set up: the simulator already knows its callback URLs and calls them itself."),
        _l("Send an SMS to any valid number: it is marked sent at once and delivered a moment later."),
        _l("Use “Simulate an incoming SMS” below to receive a made-up reply in the conversation."),
    )
    simulates_inbound = True
    calls_from_internet = False
    status_map = {"DELIVERED": statuses.DELIVERED, "FAILED": statuses.FAILED, "SENT": statuses.SENT}

    @classmethod
    def settings_errors(cls, values: dict) -> dict:
        if float(values.get("answer_delay_seconds") or 0) > LONGEST_ANSWER_DELAY:
            return {"answer_delay_seconds": _("At most %(seconds)d seconds.", seconds=LONGEST_ANSWER_DELAY)}
        return {}

    def answer_delay(self) -> float:
        """A phone saved before the delay had a bound may have a longer one: it gets the bound."""
        return min(float(self.settings.get("answer_delay_seconds") or 0), LONGEST_ANSWER_DELAY)

    def send(self, sms: OutboundSms) -> SendResult:
        time.sleep(self.answer_delay())
        if sms.attempt <= int(self.settings.get("busy_attempts") or 0):
            raise ProviderError(_("the simulated provider is busy (HTTP 503)"), code="503", transient=True)
        provider_id = "SIM" + secrets.token_hex(12)
        failing_digit = self.settings.get("fail_numbers_ending_with") or None
        report = {"message_id": provider_id, "status": "DELIVERED"}
        if failing_digit and sms.destination.endswith(failing_digit):
            report = {"message_id": provider_id, "status": "FAILED", "error_code": SIMULATED_FAILURE_CODE,
                      "error_text": str(UNREACHABLE)}
        delay = float(self.settings.get("delivery_delay_seconds") or 0)
        delayed_poster.post_later(delay, sms.status_callback_url, report)
        return SendResult(provider_id, provider_status="ACCEPTED", payload={"message_id": provider_id})

    def check_connection(self) -> str:
        return _("The simulator is always reachable.")

    def parse_status_callback(self, request: CallbackRequest) -> list[StatusEvent]:
        provider_status = required_value(request, "status")
        if provider_status not in self.status_map:
            raise CallbackRejected(400, f"unknown status {provider_status}")
        return [StatusEvent(
            provider_message_id=required_value(request, "message_id"),
            status=self.map_status(provider_status),
            provider_status=provider_status,
            error_code=request.value("error_code"),
            reason=(UNREACHABLE if request.value("error_code") == SIMULATED_FAILURE_CODE
                    else request.value("error_text")),
            payload=request.flat_fields(),
        )]

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


class DelayedPoster:
    """One background thread that posts form bodies to URLs when they fall due."""

    def __init__(self):
        self._due = []
        self._counter = itertools.count()
        self._wakeup = threading.Condition()
        self._thread = None

    def post_later(self, delay: float, url: str, form: dict) -> None:
        with self._wakeup:
            heapq.heappush(self._due, (time.monotonic() + delay, next(self._counter), url, form))
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
                _, _, url, form = heapq.heappop(self._due)
            try:
                session.post(url, data=form, timeout=10)
            except requests.RequestException as error:
                log.warning("simulator could not post its report to %s: %s", url.rsplit("/", 2)[0] + "/…", error)


delayed_poster = DelayedPoster()
