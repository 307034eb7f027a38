from functools import wraps

from flask import Blueprint, abort, flash, make_response, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required, logout_user
from sqlalchemy import select

from ..extensions import db
from ..models import User
from ..auth.forms import NewPasswordForm
from ..services import accounts, address_check, public_address, quotas, sign_ins
from .forms import NewUserForm, PublicAddressForm, QuotaForm, UserActionForm

bp = Blueprint("admin", __name__, url_prefix="/admin")


def admin_required(view):
    @wraps(view)
    @login_required
    def wrapper(*args, **kwargs):
        if not current_user.is_admin:
            abort(404)
        return view(*args, **kwargs)
    return wrapper


@bp.route("/users", methods=["GET", "POST"])
@admin_required
def users():
    form = NewUserForm()
    if form.validate_on_submit():
        try:
            user = accounts.create_user(form.email.data, form.password.data, form.is_admin.data)
        except accounts.AccountError:
            form.email.errors.append(_("A user with this e-mail already exists."))
        else:
            flash(_("User %(email)s created.", email=user.email), "success")
            return redirect(url_for("admin.users"))
    all_users = db.session.scalars(select(User).order_by(User.email)).all()
    return render_template("admin/users.html", users=all_users, form=form, action_form=UserActionForm(),
                           usages=quotas.usage_by_user(all_users))


def _other_user(user_id):
    user = db.session.get(User, user_id)
    if user is None:
        abort(404)
    if user.id == current_user.id:
        flash(_("You cannot do this to your own account."), "error")
        return None
    return user


def _sign_out_if_deleted_meanwhile():
    """When the last administrator left is the other one, the one who asked may have been deleted
    by that other one meanwhile: they are signed out (before anything reads their language)."""
    if sign_ins.user_for(current_user.signed_in_session_id) is None:
        logout_user()


@bp.route("/users/<int:user_id>/toggle", methods=["POST"])
@admin_required
def toggle_user(user_id):
    if not UserActionForm().validate_on_submit():
        abort(400)
    user = _other_user(user_id)
    if user is not None:
        email = user.email
        try:
            user = accounts.set_disabled(user.id, not user.disabled)
        except accounts.LastAdministrator:
            _sign_out_if_deleted_meanwhile()
            flash(_("%(email)s is the last active administrator: they cannot be disabled.", email=email), "error")
        except accounts.NoSuchUser:
            pass  # deleted meanwhile: the list shows it
        else:
            flash((_("%(email)s can no longer sign in.", email=user.email) if user.disabled
                   else _("%(email)s can sign in again.", email=user.email)), "success")
    return redirect(url_for("admin.users"))


@bp.route("/users/<int:user_id>/delete", methods=["POST"])
@admin_required
def delete_user(user_id):
    if not UserActionForm().validate_on_submit():
        abort(400)
    user = _other_user(user_id)
    if user is not None:
        email = user.email
        try:
            accounts.delete_user(user.id)
        except accounts.LastAdministrator:
            _sign_out_if_deleted_meanwhile()
            flash(_("%(email)s is the last active administrator: they cannot be deleted.", email=email), "error")
        except accounts.NoSuchUser:
            pass  # deleted meanwhile: the list shows it
        else:
            flash(_("%(email)s and all their phones and messages were deleted.", email=email), "success")
    return redirect(url_for("admin.users"))


@bp.route("/users/<int:user_id>/password", methods=["GET", "POST"])
@admin_required
def set_password(user_id):
    user = _other_user(user_id)
    if user is None:
        return redirect(url_for("admin.users"))
    form = NewPasswordForm()
    form.account_email = user.email
    if form.validate_on_submit():
        accounts.reset_password(user.id, form.password.data)
        flash(_("%(email)s has a new password and is signed out everywhere.", email=user.email), "success")
        return redirect(url_for("admin.users"))
    return render_template("admin/user_password.html", user=user, form=form)


@bp.route("/users/<int:user_id>/reset-password", methods=["POST"])
@admin_required
def reset_password(user_id):
    """A temporary password, shown on this one page: never flashed (the session cookie is only
    signed), never stored but hashed, and the page is not cached."""
    if not UserActionForm().validate_on_submit():
        abort(400)
    user = _other_user(user_id)
    if user is None:
        return redirect(url_for("admin.users"))
    try:
        password = accounts.reset_to_temporary_password(user.id)
    except accounts.NoSuchUser:
        return redirect(url_for("admin.users"))  # deleted meanwhile: the list shows it
    response = make_response(render_template("admin/temporary_password.html", user=user, password=password))
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/users/<int:user_id>/quota", methods=["GET", "POST"])
@admin_required
def user_quota(user_id):
    """Administrators may give themselves a quota too (to try it)."""
    user = db.session.get(User, user_id)
    if user is None:
        abort(404)
    form = QuotaForm()
    if form.validate_on_submit():
        if form.kind.data != quotas.NONE and form.segments.data is None:
            form.segments.errors.append(_("Enter how many SMS segments."))
        else:
            quotas.set_quota(user, form.kind.data, form.segments.data, form.count_from_zero.data)
            flash(_("The quota of %(email)s is saved.", email=user.email), "success")
            return redirect(url_for("admin.users"))
    usage = quotas.usage(user)
    if not form.is_submitted() and usage is not None:
        form.kind.data, form.segments.data = usage.kind, usage.segments
    return render_template("admin/user_quota.html", user=user, form=form, usage=usage)


@bp.route("/settings", methods=["GET", "POST"])
@admin_required
def settings():
    form = PublicAddressForm()
    if form.validate_on_submit():
        try:
            saved = public_address.save_public_base_url(form.public_base_url.data)
        except public_address.InvalidAddress:
            form.public_base_url.errors.append(
                _("Enter an address starting with https:// or http://, with no query, e.g. https://sms.example.org."))
        else:
            flash(_("Public address saved: %(address)s.", address=saved) if saved
                  else _("Public address cleared: SMS Desk uses the local default."), "success")
            return redirect(url_for("admin.settings"))
    elif not form.is_submitted():
        form.public_base_url.data = public_address.saved_public_base_url() or ""
    return settings_page(form)


def settings_page(form, check_steps=None):
    return render_template("admin/settings.html", form=form, address=public_address.current_public_base_url(),
                           set_by_environment=public_address.set_by_environment(),
                           is_local=public_address.is_local(), check_form=UserActionForm(),
                           check_steps=check_steps)


@bp.route("/settings/check", methods=["POST"])
@admin_required
def check_address():
    """Bounded to a few seconds (address_check.TOTAL_SECONDS), so it runs in the request."""
    if not UserActionForm().validate_on_submit():
        abort(400)
    form = PublicAddressForm(formdata=None)
    form.public_base_url.data = public_address.saved_public_base_url() or ""
    return settings_page(form, check_steps=address_check.check())
