"""OVH (spec §2): delivery reports by GET with id and dlr, incoming SMS by a CGI form POST, no signature."""
from datetime import datetime

import pytest

from webapp import statuses as s
from webapp.providers import OvhProvider
from webapp.providers.ovh import _utc_naive

from .parser_support import babel_app  # noqa: F401  (autouse: an app context for gettext)
from .parser_support import (ANY, GIVEN, Rejected, case, check_callback, error_fields, form_post, get, inbound,
                             opt_out, status)

STATUS_URL = "https://sms.example.org/callbacks/0vh/Tok3nQ/status"
INBOUND_URL = "https://sms.example.org/callbacks/0vh/Tok3nQ/inbound"
JOB_ID = "26929925"


def ovh():
    return OvhProvider(settings={"endpoint": "ovh-eu", "application_key": "TDPKJdwZwAQPwKX2",
                                 "application_secret": "9ufkBmLaTQ9nz5yMUlg79taH0GNnzDjk",
                                 "consumer_key": "5mBuy6SUQcRw2ZUxg0cG68BoDKpED4KY",
                                 "service_name": "sms-ab12345-1", "virtual_number": "+33612345678"},
                       http=None, options={})


# ---- dlr codes: the mapping table of spec §2.3 (Kannel's bitmask)

SPEC_DLR = [("1", s.DELIVERED), ("2", s.FAILED), ("16", s.FAILED), ("4", s.QUEUED), ("8", s.SENT),
            ("0", s.UNKNOWN), ("32", s.UNKNOWN), ("delivered", s.UNKNOWN)]


@pytest.mark.parametrize("dlr, ours", SPEC_DLR, ids=[f"dlr={dlr}" for dlr, _ in SPEC_DLR])
def test_every_dlr_code_maps_as_the_spec_says(dlr, ours):
    failed = ours == s.FAILED
    check_callback(ovh(), "status", get(STATUS_URL, {"id": JOB_ID, "dlr": dlr}),
                   [status(JOB_ID, ours, f"dlr {dlr}", error_code=dlr if failed else None,
                           reason=GIVEN if failed else None)])


STATUS_CALLBACKS = [
    case("delivered",
         get(STATUS_URL, {"id": JOB_ID, "dlr": "1"}),
         [status(JOB_ID, s.DELIVERED, "dlr 1", occurred_at=None, recipient=None, reason=None)]),
    case("not delivered to the handset",
         get(STATUS_URL, {"id": JOB_ID, "dlr": "2"}),
         [status(JOB_ID, s.FAILED, "dlr 2", error_code="2", reason=GIVEN)]),
    case("the URL's own query string (a token) is kept apart",
         get(STATUS_URL + "?token=abc", {"id": JOB_ID, "dlr": "8"}),
         [status(JOB_ID, s.SENT, "dlr 8", reason=None)]),
    case("parameters beyond id and dlr are ignored",
         get(STATUS_URL, {"id": JOB_ID, "dlr": "16", "receiver": "+33698765432", "ptt": "13",
                          "description": "Refused by the SMSC"}),
         [status(JOB_ID, s.FAILED, "dlr 16", error_code="16", recipient=ANY, reason=GIVEN)]),
    case("no id", get(STATUS_URL, {"dlr": "1"}), Rejected(400)),
    case("no dlr", get(STATUS_URL, {"id": JOB_ID}), Rejected(400)),
    case("an empty dlr", get(STATUS_URL, {"id": JOB_ID, "dlr": ""}), Rejected(400)),
    case("no parameters at all", get(STATUS_URL), Rejected(400)),
]


@pytest.mark.parametrize("request_, expected", STATUS_CALLBACKS)
def test_status_callbacks(request_, expected):
    check_callback(ovh(), "status", request_, expected)


# ---- incoming SMS pushed to the CGI URL (spec §2.4: shortcode, tag, id, senderid, message; no date)

def cgi_form(message, **changes):
    fields = {"shortcode": "38100", "tag": "sms-desk", "id": "4478", "senderid": "+33698765432", "message": message}
    fields.update(changes)
    return {name: value for name, value in fields.items() if value is not None}


INBOUND_CALLBACKS = [
    case("a reply, as OVH posts it",
         cgi_form("Oui"), [inbound("4478", "+33698765432", "Oui", received_at=None)]),
    case("accents and emoji",
         cgi_form("Très bien, merci 😀"), [inbound("4478", "+33698765432", "Très bien, merci 😀")]),
    case("no tag (a virtual number, not a reply to a job)",
         cgi_form("Bonjour", tag=None, shortcode=None), [inbound("4478", "+33698765432", "Bonjour")]),
    case("an empty message", cgi_form(""), [inbound("4478", "+33698765432", "")]),
    case("no message field", cgi_form(None), [inbound("4478", "+33698765432", "")]),
    case("no id", cgi_form("Oui", id=None), Rejected(400)),
    case("no senderid", cgi_form("Oui", senderid=None), Rejected(400)),
]


@pytest.mark.parametrize("fields, expected", INBOUND_CALLBACKS)
def test_inbound_callbacks(fields, expected):
    check_callback(ovh(), "inbound", form_post(INBOUND_URL, fields), expected)


# ---- STOP notices: the account's stopCallBack is the incoming SMS URL with ?notice=stop (its fields are not
# documented, spec §2.3: the number is read from the CGI push's names, in the query or a form)

STOP_URL = INBOUND_URL + "?notice=stop"
STOP_NOTICES = [
    case("senderid in the query, as callBack's fields come",
         get(STOP_URL + "&senderid=%2B33698765432&message=STOP&id=12"), [opt_out("+33698765432")]),
    case("posted as a form", form_post(STOP_URL, {"senderid": "0033698765432", "message": "STOP"}),
         [opt_out("0033698765432")]),
    case("the number named sender", get(STOP_URL + "&sender=%2B33698765432"), [opt_out("+33698765432")]),
    case("the number named receiver", get(STOP_URL + "&receiver=%2B33698765432"), [opt_out("+33698765432")]),
    case("no number", get(STOP_URL + "&message=STOP"), Rejected(400)),
    case("without the query, an SMS saying STOP is an incoming SMS",
         form_post(INBOUND_URL, cgi_form("STOP")), [inbound("4478", "+33698765432", "STOP")]),
]


@pytest.mark.parametrize("request_, expected", STOP_NOTICES)
def test_stop_notices(request_, expected):
    check_callback(ovh(), "inbound", request_, expected)


# ---- polling incoming SMS: creationDatetime of GET /sms/{service}/incoming/{id} (ISO 8601, spec §2.4)

CREATION_DATETIMES = [
    case("winter, +01:00", "2025-01-22T11:46:06+01:00", datetime(2025, 1, 22, 10, 46, 6)),
    case("summer, +02:00", "2025-07-14T12:00:00+02:00", datetime(2025, 7, 14, 10, 0, 0)),
    case("UTC written Z", "2025-01-22T10:46:06Z", datetime(2025, 1, 22, 10, 46, 6)),
    case("an offset that crosses midnight", "2025-01-01T00:30:00+01:00", datetime(2024, 12, 31, 23, 30)),
    case("missing", None, None),
    case("empty", "", None),
    case("unreadable", "22/01/2025 11:46", None),
]


@pytest.mark.parametrize("text, expected", CREATION_DATETIMES)
def test_incoming_sms_dates(text, expected):
    assert _utc_naive(text) == expected


# ---- error answers of the signed API (spec §2.1 "Errors", §2.7)

ERRORS = [
    case("a bad signature answers 400 INVALID_SIGNATURE: a secret or clock problem, not bad parameters",
         400, {"errorCode": "INVALID_SIGNATURE", "httpCode": "400 Bad Request", "message": "Invalid signature"},
         dict(code="INVALID_SIGNATURE", transient=False, maybe_sent=False, reason=GIVEN)),
    case("unknown application key",
         403, {"errorCode": "INVALID_KEY", "message": "Invalid application key"},
         dict(code="INVALID_KEY", transient=False, maybe_sent=False, reason=GIVEN)),
    case("keys without the rights on /sms",
         403, {"errorCode": "NOT_GRANTED_CALL", "message": "This call has not been granted"},
         dict(code="NOT_GRANTED_CALL", transient=False, maybe_sent=False, reason=GIVEN)),
    case("unknown service", 404, {"message": "This service does not exist"},
         dict(code="404", transient=False, maybe_sent=False, reason=GIVEN)),
    case("expired service", 460, {"message": "Service expired"},
         dict(code="460", transient=False, maybe_sent=False, reason=GIVEN)),
]


@pytest.mark.parametrize("http_status, body, expected", ERRORS)
def test_api_error_answers(http_status, body, expected):
    assert error_fields(ovh().error(http_status, body)) == expected


# ---- the number an incoming SMS was sent to: the CGI form's shortcode (spec §2.4)

RECEIVING_NUMBERS = [
    case("a virtual number, in 00 form", cgi_form("Oui", shortcode="0033612345678"), "0033612345678"),
    case("the short number replies to a sender name go to", cgi_form("Oui"), "38100"),
    case("none said", cgi_form("Oui", shortcode=None), None),
    case("an empty one", cgi_form("Oui", shortcode=""), None),
]


@pytest.mark.parametrize("fields, expected", RECEIVING_NUMBERS)
def test_the_receiving_number_is_the_shortcode(fields, expected):
    [sms] = ovh().parse_inbound_callback(form_post(INBOUND_URL, fields))
    assert sms.receiving_number == expected


# ---- one callBack and one smsResponse per SMS service (spec §2.3, §2.4): the phones that share them

SCOPES = [
    case("the same service, typed in capitals", {"service_name": "SMS-AB12345-1"}, "ovh-eu/sms-ab12345-1"),
    case("another region's service of that name", {"endpoint": "ovh-ca", "service_name": "sms-ab12345-1"},
         "ovh-ca/sms-ab12345-1"),
    case("no service name yet", {"service_name": ""}, None),
]


@pytest.mark.parametrize("settings, expected", SCOPES)
def test_the_callback_scope_is_the_region_and_the_service(settings, expected):
    assert OvhProvider.callback_scope({"endpoint": "ovh-eu", **settings}) == expected


# ---- the outgoing record asked about when no report came (GET /sms/{service}/outgoing/{id}, spec §2.3)

def outgoing(**fields):
    return {"id": int(JOB_ID), "receiver": "+33698765432", "sentAt": "2025-01-22T11:46:06+01:00",
            "deliveredAt": None, "deliveryReceipt": 0, "ptt": 0, **fields}


OUTGOING_RECORDS = [
    case("delivered: deliveredAt is set", outgoing(deliveredAt="2025-01-22T11:46:09+01:00", deliveryReceipt=1),
         (s.DELIVERED, "outgoing, deliveryReceipt 1", None)),
    case("handed on, no receipt yet", outgoing(), (s.SENT, "outgoing, deliveryReceipt 0", None)),
    case("not delivered to the handset", outgoing(deliveryReceipt=2), (s.FAILED, "outgoing, deliveryReceipt 2", "2")),
    case("refused by the SMSC", outgoing(deliveryReceipt=16), (s.FAILED, "outgoing, deliveryReceipt 16", "16")),
    case("a receipt code we do not know", outgoing(deliveryReceipt=32), (s.SENT, "outgoing, deliveryReceipt 32", None)),
]


@pytest.mark.parametrize("record, expected", OUTGOING_RECORDS)
def test_outgoing_records(record, expected):
    event = ovh().outgoing_status(JOB_ID, record)
    assert (event.status, event.provider_status, event.error_code) == expected
    assert event.provider_message_id == JOB_ID and event.payload == record
