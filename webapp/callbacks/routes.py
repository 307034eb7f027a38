"""The URLs providers call: status reports and incoming SMS.

The token in the URL is checked first (a wrong one answers 404), then the adapter's own
checks (a signature, say). A malformed request answers 400 with the reason and changes
nothing; any other error answers 500 so that the provider tries again.
"""
import hmac
import re

from flask import Blueprint, Response, abort, current_app, request
from flask.sessions import SecureCookieSessionInterface

from ..extensions import db, limiter
from ..models import Message
from ..providers.base import CallbackRejected, CallbackRequest, ParsedCallback
from ..services import address_check
from ..services import messages as message_service
from ..services import opt_outs
from ..services import phones as phone_service
from ..services import public_address
from ..services.reports import report_writer

bp = Blueprint("callbacks", __name__, url_prefix="/callbacks")


# Providers carry no cookie and no limit applies to them: callbacks skip the session and the
# rate limiter, a fifth of what a trivial request costs, on the URLs a busy provider calls most.
class SessionlessCallbacks(SecureCookieSessionInterface):
    def open_session(self, app, request):
        from ..api.auth import is_api
        if is_callback() or is_api():  # an API call is its key's, never a cookie's
            return None  # Flask makes it a null session, never saved
        return super().open_session(app, request)


@limiter.request_filter
def is_callback() -> bool:
    """By path: a callback URL that matches no route is still a machine's, with no session."""
    return request.path.startswith(bp.url_prefix + "/")


def callback_request() -> CallbackRequest:
    public_url = public_address.current_public_base_url() + request.path
    if request.query_string:
        public_url += "?" + request.query_string.decode("latin-1")
    return CallbackRequest(
        method=request.method, url=public_url,
        headers={name.lower(): value for name, value in request.headers.items()},
        query=request.args.to_dict(flat=False), form=request.form.to_dict(flat=False),
        body=request.get_data(cache=True))


def contains_nul(incoming: CallbackRequest) -> bool:
    values = [value for fields in (incoming.form, incoming.query) for values in fields.values() for value in values]
    return b"\x00" in incoming.body or b"\\u0000" in incoming.body.lower() or any("\x00" in value for value in values)


def refuse_unstorable_ids(parsed: ParsedCallback) -> None:
    """No message can have an id longer than its column (PostgreSQL would refuse to store it)."""
    longest = Message.provider_message_id.type.length
    if any(len(item.provider_message_id) > longest for item in parsed.status_events + parsed.inbound):
        raise CallbackRejected(400, f"a message id is longer than {longest} characters")


def callback_kind(parsed: ParsedCallback) -> str:
    """What the phone's page says came: an incoming SMS, a STOP notice or a delivery report."""
    return "inbound" if parsed.inbound else "opt-out" if parsed.opt_outs else "status"


CHECK_NONCE = re.compile(r"[A-Za-z0-9_-]{16,64}")


@bp.route("/check/<nonce>")
def answer_address_check(nonce):
    """The settings page's "Check my address" calls this through the public address."""
    if not CHECK_NONCE.fullmatch(nonce):
        abort(404)
    return Response(address_check.challenge_answer(nonce), mimetype="text/plain")


@bp.route("/<public_id>/<token>/<kind>", methods=["GET", "POST"])
def receive(public_id, token, kind):
    if kind not in phone_service.CALLBACK_KINDS:
        abort(404)
    phone = phone_service.callback_phone(public_id)
    if phone is None or not hmac.compare_digest(token.encode(), phone.callback_token.encode()):
        abort(404)
    adapter = phone.adapter
    incoming = callback_request()
    if contains_nul(incoming):  # PostgreSQL cannot store it: refuse it here, with the reason
        return Response("the request contains a NUL character\n", 400, content_type="text/plain")
    try:
        adapter.verify_callback(incoming)
        parsed = adapter.parse_callback(kind, incoming)
        refuse_unstorable_ids(parsed)
        # matched against the messages of every phone whose callbacks land here (one OVH service)
        if parsed.status_events:
            report_writer().write(phone.scope_ids, parsed.status_events)
        for inbound in parsed.inbound:
            message_service.record_inbound(phone.receiving(inbound), inbound)
        for notice in parsed.opt_outs:
            opt_outs.record_notice(phone, notice)
        opt_outs.record_reported_refusals(phone, parsed.status_events)
        reply = adapter.callback_reply(kind)
    except CallbackRejected as rejection:
        db.session.rollback()
        return Response(rejection.reason + "\n", rejection.status, content_type="text/plain")
    phone_service.note_callback_received(phone.scope_ids, callback_kind(parsed),
                                         parsed.inbound[0].sender[:32] if parsed.inbound else None)
    return Response(reply.body, reply.status, content_type=reply.content_type)
