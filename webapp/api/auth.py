"""Who an API call is: the user of the key in `Authorization: Bearer <key>`, and nothing else.

API paths open no session (webapp/callbacks/routes.SessionlessCallbacks), so neither the session
cookie nor the remember cookie can sign a call in; a key in the URL is not read. The key's user is
put where Flask-Login keeps the current user, so that services, the locale and the time zone see
them as they see a signed-in user."""
import hashlib
import math
import time

from flask import current_app, g, request
from flask_babel import gettext as _

from ..extensions import limiter
from ..services import api_keys
from .problems import ApiProblem

API_PREFIX = "/api/v1/"


def is_api() -> bool:
    return request.path.startswith(API_PREFIX)


def bearer_key() -> str | None:
    scheme, _, key = request.headers.get("Authorization", "").partition(" ")
    return key.strip() if scheme.lower() == "bearer" and key.strip() else None


def authenticate() -> None:
    """Before every API view: refuses the call without a valid key."""
    key = bearer_key()
    found = api_keys.authenticated(key) if key else None
    if found is None:
        raise ApiProblem(401, "unauthorized", _("Send a valid API key in the header Authorization: Bearer <key>."),
                         headers={"WWW-Authenticate": 'Bearer realm="SMS Desk API"'})
    api_key, user = found
    user.signed_in_session_id = f"api-key-{api_key.id}"  # is_authenticated, and no sign-in of a browser
    g.api_key = api_key
    g._login_user = user  # Flask-Login's current user for this request


def rate_limit_key() -> str:
    """Per key, from the header alone (the limit is counted before the view reads the database):
    the key's hash, so that no key is written to the broker."""
    key = bearer_key()
    return "api-key:" + (hashlib.sha256(key.encode()).hexdigest()[:32] if key else request.remote_addr or "")


def rate_limit() -> str:
    return current_app.config["API_RATE_LIMIT"]


def add_rate_limit_headers(response):
    """RateLimit-Limit / -Remaining / -Reset (seconds to wait, as the IETF draft has it), and
    Retry-After on a refusal."""
    current = limiter.current_limit
    if current is None:
        return response
    reset_in = max(0, math.ceil(current.reset_at - time.time()))
    response.headers["RateLimit-Limit"] = str(current.limit.amount)
    response.headers["RateLimit-Remaining"] = str(max(0, current.remaining))
    response.headers["RateLimit-Reset"] = str(reset_in)
    response.headers["RateLimit-Policy"] = f"{current.limit.amount};w={current.limit.get_expiry()}"
    if current.breached:
        response.headers["Retry-After"] = str(max(1, reset_in))
    return response


def anonymous_until_authenticated() -> None:
    """First of all an API call's hooks: Flask-Login's current user is anonymous until the bearer
    key says otherwise, so that nothing (a page hook, the locale) ever loads a user from a cookie."""
    if is_api():
        from flask_login import AnonymousUserMixin
        g._login_user = AnonymousUserMixin()


def api_locale() -> str | None:
    """The language asked for in Accept-Language, else the key's user's, else the default."""
    languages = current_app.config["LANGUAGES"]
    if request.accept_languages:
        best = request.accept_languages.best_match(languages)
        if best:
            return best
    user = g.get("_login_user")
    return getattr(user, "locale", None) or None
