"""Sign-ins: one row per browser signed in (`UserSession`). The session and remember cookies name
the row's token, never the user's id, so that ending the row signs that browser out wherever its
cookies are, and a deleted user's cookies name nothing."""
import re
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import delete, or_, select, update

from ..extensions import db
from ..models import User, UserSession, new_session_token, utcnow
from ..reasons import Reason, stored

LAST_SEEN_PRECISION = timedelta(minutes=1)  # writing it on every request would make each one a write

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
    """The user a cookie's token signs in, if its sign-in was not ended and the user may sign in."""
    sign_in = db.session.scalar(select(UserSession).join(User).where(
        UserSession.token == token, *_live(), User.disabled.is_(False)))
    if sign_in is None:
        return None
    now = utcnow()
    if now - sign_in.last_seen_at >= LAST_SEEN_PRECISION:
        sign_in.last_seen_at = now
        db.session.commit()
    user = sign_in.user
    user.signed_in_session_id = token
    return user


def renew(token: str, address: str | None) -> str | None:
    """A new token in place of one that came back in a remember cookie: a stolen copy of the
    cookie then works only until its owner comes back."""
    sign_in = db.session.scalar(select(UserSession).where(UserSession.token == token, *_live()))
    if sign_in is None:
        return None
    renewed = UserSession(user_id=sign_in.user_id, token=new_session_token(), device=sign_in.device,
                          remote_address=address)
    sign_in.revoked_at = utcnow()
    db.session.add(renewed)
    db.session.commit()
    return renewed.token


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
