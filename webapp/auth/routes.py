from urllib.parse import urlsplit
from zoneinfo import available_timezones

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user

from ..extensions import db, limiter, login_manager
from ..models import User
from ..services import accounts
from .forms import ChangePasswordForm, CreateAdministratorForm, LoginForm, PreferencesForm

bp = Blueprint("auth", __name__)
login_manager.login_view = "auth.login"
login_manager.login_message = None


@login_manager.user_loader
def load_user(user_id):
    user = db.session.get(User, int(user_id))
    return user if user and not user.disabled else None


@bp.before_app_request
def send_first_visitor_to_setup():
    if request.endpoint in ("auth.setup", "static", "main.healthz") or (request.endpoint or "").startswith("callbacks."):
        return None
    if current_app.extensions.get("smsdesk_has_users"):
        return None
    if accounts.user_count() == 0:
        return redirect(url_for("auth.setup"))
    current_app.extensions["smsdesk_has_users"] = True  # users are never all deleted: skip the query from now on
    return None


@bp.route("/setup", methods=["GET", "POST"])
def setup():
    if accounts.user_count() > 0:
        return redirect(url_for("auth.login"))
    form = CreateAdministratorForm()
    if form.validate_on_submit():
        user = accounts.create_user(form.email.data, form.password.data, is_admin=True)
        login_user(user)
        flash(_("Welcome! Add a phone to start sending SMS: the simulator needs no provider account."), "success")
        return redirect(url_for("phones.choose_provider"))
    return render_template("auth/setup.html", form=form)


def _login_rate_limit():
    return current_app.config["LOGIN_RATE_LIMIT"]


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(_login_rate_limit, methods=["POST"],
               error_message=lambda: _("Too many sign-in attempts. Wait a minute and try again."))
def login():
    if current_user.is_authenticated:
        return redirect(url_for("main.dashboard"))
    form = LoginForm()
    if form.validate_on_submit():
        user = accounts.authenticate(form.email.data, form.password.data)
        if user is None:
            form.password.errors.append(_("Wrong e-mail or password, or the account is disabled."))
        else:
            login_user(user, remember=form.remember.data)
            return redirect(_safe_next(request.args.get("next")))
    return render_template("auth/login.html", form=form)


def _safe_next(target):
    if target and not urlsplit(target).netloc and target.startswith("/"):
        return target
    return url_for("main.dashboard")


@bp.route("/logout", methods=["POST"])
def logout():
    logout_user()
    return redirect(url_for("auth.login"))


@bp.route("/account", methods=["GET", "POST"])
@login_required
def account():
    password_form = ChangePasswordForm(prefix="password")
    preferences_form = PreferencesForm(prefix="prefs", obj=None)
    preferences_form.timezone.choices = [("", _("Default (%(zone)s)", zone=current_app.config["BABEL_DEFAULT_TIMEZONE"]))] + [
        (zone, zone) for zone in sorted(available_timezones())]
    if request.method == "GET":
        preferences_form.locale.data = current_user.locale or ""
        preferences_form.timezone.data = current_user.timezone or ""
    if password_form.submit.data and password_form.validate_on_submit():
        if not current_user.check_password(password_form.current_password.data):
            password_form.current_password.errors.append(_("This is not your current password."))
        else:
            current_user.set_password(password_form.password.data)
            db.session.commit()
            flash(_("Your password has been changed."), "success")
            return redirect(url_for("auth.account"))
    elif preferences_form.submit.data and preferences_form.validate_on_submit():
        current_user.locale = preferences_form.locale.data or None
        current_user.timezone = preferences_form.timezone.data or None
        db.session.commit()
        flash(_("Your preferences have been saved."), "success")
        return redirect(url_for("auth.account"))
    return render_template("auth/account.html", password_form=password_form, preferences_form=preferences_form)
