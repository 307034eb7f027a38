import json
import secrets
from datetime import datetime, timezone

from flask import current_app, has_app_context
from flask_login import UserMixin
from sqlalchemy import Index, UniqueConstraint, text
from werkzeug.security import check_password_hash, generate_password_hash

from . import statuses
from .folding import folded
from .extensions import db


def utcnow() -> datetime:
    """Naive UTC, the form every timestamp is stored in (SQLite keeps no zone)."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


def password_hash_method() -> str:
    """Werkzeug's scrypt at its own cost (n=2^15, r=8, p=1) unless the app's PASSWORD_HASH_METHOD
    says otherwise: the tests' configuration asks for a cheaper scrypt, to hash thousands of passwords."""
    return current_app.config.get("PASSWORD_HASH_METHOD", "scrypt") if has_app_context() else "scrypt"


def new_public_id() -> str:
    return secrets.token_hex(6)


def new_callback_token() -> str:
    return secrets.token_urlsafe(24)


class User(UserMixin, db.Model):
    __tablename__ = "users"
    id = db.Column(db.Integer, primary_key=True)
    email = db.Column(db.String(254), nullable=False, unique=True)
    password_hash = db.Column(db.String(255), nullable=False)
    is_admin = db.Column(db.Boolean, nullable=False, default=False)
    disabled = db.Column(db.Boolean, nullable=False, default=False)
    locale = db.Column(db.String(8))  # None: follow the browser
    timezone = db.Column(db.String(64))
    created_at = db.Column(db.DateTime, nullable=False, default=utcnow)
    opt_out_settings = db.Column(db.JSON)  # None: the defaults (webapp/services/opt_outs.py)
    must_change_password = db.Column(db.Boolean, nullable=False, default=False)  # after an administrator's reset
    # the e-mailed reset link's token, hashed (webapp/services/password_resets.py)
    password_reset_hash = db.Column(db.String(64))
    password_reset_expires_at = db.Column(db.DateTime)

    # ids in URLs and cookies are never handed out again (SQLite reuses the highest one otherwise)
    __table_args__ = {"sqlite_autoincrement": True}
    # the sign-in this request runs under: Flask-Login's id for the user (see auth.sessions)
    signed_in_session_id = None

    def get_id(self) -> str:
        if self.signed_in_session_id is None:
            raise RuntimeError("sign users in through auth.routes.sign_in, which starts their sign-in")
        return self.signed_in_session_id

    # UserMixin compares get_id(), which names a sign-in here: a row is one object per database session
    __eq__, __ne__, __hash__ = object.__eq__, object.__ne__, object.__hash__

    def set_password(self, password: str) -> None:
        self.password_hash = generate_password_hash(password, method=password_hash_method())

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)

    @property
    def is_active(self) -> bool:
        return not self.disabled

    @property
    def is_authenticated(self) -> bool:
        # Flask-Login keeps the user its remember cookie loaded even when the renewal finds the
        # sign-in ended meanwhile: without a sign-in, the request is anonymous
        return self.signed_in_session_id is not None and self.is_active


class Quota(db.Model):
    """A user's allowance of SMS segments, set by an administrator: per month (renewed on the 1st,
    in the user's time zone) or a fixed credit. `used` counts the segments queued in the current
    period; written by services.quotas only, in conditional statements (two sends at once cannot
    both take the last segments)."""
    __tablename__ = "quotas"
    MONTHLY, CREDIT = "month", "credit"
    user_id = db.Column(db.Integer, db.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    kind = db.Column(db.String(8), nullable=False)
    segments = db.Column(db.Integer, nullable=False)
    used = db.Column(db.Integer, nullable=False, default=0)
    period_start = db.Column(db.DateTime, nullable=False)  # a month's start (naive UTC), or when the credit was given
    alerted = db.Column(db.Integer, nullable=False, default=0)  # 0, 90 or 100: the alerts given in this period
    updated_at = db.Column(db.DateTime, nullable=False, default=utcnow, onupdate=utcnow)


class Phone(db.Model):
    __tablename__ = "phones"
    id = db.Column(db.Integer, primary_key=True)
    user_id = db.Column(db.Integer, db.ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True)
    public_id = db.Column(db.String(24), nullable=False, unique=True, default=new_public_id)
    name = db.Column(db.String(100), nullable=False)
    provider_key = db.Column(db.String(40), nullable=False)
    settings = db.Column(db.JSON, nullable=False, default=dict)
    encrypted_secrets = db.Column(db.Text)
    callback_token = db.Column(db.String(64), nullable=False, default=new_callback_token)
    rate_limit_per_second = db.Column(db.Float)
    last_callback_at = db.Column(db.DateTime)
    # the first callback that came, shown on the phone's page: "status" or "inbound", and for an SMS its sender
    first_callback_at = db.Column(db.DateTime)
    first_callback_kind = db.Column(db.String(8))
    first_callback_from = db.Column(db.String(32))
    last_check_at = db.Column(db.DateTime)  # the last "test the connection"
    last_check_ok = db.Column(db.Boolean)
    last_check_message = db.Column(db.Text)
    last_check_facts = db.Column(db.JSON)  # e.g. the balance, as {label: value}
    # whether SMS Desk asks the provider for reports and incoming SMS: automatic, always or never
    polling_mode = db.Column(db.String(10), nullable=False, default="automatic", server_default="automatic")
    next_inbound_poll_at = db.Column(db.DateTime, index=True)  # None: asked at the next sweep, if it asks
    polled_at = db.Column(db.DateTime)  # when SMS Desk last asked the provider
    poll_found = db.Column(db.JSON)  # what it found then: {"statuses": n, "inbound": n, "error": reason}
    created_at = db.Column(db.DateTime, nullable=False, default=utcnow)
    deleted_at = db.Column(db.DateTime)
    # its health (webapp/services/phone_health.py): its last sends, newest first, as [[when, failed]]
    # where failed is true for a refusal of the provider's own (never the recipient's), and its last error
    recent_sends = db.Column(db.JSON)
    last_error = db.Column(db.Text)  # a stored Reason, or the provider's own words
    last_error_at = db.Column(db.DateTime)

    user = db.relationship("User")
    # read with the phone, so that claiming its messages costs no statement more when it has no limits
    limit = db.relationship("PhoneLimit", uselist=False, lazy="joined", viewonly=True)

    __table_args__ = {"sqlite_autoincrement": True}


class PhonePool(db.Model):
    """An ordered list of a user's phones that compose and the API can send from: "first
    available" sends from the first healthy phone and fails over to the next when a phone's
    provider refuses for a reason of its own; "spread" shares the sends by weight (webapp/services/pools.py)."""
    __tablename__ = "phone_pools"
    FIRST_AVAILABLE, SPREAD = "first_available", "spread"
    STRATEGIES = (FIRST_AVAILABLE, SPREAD)

    id = db.Column(db.Integer, primary_key=True)
    user_id = db.Column(db.Integer, db.ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True)
    public_id = db.Column(db.String(24), nullable=False, unique=True, default=new_public_id)
    name = db.Column(db.String(100), nullable=False)
    strategy = db.Column(db.String(16), nullable=False, default=FIRST_AVAILABLE)
    created_at = db.Column(db.DateTime, nullable=False, default=utcnow)

    members = db.relationship("PhonePoolMember", order_by="PhonePoolMember.position", cascade="all, delete-orphan",
                              passive_deletes=True, back_populates="pool")

    __table_args__ = (UniqueConstraint("user_id", "name", name="uq_phone_pools_user_name"),
                      {"sqlite_autoincrement": True})


class PhonePoolMember(db.Model):
    __tablename__ = "phone_pool_members"
    pool_id = db.Column(db.Integer, db.ForeignKey("phone_pools.id", ondelete="CASCADE"), primary_key=True)
    phone_id = db.Column(db.Integer, db.ForeignKey("phones.id", ondelete="CASCADE"), primary_key=True)
    position = db.Column(db.Integer, nullable=False)  # 1 is tried first
    weight = db.Column(db.Integer, nullable=False, default=1)  # spread: its share of the sends

    pool = db.relationship("PhonePool", back_populates="members")
    phone = db.relationship("Phone", lazy="joined")

    __table_args__ = (Index("ix_phone_pool_members_phone", "phone_id"),)


class PhoneLimit(db.Model):
    """The most a phone sends per day and per month (operators cut SIMs and numbers that send too
    much), counted in segments or in messages, and what it sent in the current day and month (the
    owner's, by webapp/clock.py). A phone that reached a limit is paused until the next period:
    its messages stay queued (enqueued_at None) until the sweep resumes it. Written by
    services.limits only, each change conditional on `version` (two senders cannot both take the
    last segments)."""
    __tablename__ = "phone_limits"
    SEGMENTS, MESSAGES = "segments", "messages"
    phone_id = db.Column(db.Integer, db.ForeignKey("phones.id", ondelete="CASCADE"), primary_key=True)
    per_day = db.Column(db.Integer)
    per_month = db.Column(db.Integer)
    counts = db.Column(db.String(8), nullable=False, default=SEGMENTS)
    day_start = db.Column(db.DateTime)
    day_used = db.Column(db.Integer, nullable=False, default=0)
    month_start = db.Column(db.DateTime)
    month_used = db.Column(db.Integer, nullable=False, default=0)
    paused_until = db.Column(db.DateTime, index=True)  # naive UTC, by the limits' clock
    paused_by = db.Column(db.String(8))  # the limit reached: "day" or "month"
    version = db.Column(db.Integer, nullable=False, default=0)


class Message(db.Model):
    """One SMS, sent or received. Outbound ones carry the pipeline's bookkeeping."""
    __tablename__ = "messages"
    OUTBOUND = "outbound"
    INBOUND = "inbound"

    id = db.Column(db.Integer, primary_key=True)
    user_id = db.Column(db.Integer, db.ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    phone_id = db.Column(db.Integer, db.ForeignKey("phones.id", ondelete="CASCADE"), nullable=False)
    direction = db.Column(db.String(8), nullable=False)
    remote_number = db.Column(db.String(32), nullable=False)
    body = db.Column(db.Text, nullable=False)
    # what text search compares, written with the body by every insert (the bench's bulk ones too)
    body_folded = db.Column(db.Text, nullable=False,
                            default=lambda context: folded(context.get_current_parameters()["body"]))
    encoding = db.Column(db.String(8), nullable=False)
    segment_count = db.Column(db.Integer, nullable=False)
    status = db.Column(db.String(16), nullable=False)
    provider_message_id = db.Column(db.String(100))
    error_code = db.Column(db.String(40))
    error_reason = db.Column(db.Text)
    attempt_count = db.Column(db.Integer, nullable=False, default=0)
    created_at = db.Column(db.DateTime, nullable=False, default=utcnow)
    status_changed_at = db.Column(db.DateTime, nullable=False, default=utcnow)
    # the pipeline's bookkeeping
    enqueued_at = db.Column(db.DateTime)
    send_job_id = db.Column(db.String(64))  # the broker job that carries it, to tell when that job is lost
    claimed_by = db.Column(db.String(100))
    compose_batch = db.Column(db.String(32))  # the compose action it came from
    flash = db.Column(db.Boolean, nullable=False, default=False, server_default="0")
    scheduled_at = db.Column(db.DateTime)  # when it is to be sent (by its provider, or queued by SMS Desk then)
    # held here for later, found with its time long past (SMS Desk was stopped): it waits for the user
    held_late_at = db.Column(db.DateTime)
    next_status_poll_at = db.Column(db.DateTime, index=True)  # for providers we ask rather than wait for
    status_poll_count = db.Column(db.Integer, nullable=False, default=0, server_default="0")
    # the campaign (a compose action to several recipients) it belongs to
    campaign_id = db.Column(db.Integer, db.ForeignKey("campaigns.id", ondelete="SET NULL"))
    # attempt_count when a user last sent it again: its attempts since then are counted from it
    # (the retry policy), and its reference at the provider changes (a provider that refuses a
    # repeated reference must take the new send)
    attempts_before_resend = db.Column(db.Integer, nullable=False, default=0, server_default="0")
    # the pool it was sent to: its phone is the pool's choice, and may change by failover
    pool_id = db.Column(db.Integer, db.ForeignKey("phone_pools.id", ondelete="SET NULL"))

    phone = db.relationship("Phone")
    pool = db.relationship("PhonePool")
    events = db.relationship("MessageEvent", order_by="MessageEvent.id", back_populates="message",
                             cascade="all, delete-orphan", passive_deletes=True)

    __table_args__ = (
        UniqueConstraint("phone_id", "direction", "provider_message_id", name="uq_messages_provider_id"),
        Index("ix_messages_user_id_id", "user_id", "id"),
        Index("ix_messages_user_remote", "user_id", "remote_number", "id"),
        Index("ix_messages_user_status", "user_id", "status", "id"),
        Index("ix_messages_status_id", "status", "id"),
        Index("ix_messages_user_created", "user_id", "created_at", "status"),
        Index("ix_messages_user_status_created", "user_id", "status", "created_at"),  # the dashboard's counts
        # the statistics page's figures per phone, read from the index alone
        Index("ix_messages_user_phone_status_created", "user_id", "phone_id", "status", "created_at", "segment_count"),
        # and its failure reasons (partial: the failed messages only)
        Index("ix_messages_failure_reasons", "user_id", "created_at", "phone_id", "error_code", "error_reason",
              sqlite_where=text("status = 'failed'"), postgresql_where=text("status = 'failed'")),
        # a campaign's page: its recipients in order, and its counts per status (partial: the
        # messages of no campaign, most of them, are not in these indexes)
        Index("ix_messages_campaign_id", "campaign_id", "id", sqlite_where=text("campaign_id IS NOT NULL"),
              postgresql_where=text("campaign_id IS NOT NULL")),
        Index("ix_messages_campaign_status", "campaign_id", "status", "id",
              sqlite_where=text("campaign_id IS NOT NULL"), postgresql_where=text("campaign_id IS NOT NULL")),
        # the messages SMS Desk holds for later (statuses.SCHEDULED, never claimed), by their time
        Index("ix_messages_held_here", "scheduled_at", "id",
              sqlite_where=text("status = 'scheduled' AND attempt_count = 0"),
              postgresql_where=text("status = 'scheduled' AND attempt_count = 0")),
        {"sqlite_autoincrement": True},
    )

    @property
    def is_outbound(self) -> bool:
        return self.direction == self.OUTBOUND

    @property
    def is_final(self) -> bool:
        return not self.is_outbound or statuses.is_final(self.status)


class Conversation(db.Model):
    """The messages exchanged with one remote number, summed up: the last of them and how many
    incoming SMS are unread. Kept in step by the status store, in the transaction that writes a
    message, so that the conversations list and the unread badge read these rows instead of
    grouping every message."""
    __tablename__ = "conversations"
    user_id = db.Column(db.Integer, db.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    remote_number = db.Column(db.String(32), primary_key=True)
    last_message_id = db.Column(db.Integer, nullable=False)
    unread_count = db.Column(db.Integer, nullable=False, default=0, server_default="0")

    last_message = db.relationship("Message", primaryjoin="Message.id == Conversation.last_message_id",
                                   foreign_keys=[last_message_id], viewonly=True, lazy="joined")

    __table_args__ = (
        # covering: a search of digits anywhere in the number reads the index alone (10 ms, not 75,
        # over 100,000 conversations)
        Index("ix_conversations_user_last", "user_id", "last_message_id", "remote_number", "unread_count"),
        Index("ix_conversations_unread", "user_id", "unread_count", sqlite_where=text("unread_count > 0"),
              postgresql_where=text("unread_count > 0")),
    )


class MessageEvent(db.Model):
    """The message's timeline: every status change, attempt and provider report."""
    __tablename__ = "message_events"
    id = db.Column(db.Integer, primary_key=True)
    message_id = db.Column(db.Integer, db.ForeignKey("messages.id", ondelete="CASCADE"), nullable=False,
                           index=True)
    created_at = db.Column(db.DateTime, nullable=False, default=utcnow)
    status = db.Column(db.String(16))  # the status it moved to, None when it moved nothing
    provider_status = db.Column(db.String(64))
    error_code = db.Column(db.String(40))
    reason = db.Column(db.Text)
    payload = db.Column(db.Text)

    message = db.relationship("Message", back_populates="events")

    @property
    def payload_pretty(self) -> str:
        if not self.payload:
            return ""
        try:
            return json.dumps(json.loads(self.payload), indent=2, ensure_ascii=False)
        except ValueError:
            return self.payload


class OutboxEvent(db.Model):
    """One thing that happened, for what reads the outbox (outbound webhooks, the API). Written
    by the status store in the same transaction as the change it tells of. message_id has no
    foreign key: a cascade from messages would scan this table for each message deleted."""
    __tablename__ = "events"
    MESSAGE_STATUS_CHANGED = "message.status_changed"
    MESSAGE_RECEIVED = "message.received"
    OPT_OUT_CREATED = "optout.created"
    OPT_OUT_REMOVED = "optout.removed"

    id = db.Column(db.Integer, primary_key=True)
    kind = db.Column(db.String(40), nullable=False)
    user_id = db.Column(db.Integer, db.ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    message_id = db.Column(db.Integer)
    status = db.Column(db.String(16))  # the status a message moved to
    created_at = db.Column(db.DateTime, nullable=False, default=utcnow)
    data = db.Column(db.Text)  # JSON, for what the columns do not say

    __table_args__ = (Index("ix_events_user_id_id", "user_id", "id"), {"sqlite_autoincrement": True})


class EarlyStatusEvent(db.Model):
    """A provider status report for a provider id we have not stored yet (the report
    outran the worker). It is applied as soon as the worker stores that id."""
    __tablename__ = "early_status_events"
    id = db.Column(db.Integer, primary_key=True)
    phone_id = db.Column(db.Integer, db.ForeignKey("phones.id", ondelete="CASCADE"), nullable=False)
    provider_message_id = db.Column(db.String(100), nullable=False)
    received_at = db.Column(db.DateTime, nullable=False, default=utcnow)
    event = db.Column(db.JSON, nullable=False)

    __table_args__ = (Index("ix_early_status_phone_provider_id", "phone_id", "provider_message_id"),)


class OptOut(db.Model):
    """A number that replied STOP: the user's SMS no longer go to it."""
    __tablename__ = "opt_outs"
    KEYWORD, PROVIDER, MANUAL, IMPORT = "keyword", "provider", "manual", "import"  # how it came
    id = db.Column(db.Integer, primary_key=True)
    user_id = db.Column(db.Integer, db.ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    phone_id = db.Column(db.Integer, db.ForeignKey("phones.id", ondelete="SET NULL"))
    number = db.Column(db.String(32), nullable=False)
    opted_out_at = db.Column(db.DateTime, nullable=False, default=utcnow)
    payload = db.Column(db.Text)
    source = db.Column(db.String(16), nullable=False, default=PROVIDER, server_default=PROVIDER)
    original_text = db.Column(db.Text)  # the SMS that said STOP, or the provider's words
    recorded_at = db.Column(db.DateTime, nullable=False, default=utcnow)  # when SMS Desk learnt of it

    __table_args__ = (UniqueConstraint("user_id", "number", name="uq_opt_outs_user_number"),
                      Index("ix_opt_outs_user_opted_out", "user_id", "opted_out_at", "id"))


def new_session_token() -> str:
    return secrets.token_urlsafe(32)


class UserSession(db.Model):
    """One sign-in of one browser. The cookies name its token, so revoking the row signs that
    browser out. The integer id is the handle pages use, so that tokens never appear in a page."""
    __tablename__ = "user_sessions"
    id = db.Column(db.Integer, primary_key=True)
    token = db.Column(db.String(64), nullable=False, unique=True, default=new_session_token)
    user_id = db.Column(db.Integer, db.ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True)
    created_at = db.Column(db.DateTime, nullable=False, default=utcnow)
    last_seen_at = db.Column(db.DateTime, nullable=False, default=utcnow)
    device = db.Column(db.String(255), nullable=False, default="")  # a stored Reason
    remote_address = db.Column(db.String(64))
    revoked_at = db.Column(db.DateTime)
    replaced_by = db.Column(db.Integer)  # the sign-in a renewed remember cookie handed over to

    user = db.relationship("User")

    __table_args__ = {"sqlite_autoincrement": True}


class Installation(db.Model):
    """One row, written with the first user: from then on /setup stays closed, even with no user left."""
    __tablename__ = "installation"
    id = db.Column(db.Integer, primary_key=True)  # always 1
    first_user_at = db.Column(db.DateTime, nullable=False, default=utcnow)


class Setting(db.Model):
    """A setting the administrator changes on a page (e.g. the public address), by name."""
    __tablename__ = "settings"
    name = db.Column(db.String(64), primary_key=True)
    value = db.Column(db.Text, nullable=False)
    updated_at = db.Column(db.DateTime, nullable=False, default=utcnow, onupdate=utcnow)


class ComposeSubmission(db.Model):
    """A compose form's one-time token (or an API call's Idempotency-Key) and the messages it
    queued: the same submission arriving again shows these rather than sending again. The key
    makes two submissions at once collide, so only one of them sends."""
    __tablename__ = "compose_submissions"
    user_id = db.Column(db.Integer, db.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    token = db.Column(db.String(64), primary_key=True)
    message_ids = db.Column(db.JSON, nullable=False)
    created_at = db.Column(db.DateTime, nullable=False, default=utcnow)
    request_hash = db.Column(db.String(64))  # an API call's body: the same key with another body is refused
    answer = db.Column(db.JSON)  # what else the first call answered: {"rejected": [...]} (webapp/api)


class Contact(db.Model):
    """Someone the user writes to. The folded columns are written by services.contacts only."""
    __tablename__ = "contacts"
    id = db.Column(db.Integer, primary_key=True)
    user_id = db.Column(db.Integer, db.ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    name = db.Column(db.String(200), nullable=False)
    number = db.Column(db.String(32), nullable=False)
    fields = db.Column(db.JSON, nullable=False, default=dict)  # free {key: value}, e.g. {"class": "6B"}
    notes = db.Column(db.Text, nullable=False, default="")
    # name, numbers and field values without accents or case, so that a search is the same on every database
    search_text = db.Column(db.Text, nullable=False, default="")
    sort_name = db.Column(db.String(200), nullable=False, default="")
    created_at = db.Column(db.DateTime, nullable=False, default=utcnow)
    updated_at = db.Column(db.DateTime, nullable=False, default=utcnow)

    __table_args__ = (
        UniqueConstraint("user_id", "number", name="uq_contacts_user_number"),
        Index("ix_contacts_user_sort_name", "user_id", "sort_name", "id"),
        Index("ix_contacts_user_id", "user_id", "id"),
        {"sqlite_autoincrement": True},
    )


class ContactGroup(db.Model):
    """A named list of contacts. A smart group has conditions instead of members, and is read
    anew each time: [{"field": "class", "operator": "=", "value": "6B"}, …], all to be met."""
    __tablename__ = "contact_groups"
    id = db.Column(db.Integer, primary_key=True)
    user_id = db.Column(db.Integer, db.ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    name = db.Column(db.String(100), nullable=False)
    conditions = db.Column(db.JSON)  # None for a group of chosen members
    created_at = db.Column(db.DateTime, nullable=False, default=utcnow)

    __table_args__ = (UniqueConstraint("user_id", "name", name="uq_contact_groups_user_name"),
                      {"sqlite_autoincrement": True})

    @property
    def is_smart(self) -> bool:
        return self.conditions is not None


class ContactGroupMember(db.Model):
    __tablename__ = "contact_group_members"
    group_id = db.Column(db.Integer, db.ForeignKey("contact_groups.id", ondelete="CASCADE"), primary_key=True)
    contact_id = db.Column(db.Integer, db.ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True)

    __table_args__ = (Index("ix_contact_group_members_contact", "contact_id"),)


class ApiKey(db.Model):
    """A key for the REST API, acting as its user. Only its SHA-256 is kept (services.api_keys);
    the key itself is shown once, when it is made."""
    __tablename__ = "api_keys"
    id = db.Column(db.Integer, primary_key=True)
    user_id = db.Column(db.Integer, db.ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True)
    name = db.Column(db.String(100), nullable=False)
    key_hash = db.Column(db.String(64), nullable=False)
    prefix = db.Column(db.String(16), nullable=False)  # its first characters, to tell keys apart
    created_at = db.Column(db.DateTime, nullable=False, default=utcnow)
    last_used_at = db.Column(db.DateTime)
    expires_at = db.Column(db.DateTime)
    revoked_at = db.Column(db.DateTime)

    user = db.relationship("User")

    __table_args__ = (UniqueConstraint("key_hash", name="uq_api_keys_key_hash"), {"sqlite_autoincrement": True})

    def is_usable(self, now: datetime) -> bool:
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)


class WebhookEndpoint(db.Model):
    """Where a user's events go (webapp/services/webhooks.py): a URL that gets signed POSTs, or a
    built-in forward of incoming SMS to an e-mail address or to another number by SMS. Only the
    events after first_event_id are its own (those written before it was added are not sent)."""
    __tablename__ = "webhook_endpoints"
    HTTP, EMAIL, SMS = "http", "email", "sms"

    id = db.Column(db.Integer, primary_key=True)
    user_id = db.Column(db.Integer, db.ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True)
    kind = db.Column(db.String(8), nullable=False, default=HTTP)
    url = db.Column(db.Text)  # HTTP
    email = db.Column(db.String(254))  # EMAIL
    forward_number = db.Column(db.String(32))  # SMS, in E.164
    phone_id = db.Column(db.Integer, db.ForeignKey("phones.id", ondelete="SET NULL"))  # SMS: the phone it goes through
    events = db.Column(db.JSON, nullable=False, default=list)  # the event types wanted
    encrypted_secret = db.Column(db.Text)  # the signing secret (whsec_…), encrypted like phone secrets
    encrypted_previous_secret = db.Column(db.Text)  # after a rotation, also signed with until previous_secret_until
    previous_secret_until = db.Column(db.DateTime)
    enabled = db.Column(db.Boolean, nullable=False, default=True)
    disabled_at = db.Column(db.DateTime)
    disabled_reason = db.Column(db.Text)  # a stored Reason
    failing_since = db.Column(db.DateTime)  # the first failed attempt since the last success
    first_event_id = db.Column(db.Integer, nullable=False, default=0)
    created_at = db.Column(db.DateTime, nullable=False, default=utcnow)

    phone = db.relationship("Phone")

    __table_args__ = {"sqlite_autoincrement": True}


class WebhookDelivery(db.Model):
    """One event for one endpoint, with the body signed for it: pending until delivered or given
    up. Written in the transaction that moves the dispatch cursor past its event, so that neither
    a broker wipe nor a worker's crash can lose it."""
    __tablename__ = "webhook_deliveries"
    PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"

    id = db.Column(db.Integer, primary_key=True)
    endpoint_id = db.Column(db.Integer, db.ForeignKey("webhook_endpoints.id", ondelete="CASCADE"), nullable=False)
    webhook_id = db.Column(db.String(40), nullable=False)  # the webhook-id header: evt_<outbox id>, or test_…
    event_type = db.Column(db.String(40), nullable=False)
    body = db.Column(db.Text, nullable=False)
    status = db.Column(db.String(12), nullable=False, default=PENDING)
    attempt_count = db.Column(db.Integer, nullable=False, default=0)
    next_attempt_at = db.Column(db.DateTime, nullable=False, default=utcnow)
    first_attempt_at = db.Column(db.DateTime)
    created_at = db.Column(db.DateTime, nullable=False, default=utcnow)
    finished_at = db.Column(db.DateTime)

    __table_args__ = (
        Index("ix_webhook_deliveries_pending", "endpoint_id", "id", sqlite_where=text("status = 'pending'"),
              postgresql_where=text("status = 'pending'")),
        Index("ix_webhook_deliveries_due", "next_attempt_at", sqlite_where=text("status = 'pending'"),
              postgresql_where=text("status = 'pending'")),
        {"sqlite_autoincrement": True},
    )


class WebhookAttempt(db.Model):
    """One try at a delivery, for the endpoint's log."""
    __tablename__ = "webhook_attempts"
    id = db.Column(db.Integer, primary_key=True)
    delivery_id = db.Column(db.Integer, db.ForeignKey("webhook_deliveries.id", ondelete="CASCADE"), nullable=False,
                            index=True)
    endpoint_id = db.Column(db.Integer, db.ForeignKey("webhook_endpoints.id", ondelete="CASCADE"), nullable=False)
    attempted_at = db.Column(db.DateTime, nullable=False, default=utcnow)
    attempt = db.Column(db.Integer, nullable=False)
    http_status = db.Column(db.Integer)
    duration_ms = db.Column(db.Integer)
    answer = db.Column(db.Text)  # the first 1 KB of the answer's body
    error = db.Column(db.Text)  # a stored Reason: why it failed, and what comes next
    delivered = db.Column(db.Boolean, nullable=False, default=False)

    delivery = db.relationship("WebhookDelivery", lazy="joined")

    __table_args__ = (Index("ix_webhook_attempts_endpoint_id", "endpoint_id", "id"), {"sqlite_autoincrement": True})


class WebhookDispatch(db.Model):
    """One row: the last outbox event fanned out to the endpoints. gap_*: an event id missing
    below newer ones (a transaction not yet committed on PostgreSQL, or rolled back), waited for
    a few seconds before it is passed."""
    __tablename__ = "webhook_dispatch"
    id = db.Column(db.Integer, primary_key=True)  # always 1
    last_event_id = db.Column(db.Integer, nullable=False, default=0)
    gap_event_id = db.Column(db.Integer)
    gap_seen_at = db.Column(db.DateTime)


class ContactImport(db.Model):
    """A CSV of contacts being imported: the upload itself (kept until the import is over), how its
    columns are read, and the worker's progress, so that the page never depends on the broker
    keeping a job. Written by services.contact_imports only."""
    __tablename__ = "contact_imports"
    UPLOADED, QUEUED, RUNNING, DONE, FAILED = "uploaded", "queued", "running", "done", "failed"
    SKIP, UPDATE = "skip", "update"  # what to do with a number already among the contacts

    id = db.Column(db.Integer, primary_key=True)
    user_id = db.Column(db.Integer, db.ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    filename = db.Column(db.String(255), nullable=False, default="")
    content = db.Column(db.LargeBinary)  # the file as uploaded; emptied once imported
    size = db.Column(db.Integer, nullable=False, default=0)
    encoding = db.Column(db.String(20), nullable=False)  # a Python codec name, as detected
    delimiter = db.Column(db.String(1), nullable=False, default=",")
    has_header = db.Column(db.Boolean, nullable=False, default=True)
    # one entry per column: {"use": "number" | "name" | "field" | "ignore", "field": its name}
    mapping = db.Column(db.JSON)
    on_existing = db.Column(db.String(8), nullable=False, default=SKIP)
    group_id = db.Column(db.Integer, db.ForeignKey("contact_groups.id", ondelete="SET NULL"))
    status = db.Column(db.String(16), nullable=False, default=UPLOADED)
    job_id = db.Column(db.String(64))
    total_rows = db.Column(db.Integer)
    rows_done = db.Column(db.Integer, nullable=False, default=0)
    added = db.Column(db.Integer, nullable=False, default=0)
    updated = db.Column(db.Integer, nullable=False, default=0)
    skipped = db.Column(db.Integer, nullable=False, default=0)
    rejected = db.Column(db.Integer, nullable=False, default=0)
    error = db.Column(db.Text)  # a stored Reason, when the import failed
    created_at = db.Column(db.DateTime, nullable=False, default=utcnow)
    started_at = db.Column(db.DateTime)
    finished_at = db.Column(db.DateTime)

    group = db.relationship("ContactGroup")

    __table_args__ = (Index("ix_contact_imports_user_id", "user_id", "id"), {"sqlite_autoincrement": True})

    @property
    def is_over(self) -> bool:
        return self.status in (self.DONE, self.FAILED)


class ContactImportRejection(db.Model):
    """A row of an import that was not stored: its line, the number it held and why (a stored Reason)."""
    __tablename__ = "contact_import_rejections"
    import_id = db.Column(db.Integer, db.ForeignKey("contact_imports.id", ondelete="CASCADE"), primary_key=True)
    line = db.Column(db.Integer, primary_key=True)
    value = db.Column(db.Text, nullable=False, default="")
    reason = db.Column(db.Text, nullable=False)

class Campaign(db.Model):
    """A compose action to more than one recipient: what was written (placeholders and all), from
    which phone, by whom and when. Its messages name it (messages.campaign_id)."""
    __tablename__ = "campaigns"
    id = db.Column(db.Integer, primary_key=True)
    user_id = db.Column(db.Integer, db.ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    phone_id = db.Column(db.Integer, db.ForeignKey("phones.id", ondelete="CASCADE"), nullable=False)
    body = db.Column(db.Text, nullable=False)
    created_at = db.Column(db.DateTime, nullable=False, default=utcnow)
    recipient_count = db.Column(db.Integer, nullable=False, default=0)
    # who was left out when it was sent, and why: {"opted_out": 3, "invalid": 2, "missing_field": 1}
    left_out = db.Column(db.JSON, nullable=False, default=dict)
    fallbacks = db.Column(db.JSON, nullable=False, default=dict)  # {field: value used when a contact has none}

    user = db.relationship("User")
    phone = db.relationship("Phone")

    __table_args__ = (Index("ix_campaigns_user_id", "user_id", "id"), {"sqlite_autoincrement": True})


class CampaignDraft(db.Model):
    """A compose action to several recipients waiting for its confirmation: its recipients as
    resolved when it was composed (groups and smart groups evaluated then), what the
    confirmation page says of them, and the form's choices."""
    __tablename__ = "campaign_drafts"
    id = db.Column(db.Integer, primary_key=True)
    user_id = db.Column(db.Integer, db.ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True)
    created_at = db.Column(db.DateTime, nullable=False, default=utcnow)
    data = db.Column(db.JSON, nullable=False)

    __table_args__ = {"sqlite_autoincrement": True}
