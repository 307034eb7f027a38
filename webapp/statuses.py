"""The outbound message state machine: the statuses and the moves allowed between them.

A provider's reports arrive late, twice or out of order, so a status only moves forward.
"""
from flask_babel import lazy_gettext as _l

QUEUED = "queued"
SENDING = "sending"
SENT = "sent"
DELIVERED = "delivered"
FAILED = "failed"
UNKNOWN = "unknown"
CANCELED = "canceled"
SCHEDULED = "scheduled"  # accepted by a provider that sends it at a later date
RECEIVED = "received"  # the only status of an inbound message

OUTBOUND_STATUSES = (QUEUED, SENDING, SCHEDULED, SENT, DELIVERED, FAILED, UNKNOWN, CANCELED)
FINAL_STATUSES = frozenset({DELIVERED, FAILED, CANCELED})

# Moves made by what the provider tells us (callbacks, polling, send results).
PROVIDER_TRANSITIONS = {
    QUEUED: {SENT, DELIVERED, FAILED, UNKNOWN},
    SENDING: {SCHEDULED, SENT, DELIVERED, FAILED, UNKNOWN},
    SCHEDULED: {SENT, DELIVERED, FAILED, UNKNOWN, CANCELED},
    UNKNOWN: {SCHEDULED, SENT, DELIVERED, FAILED},
    SENT: {DELIVERED, FAILED},
    DELIVERED: set(),
    FAILED: set(),
    CANCELED: set(),
}

# Moves made by our own pipeline, never by a provider report.
PIPELINE_TRANSITIONS = {
    QUEUED: {SENDING, CANCELED, FAILED},
    # back to queued only for a retry after a failure that proves nothing was sent
    SENDING: {QUEUED, UNKNOWN, FAILED},
    # we stopped asking a provider that never gave a final status
    SCHEDULED: {UNKNOWN},
    SENT: {UNKNOWN},
}

LABELS = {
    QUEUED: _l("queued"),
    SENDING: _l("sending"),
    SENT: _l("sent"),
    DELIVERED: _l("delivered"),
    FAILED: _l("failed"),
    UNKNOWN: _l("unknown"),
    CANCELED: _l("canceled"),
    SCHEDULED: _l("scheduled"),
    RECEIVED: _l("received"),
}


def provider_may_move(current: str, new: str) -> bool:
    return new in PROVIDER_TRANSITIONS.get(current, set())


def provider_sources(new: str) -> list[str]:
    """The statuses a provider's report may move to `new` from."""
    return [current for current, targets in PROVIDER_TRANSITIONS.items() if new in targets]


def pipeline_may_move(current: str, new: str) -> bool:
    return new in PIPELINE_TRANSITIONS.get(current, set())


def is_final(status: str) -> bool:
    return status in FINAL_STATUSES
