"""Octopush (spec §3): JSON callbacks, told apart by their date field; dates are Europe/Paris, without a zone."""
import json
from datetime import datetime

import pytest

from webapp import statuses as s
from webapp.providers import OctopushProvider

from .parser_support import babel_app  # noqa: F401  (autouse: an app context for gettext)
from .parser_support import (GIVEN, NOTHING, DerivedId, Rejected, case, check_callback, error_fields, get, inbound,
                             json_post, kind_of, opt_out, outcome, status)

STATUS_URL = "https://sms.example.org/callbacks/0ct0/T0kenP/status"
INBOUND_URL = "https://sms.example.org/callbacks/0ct0/T0kenP/inbound"
TICKET = "sms_5f6c4ba715694"
RECIPIENT = "+33600112233"
WINTER_DATE, WINTER_UTC = "2025-01-22 11:46:06", datetime(2025, 1, 22, 10, 46, 6)


def octopush():
    return OctopushProvider(settings={"api_login": "ada@example.org", "api_key": "k3y",
                                      "virtual_number": "+33644630000", "message_type": "sms_premium"},
                            http=None, options={})


def dlr(status_name="DELIVERED", **changes):
    """A delivery report, like the spec's example in §3.2."""
    body = {"channel": "sms", "message_id": TICKET, "list_name": "List Name", "number": RECIPIENT,
            "status": status_name, "unit_price": 0.5, "delivery_date": WINTER_DATE, "meta_data": {}}
    body.update(changes)
    return {name: value for name, value in body.items() if value is not ...}


def sms(text="Oui", **changes):
    """An incoming SMS (§3.3): message_id is the ticket of the message answered, not an id of its own."""
    body = {"message_id": TICKET, "number": "+33698765432", "text": text, "sim_card_number": "+33644630000",
            "reception_date": WINTER_DATE}
    body.update(changes)
    return {name: value for name, value in body.items() if value is not ...}


def stop(**changes):
    """A STOP (§3.3)."""
    body = {"message_id": TICKET, "number": "+33698765432", "text": "STOP", "stop_date": WINTER_DATE}
    body.update(changes)
    return {name: value for name, value in body.items() if value is not ...}


# ---- statuses: the mapping table of spec §3.2

SPEC_STATUSES = [
    ("ACK", s.SENT), ("PROCESSED", s.SENT),
    ("DELIVERED", s.DELIVERED), ("READ", s.DELIVERED),
    ("NOT_DELIVERED", s.FAILED), ("NOT_ALLOWED", s.FAILED), ("BAD_DESTINATION", s.FAILED),
    ("BLACKLISTED_NUMBER", s.FAILED),
    ("UNKNOWN_DELIVERY", s.UNKNOWN), ("UNDEFINED", s.UNKNOWN), ("A_STATUS_OCTOPUSH_ADDS_LATER", s.UNKNOWN),
]


@pytest.mark.parametrize("octopush_status, ours", SPEC_STATUSES, ids=[name for name, _ in SPEC_STATUSES])
def test_every_octopush_status_maps_as_the_spec_says(octopush_status, ours):
    failed = ours == s.FAILED
    check_callback(octopush(), "status", json_post(STATUS_URL, dlr(octopush_status)),
                   [status(TICKET, ours, octopush_status, error_code=octopush_status if failed else None,
                           occurred_at=WINTER_UTC, recipient=RECIPIENT, reason=GIVEN if failed else None)])


STATUS_CALLBACKS = [
    case("the spec's example: winter, Paris is UTC+1",
         dlr(), [status(TICKET, s.DELIVERED, "DELIVERED", occurred_at=WINTER_UTC, recipient=RECIPIENT)]),
    case("summer: Paris is UTC+2",
         dlr(delivery_date="2025-07-14 12:00:00"),
         [status(TICKET, s.DELIVERED, "DELIVERED", occurred_at=datetime(2025, 7, 14, 10, 0), recipient=RECIPIENT)]),
    case("the night clocks go forward: 01:30 is still UTC+1",
         dlr(delivery_date="2025-03-30 01:30:00"),
         [status(TICKET, s.DELIVERED, "DELIVERED", occurred_at=datetime(2025, 3, 30, 0, 30), recipient=RECIPIENT)]),
    case("the night clocks go forward: 03:30 is already UTC+2",
         dlr(delivery_date="2025-03-30 03:30:00"),
         [status(TICKET, s.DELIVERED, "DELIVERED", occurred_at=datetime(2025, 3, 30, 1, 30), recipient=RECIPIENT)]),
    case("a Paris date just after midnight is the previous day in UTC",
         dlr(delivery_date="2025-01-01 00:15:00"),
         [status(TICKET, s.DELIVERED, "DELIVERED", occurred_at=datetime(2024, 12, 31, 23, 15), recipient=RECIPIENT)]),
    case("failed, with the recipient of a ticket sent to several numbers",
         dlr("BAD_DESTINATION", number="+33711223344"),
         [status(TICKET, s.FAILED, "BAD_DESTINATION", error_code="BAD_DESTINATION", occurred_at=WINTER_UTC,
                 recipient="+33711223344", reason=GIVEN)]),
    case("no delivery_date", dlr(delivery_date=...),
         [status(TICKET, s.DELIVERED, "DELIVERED", occurred_at=None, recipient=RECIPIENT)]),
    case("an unreadable delivery_date", dlr(delivery_date="22/01/2025 11:46"), Rejected(400)),
    case("an ISO date instead of Y-m-d H:i:s", dlr(delivery_date="2025-01-22T11:46:06+01:00"), Rejected(400)),
    case("no message_id", dlr(message_id=...), Rejected(400)),
    case("no number: a ticket may cover several recipients", dlr(number=...), Rejected(400)),
    case("no status, but a delivery_date", dlr(status=...), Rejected(400)),
    case("status is not a string", dlr(status=3), Rejected(400)),
]


@pytest.mark.parametrize("body, expected", STATUS_CALLBACKS)
def test_status_callbacks(body, expected):
    check_callback(octopush(), "status", json_post(STATUS_URL, body), expected)


# ---- incoming SMS and STOP replies: one URL, any kind (spec §3.3)

INBOUND_CALLBACKS = [
    case("a reply to a ticket: the id is ours, not the ticket (replies to one ticket would collide)",
         json_post(INBOUND_URL, sms("Oui")),
         [inbound(DerivedId(not_equal=TICKET), "+33698765432", "Oui", received_at=WINTER_UTC)]),
    case("no ticket found (message_id null)",
         json_post(INBOUND_URL, sms("Bonjour", message_id=None)),
         [inbound(DerivedId(), "+33698765432", "Bonjour", received_at=WINTER_UTC)]),
    case("no message_id field",
         json_post(INBOUND_URL, sms("Bonjour", message_id=...)),
         [inbound(DerivedId(), "+33698765432", "Bonjour", received_at=WINTER_UTC)]),
    case("accents and emoji, as UTF-8",
         json_post(INBOUND_URL, sms("Ça roule, à tout à l'heure 🚲")),
         [inbound(DerivedId(), "+33698765432", "Ça roule, à tout à l'heure 🚲", received_at=WINTER_UTC)]),
    case("accents and emoji, as \\u escapes",
         json_post(INBOUND_URL, raw=json.dumps(sms("Ça roule 🚲"), ensure_ascii=True).encode()),
         [inbound(DerivedId(), "+33698765432", "Ça roule 🚲", received_at=WINTER_UTC)]),
    case("received in summer",
         json_post(INBOUND_URL, sms("Oui", reception_date="2025-08-01 09:05:00")),
         [inbound(DerivedId(), "+33698765432", "Oui", received_at=datetime(2025, 8, 1, 7, 5))]),
    case("an empty text", json_post(INBOUND_URL, sms("")),
         [inbound(DerivedId(), "+33698765432", "", received_at=WINTER_UTC)]),
    case("the word STOP without a stop_date is an ordinary SMS",
         json_post(INBOUND_URL, sms("STOP")),
         [inbound(DerivedId(), "+33698765432", "STOP", received_at=WINTER_UTC)]),
    case("an incoming SMS posted to the status URL is still an incoming SMS",
         json_post(STATUS_URL, sms("Oui")),
         [inbound(DerivedId(), "+33698765432", "Oui", received_at=WINTER_UTC)]),
    case("a STOP", json_post(INBOUND_URL, stop()), [opt_out("+33698765432", opted_out_at=WINTER_UTC)]),
    case("a STOP in summer", json_post(INBOUND_URL, stop(stop_date="2025-06-21 22:00:00")),
         [opt_out("+33698765432", opted_out_at=datetime(2025, 6, 21, 20, 0))]),
    case("a STOP posted to the status URL", json_post(STATUS_URL, stop()),
         [opt_out("+33698765432", opted_out_at=WINTER_UTC)]),
    case("a delivery report posted to the incoming SMS URL", json_post(INBOUND_URL, dlr()),
         [status(TICKET, s.DELIVERED, "DELIVERED", occurred_at=WINTER_UTC, recipient=RECIPIENT)]),
    case("a STOP without a number", json_post(INBOUND_URL, stop(number=...)), Rejected(400)),
    case("a STOP with an unreadable stop_date", json_post(INBOUND_URL, stop(stop_date="tomorrow")), Rejected(400)),
    case("an SMS without a number", json_post(INBOUND_URL, sms(number=...)), Rejected(400)),
    case("an SMS without a reception_date", json_post(INBOUND_URL, sms(reception_date=...)), Rejected(400)),
    case("an SMS with an unreadable reception_date", json_post(INBOUND_URL, sms(reception_date="2025-13-01 10:00:00")),
         Rejected(400)),
    case("a text that is not a string", json_post(INBOUND_URL, sms(text=42)), Rejected(400)),
    case("not JSON", json_post(INBOUND_URL, raw=b"number=%2B33698765432&text=Oui"), Rejected(400)),
    case("a JSON list", json_post(INBOUND_URL, raw=b'[{"number": "+33698765432"}]'), Rejected(400)),
    case("neither a report, an SMS nor a STOP", json_post(INBOUND_URL, {"number": "+33698765432"}), Rejected(400)),
    case("Octopush's test of the page (§3.4): a POST with an empty body", json_post(INBOUND_URL, raw=b""), NOTHING),
    case("Octopush's test of the page (§3.4): a plain GET", get(INBOUND_URL), NOTHING),
    case("a body of spaces is a body, and not JSON", json_post(INBOUND_URL, raw=b"  "), Rejected(400)),
]


@pytest.mark.parametrize("request_, expected", INBOUND_CALLBACKS)
def test_inbound_callbacks(request_, expected):
    check_callback(octopush(), kind_of(request_), request_, expected)


# ---- the id made up for an incoming SMS: the same when Octopush posts it again, else different

def inbound_id(body):
    [(_, fields)] = outcome(octopush().parse_callback("inbound", json_post(INBOUND_URL, body)))
    return fields["provider_message_id"]


SAME_OR_NOT = [
    case("posted twice", sms("Oui"), sms("Oui"), True),
    case("the same SMS with another ticket", sms("Oui"), sms("Oui", message_id="sms_000000000000a"), True),
    case("another text", sms("Oui"), sms("Non"), False),
    case("another sender", sms("Oui"), sms("Oui", number="+33698765433"), False),
    case("another minute", sms("Oui"), sms("Oui", reception_date="2025-01-22 11:47:06"), False),
]


@pytest.mark.parametrize("first, second, same", SAME_OR_NOT)
def test_incoming_sms_ids(first, second, same):
    assert (inbound_id(first) == inbound_id(second)) is same


# ---- error answers of the API (spec §3.1 "Error", §3.6)

ERRORS = [
    case("wrong login or key (401)", 401, {"code": 1000, "message": "Authentication failed"},
         dict(code="1000", transient=False, maybe_sent=False, reason=GIVEN)),
    case("a repeated request_id (code 120): an earlier attempt reached Octopush", 400,
         {"code": 120, "message": "Duplicate request: this request_id was already used"},
         dict(code="120", transient=False, maybe_sent=True, reason=GIVEN)),
    case("a repeat is known by its code, whatever its words", 400, {"code": "120", "message": "Requête en double"},
         dict(code="120", transient=False, maybe_sent=True, reason=GIVEN)),
    case("words that name the request_id are not a repeat", 400,
         {"code": 1003, "message": "request_id must be a non-empty string"},
         dict(code="1003", transient=False, maybe_sent=False, reason=GIVEN)),
    case("an invalid number", 400, {"code": 1004, "message": "Invalid phone number +3360"},
         dict(code="1004", transient=False, maybe_sent=False, reason=GIVEN)),
    case("no body", 400, {}, dict(code="400", transient=False, maybe_sent=False, reason=GIVEN)),
]


@pytest.mark.parametrize("http_status, body, expected", ERRORS)
def test_api_error_answers(http_status, body, expected):
    assert error_fields(octopush().error(http_status, body)) == expected
