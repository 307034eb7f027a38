"""A user's own password reset, by an e-mailed link: single-use, valid for LINK_VALIDITY, of
which only a hash is stored. The worker makes the token and sends the e-mail (send_link), so
that the request answers the same, as fast, whether an account has the address or not."""
import hashlib
import secrets
from datetime import timedelta
from enum import Enum

from flask import current_app, render_template
from flask_babel import force_locale, gettext as _
from sqlalchemy import select, update

from .. import mail
from ..extensions import db
from ..models import User, utcnow
from . import accounts, public_address, sign_ins

LINK_VALIDITY = timedelta(hours=1)


class LinkProblem(Enum):
    UNKNOWN = "unknown"  # wrong, or already used (a used link's hash is gone)
    EXPIRED = "expired"


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def reset_link(token: str) -> str:
    # built by hand rather than with url_for: the worker has no request, and a request's Host could be forged
    return f"{public_address.current_public_base_url()}/reset-password/{token}"


def send_link(email: str, locale: str) -> None:
    """The worker's job: a new link for the account with this address, if any may sign in; the
    link asked for before it no longer works."""
    user = accounts.find_user_by_email(email)
    if user is None or user.disabled:
        return
    token = secrets.token_urlsafe(32)
    user.password_reset_hash = _hash(token)
    user.password_reset_expires_at = utcnow() + LINK_VALIDITY
    db.session.commit()
    with force_locale(user.locale or locale):
        subject = _("Reset your SMS Desk password")
        body = render_template("email/password_reset.txt", link=reset_link(token), email=user.email,
                               minutes=int(LINK_VALIDITY.total_seconds() // 60))
    mail.send_mail(user.email, subject, body)


def user_for_link(token: str) -> User | LinkProblem:
    user = db.session.scalar(select(User).where(User.password_reset_hash == _hash(token or "")))
    if user is None or user.disabled:
        return LinkProblem.UNKNOWN
    if user.password_reset_expires_at <= utcnow():
        return LinkProblem.EXPIRED
    return user


def reset_with_link(token: str, password: str) -> User | LinkProblem:
    """The new password, and every browser of the user signed out. Two uses at once: one wins."""
    user = user_for_link(token)
    if isinstance(user, LinkProblem):
        return user
    used = db.session.execute(update(User).where(User.id == user.id, User.password_reset_hash == _hash(token))
                              .values(password_reset_hash=None, password_reset_expires_at=None)).rowcount
    if not used:
        db.session.rollback()
        return LinkProblem.UNKNOWN
    accounts.set_new_password(user, password)
    sign_ins.end_all(user)  # commits
    return user
