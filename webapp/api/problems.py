"""Errors of the API as application/problem+json (RFC 9457): a machine-readable `type` (a URI
that names the kind of problem, documented at /api/docs#problems), a `title`, the HTTP `status`, a
human `detail` in the caller's language and, for a request that does not validate, `errors` naming
each field it is about."""
from flask import current_app, jsonify
from flask_babel import gettext as _
from werkzeug.exceptions import HTTPException

PROBLEM_CONTENT_TYPE = "application/problem+json"
TYPE_BASE = "https://smsdesk.invalid/problems/"  # a stable name, not a page to fetch


def problem_type(kind: str) -> str:
    return TYPE_BASE + kind


class ApiProblem(HTTPException):
    """Raised by an API view: becomes its problem document."""

    def __init__(self, status: int, kind: str, detail: str, errors: list[dict] | None = None,
                 headers: dict | None = None):
        super().__init__(description=detail)
        self.code, self.kind, self.detail, self.errors, self.extra_headers = status, kind, detail, errors, headers


def problem_response(status: int, kind: str, title: str, detail: str, errors=None, headers=None):
    body = {"type": problem_type(kind), "title": title, "status": status, "detail": detail}
    if errors:
        body["errors"] = errors
    response = jsonify(body)
    response.status_code = status
    response.content_type = PROBLEM_CONTENT_TYPE
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def field_errors(messages, prefix: str = "") -> list[dict]:
    """webargs/marshmallow's nested {field: [messages]} as a flat list naming each field by its
    path (to.0, send_at)."""
    if isinstance(messages, list):
        if all(isinstance(item, str) for item in messages):
            return [{"field": prefix or None, "detail": item} for item in messages]
        return [error for item in messages for error in field_errors(item, prefix)]
    errors = []
    for name, inner in messages.items():
        path = f"{prefix}.{name}" if prefix else str(name)
        if path == "_schema":
            path = ""
        errors.extend(field_errors(inner, path))
    return errors


# the kinds of problem, by the status that has no more precise one
KINDS = {400: "bad-request", 401: "unauthorized", 403: "forbidden", 404: "not-found", 405: "method-not-allowed",
         409: "conflict", 413: "too-large", 415: "unsupported-media-type", 422: "validation-failed",
         429: "rate-limited", 500: "internal-error"}


def titles() -> dict:
    return {400: _("Bad request"), 401: _("Authentication needed"), 403: _("Forbidden"), 404: _("Not found"),
            405: _("Method not allowed"), 409: _("Conflict"), 413: _("Request too large"),
            415: _("Unsupported media type"), 422: _("The request is not valid"), 429: _("Too many requests"),
            500: _("Internal error")}


def details() -> dict:
    return {401: _("Send a valid API key in the header Authorization: Bearer <key>."),
            404: _("There is no such resource, or it is not yours."),
            405: _("This method is not allowed on this resource."),
            413: _("The request body is too large."),
            422: _("Some fields are not valid: see errors."),
            429: _("This key made too many requests. Wait for the time in Retry-After."),
            500: _("SMS Desk could not answer. Nothing was lost; try again in a moment.")}


def from_http_exception(error: HTTPException):
    status = error.code or 500
    if isinstance(error, ApiProblem):
        return problem_response(status, error.kind, titles().get(status, error.name), error.detail, error.errors,
                                error.extra_headers)
    data = getattr(error, "data", None) or {}
    errors = field_errors(data["messages"]) if "messages" in data else None
    if errors:  # webargs names the location first (json, query, headers): the field is what callers know
        errors = [dict(error, field=error["field"].split(".", 1)[1] if "." in (error["field"] or "") else
                       error["field"]) for error in errors]
    detail = details().get(status) or error.description or error.name
    headers = dict(data.get("headers") or {})
    return problem_response(status, KINDS.get(status, "error"), titles().get(status, error.name), str(detail),
                            errors, headers)


def server_error(error):
    current_app.logger.exception("API error", exc_info=error)
    return problem_response(500, KINDS[500], titles()[500], details()[500])
