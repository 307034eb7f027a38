"""What every answer tells the browser (scripts and styles from SMS Desk only, no framing, no
sniffing, no referrer outside it, no copy kept of a page showing a secret), and how much a
provider may post to a callback.

A few headers of our own rather than flask-talisman: talisman redirects plain http to https and
marks the session cookie secure by default, and SMS Desk is often reached over plain http on a LAN.
"""
from urllib.parse import urlsplit

from flask import Response, current_app, g, request, template_rendered
from sqlalchemy.exc import SQLAlchemyError

from .callbacks.routes import is_callback
from .services import public_address

CONTENT_SECURITY_POLICY = "; ".join((
    "default-src 'self'", "script-src 'self'", "style-src 'self'", "img-src 'self'", "object-src 'none'",
    "base-uri 'none'", "form-action 'self'", "frame-ancestors 'none'"))
STRICT_TRANSPORT_SECURITY = "max-age=31536000"  # a year; no includeSubDomains: other hosts are not ours
# they show callback URLs (their token is the only thing that guards them), or take secrets or
# passwords as they are typed (a form sent back with its errors shows them again)
TEMPLATES_SHOWING_SECRETS = {"phones/show.html", "phones/form.html", "auth/account.html", "auth/setup.html",
                             "auth/login.html", "admin/user_password.html", "admin/users.html",
                             "webhooks/show.html"}
CALLBACK_BODY_LIMIT = 256 * 1024  # a provider's report is a few hundred bytes


def init_app(app):
    app.before_request(limit_callback_body)
    app.after_request(add_security_headers)
    template_rendered.connect(note_secret_shown, app)


def limit_callback_body():
    if not is_callback():
        return None
    request.max_content_length = CALLBACK_BODY_LIMIT  # a body sent without a length is read this far, no more
    if (request.content_length or 0) > CALLBACK_BODY_LIMIT:
        return callback_body_too_large()
    return None


def callback_body_too_large() -> Response:
    return Response(f"the request body is larger than {CALLBACK_BODY_LIMIT // 1024} KB\n", 413,
                    content_type="text/plain")


def note_secret_shown(_app, template, context):
    if template.name in TEMPLATES_SHOWING_SECRETS:
        g.shows_secret = True


def add_security_headers(response: Response) -> Response:
    headers = response.headers
    headers["X-Content-Type-Options"] = "nosniff"
    # popped, not read: tests run many requests in one app context, and so one `g`
    if g.pop("shows_secret", False) or is_callback():
        headers["Cache-Control"] = "no-store"
    if is_callback():
        return response  # providers read no page: the rest is for browsers
    headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    headers["X-Frame-Options"] = "DENY"
    headers["Referrer-Policy"] = "same-origin"
    if sends_strict_transport_security():
        headers["Strict-Transport-Security"] = STRICT_TRANSPORT_SECURITY
    return response


def sends_strict_transport_security() -> bool:
    """PUBLIC_BASE_URL set by the environment at https: on every answer, as before. An https
    address saved on the settings page: on the answers given at its host only. That address is
    the one providers are told (a tunnel, say) while people may still open SMS Desk at another
    (a local address, a certificate of its own) that HSTS would bind to https for a year."""
    if public_address.set_by_environment():
        return current_app.config["PUBLIC_BASE_URL"].startswith("https://")
    try:
        address = public_address.current_public_base_url()
    except SQLAlchemyError:
        return False  # the database is away: the page says so, no need to add to it
    return address.startswith("https://") and urlsplit(address).hostname == urlsplit("//" + request.host).hostname
