"""Odyssey Messaging (spec §4): JSON callbacks told apart by EventType; dates are Microsoft JSON dates."""
from datetime import datetime

import pytest

from webapp import statuses as s
from webapp.providers import OdysseyProvider

from .parser_support import babel_app  # noqa: F401  (autouse: an app context for gettext)
from .parser_support import (ANY, GIVEN, NOTHING, DerivedId, Mentions, Rejected, case, check_callback, error_fields,
                             inbound, json_post, kind_of, opt_out, outcome, status)

STATUS_URL = "https://sms.example.org/callbacks/0dy55/T0kenO/status"
INBOUND_URL = "https://sms.example.org/callbacks/0dy55/T0kenO/inbound"
SPEC_DATE, SPEC_UTC = "/Date(1677243600000+0100)/", datetime(2023, 2, 24, 13, 0)


def odyssey():
    return OdysseyProvider(settings={"login": "12345.user", "password": "secret"}, http=None, options={})


def item_status(outcome_letter="S", **changes):
    """An ItemStatusChanged event (EventType 9), as the spec's fake emits it (§4.6)."""
    body = {"EventType": 9, "JobNumber": 512344, "Outcome": outcome_letter, "TrackingID": "m-41"}
    body.update(changes)
    return {name: value for name, value in body.items() if value is not ...}


def inbound_sms(message="hi", **changes):
    """An InboundSMS event (EventType 8), as in §4.3 and §4.6."""
    body = {"EventType": 8, "From": "0033612345678", "Message": message, "EventDateTime": SPEC_DATE}
    body.update(changes)
    return {name: value for name, value in body.items() if value is not ...}


# ---- Outcome letters: the mapping table of spec §4.2

SPEC_OUTCOMES = [("S", s.DELIVERED), ("B", s.UNKNOWN), ("F", s.FAILED), ("E", s.FAILED), ("X", s.FAILED)]


@pytest.mark.parametrize("letter, ours", SPEC_OUTCOMES, ids=[f"Outcome={letter}" for letter, _ in SPEC_OUTCOMES])
def test_every_outcome_maps_as_the_spec_says(letter, ours):
    failed = ours == s.FAILED
    check_callback(odyssey(), "status", json_post(STATUS_URL, item_status(letter)),
                   [status("512344", ours, letter, error_code=letter if failed else None,
                           reason=GIVEN if failed else None)])


STATUS_CALLBACKS = [
    case("delivered: the integer JobNumber becomes our string id",
         item_status("S"), [status("512344", s.DELIVERED, "S", occurred_at=None, recipient=None, reason=None)]),
    case("JobNumber as a string",
         item_status("S", JobNumber="512344"), [status("512344", s.DELIVERED, "S", reason=None)]),
    case("only the three fields the spec knows",
         {"EventType": 9, "JobNumber": 7, "Outcome": "F"},
         [status("7", s.FAILED, "F", error_code="F", reason=GIVEN)]),
    case("the fields the spec could not read (Address, EventDateTime) are not required",
         item_status("S", Address="0033698765432", EventDateTime=SPEC_DATE),
         [status("512344", s.DELIVERED, "S", occurred_at=ANY, recipient=ANY, reason=None)]),
    case("no JobNumber", item_status("S", JobNumber=...), Rejected(400)),
    case("no Outcome", item_status(Outcome=...), Rejected(400)),
    case("an empty Outcome: the spec maps only non-empty letters", item_status(""), Rejected(400)),
    case("an Outcome that is not a string", item_status(1), Rejected(400)),
    case("JobNumber null", item_status("S", JobNumber=None), Rejected(400)),
]


@pytest.mark.parametrize("body, expected", STATUS_CALLBACKS)
def test_status_callbacks(body, expected):
    check_callback(odyssey(), "status", json_post(STATUS_URL, body), expected)


# ---- incoming SMS (spec §4.3): no id of its own; EventDateTime is ms since the epoch (UTC) + an offset

INBOUND_CALLBACKS = [
    case("the spec's example: the offset does not move the instant",
         json_post(INBOUND_URL, inbound_sms("hi")),
         [inbound(DerivedId(), "0033612345678", "hi", received_at=SPEC_UTC)]),
    case("a negative offset",
         json_post(INBOUND_URL, inbound_sms("hi", EventDateTime="/Date(1677243600000-0500)/")),
         [inbound(DerivedId(), "0033612345678", "hi", received_at=SPEC_UTC)]),
    case("no offset",
         json_post(INBOUND_URL, inbound_sms("hi", EventDateTime="/Date(1677243600000)/")),
         [inbound(DerivedId(), "0033612345678", "hi", received_at=SPEC_UTC)]),
    case("milliseconds are kept",
         json_post(INBOUND_URL, inbound_sms("hi", EventDateTime="/Date(1752487200250+0200)/")),
         [inbound(DerivedId(), "0033612345678", "hi", received_at=datetime(2025, 7, 14, 10, 0, 0, 250000))]),
    case("written by .NET as \\/Date(...)\\/",
         json_post(INBOUND_URL, raw=b'{"EventType":8,"From":"0033612345678","Message":"hi",'
                                    b'"EventDateTime":"\\/Date(1677243600000+0100)\\/"}'),
         [inbound(DerivedId(), "0033612345678", "hi", received_at=SPEC_UTC)]),
    case("accents and emoji",
         json_post(INBOUND_URL, inbound_sms("Génial, j'arrive ✌️🙂")),
         [inbound(DerivedId(), "0033612345678", "Génial, j'arrive ✌️🙂", received_at=SPEC_UTC)]),
    case("an empty Message", json_post(INBOUND_URL, inbound_sms("")),
         [inbound(DerivedId(), "0033612345678", "", received_at=SPEC_UTC)]),
    case("no Message field", json_post(INBOUND_URL, inbound_sms(Message=...)),
         [inbound(DerivedId(), "0033612345678", "", received_at=SPEC_UTC)]),
    case("an incoming SMS posted to the status URL", json_post(STATUS_URL, inbound_sms("hi")),
         [inbound(DerivedId(), "0033612345678", "hi", received_at=SPEC_UTC)]),
    case("a status event posted to the incoming SMS URL", json_post(INBOUND_URL, item_status("S")),
         [status("512344", s.DELIVERED, "S", reason=None)]),
    case("an unreadable EventDateTime", json_post(INBOUND_URL, inbound_sms(EventDateTime="2023-02-24 14:00")),
         Rejected(400)),
    case("an offset without its minutes", json_post(INBOUND_URL, inbound_sms(EventDateTime="/Date(1677243600000+01)/")),
         Rejected(400)),
    case("no EventDateTime", json_post(INBOUND_URL, inbound_sms(EventDateTime=...)), Rejected(400)),
    case("no From", json_post(INBOUND_URL, inbound_sms(From=...)), Rejected(400)),
    case("a Message that is not a string", json_post(INBOUND_URL, inbound_sms(Message=["hi"])), Rejected(400)),
]


@pytest.mark.parametrize("request_, expected", INBOUND_CALLBACKS)
def test_inbound_callbacks(request_, expected):
    check_callback(odyssey(), kind_of(request_), request_, expected)


# ---- OPT_OUT (EventType 1, spec §4.2): a recipient replied STOP; its fields are not documented

def opt_out_event(**changes):
    body = {"EventType": 1, "Address": "0033698765432", "Message": "STOP", "EventDateTime": SPEC_DATE}
    body.update(changes)
    return {name: value for name, value in body.items() if value is not ...}


OPT_OUT_CALLBACKS = [
    case("the number as an ItemStatusChanged names its recipient, with the date",
         json_post(INBOUND_URL, opt_out_event()), [opt_out("0033698765432", opted_out_at=SPEC_UTC)]),
    case("the number as an InboundSMS names its sender",
         json_post(INBOUND_URL, opt_out_event(Address=..., From="0033612345678")),
         [opt_out("0033612345678", opted_out_at=SPEC_UTC)]),
    case("no date: when it arrives", json_post(INBOUND_URL, opt_out_event(EventDateTime=...)),
         [opt_out("0033698765432", opted_out_at=None)]),
    case("posted to the status URL", json_post(STATUS_URL, opt_out_event()),
         [opt_out("0033698765432", opted_out_at=SPEC_UTC)]),
    case("no number", json_post(INBOUND_URL, opt_out_event(Address=...)), Rejected(400)),
    case("a number that is not a string", json_post(INBOUND_URL, opt_out_event(Address=33698765432)), Rejected(400)),
    case("an unreadable date", json_post(INBOUND_URL, opt_out_event(EventDateTime="hier")), Rejected(400)),
]


@pytest.mark.parametrize("request_, expected", OPT_OUT_CALLBACKS)
def test_opt_out_events(request_, expected):
    check_callback(odyssey(), kind_of(request_), request_, expected)


# ---- other events and malformed bodies (spec §4.2 event types, §4.6)

OTHER_BODIES = [
    case("END_OF_JOB (4) is acknowledged and ignored", {"EventType": 4, "JobNumber": 512344}, NOTHING),
    case("JOB_STATUS_CHANGED (5) is acknowledged and ignored", {"EventType": 5, "EventDateTime": SPEC_DATE}, NOTHING),
    case("no EventType", {"JobNumber": 512344, "Outcome": "S"}, Rejected(400)),
    case("EventType as a string", {"EventType": "9", "JobNumber": 512344, "Outcome": "S"}, Rejected(400)),
    case("EventType true", {"EventType": True, "JobNumber": 512344, "Outcome": "S"}, Rejected(400)),
    case("a JSON list", [item_status("S")], Rejected(400)),
]


@pytest.mark.parametrize("body, expected", OTHER_BODIES)
def test_other_events(body, expected):
    check_callback(odyssey(), "status", json_post(STATUS_URL, body), expected)


@pytest.mark.parametrize("raw", [b"", b"EventType=9&JobNumber=1&Outcome=S", b'{"EventType": 9,'],
                         ids=["empty body", "a form body", "truncated JSON"])
def test_bodies_that_are_not_json(raw):
    check_callback(odyssey(), "status", json_post(STATUS_URL, raw=raw), Rejected(400))


# ---- the id made up for an incoming SMS: the same when Odyssey posts it again, else different

def inbound_id(body):
    [(_, fields)] = outcome(odyssey().parse_callback("inbound", json_post(INBOUND_URL, body)))
    return fields["provider_message_id"]


SAME_OR_NOT = [
    case("posted twice", inbound_sms("hi"), inbound_sms("hi"), True),
    case("another text", inbound_sms("hi"), inbound_sms("ho"), False),
    case("another sender", inbound_sms("hi"), inbound_sms("hi", From="0033612345679"), False),
    case("another millisecond", inbound_sms("hi"), inbound_sms("hi", EventDateTime="/Date(1677243600001+0100)/"),
         False),
]


@pytest.mark.parametrize("first, second, same", SAME_OR_NOT)
def test_incoming_sms_ids(first, second, same):
    assert (inbound_id(first) == inbound_id(second)) is same


# ---- error answers of the API (spec §4.1 "Error", §4.6)

ERRORS = [
    case("bad login (401)", 401, {"Message": "Authorization has been denied for this request."},
         dict(code="401", transient=False, maybe_sent=False, reason=GIVEN)),
    case("invalid job: ModelState's messages are shown", 400,
         {"Message": "The request is invalid.", "ModelState": {"model.Text": ["The Text field is required."]}},
         dict(code="400", transient=False, maybe_sent=False, reason=Mentions("The Text field is required."))),
    case("no body", 400, {}, dict(code="400", transient=False, maybe_sent=False, reason=GIVEN)),
]


@pytest.mark.parametrize("http_status, body, expected", ERRORS)
def test_api_error_answers(http_status, body, expected):
    assert error_fields(odyssey().error(http_status, body)) == expected
