"""What the API reads and answers, as marshmallow schemas: flask-smorest validates requests with
them and writes the OpenAPI document from them, so the document cannot drift from the code."""
from datetime import timezone

from marshmallow import EXCLUDE, Schema, fields, validate

from .. import statuses
from ..messages.forms import MAX_TEXT_LENGTH
from ..providers.base import Capability


class UtcDateTime(fields.DateTime):
    """Stored naive UTC; written with its zone (2026-12-02T17:00:00Z), read with any offset (none: UTC)."""

    def _serialize(self, value, attr, obj, **kwargs):
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc).isoformat().replace("+00:00", "Z")

    def _deserialize(self, value, attr, data, **kwargs):
        moment = super()._deserialize(value, attr, data, **kwargs)
        if moment.tzinfo is not None:
            moment = moment.astimezone(timezone.utc)
        return moment.replace(tzinfo=None)


class Problem(Schema):
    type = fields.String(required=True, metadata={"description": "What kind of problem, as a URI (see the documentation)"})
    title = fields.String(required=True)
    status = fields.Integer(required=True)
    detail = fields.String(required=True, metadata={"description": "In the caller's language"})
    errors = fields.List(fields.Dict(), metadata={"description": "For a request that does not validate: "
                                                                 "[{field, detail}], one per problem"})


class Page(Schema):
    next_cursor = fields.String(allow_none=True, required=True,
                                metadata={"description": "Pass as `cursor` for the next page; null on the last"})


class CursorArguments(Schema):
    class Meta:
        unknown = EXCLUDE

    cursor = fields.Integer(validate=validate.Range(min=1), metadata={"description": "next_cursor of the page before"})


# ---- messages ----

class TimelineEntry(Schema):
    at = UtcDateTime(attribute="created_at", required=True)
    status = fields.String(allow_none=True, metadata={"description": "The status it moved to, if it moved"})
    provider_status = fields.String(allow_none=True)
    error_code = fields.String(allow_none=True)
    reason = fields.String(allow_none=True, metadata={"description": "In the caller's language"})


class MessageOut(Schema):
    id = fields.Integer(required=True)
    direction = fields.String(required=True, validate=validate.OneOf(["outbound", "inbound"]))
    phone_id = fields.Integer(required=True)
    number = fields.String(required=True, attribute="remote_number",
                           metadata={"description": "The recipient of an outbound SMS, the sender of an inbound one"})
    text = fields.String(required=True, attribute="body")
    status = fields.String(required=True, validate=validate.OneOf([*statuses.OUTBOUND_STATUSES, statuses.RECEIVED]))
    encoding = fields.String(required=True)
    segments = fields.Integer(required=True, attribute="segment_count")
    flash = fields.Boolean(required=True)
    scheduled_at = UtcDateTime(allow_none=True)
    created_at = UtcDateTime(required=True)
    status_changed_at = UtcDateTime(required=True)
    error_code = fields.String(allow_none=True)
    error_reason = fields.String(allow_none=True, metadata={"description": "In the caller's language"})


class MessageWithTimeline(MessageOut):
    timeline = fields.List(fields.Nested(TimelineEntry), required=True)


class MessagePage(Page):
    data = fields.List(fields.Nested(MessageOut), required=True)


class MessageFilters(CursorArguments):
    phone_id = fields.Integer()
    status = fields.String(validate=validate.OneOf([*statuses.OUTBOUND_STATUSES, statuses.RECEIVED]))
    direction = fields.String(validate=validate.OneOf(["outbound", "inbound"]))
    number = fields.String(validate=validate.Length(max=32), metadata={"description": "A whole number or its beginning"})
    text = fields.String(validate=validate.Length(max=200), metadata={"description": "Words of the text, any case or accents"})
    date_from = fields.Date(metadata={"description": "From this day, in your time zone"})
    date_to = fields.Date(metadata={"description": "Up to this day included"})
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))


class SendRequest(Schema):
    to = fields.List(fields.String(validate=validate.Length(min=1, max=32)), load_default=list,
                     validate=validate.Length(max=10_000), metadata={"description": "Numbers, E.164 or national"})
    contact_ids = fields.List(fields.Integer(), load_default=list, validate=validate.Length(max=10_000))
    group_ids = fields.List(fields.Integer(), load_default=list, validate=validate.Length(max=100))
    text = fields.String(required=True, validate=validate.Length(min=1, max=MAX_TEXT_LENGTH))
    phone_id = fields.Integer(metadata={"description": "Default: your only phone, or else the first you added"})
    pool_id = fields.String(validate=validate.Length(min=1, max=24), metadata={
        "description": "Instead of phone_id, one of your pools (its id in GET /pools): the pool chooses each "
                       "message's phone when it is sent, and fails over to its next phone when a provider refuses "
                       "for a reason of its own (unreachable, account refused), never for an invalid number"})
    flash = fields.Boolean(load_default=False, metadata={"description": "Where the phone can (see GET /phones)"})
    send_at = UtcDateTime(metadata={"description": "A later time; without an offset, UTC. A phone whose provider schedules gets the message at once, to send then; from any other, SMS Desk holds it (status scheduled) and sends it at that time"})


class IdempotencyHeader(Schema):
    class Meta:
        unknown = EXCLUDE

    idempotency_key = fields.String(data_key="Idempotency-Key", validate=validate.Length(min=1, max=255), metadata={
        "description": "The same key and body within 24 hours answers the first call again and sends nothing; "
                       "the same key with another body is refused (422)"})


class SentMessage(Schema):
    id = fields.Integer(required=True)
    to = fields.String(required=True)
    status = fields.String(required=True)


class Rejected(Schema):
    recipient = fields.String(required=True)
    code = fields.String(required=True, validate=validate.OneOf(
        ["invalid_number", "opted_out", "unknown_contact", "unknown_group"]))
    reason = fields.String(required=True, metadata={"description": "In the caller's language"})


class SendAnswer(Schema):
    messages = fields.List(fields.Nested(SentMessage), required=True)
    rejected = fields.List(fields.Nested(Rejected), required=True,
                           metadata={"description": "Recipients left out of the send, with why"})
    phone_id = fields.Integer(required=True, metadata={
        "description": "The phone the messages are queued on; sent to a pool, its first phone, until the pool "
                       "chooses (GET /messages/{id} tells the phone that sent it)"})
    pool_id = fields.String(allow_none=True, metadata={"description": "The pool sent to, if any"})


class CancelAnswer(Schema):
    outcome = fields.String(required=True, validate=validate.OneOf(["canceled", "provider_asked"]))
    message = fields.Nested(MessageOut, required=True)


# ---- conversations and incoming SMS ----

class ConversationOut(Schema):
    number = fields.String(required=True, attribute="remote_number")
    contact_name = fields.String(allow_none=True)
    unread_count = fields.Integer(required=True)
    last_message = fields.Nested(MessageOut, required=True)


class ConversationPage(Page):
    data = fields.List(fields.Nested(ConversationOut), required=True)


class ConversationArguments(CursorArguments):
    q = fields.String(validate=validate.Length(max=200), metadata={"description": "A number, a name or words"})


class IncomingOut(MessageOut):
    unread = fields.Boolean(required=True)


class IncomingPage(Page):
    data = fields.List(fields.Nested(IncomingOut), required=True)
    unread_total = fields.Integer(required=True)


class ConversationState(Schema):
    number = fields.String(required=True)
    unread_count = fields.Integer(required=True)


# ---- contacts and groups ----

class ContactIn(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    number = fields.String(required=True, validate=validate.Length(min=1, max=32))
    fields_ = fields.Dict(data_key="fields", keys=fields.String(validate=validate.Length(max=100)),
                          values=fields.String(validate=validate.Length(max=500)), load_default=dict)
    notes = fields.String(load_default="", validate=validate.Length(max=5000))


class ContactPatch(Schema):
    name = fields.String(validate=validate.Length(min=1, max=200))
    number = fields.String(validate=validate.Length(min=1, max=32))
    fields_ = fields.Dict(data_key="fields", keys=fields.String(validate=validate.Length(max=100)),
                          values=fields.String(validate=validate.Length(max=500)))
    notes = fields.String(validate=validate.Length(max=5000))


class ContactOut(Schema):
    id = fields.Integer(required=True)
    name = fields.String(required=True)
    number = fields.String(required=True)
    fields_ = fields.Dict(data_key="fields", attribute="fields", required=True)
    notes = fields.String(required=True)
    created_at = UtcDateTime(required=True)
    updated_at = UtcDateTime(required=True)


class ContactPage(Page):
    data = fields.List(fields.Nested(ContactOut), required=True)


class ContactArguments(CursorArguments):
    q = fields.String(validate=validate.Length(max=200))
    group_id = fields.Integer(metadata={"description": "Only the members of this group (not a smart one)"})


class Condition(Schema):
    field = fields.String(required=True, validate=validate.Length(min=1, max=100))
    operator = fields.String(required=True, validate=validate.OneOf(["=", "≠", "<", ">", "contains"]))
    value = fields.String(required=True, validate=validate.Length(max=500))


class GroupIn(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    conditions = fields.List(fields.Nested(Condition), validate=validate.Length(min=1, max=20), metadata={
        "description": "For a smart group: the conditions its members meet, all of them"})


class GroupPatch(Schema):
    name = fields.String(validate=validate.Length(min=1, max=100))
    conditions = fields.List(fields.Nested(Condition), validate=validate.Length(min=1, max=20))


class GroupOut(Schema):
    id = fields.Integer(required=True)
    name = fields.String(required=True)
    smart = fields.Boolean(required=True)
    conditions = fields.List(fields.Nested(Condition), allow_none=True, required=True)
    size = fields.Integer(required=True)
    created_at = UtcDateTime(required=True)


class GroupList(Schema):
    data = fields.List(fields.Nested(GroupOut), required=True)


class Members(Schema):
    contact_ids = fields.List(fields.Integer(), required=True, validate=validate.Length(min=1, max=1000))


class MembersChanged(Schema):
    changed = fields.Integer(required=True, metadata={"description": "How many contacts were added or removed"})
    size = fields.Integer(required=True)


# ---- opt-outs ----

class OptOutIn(Schema):
    number = fields.String(required=True, validate=validate.Length(min=1, max=32))


class OptOutOut(Schema):
    id = fields.Integer(required=True)
    number = fields.String(required=True)
    source = fields.String(required=True, validate=validate.OneOf(["keyword", "provider", "manual", "import"]))
    opted_out_at = UtcDateTime(required=True)
    recorded_at = UtcDateTime(required=True)
    phone_id = fields.Integer(allow_none=True)


class OptOutPage(Page):
    data = fields.List(fields.Nested(OptOutOut), required=True)


class OptOutArguments(CursorArguments):
    q = fields.String(validate=validate.Length(max=32))


# ---- phones ----

class PhoneHealth(Schema):
    last_check_at = UtcDateTime(allow_none=True, required=True)
    last_check_ok = fields.Boolean(allow_none=True, required=True)
    last_check_message = fields.String(allow_none=True, required=True)
    last_callback_at = UtcDateTime(allow_none=True, required=True)
    failures_last_24h = fields.Integer(required=True)
    recent_sends = fields.Integer(required=True, metadata={"description": "Its last attempts (at most 10) within the hour"})
    recent_failures = fields.Integer(required=True, metadata={
        "description": "Those that failed for a reason of the provider's own (unreachable, busy, account refused)"})
    healthy = fields.Boolean(required=True, metadata={
        "description": "False when 5 or more of its last 10 attempts failed for the provider's own reason within "
                       "the hour: pools skip it"})
    last_error = fields.String(allow_none=True, required=True)
    last_error_at = UtcDateTime(allow_none=True, required=True)
    credits = fields.String(allow_none=True, required=True, metadata={
        "description": "What is left to spend, as the provider told it at the last connection test; null where unknown"})


class PhoneOut(Schema):
    id = fields.Integer(required=True)
    name = fields.String(required=True)
    provider = fields.String(required=True)
    default = fields.Boolean(required=True, metadata={"description": "What a send without phone_id goes from"})
    capabilities = fields.List(fields.String(validate=validate.OneOf([c.value for c in Capability])), required=True)
    health = fields.Nested(PhoneHealth, required=True)


class PhoneList(Schema):
    data = fields.List(fields.Nested(PhoneOut), required=True)


class PoolMemberOut(Schema):
    phone_id = fields.Integer(required=True)
    name = fields.String(required=True)
    position = fields.Integer(required=True, metadata={"description": "1 is tried first"})
    weight = fields.Integer(required=True, metadata={"description": "Its share of the sends, for spread"})
    healthy = fields.Boolean(required=True, metadata={"description": "False: the pool skips it for now"})


class PoolOut(Schema):
    id = fields.String(required=True, metadata={"description": "What pool_id names in POST /messages"})
    name = fields.String(required=True)
    strategy = fields.String(required=True, validate=validate.OneOf(["first_available", "spread"]), metadata={
        "description": "first_available: the first healthy phone sends, the next takes over when its provider "
                       "refuses for its own reason; spread: the phones take turns by weight"})
    phones = fields.List(fields.Nested(PoolMemberOut), required=True)


class PoolList(Schema):
    data = fields.List(fields.Nested(PoolOut), required=True)
