from datetime import datetime, time, timedelta

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import get_locale, gettext as _
from wtforms import SelectChoice
from flask_login import current_user, login_required, login_user, logout_user, user_loaded_from_cookie

from .. import mail, tasks
from ..extensions import db, limiter, login_manager
from ..models import utcnow
from ..api.auth import is_api
from ..callbacks.routes import is_callback
from ..redirects import same_site_path
from ..services import accounts, api_keys, password_resets, sign_ins
from ..templating import local_to_utc
from ..timezones import zone_choices, zone_label
from .forms import (ApiKeyForm, ChangePasswordForm, CreateAdministratorForm, ForgotPasswordForm, LoginForm, NewPasswordForm,
                    PreferencesForm)

bp = Blueprint("auth", __name__)
login_manager.login_view = "auth.login"
login_manager.login_message = None


@login_manager.user_loader
def load_user(token):
    """The cookies name a sign-in (its token), not a user."""
    return sign_ins.user_for(token)


@user_loaded_from_cookie.connect
def renew_remembered_sign_in(_app, user):
    """A browser back with its remember cookie gets a new token and a new cookie; the old one is ended."""
    token = user.signed_in_session_id
    if token == session.get("_user_id"):  # not the successor of a cookie renewed a moment ago (user_for)
        token = sign_ins.renew(token, request.remote_addr)
    if token is None:  # ended since it was loaded
        user.signed_in_session_id = None
        logout_user()
        return
    user.signed_in_session_id = token
    session["_user_id"] = token
    session["_remember"] = "set"  # Flask-Login writes the remember cookie anew at the end of the request


@bp.after_app_request
def note_sign_in_seen(response):
    sign_ins.note_seen()
    return response


def sign_in(user, remember=False):
    user.signed_in_session_id = sign_ins.start(user, request.user_agent.string, request.remote_addr).token
    login_user(user, remember=remember)


@bp.before_app_request
def send_first_visitor_to_setup():
    if request.endpoint in ("auth.setup", "static", "main.healthz") or (request.endpoint or "").startswith("callbacks.") \
            or is_api():
        return None
    if current_app.extensions.get("smsdesk_set_up"):
        return None
    if not accounts.has_been_set_up():
        return redirect(url_for("auth.setup"))
    current_app.extensions["smsdesk_set_up"] = True  # it never goes back: skip the query from now on
    return None


# what a user whose password an administrator reset may reach before choosing their own
BEFORE_A_NEW_PASSWORD = ("auth.choose_password", "auth.logout", "static", "main.healthz")


@bp.before_app_request
def send_to_choose_password():
    if request.endpoint in BEFORE_A_NEW_PASSWORD or is_callback() or is_api():  # no session to sign in
        return None
    if current_user.is_authenticated and current_user.must_change_password:
        return redirect(url_for("auth.choose_password"))
    return None


@bp.route("/setup", methods=["GET", "POST"])
def setup():
    if accounts.has_been_set_up():
        return redirect(url_for("auth.login"))
    form = CreateAdministratorForm()
    if form.validate_on_submit():
        try:
            user = accounts.create_first_administrator(form.email.data, form.password.data)
        except accounts.AccountError:
            return redirect(url_for("auth.login"))  # someone else set SMS Desk up meanwhile
        sign_in(user)
        flash(_("Welcome! Add a phone to start sending SMS: the simulator needs no provider account."), "success")
        return redirect(url_for("phones.choose_provider"))
    return render_template("auth/setup.html", form=form)


def _attempted_email():
    return (request.form.get("email") or "").strip().lower()[:254]


TOO_MANY_ATTEMPTS = dict(methods=["POST"], error_message=lambda: _(
    "Too many sign-in attempts. Wait a minute and try again."))


@bp.route("/login", methods=["GET", "POST"])
# per address and account: one address guessing cannot lock out the others behind the same proxy
@limiter.limit(lambda: current_app.config["LOGIN_RATE_LIMIT"],
               key_func=lambda: f"{request.remote_addr}/{_attempted_email()}", **TOO_MANY_ATTEMPTS)
# per account, from any address: a ceiling on guesses spread over many addresses
@limiter.limit(lambda: current_app.config["LOGIN_ACCOUNT_RATE_LIMIT"], key_func=_attempted_email,
               **TOO_MANY_ATTEMPTS)
def login():
    if current_user.is_authenticated:
        return redirect(url_for("main.dashboard"))
    form = LoginForm()
    if form.validate_on_submit():
        user = accounts.authenticate(form.email.data, form.password.data)
        if user is None:
            form.password.errors.append(_("Wrong e-mail or password, or the account is disabled."))
        else:
            sign_in(user, remember=form.remember.data)
            return redirect(_safe_next(request.args.get("next")))
    return render_template("auth/login.html", form=form, can_reset_by_mail=mail.is_configured())


TOO_MANY_RESET_REQUESTS = dict(methods=["POST"], error_message=lambda: _(
    "Too many requests for a password reset. Wait a while and try again."))


@bp.route("/forgot-password", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["PASSWORD_RESET_RATE_LIMIT"],
               key_func=lambda: f"reset/{request.remote_addr}/{_attempted_email()}", **TOO_MANY_RESET_REQUESTS)
@limiter.limit(lambda: current_app.config["PASSWORD_RESET_ACCOUNT_RATE_LIMIT"],
               key_func=lambda: f"reset/{_attempted_email()}", **TOO_MANY_RESET_REQUESTS)
def forgot_password():
    if not mail.is_configured():
        abort(404)
    form = ForgotPasswordForm()
    if form.validate_on_submit():
        tasks.send_password_reset_link(form.email.data.strip().lower(), str(get_locale()))
        # the same answer for every address: it tells nobody which ones have an account
        flash(_("If an account has the address %(email)s, an e-mail with a link to choose a new password is on "
                "its way. The link works once, for one hour.", email=form.email.data.strip()), "success")
        return redirect(url_for("auth.login"))
    return render_template("auth/forgot_password.html", form=form)


LINK_PROBLEMS = {
    password_resets.LinkProblem.UNKNOWN: lambda: _(
        "This link is not valid: it was mistyped, already used, or replaced by a newer one. Ask for a new link."),
    password_resets.LinkProblem.EXPIRED: lambda: _("This link has expired. Ask for a new link."),
}


@bp.route("/reset-password/<token>", methods=["GET", "POST"])
def reset_password(token):
    user = password_resets.user_for_link(token)
    if isinstance(user, password_resets.LinkProblem):
        return render_template("auth/reset_password.html", problem=LINK_PROBLEMS[user](), form=None), 400
    form = NewPasswordForm()
    form.account_email = user.email
    if form.validate_on_submit():
        done = password_resets.reset_with_link(token, form.password.data)
        if isinstance(done, password_resets.LinkProblem):
            return render_template("auth/reset_password.html", problem=LINK_PROBLEMS[done](), form=None), 400
        if current_user.is_authenticated:
            logout_user()  # this browser's sign-in was ended with the others
        flash(_("Your password has been changed and every browser signed out. Sign in with the new password."),
              "success")
        return redirect(url_for("auth.login"))
    return render_template("auth/reset_password.html", problem=None, form=form)


@bp.route("/account/choose-password", methods=["GET", "POST"])
@login_required
def choose_password():
    if not current_user.must_change_password:
        return redirect(url_for("auth.account"))
    form = NewPasswordForm()
    form.account_email = current_user.email
    if form.validate_on_submit():
        if current_user.check_password(form.password.data):
            form.password.errors.append(_("Choose a password of your own, not the temporary one."))
        else:
            accounts.change_password(current_user, form.password.data, keep_token=current_user.signed_in_session_id)
            flash(_("Your password has been changed."), "success")
            return redirect(url_for("main.dashboard"))
    return render_template("auth/choose_password.html", form=form)


def _safe_next(target):
    return same_site_path(target) or url_for("main.dashboard")


@bp.route("/logout", methods=["POST"])
def logout():
    if current_user.is_authenticated:
        sign_ins.end(current_user.signed_in_session_id)
    logout_user()  # and the remember cookie
    return redirect(url_for("auth.login"))


@bp.route("/account/sessions/<int:sign_in_id>/end", methods=["POST"])
@login_required
def end_sign_in(sign_in_id):
    this_browser = current_user.signed_in_session_id
    ended = sign_ins.end_one(current_user, sign_in_id)
    if ended is None:
        return redirect(url_for("auth.account"))
    if ended.token == this_browser:
        logout_user()
        return redirect(url_for("auth.login"))
    flash(_("That browser is signed out."), "success")
    return redirect(url_for("auth.account"))


@bp.route("/account/sessions/end-all", methods=["POST"])
@login_required
def end_all_sign_ins():
    sign_ins.end_all(current_user)
    logout_user()
    flash(_("You are signed out everywhere."), "success")
    return redirect(url_for("auth.login"))


def preferences_form_of(user) -> PreferencesForm:
    form = PreferencesForm(prefix="prefs", obj=None)
    default = current_app.config["BABEL_DEFAULT_TIMEZONE"]
    locale = str(get_locale())
    form.timezone.choices = [SelectChoice("", _("Default (%(zone)s)", zone=zone_label(default, locale)))] + [
        SelectChoice(zone, city, optgroup=country) for country, cities in zone_choices(locale) for zone, city in cities]
    if user.timezone and user.timezone not in {zone for country, cities in zone_choices(locale) for zone, _c in cities}:
        form.timezone.choices.append(SelectChoice(user.timezone, user.timezone))  # chosen from the old, longer list
    if request.method == "GET" or not form.submit.data:
        form.locale.data = user.locale or ""
        form.timezone.data = user.timezone or ""
    return form


@bp.route("/account", methods=["GET", "POST"])
@login_required
def account():
    password_form = ChangePasswordForm(prefix="password")
    password_form.account_email = current_user.email
    preferences_form = preferences_form_of(current_user)
    if password_form.submit.data and password_form.validate_on_submit():
        if not current_user.check_password(password_form.current_password.data):
            password_form.current_password.errors.append(_("This is not your current password."))
        else:
            accounts.change_password(current_user, password_form.password.data,
                                     keep_token=current_user.signed_in_session_id)
            flash(_("Your password has been changed. Your other browsers are signed out."), "success")
            return redirect(url_for("auth.account"))
    elif preferences_form.submit.data and preferences_form.validate_on_submit():
        current_user.locale = preferences_form.locale.data or None
        current_user.timezone = preferences_form.timezone.data or None
        db.session.commit()
        flash(_("Your preferences have been saved."), "success")
        return redirect(url_for("auth.account"))
    return account_page(password_form=password_form, preferences_form=preferences_form)


def account_page(password_form=None, preferences_form=None, api_key_form=None, made_key=None, status=200):
    return render_template("auth/account.html",
                           password_form=password_form or ChangePasswordForm(prefix="password", formdata=None),
                           preferences_form=preferences_form or preferences_form_of(current_user),
                           api_key_form=api_key_form or ApiKeyForm(prefix="key", formdata=None),
                           api_keys=api_keys.user_keys(current_user), made_key=made_key,
                           sign_ins=sign_ins.active(current_user),
                           this_browser=current_user.signed_in_session_id), status


@bp.route("/account/api-keys", methods=["POST"])
@login_required
def make_api_key():
    """The key is shown in this answer only: it is never stored, so no later page can show it."""
    form = ApiKeyForm(prefix="key")
    if not form.validate_on_submit():
        return account_page(api_key_form=form, status=400)
    # valid through the day chosen, in the user's time zone
    expires_at = (local_to_utc(datetime.combine(form.expires_on.data + timedelta(days=1), time.min))
                  if form.expires_on.data else None)
    if expires_at is not None and expires_at <= utcnow():
        form.expires_on.errors.append(_("Choose a date in the future."))
        return account_page(api_key_form=form, status=400)
    made = api_keys.make_key(current_user, form.name.data, expires_at)
    return account_page(made_key=made)


@bp.route("/account/api-keys/<int:key_id>/revoke", methods=["POST"])
@login_required
def revoke_api_key(key_id):
    if api_keys.revoke(current_user, key_id):
        flash(_("The key is revoked: it no longer works."), "success")
    return redirect(url_for("auth.account") + "#api-keys")
