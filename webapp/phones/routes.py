from flask import Blueprint, abort, current_app, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from redis.exceptions import RedisError

from .. import reasons, tasks
from ..models import Phone
from ..numbers import InvalidNumber, split_typed_numbers, to_e164
from ..providers import PROVIDERS, provider_class
from ..providers.base import KEPT_SECRET, Capability
from ..services import limits
from ..services import messages as message_service
from ..services import phones as phone_service
from ..services import phone_health, reachability
from ..services import pools as pool_service
from .forms import (SETTING_PREFIX, PhoneActionForm, SimulateInboundForm, TestSmsForm, keep_secrets_typed,
                    kept_secrets_owner, phone_form_class, setting_values, take_kept_secrets)

bp = Blueprint("phones", __name__, url_prefix="/phones")


def owned_phone(phone_id: int) -> Phone:
    phone = phone_service.user_phone_or_none(current_user, phone_id)
    if phone is None:
        abort(404)
    return phone


def guarded_post():
    if not PhoneActionForm().validate_on_submit():
        abort(400, _("The form expired. Reload the page and try again."))


def settings_accepted(form, provider, phone) -> bool:
    """Whether the form was sent and is right. A secret left blank takes the one typed in the last
    try; when something is wrong, the secrets typed are kept for the next."""
    owner = kept_secrets_owner(current_user, provider, phone)
    take_kept_secrets(form, provider, owner)
    if form.validate_on_submit() and settings_are_consistent(form, provider, phone):
        return True
    if form.is_submitted():
        keep_secrets_typed(form, provider, owner)
    return False


def settings_are_consistent(form, provider, phone=None) -> bool:
    """The adapter's checks that involve several fields; their errors go under the fields."""
    values = setting_values(form)
    kept = phone_service.saved_secret_names(phone) if phone is not None else set()
    values.update({name: KEPT_SECRET for name in kept if not values.get(name)})
    errors = provider.settings_errors(values)
    for name, message in errors.items():
        form[SETTING_PREFIX + name].errors.append(message)
    return not errors


def chosen_polling_mode(form) -> str | None:
    return form.polling_mode.data if "polling_mode" in form else None


@bp.route("/")
@login_required
def index():
    phones = phone_service.user_phones(current_user)
    return render_template("phones/index.html", phones=phones, providers=PROVIDERS,
                           health={phone.id: phone_health.phone_health(phone) for phone in phones},
                           pooled=pool_service.pooled_phone_ids(current_user))


@bp.route("/new")
@login_required
def choose_provider():
    return render_template("phones/choose_provider.html", providers=PROVIDERS.values())


@bp.route("/new/<provider_key>", methods=["GET", "POST"])
@login_required
def create(provider_key):
    if provider_key not in PROVIDERS:
        abort(404)
    provider = provider_class(provider_key)
    form = phone_form_class(provider, editing=False)()
    if settings_accepted(form, provider, phone=None):
        phone = Phone(user_id=current_user.id, provider_key=provider_key)
        phone_service.save_phone(phone, form.name.data, form.rate_limit_per_second.data, setting_values(form),
                                 polling_mode=chosen_polling_mode(form))
        save_limits(phone, form)
        flash(_("Phone “%(name)s” added.", name=phone.name), "success")
        return redirect(url_for("phones.show", phone_id=phone.id))
    if not form.is_submitted():
        form.name.data = str(provider.name)
    return render_template("phones/form.html", form=form, provider=provider, phone=None)


@bp.route("/<int:phone_id>/edit", methods=["GET", "POST"])
@login_required
def edit(phone_id):
    phone = owned_phone(phone_id)
    provider = provider_class(phone.provider_key)
    form = phone_form_class(provider, editing=True)()
    if settings_accepted(form, provider, phone):
        phone_service.save_phone(phone, form.name.data, form.rate_limit_per_second.data, setting_values(form),
                                 polling_mode=chosen_polling_mode(form))
        save_limits(phone, form)
        flash(_("Phone “%(name)s” saved.", name=phone.name), "success")
        return redirect(url_for("phones.show", phone_id=phone.id))
    if not form.is_submitted():
        form.name.data = phone.name
        form.rate_limit_per_second.data = phone.rate_limit_per_second
        show_limits(phone, form)
        if "polling_mode" in form:
            form.polling_mode.data = phone.polling_mode
        for field in provider.fields:
            if not field.secret:
                form[f"setting_{field.name}"].data = (phone.settings or {}).get(field.name)
    return render_template("phones/form.html", form=form, provider=provider, phone=phone)


@bp.route("/<int:phone_id>")
@login_required
def show(phone_id):
    phone = owned_phone(phone_id)
    provider = provider_class(phone.provider_key)
    urls = {kind: phone_service.callback_url(phone, kind) for kind in phone_service.CALLBACK_KINDS}
    what_works, what_works_closing = reachability.what_works(phone)
    steps = [str(step).format(status_url=urls["status"], inbound_url=urls["inbound"])
             for step in provider.setup_steps_for(phone.settings or {})]
    return render_template(
        "phones/show.html", phone=phone, provider=provider, urls=urls, steps=steps,
        settings=phone.settings or {}, receives=provider.has(Capability.RECEIVE, phone.settings or {}),
        sender=provider.sender_shown(phone.settings or {}),
        loopback_warning=provider.has_callbacks and provider.calls_from_internet
        and phone_service.public_base_url_is_loopback(), action_form=PhoneActionForm(),
        checking=request.args.get("checking") == "1", siblings=phone_service.callback_siblings(phone),
        simulate_form=SimulateInboundForm() if provider.simulates_inbound else None,
        test_sms_form=TestSmsForm() if provider.has(Capability.SEND, phone.settings or {}) else None,
        what_works=what_works, what_works_closing=what_works_closing)


@bp.route("/<int:phone_id>/first-callback")
@login_required
def first_callback(phone_id):
    """The phone page's callback panel, which it refreshes until the first callback came."""
    return render_template("phones/_first_callback.html", phone=owned_phone(phone_id))


@bp.route("/<int:phone_id>/health")
@login_required
def health(phone_id):
    phone = owned_phone(phone_id)
    return jsonify(checked=phone.last_check_at is not None, ok=phone.last_check_ok,
                   message=reasons.shown(phone.last_check_message) or None,
                   facts={reasons.shown(label): value for label, value in (phone.last_check_facts or {}).items()})


@bp.route("/<int:phone_id>/test", methods=["POST"])
@login_required
def test_connection(phone_id):
    guarded_post()
    phone = owned_phone(phone_id)
    return ask_worker(phone, tasks.check_connection)


@bp.route("/<int:phone_id>/install-callbacks", methods=["POST"])
@login_required
def install_callbacks(phone_id):
    guarded_post()
    phone = owned_phone(phone_id)
    if not provider_class(phone.provider_key).installs_callbacks_for(phone.settings):
        abort(404)
    return ask_worker(phone, tasks.install_callbacks)


def previewing_phone(phone_id: int) -> Phone:
    phone = owned_phone(phone_id)
    provider = provider_class(phone.provider_key)
    if not (provider.previews_callback_installation and provider.installs_callbacks_for(phone.settings)):
        abort(404)
    return phone


@bp.route("/<int:phone_id>/install-callbacks/preview", methods=["POST"])
@login_required
def preview_callbacks(phone_id):
    """Asks the worker what the provider holds now; the next page shows it beside what replaces it."""
    guarded_post()
    phone = previewing_phone(phone_id)
    try:
        job_id = tasks.preview_callbacks(phone.id)
    except RedisError:
        flash(_("The background worker cannot be reached, so this cannot be done now."), "error")
        return redirect(url_for("phones.show", phone_id=phone.id, _anchor="connection"))
    return redirect(url_for("phones.previewed_callbacks", phone_id=phone.id, job_id=job_id))


@bp.route("/<int:phone_id>/install-callbacks/preview/<job_id>")
@login_required
def previewed_callbacks(phone_id, job_id):
    phone = previewing_phone(phone_id)
    job = tasks.previewed_callbacks(phone.id, job_id)
    if job is None:
        abort(404)
    answer = job.return_value() if job.is_finished else None
    replaced = [{"label": reasons.shown(label), "current": current, "new": phone_service.callback_url(phone, kind)}
                for label, current, kind in (answer or {}).get("callbacks", [])]
    page = "phones/_callbacks_preview.html" if request.args.get("fragment") else "phones/callbacks_preview.html"
    return render_template(page, phone=phone, provider=provider_class(phone.provider_key), job_id=job_id,
                           pending=answer is None and not job.is_failed, failed=job.is_failed,
                           no_worker=tasks.untaken_for_long(job),
                           error=reasons.shown((answer or {}).get("error")) or None, replaced=replaced)


def ask_worker(phone, task):
    try:
        phone_service.request_provider_check(phone, task)
    except RedisError:
        flash(_("The background worker cannot be reached, so this cannot be done now."), "error")
        return redirect(url_for("phones.show", phone_id=phone.id, _anchor="connection"))
    return redirect(url_for("phones.show", phone_id=phone.id, checking=1, _anchor="connection"))


@bp.route("/<int:phone_id>/rotate-token", methods=["POST"])
@login_required
def rotate_token(phone_id):
    guarded_post()
    phone = owned_phone(phone_id)
    phone_service.rotate_callback_token(phone)
    flash(_("New callback URLs were made. The old ones no longer work: paste the new ones at your provider."),
          "success")
    return redirect(url_for("phones.show", phone_id=phone.id, _anchor="callbacks"))


@bp.route("/<int:phone_id>/delete", methods=["POST"])
@login_required
def delete(phone_id):
    guarded_post()
    phone = owned_phone(phone_id)
    phone_service.delete_phone(phone)
    flash(_("Phone “%(name)s” deleted. Its messages stay in the history.", name=phone.name), "success")
    return redirect(url_for("phones.index"))


@bp.route("/<int:phone_id>/test-sms", methods=["POST"])
@login_required
def send_test_sms(phone_id):
    """A real SMS to the user's own number, through the same queue and worker as any other: its
    page then shows the provider's delivery report."""
    phone = owned_phone(phone_id)
    form = TestSmsForm()
    if not form.validate_on_submit():
        flash(_("Type the number the test SMS goes to."), "error")
        return redirect(url_for("phones.show", phone_id=phone.id, _anchor="test-sms"))
    composed = message_service.compose(current_user, phone.id, [form.number.data], test_sms_text(phone))
    if composed.problems:  # an invalid number, one that opted out, a phone that cannot send
        for problems in composed.problems.values():
            for problem in problems:
                flash(str(problem), "error")
        return redirect(url_for("phones.show", phone_id=phone.id, _anchor="test-sms"))
    flash(_("Your test SMS is on its way: its delivery report shows on this page."), "success")
    return redirect(url_for("messages.show", message_id=composed.message_ids[0]))


def test_sms_text(phone) -> str:
    return _("This is a test SMS from SMS Desk, sent through your phone “%(name)s”.", name=phone.name)


@bp.route("/<int:phone_id>/simulate-inbound", methods=["POST"])
@login_required
def simulate_inbound(phone_id):
    phone = owned_phone(phone_id)
    if not provider_class(phone.provider_key).simulates_inbound:
        abort(404)
    form = SimulateInboundForm()
    if not form.validate_on_submit():
        flash(_("Enter who the SMS is from and its text."), "error")
        return redirect(url_for("phones.show", phone_id=phone.id))
    try:
        sender = to_e164(form.sender.data, current_app.config["DEFAULT_PHONE_REGION"])
    except InvalidNumber as error:
        flash(_("%(number)s is not a valid number: %(reason)s.", number=error.typed, reason=error.reason), "error")
        return redirect(url_for("phones.show", phone_id=phone.id))
    try:
        tasks.simulate_inbound(phone.id, sender, form.text.data)
    except RedisError:
        flash(_("The background worker cannot be reached, so the SMS cannot be simulated now."), "error")
        return redirect(url_for("phones.show", phone_id=phone.id))
    flash(_("The simulator is sending the SMS: it appears here in a moment."), "success")
    return redirect(url_for("messages.conversation", number=sender))


@bp.route("/<int:phone_id>/check-numbers", methods=["POST"])
@login_required
def check_numbers(phone_id):
    """Asks the worker what the provider makes of the typed numbers; the page then polls the answer."""
    guarded_post()
    phone = owned_phone(phone_id)
    if not provider_class(phone.provider_key).cleans_numbers:
        abort(404)
    typed = split_typed_numbers(request.form.get("numbers", ""))
    if not typed:
        return jsonify(error=_("Type a number first.")), 400
    try:
        job_id = tasks.check_numbers(phone.id, typed[:50])
    except RedisError:
        return jsonify(error=_("The background worker cannot be reached, so this cannot be done now.")), 503
    return jsonify(result_url=url_for("phones.checked_numbers", phone_id=phone.id, job_id=job_id))


@bp.route("/<int:phone_id>/check-numbers/<job_id>")
@login_required
def checked_numbers(phone_id, job_id):
    phone = owned_phone(phone_id)
    check = tasks.checked_numbers(phone.id, job_id)
    if check is None:
        abort(404)
    if not check.done:
        return jsonify(done=False, failed=check.failed)
    return jsonify(done=True, numbers=[{"typed": typed, "cleaned": cleaned, "error": reasons.shown(error) or None,
                                        "sent_to": sent_to(typed)} for typed, cleaned, error in check.numbers])


def sent_to(typed: str) -> str | None:
    """The number SMS Desk itself sends to, shown beside what the provider makes of it."""
    try:
        return to_e164(typed, current_app.config["DEFAULT_PHONE_REGION"])
    except InvalidNumber:
        return None


def save_limits(phone, form) -> None:
    limits.save_limits(phone, form.limit_per_day.data, form.limit_per_month.data, form.limit_counts.data)


def show_limits(phone, form) -> None:
    limit = limits.limit_of(phone.id)
    if limit is not None:
        form.limit_per_day.data, form.limit_per_month.data = limit.per_day, limit.per_month
        form.limit_counts.data = limit.counts


from . import pool_routes  # noqa: E402,F401  (the Pools pages, on this blueprint)
