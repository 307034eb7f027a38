"""The outbound message state machine: the statuses, the moves allowed between them, and every
rule about them (final, polled, cancelable, how each is shown).

A provider's reports arrive late, twice or out of order, so a status only moves forward.
Every write of a message's status goes through webapp/services/status_store.py, which takes the
statuses a move may come from from these tables.
"""
from flask_babel import lazy_gettext as _l

QUEUED = "queued"
SENDING = "sending"
SENT = "sent"
DELIVERED = "delivered"
FAILED = "failed"
UNKNOWN = "unknown"
CANCELED = "canceled"
# for a later date: accepted by a provider that sends it then, or held by SMS Desk until then
# (a phone whose provider cannot schedule; never claimed, so attempt_count is 0: status_store.held_here)
SCHEDULED = "scheduled"
RECEIVED = "received"  # the only status of an inbound message

OUTBOUND_STATUSES = (QUEUED, SENDING, SCHEDULED, SENT, DELIVERED, FAILED, UNKNOWN, CANCELED)
FINAL_STATUSES = frozenset({DELIVERED, FAILED, CANCELED})

# Who moves a status: what the provider tells us (callbacks, polling, send results), or SMS Desk
# itself (claims, retries, sweeps, a user's cancel, a deleted phone).
PROVIDER = "provider"
PIPELINE = "pipeline"

TRANSITIONS = {
    PROVIDER: {
        QUEUED: {SENT, DELIVERED, FAILED, UNKNOWN},
        SENDING: {SCHEDULED, SENT, DELIVERED, FAILED, UNKNOWN},
        SCHEDULED: {SENT, DELIVERED, FAILED, UNKNOWN, CANCELED},
        UNKNOWN: {SCHEDULED, SENT, DELIVERED, FAILED},
        SENT: {DELIVERED, FAILED},
        DELIVERED: set(),
        FAILED: set(),
        CANCELED: set(),
    },
    PIPELINE: {
        QUEUED: {SENDING, CANCELED, FAILED},
        # back to queued only for a retry after a failure that proves nothing was sent
        SENDING: {QUEUED, UNKNOWN, FAILED},
        # we stopped asking a provider that never gave a final status
        SCHEDULED: {UNKNOWN},
        SENT: {UNKNOWN},
    },
}

# A user's "send it again": a message that failed, or one whose fate is unknown (which may have
# been sent: only once the user confirms it). Its timeline keeps the earlier attempts.
RESEND = "resend"
TRANSITIONS[RESEND] = {FAILED: {QUEUED}, UNKNOWN: {QUEUED}}
RESEND_NEEDS_CONFIRMATION = frozenset({UNKNOWN})

# SMS Desk's own schedule: a message it holds for a later date is queued when its time comes
# (or when the user says "send now"), or canceled by the user until then.
SCHEDULE = "schedule"
TRANSITIONS[SCHEDULE] = {SCHEDULED: {QUEUED, CANCELED}}

# Statuses whose provider we ask again, for providers that report only when asked.
POLLED_STATUSES = frozenset({SCHEDULED, SENT, UNKNOWN})

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

# The ticks beside an outbound SMS in lists and conversations; a status not listed shows WAITING_GLYPH.
GLYPHS = {DELIVERED: "✓✓", SENT: "✓", FAILED: "✗", CANCELED: "✗", UNKNOWN: "?"}
WAITING_GLYPH = "…"


def may_move(current: str, new: str, by: str) -> bool:
    return new in TRANSITIONS[by].get(current, set())


def sources(new: str, by: str) -> list[str]:
    """The statuses `by` may move a message to `new` from, in a stable order."""
    return [current for current in OUTBOUND_STATUSES if new in TRANSITIONS[by].get(current, set())]


def provider_may_move(current: str, new: str) -> bool:
    return may_move(current, new, PROVIDER)


def is_final(status: str) -> bool:
    return status in FINAL_STATUSES


def cancelable_here(status: str) -> bool:
    """Not handed to the provider yet: SMS Desk alone can cancel it."""
    return may_move(status, CANCELED, PIPELINE)


def cancelable_at_provider(status: str) -> bool:
    """Held by the provider for a later date: only the provider can cancel it."""
    return may_move(status, CANCELED, PROVIDER)


def may_resend(status: str, confirmed: bool = False) -> bool:
    """Failed: sent again at a click. Unknown (it may have been sent): only once the user confirmed it."""
    return may_move(status, QUEUED, RESEND) and (confirmed or status not in RESEND_NEEDS_CONFIRMATION)


def glyph(status: str) -> str:
    return GLYPHS.get(status, WAITING_GLYPH)


def label(status: str) -> str:
    return str(LABELS.get(status, status))
