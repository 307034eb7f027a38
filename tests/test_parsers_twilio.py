"""Twilio (spec §1): form-encoded status and inbound callbacks, signed with X-Twilio-Signature."""
import base64
import hashlib
import hmac

import pytest

from webapp import statuses as s
from webapp.providers import TwilioProvider
from webapp.providers.base import CallbackRejected
from webapp.providers.twilio import twilio_error

from .parser_support import babel_app  # noqa: F401  (autouse: an app context for gettext)
from .parser_support import (GIVEN, Mentions, Rejected, case, check_callback, check_rejection, error_fields, form_post,
                             get, inbound, status, status_of)

AUTH_TOKEN = "9f86d081884c7d659a2feaa0c55ad015"
ACCOUNT_SID = "AC" + "3c" * 16
OUR_NUMBER = "+15005550006"
SID = "SM1f0e2d3c4b5a69788796a5b4c3d2e1f0"
INBOUND_SID = "SM9a8b7c6d5e4f30211203f4e5d6c7b8a9"
STATUS_URL = "https://sms.example.org/callbacks/Tw1lio/Zq8tokenXy/status"
INBOUND_URL = "https://sms.example.org/callbacks/Tw1lio/Zq8tokenXy/inbound"


def twilio(auth_token=AUTH_TOKEN):
    return TwilioProvider(settings={"account_sid": ACCOUNT_SID, "auth_token": auth_token, "number": OUR_NUMBER},
                          http=None, options={})


def status_form(message_status, **extra):
    """What Twilio posts to a StatusCallback (spec §1.2, §1.6)."""
    return {"MessageSid": SID, "SmsSid": SID, "MessageStatus": message_status, "SmsStatus": message_status,
            "AccountSid": ACCOUNT_SID, "From": OUR_NUMBER, "To": "+33698765432", "ApiVersion": "2010-04-01",
            **extra}


def inbound_form(body, **extra):
    """What Twilio posts when a message comes in (spec §1.3)."""
    return {"MessageSid": INBOUND_SID, "SmsSid": INBOUND_SID, "SmsMessageSid": INBOUND_SID,
            "AccountSid": ACCOUNT_SID, "From": "+33612345678", "To": OUR_NUMBER, "Body": body, "NumMedia": "0",
            "NumSegments": "1", "FromCountry": "FR", "ToCountry": "US", "ApiVersion": "2010-04-01", **extra}


def without(fields, *names):
    return {name: value for name, value in fields.items() if name not in names}


# ---- statuses: the mapping table of spec §1.2

SPEC_STATUSES = [
    ("accepted", s.QUEUED), ("scheduled", s.QUEUED), ("queued", s.QUEUED), ("sending", s.QUEUED),
    ("sent", s.SENT),
    ("delivered", s.DELIVERED), ("read", s.DELIVERED),
    ("undelivered", s.FAILED), ("failed", s.FAILED), ("canceled", s.FAILED),
    ("partially_delivered", s.SENT),
    ("receiving", s.UNKNOWN), ("received", s.UNKNOWN), ("a_status_twilio_adds_later", s.UNKNOWN),
]


@pytest.mark.parametrize("twilio_status, ours", SPEC_STATUSES, ids=[name for name, _ in SPEC_STATUSES])
def test_every_twilio_status_maps_as_the_spec_says(twilio_status, ours):
    reason = GIVEN if ours == s.FAILED else None
    check_callback(twilio(), "status", form_post(STATUS_URL, status_form(twilio_status)),
                   [status(SID, ours, twilio_status, reason=reason)])


STATUS_CALLBACKS = [
    case("undelivered with ErrorCode 30003",
         status_form("undelivered", ErrorCode="30003"),
         [status(SID, s.FAILED, "undelivered", error_code="30003", reason=GIVEN)]),
    case("failed with ErrorCode 30008",
         status_form("failed", ErrorCode="30008"),
         [status(SID, s.FAILED, "failed", error_code="30008", reason=GIVEN)]),
    case("delivered with RawDlrDoneDate and a Messaging Service",
         status_form("delivered", RawDlrDoneDate="2503041012", MessagingServiceSid="MG" + "0" * 32),
         [status(SID, s.DELIVERED, "delivered", occurred_at=None, reason=None)]),
    case("only the two fields the spec marks official",
         {"MessageSid": SID, "MessageStatus": "sent"},
         [status(SID, s.SENT, "sent", reason=None)]),
    case("parameters Twilio adds without notice are ignored",
         status_form("delivered", ChannelPrefix="sms", ChannelInstallSid="XE" + "1" * 32, StructuredMessage="false"),
         [status(SID, s.DELIVERED, "delivered", reason=None)]),
    case("no MessageSid", without(status_form("delivered"), "MessageSid"), Rejected(400)),
    case("no MessageStatus", without(status_form("delivered"), "MessageStatus"), Rejected(400)),
    case("empty MessageStatus", status_form(""), Rejected(400)),
    case("empty form", {}, Rejected(400)),
]


@pytest.mark.parametrize("fields, expected", STATUS_CALLBACKS)
def test_status_callbacks(fields, expected):
    check_callback(twilio(), "status", form_post(STATUS_URL, fields), expected)


# ---- incoming SMS (spec §1.3: no timestamp field, the time of receipt is used)

INBOUND_CALLBACKS = [
    case("plain text",
         form_post(INBOUND_URL, inbound_form("Bonjour")),
         [inbound(INBOUND_SID, "+33612345678", "Bonjour", received_at=None)]),
    case("accents and emoji",
         form_post(INBOUND_URL, inbound_form("Ça marche, à demain ! 👍🏽")),
         [inbound(INBOUND_SID, "+33612345678", "Ça marche, à demain ! 👍🏽")]),
    case("several lines",
         form_post(INBOUND_URL, inbound_form("ligne 1\r\nligne 2")),
         [inbound(INBOUND_SID, "+33612345678", "ligne 1\r\nligne 2")]),
    case("an MMS without Body",
         form_post(INBOUND_URL, without(inbound_form("", NumMedia="1", MediaUrl0="https://api.twilio.com/m/1"),
                                        "Body")),
         [inbound(INBOUND_SID, "+33612345678", "")]),
    case("sent with GET: the fields are in the query string",
         get(INBOUND_URL, inbound_form("Oui")),
         [inbound(INBOUND_SID, "+33612345678", "Oui")]),
    case("no MessageSid", form_post(INBOUND_URL, without(inbound_form("Oui"), "MessageSid")), Rejected(400)),
    case("no From", form_post(INBOUND_URL, without(inbound_form("Oui"), "From")), Rejected(400)),
]


@pytest.mark.parametrize("request_, expected", INBOUND_CALLBACKS)
def test_inbound_callbacks(request_, expected):
    check_callback(twilio(), "inbound", request_, expected)


# ---- X-Twilio-Signature (spec §1.4), computed here as the spec writes it

def spec_signature(token: str, url: str, params: dict | None = None) -> str:
    payload = url
    for name in sorted(set(params or {})):
        values = params[name] if isinstance(params[name], list) else [params[name]]
        for value in sorted(set(values)):
            payload += name + value
    return base64.b64encode(hmac.new(token.encode(), payload.encode(), hashlib.sha1).digest()).decode().strip()


def signed_post(url, fields, *, token=AUTH_TOKEN, signed_url=None, signed_fields=None):
    signature = spec_signature(token, signed_url or url, signed_fields if signed_fields is not None else fields)
    return form_post(url, fields, headers={"X-Twilio-Signature": signature})


def signed_get(url, params, *, token=AUTH_TOKEN):
    request = get(url, params)
    return get(url, params, headers={"X-Twilio-Signature": spec_signature(token, request.url)})


OFFICIAL_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
OFFICIAL_FIELDS = {"CallSid": "CA1234567890ABCDE", "Caller": "+14158675309", "Digits": "1234",
                   "From": "+14158675309", "To": "+18005551212"}
OFFICIAL_SIGNATURE = "RSOYDt4T1cUTdK1PDd93/VVr8B8="
ACCEPTED = None

SIGNATURES = [
    case("the spec's worked example (token 12345)",
         "12345", form_post(OFFICIAL_URL, OFFICIAL_FIELDS, headers={"X-Twilio-Signature": OFFICIAL_SIGNATURE}),
         ACCEPTED),
    case("a status callback signed over its exact URL",
         AUTH_TOKEN, signed_post(STATUS_URL, status_form("delivered")), ACCEPTED),
    case("an incoming SMS with emoji, signed over UTF-8",
         AUTH_TOKEN, signed_post(INBOUND_URL, inbound_form("Merci ! 🎉 À bientôt")), ACCEPTED),
    case("a URL with a query string",
         AUTH_TOKEN, signed_post(STATUS_URL + "?attempt=2&b=1", status_form("sent")), ACCEPTED),
    case("a repeated field: its values sorted and de-duplicated",
         AUTH_TOKEN, signed_post(INBOUND_URL, inbound_form("Photo", MediaUrl0=["https://b.example/2",
                                                                               "https://a.example/1",
                                                                               "https://a.example/1"])),
         ACCEPTED),
    case("Twilio signed the URL with :443, we were called without it",
         AUTH_TOKEN, signed_post(STATUS_URL, status_form("sent"),
                                 signed_url=STATUS_URL.replace("example.org/", "example.org:443/")),
         ACCEPTED),
    case("Twilio signed the URL without :443, we were called with it",
         AUTH_TOKEN, signed_post(STATUS_URL.replace("example.org/", "example.org:443/"), status_form("sent"),
                                 signed_url=STATUS_URL),
         ACCEPTED),
    case("plain http, signed with :80",
         AUTH_TOKEN, signed_post("http://sms.example.org/callbacks/Tw1lio/Zq8tokenXy/status", status_form("sent"),
                                 signed_url="http://sms.example.org:80/callbacks/Tw1lio/Zq8tokenXy/status"),
         ACCEPTED),
    case("a GET webhook: the query string is signed as part of the URL, no parameters",
         AUTH_TOKEN, signed_get(INBOUND_URL, inbound_form("Oui")), ACCEPTED),
    case("a tampered Body",
         AUTH_TOKEN, signed_post(INBOUND_URL, inbound_form("Send me 1000 €"), signed_fields=inbound_form("Oui")),
         Rejected(403)),
    case("a tampered MessageStatus",
         AUTH_TOKEN, signed_post(STATUS_URL, status_form("delivered"), signed_fields=status_form("undelivered")),
         Rejected(403)),
    case("a parameter added after signing",
         AUTH_TOKEN, signed_post(STATUS_URL, status_form("sent", ErrorCode="30003"),
                                 signed_fields=status_form("sent")),
         Rejected(403)),
    case("signed with another account's token",
         AUTH_TOKEN, signed_post(STATUS_URL, status_form("sent"), token="0" * 32), Rejected(403)),
    case("signed for another phone's URL",
         AUTH_TOKEN, signed_post(STATUS_URL, status_form("sent"), signed_url=STATUS_URL.replace("Tw1lio", "0ther")),
         Rejected(403)),
    case("signed without a non-default port we were called on",
         AUTH_TOKEN, signed_post(STATUS_URL.replace("example.org/", "example.org:8443/"), status_form("sent"),
                                 signed_url=STATUS_URL),
         Rejected(403)),
    case("no X-Twilio-Signature header",
         AUTH_TOKEN, form_post(STATUS_URL, status_form("sent")), Rejected(403)),
    case("an empty X-Twilio-Signature header",
         AUTH_TOKEN, form_post(STATUS_URL, status_form("sent"), headers={"X-Twilio-Signature": ""}), Rejected(403)),
]


def test_the_signatures_of_these_tables_match_the_spec_example():
    assert spec_signature("12345", OFFICIAL_URL, OFFICIAL_FIELDS) == OFFICIAL_SIGNATURE


@pytest.mark.parametrize("token, request_, expected", SIGNATURES)
def test_signature_verification(token, request_, expected):
    adapter = twilio(auth_token=token)
    if isinstance(expected, Rejected):
        with pytest.raises(CallbackRejected) as caught:
            adapter.verify_callback(request_)
        check_rejection(caught.value, expected.http_status)
    else:
        adapter.verify_callback(request_)


# ---- polling: the Message resource that GET …/Messages/{Sid}.json answers (spec §1.2 "Poll")

POLLED = [
    case("undelivered, error_code as a JSON integer",
         {"sid": SID, "status": "undelivered", "error_code": 30003, "error_message": "Unreachable destination handset",
          "date_updated": "Tue, 04 Mar 2025 10:12:00 +0000"},
         status(SID, s.FAILED, "undelivered", error_code="30003", reason=GIVEN)),
    case("delivered, error_code null",
         {"sid": SID, "status": "delivered", "error_code": None, "error_message": None},
         status(SID, s.DELIVERED, "delivered", reason=None)),
    case("still sending",
         {"sid": SID, "status": "sending", "error_code": None},
         status(SID, s.QUEUED, "sending", reason=None)),
    case("canceled (a scheduled message)",
         {"sid": SID, "status": "canceled", "error_code": None},
         status(SID, s.FAILED, "canceled", reason=GIVEN)),
]


@pytest.mark.parametrize("resource, expected", POLLED)
def test_polled_message_resources(resource, expected):
    event = twilio().status_event(SID, resource.get("status", ""), resource.get("error_code"), resource)
    assert status_of(event) == expected


# ---- error answers of the REST API (spec §1.1 "Error")

ERRORS = [
    case("invalid To (400, code 21211): Twilio's own message is kept",
         400, {"code": 21211, "message": "The 'To' number 5551234567 is not a valid phone number.",
               "more_info": "https://www.twilio.com/docs/errors/21211", "status": 400},
         dict(code="21211", transient=False, maybe_sent=False, reason=Mentions("5551234567"))),
    case("bad credentials (401, code 20003)",
         401, {"code": 20003, "message": "Authenticate", "more_info": "https://www.twilio.com/docs/errors/20003",
               "status": 401},
         dict(code="20003", transient=False, maybe_sent=False, reason=GIVEN)),
    case("an RFC 9457 body",
         400, {"type": "https://www.twilio.com/docs/errors/21211", "title": "Invalid To", "status": 400,
               "code": 21211, "detail": "The 'To' number 12 is not valid.", "instance": "/Messages"},
         dict(code="21211", transient=False, maybe_sent=False, reason=GIVEN)),
    case("a code we have no words for: Twilio's message is shown",
         400, {"code": 21617, "message": "The concatenated message body exceeds the 1600 character limit.",
               "status": 400},
         dict(code="21617", transient=False, maybe_sent=False, reason=Mentions("1600 character limit"))),
    case("no body: the HTTP status stands in",
         404, {}, dict(code="404", transient=False, maybe_sent=False, reason=Mentions("404"))),
]


@pytest.mark.parametrize("http_status, body, expected", ERRORS)
def test_api_error_answers(http_status, body, expected):
    assert error_fields(twilio_error(http_status, body)) == expected
