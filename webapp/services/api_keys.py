"""API keys: made on the account page, shown once, kept only as a SHA-256 hash.

A key is `smsd_` and 32 random bytes in URL-safe base64: too long to guess, so a plain hash (not a
slow password hash) keeps it safe and lets every API call find its key with one indexed lookup.
Revoking or expiry is read at each call: a revoked key stops working at its next request.
"""
import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm.attributes import set_committed_value

from ..extensions import db
from ..models import ApiKey, User, utcnow

KEY_PREFIX = "smsd_"
SHOWN_PREFIX_LENGTH = 12  # "smsd_" and 7 characters, to tell keys apart on the account page
# last use is written at most this often per key: a write per call would serialise every call on SQLite
LAST_USE_PRECISION = timedelta(minutes=1)


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass
class MadeKey:
    api_key: ApiKey
    key: str  # shown once, never stored


def make_key(user: User, name: str, expires_at: datetime | None = None) -> MadeKey:
    """expires_at: naive UTC, or None for a key that does not expire. Commits."""
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    api_key = ApiKey(user_id=user.id, name=name.strip(), key_hash=key_hash(key), prefix=key[:SHOWN_PREFIX_LENGTH],
                     expires_at=expires_at)
    db.session.add(api_key)
    db.session.commit()
    return MadeKey(api_key, key)


def user_keys(user: User) -> list[ApiKey]:
    """The keys not revoked, newest first."""
    return db.session.scalars(select(ApiKey).where(ApiKey.user_id == user.id, ApiKey.revoked_at.is_(None))
                              .order_by(ApiKey.id.desc())).all()


def revoke(user: User, key_id: int) -> bool:
    """At once: the key's next call is refused. False when the user has no such key."""
    revoked = db.session.execute(update(ApiKey).where(ApiKey.id == key_id, ApiKey.user_id == user.id,
                                                      ApiKey.revoked_at.is_(None))
                                 .values(revoked_at=utcnow())).rowcount
    db.session.commit()
    return bool(revoked)


def authenticated(key: str) -> tuple[ApiKey, User] | None:
    """The key and its user when the key is valid, not revoked, not expired, and its user not
    disabled; notes its use."""
    if not key.startswith(KEY_PREFIX):
        return None
    found = db.session.execute(select(ApiKey, User).join(User, User.id == ApiKey.user_id)
                               .where(ApiKey.key_hash == key_hash(key))).first()
    now = utcnow()
    if found is None or not found.ApiKey.is_usable(now) or not found.User.is_active:
        return None
    api_key, user = found
    if api_key.last_used_at is None or api_key.last_used_at < now - LAST_USE_PRECISION:
        note_use(api_key.id, now)
        set_committed_value(api_key, "last_used_at", now)  # written already: nothing for the request to flush
    return api_key, user


def note_use(key_id: int, at: datetime) -> None:
    """On a connection of its own, so as to commit nothing of the request's."""
    with db.engine.begin() as connection:
        connection.execute(update(ApiKey).where(ApiKey.id == key_id).values(last_used_at=at))
