"""Callback tokens, and the tokens of password reset links, never reach a log line or the broker.

A callback URL (/callbacks/<phone id>/<token>/<kind>) is the phone's password: whoever reads it
can post reports and incoming SMS. It turns up in request logs, in the text of exceptions
(requests names the URL it could not post to) and so in tracebacks, which RQ also keeps with a
failed job for a day. What is written keeps the token's first 4 characters, enough to tell two
apart: /callbacks/1a2b3c4d5e6f/Ka9Z…/inbound. A reset link (/reset-password/<token>) is a password
for an hour: request logs show it as /reset-password/Ka9Z….
"""
import logging
import re

# the path as written, or percent-encoded in a query string (%2Fcallbacks%2F...)
CALLBACK_TOKEN = re.compile(r"((?:callbacks(?:/|%2F)[0-9A-Za-z]+|reset-password)(?:/|%2F))([A-Za-z0-9_-]{4})"
                            r"[A-Za-z0-9_-]+", re.IGNORECASE)


def masked(text: str) -> str:
    return CALLBACK_TOKEN.sub(r"\1\2…", text)


class CallbackTokenFilter(logging.Filter):
    """Masks the tokens in a record's message and in its traceback's text."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # arguments that do not fit the message: logging reports it when it writes
            return True
        if CALLBACK_TOKEN.search(message):
            record.msg, record.args = masked(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = masked(record.exc_text)
        if record.stack_info:
            record.stack_info = masked(record.stack_info)
        return True


def install() -> None:
    """For every record of every logger, once per process. A filter on the root logger would not
    do: a logger's filters see only what is logged to that very logger, not what its children
    (werkzeug, rq.worker, gunicorn.error) pass up to the root's handlers."""
    factory = logging.getLogRecordFactory()
    if getattr(factory, "masks_callback_tokens", False):
        return
    token_filter = CallbackTokenFilter()

    def masking_factory(*args, **kwargs):
        record = factory(*args, **kwargs)
        token_filter.filter(record)
        return record

    masking_factory.masks_callback_tokens = True
    logging.setLogRecordFactory(masking_factory)
