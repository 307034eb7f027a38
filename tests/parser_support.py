"""Shared pieces of the table-driven parser tests (tests/test_parsers_*.py).

Raw callback requests go in, plain dicts come out: no database, no HTTP server, no worker,
no broker. A row of a table is `case(name, raw input, expected output)`; the expected output
is a list of `status(...)`, `inbound(...)` and `opt_out(...)` entries, or `Rejected(http_status)`.
"""
import json
from dataclasses import dataclass
from pathlib import Path
from unittest.mock import ANY  # noqa: F401  (the tables use it)
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from flask import Flask
from flask_babel import Babel

from webapp.reasons import Reason
from webapp.providers.base import CallbackRejected, CallbackRequest, ParsedCallback, ProviderError, StatusEvent

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module", autouse=True)
def babel_app():
    """The adapters call flask_babel's gettext: a bare app with Babel is all they need.

    webapp.create_app is not used: it reads (and may create) a secret key file before any
    config applies, and builds the database and rate-limiter extensions these tests never touch."""
    app = Flask("parser-tests")
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = str(PROJECT_ROOT / "webapp" / "translations")
    Babel(app)
    with app.app_context():
        yield app


def case(name: str, *values, xfail: str | None = None):
    marks = [pytest.mark.xfail(strict=True, reason=xfail)] if xfail else []
    return pytest.param(*values, id=name, marks=marks)


# ---- raw requests, as webapp.callbacks.routes.callback_request builds them

def _lower(headers: dict | None) -> dict:
    return {name.lower(): value for name, value in (headers or {}).items()}


def _query(url: str) -> dict:
    return parse_qs(urlsplit(url).query, keep_blank_values=True)


def _multi(fields: dict) -> dict:
    return {name: list(value) if isinstance(value, (list, tuple)) else [value] for name, value in fields.items()}


def form_post(url: str, fields: dict, headers: dict | None = None) -> CallbackRequest:
    """A POST with an application/x-www-form-urlencoded body; a list value repeats the field."""
    form = _multi(fields)
    return CallbackRequest(method="POST", url=url,
                           headers={"content-type": "application/x-www-form-urlencoded", **_lower(headers)},
                           query=_query(url), form=form, body=urlencode(form, doseq=True).encode())


def get(url: str, params: dict | None = None, headers: dict | None = None) -> CallbackRequest:
    """A GET; params are added to the URL's query string."""
    if params:
        url += ("&" if "?" in url else "?") + urlencode(_multi(params), doseq=True)
    return CallbackRequest(method="GET", url=url, headers=_lower(headers), query=_query(url), form={}, body=b"")


def json_post(url: str, payload=None, *, raw: bytes | None = None,
              content_type: str = "application/json") -> CallbackRequest:
    """A POST with a JSON body: payload is dumped as UTF-8, raw is sent as it is."""
    body = raw if raw is not None else json.dumps(payload, ensure_ascii=False).encode()
    return CallbackRequest(method="POST", url=url, headers={"content-type": content_type},
                           query=_query(url), form={}, body=body)


# ---- expected outputs

@dataclass(frozen=True)
class Rejected:
    http_status: int


NOTHING: list = []  # acknowledged, nothing recorded


class Mentions:
    """A reason compared loosely: text that contains every word given (any non-empty text when none)."""

    def __init__(self, *words: str):
        self.words = words

    def __eq__(self, other):
        if isinstance(other, Reason):  # a sentence translated when shown: compared in English
            other = str(other)
        return (isinstance(other, str) and bool(other.strip())
                and all(word.lower() in other.lower() for word in self.words))

    def __repr__(self):
        return f"Mentions{self.words!r}" if self.words else "GIVEN"


GIVEN = Mentions()


class DerivedId:
    """An id made up by the adapter for a message the provider gives none (or none of its own)."""

    def __init__(self, not_equal: str | None = None):
        self.not_equal = not_equal

    def __eq__(self, other):
        return isinstance(other, str) and bool(other) and other != self.not_equal

    def __repr__(self):
        return f"DerivedId(not {self.not_equal!r})" if self.not_equal else "DerivedId()"


def status(provider_message_id, status, provider_status, *, error_code=None, occurred_at=None, recipient=None,
           reason=ANY):
    return "status", dict(provider_message_id=provider_message_id, status=status, provider_status=provider_status,
                          error_code=error_code, occurred_at=occurred_at, recipient=recipient, reason=reason)


def inbound(provider_message_id, sender, text, *, received_at=None):
    return "inbound", dict(provider_message_id=provider_message_id, sender=sender, text=text,
                           received_at=received_at)


def opt_out(number, *, opted_out_at=None):
    return "opt_out", dict(number=number, opted_out_at=opted_out_at)


def status_of(event: StatusEvent):
    """A StatusEvent in the shape of the expected rows."""
    return status(event.provider_message_id, event.status, event.provider_status, error_code=event.error_code,
                  occurred_at=event.occurred_at, recipient=event.recipient, reason=event.reason)


def outcome(parsed: ParsedCallback) -> list:
    """What a parsed callback carried, in the shape of the expected rows."""
    found = [status_of(event) for event in parsed.status_events]
    found += [("inbound", dict(provider_message_id=sms.provider_message_id, sender=sms.sender, text=sms.text,
                               received_at=sms.received_at)) for sms in parsed.inbound]
    found += [("opt_out", dict(number=notice.number, opted_out_at=notice.opted_out_at))
              for notice in parsed.opt_outs]
    return found


def kind_of(request: CallbackRequest) -> str:
    """status or inbound: the last segment of the callback URL's path, as the route reads it."""
    return urlsplit(request.url).path.rsplit("/", 1)[-1]


def check_rejection(rejection: CallbackRejected, http_status: int) -> None:
    assert rejection.status == http_status
    reason = rejection.reason
    assert isinstance(reason, str) and " " in reason.strip() and "\n" not in reason, reason
    assert 8 <= len(reason) <= 100, reason


def check_callback(adapter, kind: str, request: CallbackRequest, expected) -> None:
    if isinstance(expected, Rejected):
        with pytest.raises(CallbackRejected) as caught:
            adapter.parse_callback(kind, request)
        check_rejection(caught.value, expected.http_status)
    else:
        assert outcome(adapter.parse_callback(kind, request)) == expected


def error_fields(error: ProviderError) -> dict:
    return dict(code=error.code, transient=error.transient, maybe_sent=error.maybe_sent, reason=error.reason)
