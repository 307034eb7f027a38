"""Error pages that say what happened in words, for pages; plain text for callbacks; problem+json for the API."""
from flask import render_template, request
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from .api import problems
from .api.auth import is_api

from .callbacks.routes import is_callback
from .security import callback_body_too_large


def init_app(app):
    @app.errorhandler(HTTPException)
    def other_errors(error):
        """An API path that matches no view (or not its method) answers a problem too."""
        if is_api():
            return problems.from_http_exception(error)
        return error

    @app.errorhandler(CSRFError)
    def form_expired(error):
        return render_template("error.html", title=_("This form has expired"),
                               message=_("For your security, forms stop working after you sign out or after a "
                                         "restart. Go back, reload the page and try again."),
                               back=request.referrer), 400

    @app.errorhandler(404)
    def not_found(error):
        if is_api():
            return problems.from_http_exception(error)
        if is_callback():
            return "not found\n", 404, {"Content-Type": "text/plain"}
        return render_template("error.html", title=_("Page not found"),
                               message=_("This page does not exist, or it is not yours.")), 404

    @app.errorhandler(500)
    def server_error(error):
        if is_api():
            return problems.server_error(error)
        if is_callback():  # the provider will try again
            return "internal error\n", 500, {"Content-Type": "text/plain"}
        return render_template("error.html", title=_("Something went wrong"),
                               message=_("SMS Desk could not show this page. Nothing you saved was lost; try "
                                         "again in a moment. If it keeps happening, tell your administrator.")), 500

    @app.errorhandler(400)
    def bad_request(error):
        if is_api():
            return problems.from_http_exception(error)
        return render_template("error.html", title=_("This request cannot be handled"),
                               message=error.description, back=request.referrer), 400

    @app.errorhandler(413)
    def too_large(error):
        if is_api():
            return problems.from_http_exception(error)
        if is_callback():
            return callback_body_too_large()
        return render_template("error.html", title=_("This is too much at once"),
                               message=_("What you sent is larger than SMS Desk accepts in one form. Send it "
                                         "in smaller parts."), back=request.referrer), 413

    @app.errorhandler(429)
    def too_many(error):
        if is_api():
            return problems.from_http_exception(error)
        return render_template("error.html", title=_("Too many attempts"),
                               message=error.description), 429
