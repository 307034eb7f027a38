"""The REST API (/api/v1), its OpenAPI document (/api/v1/openapi.json) and its documentation page.

flask-smorest writes the OpenAPI 3.1 document from the views' marshmallow schemas (through
apispec) and validates each request with the same schemas, so the document is the code's. Its
own error handler (JSON of its own shape, for every HTTPException of the whole app) is left out:
the API answers problem+json (problems.py) and the pages keep their HTML error pages.
"""
import http

from flask_smorest import Api
from flask_smorest.spec import prepare_response

from ..extensions import csrf
from . import auth, problems, schemas

API_SETTINGS = {
    "API_TITLE": "SMS Desk API",
    "API_VERSION": "v1",
    "OPENAPI_VERSION": "3.1.0",
    "OPENAPI_URL_PREFIX": "/api/v1",
    "OPENAPI_JSON_PATH": "openapi.json",
}


class SmsDeskApi(Api):
    ERROR_SCHEMA = schemas.Problem
    DEFAULT_ERROR_RESPONSE_NAME = "DEFAULT_ERROR"

    def _register_error_handlers(self):
        """The API blueprint's own handlers answer problem+json (init_app below)."""

    def _register_responses(self):
        """flask-smorest's, with every error answering problem+json, as the API's errors do."""
        for status in http.HTTPStatus:
            response = {"description": status.phrase}
            if status >= 400:
                response["schema"] = self.ERROR_SCHEMA
            prepare_response(response, self.spec, problems.PROBLEM_CONTENT_TYPE)
            self.spec.components.response(status.name, response, lazy=True)
        response = {"description": "A problem (RFC 9457)", "schema": self.ERROR_SCHEMA}
        prepare_response(response, self.spec, problems.PROBLEM_CONTENT_TYPE)
        self.spec.components.response("DEFAULT_ERROR", response, lazy=True)


def init_app(app):
    for name, value in API_SETTINGS.items():
        app.config.setdefault(name, value)
    app.config.setdefault("API_SPEC_OPTIONS", {
        "info": {"description": "Send SMS and read what SMS Desk holds, as the key's user. "
                                "Authenticate with `Authorization: Bearer <key>` (make keys on your account page). "
                                "Errors are application/problem+json (RFC 9457)."},
        "security": [{"bearer": []}],
    })
    app.before_request_funcs.setdefault(None, []).insert(0, auth.anonymous_until_authenticated)
    api = SmsDeskApi(app)  # one per app: it holds the app's document
    api.spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer",
                                                   "description": "An API key from your account page"})
    from .routes import bp
    csrf.exempt(bp)  # a call carries a bearer key, never the session cookie a forged form could ride on
    api.register_blueprint(bp)
    app.after_request(_rate_limit_headers_on_refusals)
    from .docs import bp as docs_bp
    app.register_blueprint(docs_bp)


def _rate_limit_headers_on_refusals(response):
    """A refusal by the limiter is answered before the blueprint's after_request would run."""
    if auth.is_api() and response.status_code == 429 and "RateLimit-Limit" not in response.headers:
        return auth.add_rate_limit_headers(response)
    return response
