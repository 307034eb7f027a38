"""Sentences written outside a request (by the worker, a callback, a provider adapter) for people
to read later: stored as what happened, a message id with its parameters, and translated when
shown, in the language of whoever reads it.

    Reason("Attempt %(number)d failed: %(reason)s", number=2, reason=Reason("the provider is busy"))

is stored as JSON ({"reason": msgid, "with": {...}}) by `stored()`, and `shown()` turns a stored
value back into text in the current language. A stored value that is not of that form (the
provider's own words, rows written before reasons were stored this way) is shown as it is.
"""
import json

from flask_babel import gettext, ngettext

STORED_PREFIX = '{"reason":'


def N_(msgid: str) -> str:
    """Marks a message id for extraction where it is not translated at once."""
    return msgid


# Reasons the message page recognizes, to fold a provider's repeated refusals into one line.
ATTEMPT = N_("Attempt %(number)d")
ATTEMPT_FAILED = N_("Attempt %(number)d failed: %(reason)s. Next try in %(delay)d s.")
# an attempt's lost answer, sent again to a provider that refuses a repeated request
SENT_AGAIN = N_("%(reason)s; sending it again cannot send it twice, since the provider refuses a repeated request")


class Reason:
    """A sentence to translate when shown; str() gives it in the current language."""

    def __init__(self, msgid: str, plural: str | None = None, **params):
        self.msgid, self.plural, self.params = msgid, plural, params

    def __str__(self) -> str:
        params = {name: str(value) if isinstance(value, Reason) else value for name, value in self.params.items()}
        if self.plural is not None:
            num = params.pop("num")
            return ngettext(self.msgid, self.plural, num, **params)
        return gettext(self.msgid, **params) if params else gettext(self.msgid)

    def __repr__(self) -> str:
        return f"Reason({self.msgid!r}, {self.params!r})"

    def __eq__(self, other):
        if not isinstance(other, Reason):
            return NotImplemented
        return (self.msgid, self.plural, self.params) == (other.msgid, other.plural, other.params)

    def __hash__(self):
        return hash((self.msgid, self.plural))

    def as_data(self) -> dict:
        data = {"reason": self.msgid}
        if self.plural is not None:
            data["plural"] = self.plural
        if self.params:
            data["with"] = {name: value.as_data() if isinstance(value, Reason) else value
                            for name, value in self.params.items()}
        return data

    @classmethod
    def from_data(cls, data: dict) -> "Reason":
        params = {name: cls.from_data(value) if isinstance(value, dict) and "reason" in value else value
                  for name, value in data.get("with", {}).items()}
        return cls(data["reason"], data.get("plural"), **params)


def plural(singular: str, plural_form: str, num: int, **params) -> Reason:
    return Reason(singular, plural_form, num=num, **params)


def stored(value) -> str | None:
    """What goes into a text column: a Reason as JSON, anything else as text."""
    if value is None:
        return None
    if isinstance(value, Reason):
        return json.dumps(value.as_data(), ensure_ascii=False, default=str)
    return str(value)


def loaded(value: str | None):
    """A stored value as a Reason, or as the plain text it is."""
    if not value or not value.startswith(STORED_PREFIX):
        return value
    try:
        return Reason.from_data(json.loads(value))
    except (ValueError, KeyError, TypeError):
        return value


def shown(value) -> str:
    """A stored value (or a Reason) as text in the current language."""
    reason = loaded(value) if isinstance(value, str) else value
    if reason is None:
        return ""
    try:
        return str(reason)
    except (KeyError, ValueError, TypeError):  # a translation that lost a parameter: the English text
        return reason.msgid % reason.params if isinstance(reason, Reason) else str(reason)
