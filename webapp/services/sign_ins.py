"""Sign-ins: one row per browser signed in (`UserSession`). The session and remember cookies name
the row's token, never the user's id, so that ending the row signs that browser out wherever its
cookies are, and a deleted user's cookies name nothing."""
import re
from datetime import datetime, timedelta

from flask import current_app, g
from sqlalchemy import DateTime, String, delete, insert, literal, or_, select, update
from sqlalchemy.orm import aliased

from ..extensions import db
from ..models import User, UserSession, new_session_token, utcnow
from ..reasons import Reason, stored

LAST_SEEN_PRECISION = timedelta(minutes=1)  # writing it on every request would make each one a write
# how long a remember cookie just renewed still signs in, as its successor: the requests a browser
# sends at once with it (tabs restored after a restart) would otherwise find it ended
RENEWAL_GRACE = timedelta(seconds=30)

BROWSERS = [("Edge", r"Edg(e|A|iOS)?/"), ("Opera", r"OPR/|Opera"), ("Firefox", r"Firefox/|FxiOS/"),
            ("Chromium", r"Chromium/"), ("Chrome", r"Chrome/|CriOS/"), ("Safari", r"Safari/")]
SYSTEMS = [("iPhone", r"iPhone"), ("iPad", r"iPad"), ("Android", r"Android"), ("Windows", r"Windows"),
           ("macOS", r"Mac OS X|Macintosh"), ("ChromeOS", r"CrOS"), ("Linux", r"Linux")]


def describe_device(user_agent: str) -> Reason:
    """"Firefox on Linux": what a person recognizes of a browser's User-Agent."""
    browser = _first_match(BROWSERS, user_agent)
    system = _first_match(SYSTEMS, user_agent)
    if browser and system:
        return Reason("%(browser)s on %(system)s", browser=browser, system=system)
    if system:
        return Reason("A browser on %(system)s", system=system)
    if browser:
        return Reason("%(browser)s on an unknown system", browser=browser)
    return Reason("An unknown browser")


def _first_match(candidates, user_agent):
    return next((name for name, pattern in candidates if re.search(pattern, user_agent or "")), None)


def idle_since() -> datetime:
    """A sign-in unseen since then is over: its remember cookie has expired too."""
    return utcnow() - current_app.config["REMEMBER_COOKIE_DURATION"]


def _live():
    return UserSession.revoked_at.is_(None), UserSession.last_seen_at > idle_since()


def start(user: User, user_agent: str, address: str | None) -> UserSession:
    db.session.execute(delete(UserSession).where(  # the user's ended sign-ins go, so that rows do not pile up
        UserSession.user_id == user.id, or_(UserSession.revoked_at.is_not(None),
                                            UserSession.last_seen_at <= idle_since())))
    sign_in = UserSession(user_id=user.id, token=new_session_token(), device=stored(describe_device(user_agent)),
                          remote_address=address)
    db.session.add(sign_in)
    db.session.commit()
    return sign_in


def user_for(token: str) -> User | None:
    """The user a cookie's token signs in, if its sign-in was not ended and the user may sign in.
    A token renewed a moment ago signs in as its successor (see RENEWAL_GRACE)."""
    sign_in = db.session.scalar(select(UserSession).where(UserSession.token == token))
    if sign_in is not None and _renewed_a_moment_ago(sign_in):
        sign_in = db.session.get(UserSession, sign_in.replaced_by)
    # the user may be deleted between reading the sign-in and its user (another administrator's click)
    if sign_in is None or not _is_live(sign_in) or sign_in.user is None or sign_in.user.disabled:
        return None
    if utcnow() - sign_in.last_seen_at >= LAST_SEEN_PRECISION:
        g.sign_in_seen = sign_in.id  # written when the request ends, by note_seen
    user = sign_in.user
    user.signed_in_session_id = sign_in.token
    return user


def _renewed_a_moment_ago(sign_in: UserSession) -> bool:
    return (sign_in.replaced_by is not None and sign_in.revoked_at is not None
            and utcnow() - sign_in.revoked_at < RENEWAL_GRACE)


def _is_live(sign_in: UserSession) -> bool:
    return sign_in.revoked_at is None and sign_in.last_seen_at > idle_since()


def note_seen() -> None:
    """Writes when the request's sign-in was last seen, on a connection of its own: through the
    request's session it would commit whatever the view had pending."""
    sign_in_id = g.pop("sign_in_seen", None)
    if sign_in_id is not None:
        with db.engine.begin() as connection:
            connection.execute(update(UserSession).where(UserSession.id == sign_in_id).values(last_seen_at=utcnow()))


def renew(token: str, address: str | None) -> str | None:
    """A new token in place of one that came back in a remember cookie: a stolen copy of the
    cookie then works only until its owner comes back. Requests sent at once with the cookie
    (tabs restored together) are one renewal: the first replaces the sign-in, the others get its
    successor's token. None when the sign-in was ended meanwhile.

    On a connection of its own, so as to commit nothing of the request's; it writes before it
    reads, so that SQLite gives it the write lock before it looks."""
    successor_token = new_session_token()
    with db.engine.connect() as connection:
        _add_successor(connection, token, successor_token, address)
        replaced = connection.execute(update(UserSession).where(UserSession.token == token, *_live()).values(
            revoked_at=utcnow(), replaced_by=select(UserSession.id).where(UserSession.token == successor_token)
            .scalar_subquery())).rowcount
        if replaced:
            connection.commit()
            return successor_token
        connection.rollback()  # another request renewed it first, or it was ended
        return _successor_token(connection, token)


def _add_successor(connection, token: str, successor_token: str, address: str | None) -> None:
    now = utcnow()
    connection.execute(insert(UserSession).from_select(
        ["user_id", "token", "device", "remote_address", "created_at", "last_seen_at"],
        select(UserSession.user_id, literal(successor_token), UserSession.device, literal(address, String),
               literal(now, DateTime), literal(now, DateTime)).where(UserSession.token == token)))


def _successor_token(connection, token: str) -> str | None:
    successor = aliased(UserSession)
    return connection.scalar(select(successor.token).join(UserSession, UserSession.replaced_by == successor.id).where(
        UserSession.token == token, UserSession.revoked_at > utcnow() - RENEWAL_GRACE,
        successor.revoked_at.is_(None)))


def active(user: User) -> list[UserSession]:
    """The user's sign-ins, the browser asking first, then the most recently seen."""
    sign_ins = db.session.scalars(select(UserSession).where(UserSession.user_id == user.id, *_live())
                                  .order_by(UserSession.last_seen_at.desc(), UserSession.id.desc())).all()
    return sorted(sign_ins, key=lambda sign_in: sign_in.token != user.signed_in_session_id)


def end(token: str) -> None:
    revoke(UserSession.token == token)
    db.session.commit()


def end_one(user: User, sign_in_id: int) -> UserSession | None:
    """The user's sign-in `sign_in_id`, ended; None if it is not theirs or already ended."""
    sign_in = db.session.scalar(select(UserSession).where(
        UserSession.id == sign_in_id, UserSession.user_id == user.id, *_live()))
    if sign_in is not None:
        sign_in.revoked_at = utcnow()
        db.session.commit()
    return sign_in


def end_all(user: User, keep_token: str | None = None) -> None:
    """Every sign-in of the user, but the one of `keep_token` (the browser that asked)."""
    revoke(UserSession.user_id == user.id, UserSession.token != (keep_token or ""))
    db.session.commit()


def revoke_all(user_id: int) -> None:
    """Ends every sign-in of the user, in the caller's transaction."""
    revoke(UserSession.user_id == user_id)


def revoke(*conditions) -> int:
    """Ends the sign-ins that meet `conditions`, in the caller's transaction."""
    result = db.session.execute(update(UserSession).where(UserSession.revoked_at.is_(None), *conditions)
                                .values(revoked_at=utcnow()))
    return result.rowcount
