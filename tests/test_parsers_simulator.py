"""The simulator: it posts form callbacks to its own URLs (webapp/providers/simulator.py has no spec section).

The wire format is what SimulatedProvider.send and simulate_inbound post: message_id, status
(DELIVERED or FAILED), error_code and error_text; message_id, from, text and received_at.
"""
import pytest

from webapp import statuses as s
from webapp.providers import SimulatedProvider
from webapp.providers.simulator import SIMULATED_FAILURE_CODE

from .parser_support import babel_app  # noqa: F401  (autouse: an app context for gettext)
from .parser_support import Mentions, Rejected, case, check_callback, form_post, inbound, status

STATUS_URL = "http://127.0.0.1:5000/callbacks/S1m/T0kenS/status"
INBOUND_URL = "http://127.0.0.1:5000/callbacks/S1m/T0kenS/inbound"
SIM_ID = "SIM0123456789abcdef01234567"


def simulator():
    return SimulatedProvider(settings={"delivery_delay_seconds": "0"}, http=None, options={})


STATUS_NAMES = [("DELIVERED", s.DELIVERED), ("FAILED", s.FAILED), ("SENT", s.SENT)]


@pytest.mark.parametrize("name, ours", STATUS_NAMES, ids=[name for name, _ in STATUS_NAMES])
def test_every_simulated_status(name, ours):
    check_callback(simulator(), "status", form_post(STATUS_URL, {"message_id": SIM_ID, "status": name}),
                   [status(SIM_ID, ours, name, reason=None)])


STATUS_CALLBACKS = [
    case("delivered, as send() posts it",
         {"message_id": SIM_ID, "status": "DELIVERED"},
         [status(SIM_ID, s.DELIVERED, "DELIVERED", error_code=None, occurred_at=None, recipient=None, reason=None)]),
    case("failed for a number ending with the failing digit",
         {"message_id": SIM_ID, "status": "FAILED", "error_code": SIMULATED_FAILURE_CODE,
          "error_text": "The handset could not be reached (simulated)."},
         [status(SIM_ID, s.FAILED, "FAILED", error_code=SIMULATED_FAILURE_CODE, reason=Mentions("simulated"))]),
    case("a status it never posts", {"message_id": SIM_ID, "status": "READ"}, Rejected(400)),
    case("lower case", {"message_id": SIM_ID, "status": "delivered"}, Rejected(400)),
    case("no status", {"message_id": SIM_ID}, Rejected(400)),
    case("no message_id", {"status": "DELIVERED"}, Rejected(400)),
]


@pytest.mark.parametrize("fields, expected", STATUS_CALLBACKS)
def test_status_callbacks(fields, expected):
    check_callback(simulator(), "status", form_post(STATUS_URL, fields), expected)


def made_up_sms(text, **changes):
    fields = {"message_id": "SIMIN0123456789abcdef012345", "from": "+33612345678", "text": text,
              "received_at": "2025-01-22T10:46:06.123456+00:00"}
    fields.update(changes)
    return {name: value for name, value in fields.items() if value is not None}


INBOUND_CALLBACKS = [
    case("as simulate_inbound posts it; received_at is not read, the time of receipt stands",
         made_up_sms("Bonjour"), [inbound("SIMIN0123456789abcdef012345", "+33612345678", "Bonjour", received_at=None)]),
    case("accents and emoji", made_up_sms("À plus tard 🙂"),
         [inbound("SIMIN0123456789abcdef012345", "+33612345678", "À plus tard 🙂")]),
    case("no text", made_up_sms(None), [inbound("SIMIN0123456789abcdef012345", "+33612345678", "")]),
    case("no message_id", made_up_sms("Oui", message_id=None), Rejected(400)),
    case("no sender", made_up_sms("Oui", **{"from": None}), Rejected(400)),
]


@pytest.mark.parametrize("fields, expected", INBOUND_CALLBACKS)
def test_inbound_callbacks(fields, expected):
    check_callback(simulator(), "inbound", form_post(INBOUND_URL, fields), expected)
