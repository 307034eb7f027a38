"""The webhooks page: a user's endpoints, their secrets, events and delivery logs."""
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user, login_required

from ..ids import row_id
from ..models import WebhookEndpoint
from ..services import webhooks
from ..services.phones import user_phones
from .forms import KIND_LABELS, ActionForm, EndpointForm, EventsForm, event_choices

bp = Blueprint("webhooks", __name__, url_prefix="/webhooks")


def endpoint_form(formdata=None) -> EndpointForm:
    form = EndpointForm(formdata) if formdata is not None else EndpointForm()
    form.kind.choices = [(kind, KIND_LABELS[kind]) for kind in webhooks.kinds_available()]
    form.events.choices = event_choices()
    form.phone_id.choices = [(phone.id, phone.name) for phone in user_phones(current_user)]
    return form


def own_endpoint(endpoint_id: int) -> WebhookEndpoint:
    endpoint = webhooks.user_endpoint(current_user.id, endpoint_id)
    if endpoint is None:
        abort(404)
    return endpoint


@bp.route("")
@login_required
def index():
    return render_index(endpoint_form())


def render_index(form, status=200):
    return render_template("webhooks/index.html", endpoints=webhooks.user_endpoints(current_user.id), form=form,
                           labels=webhooks.EVENT_LABELS), status


@bp.route("/add", methods=["POST"])
@login_required
def add():
    form = endpoint_form(request.form)
    if not form.validate_on_submit():
        return render_index(form, 400)
    saved = webhooks.add_endpoint(current_user.id, form.kind.data, form.events.data or [], url=form.url.data or "",
                                  email=form.email.data or "", forward_number=form.forward_number.data or "",
                                  phone_id=form.phone_id.data if form.phone_id.data else None)
    if saved.problems:
        for name, problems in saved.problems.items():
            getattr(form, name).errors = list(problems)
        return render_index(form, 400)
    flash(_("The endpoint was added."), "success")
    if saved.secret is None:
        return redirect(url_for("webhooks.show", endpoint_id=saved.endpoint.id))
    return render_show(saved.endpoint, new_secret=saved.secret)  # shown this once


def render_show(endpoint, new_secret=None):
    attempts, next_before = webhooks.log_page(endpoint, request.args.get("before", type=row_id))
    events_form = EventsForm(data={"events": endpoint.events})
    events_form.events.choices = event_choices()
    return render_template("webhooks/show.html", endpoint=endpoint, attempts=attempts, next_before=next_before,
                           events_form=events_form, action_form=ActionForm(), new_secret=new_secret,
                           pending=webhooks.pending_count(endpoint), labels=webhooks.EVENT_LABELS,
                           grace_hours=int(webhooks.SECRET_GRACE.total_seconds() // 3600),
                           previous_until=webhooks.previous_secret_until(endpoint))


@bp.route("/<int:endpoint_id>")
@login_required
def show(endpoint_id):
    return render_show(own_endpoint(endpoint_id))


def guarded(endpoint_id) -> WebhookEndpoint:
    endpoint = own_endpoint(endpoint_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    return endpoint


@bp.route("/<int:endpoint_id>/events", methods=["POST"])
@login_required
def set_events(endpoint_id):
    endpoint = own_endpoint(endpoint_id)
    form = EventsForm()
    form.events.choices = event_choices()
    if not form.validate_on_submit():
        abort(400)
    if webhooks.set_events(endpoint, form.events.data or []):
        flash(_("The events were saved."), "success")
    else:
        flash(_("Choose at least one event."), "error")
    return redirect(url_for("webhooks.show", endpoint_id=endpoint.id))


@bp.route("/<int:endpoint_id>/rotate", methods=["POST"])
@login_required
def rotate(endpoint_id):
    endpoint = guarded(endpoint_id)
    if endpoint.kind != WebhookEndpoint.HTTP:
        abort(404)
    secret = webhooks.rotate_secret(endpoint)
    flash(ngettext("A new secret was made. The old one still signs for %(num)d hour.",
                   "A new secret was made. The old one still signs for %(num)d hours.",
                   int(webhooks.SECRET_GRACE.total_seconds() // 3600)), "success")
    return render_show(endpoint, new_secret=secret)


@bp.route("/<int:endpoint_id>/enable", methods=["POST"])
@login_required
def enable(endpoint_id):
    webhooks.enable(guarded(endpoint_id))
    flash(_("The endpoint is enabled."), "success")
    return redirect(url_for("webhooks.show", endpoint_id=endpoint_id))


@bp.route("/<int:endpoint_id>/disable", methods=["POST"])
@login_required
def disable(endpoint_id):
    webhooks.switch_off(guarded(endpoint_id))
    flash(_("The endpoint is disabled: nothing is sent to it until you enable it again."), "success")
    return redirect(url_for("webhooks.show", endpoint_id=endpoint_id))


@bp.route("/<int:endpoint_id>/delete", methods=["POST"])
@login_required
def delete(endpoint_id):
    webhooks.delete_endpoint(guarded(endpoint_id))
    flash(_("The endpoint was deleted."), "success")
    return redirect(url_for("webhooks.index"))


@bp.route("/<int:endpoint_id>/test", methods=["POST"])
@login_required
def send_test(endpoint_id):
    endpoint = guarded(endpoint_id)
    if not endpoint.enabled:
        flash(_("Enable the endpoint first."), "error")
    else:
        webhooks.send_test(endpoint)
        flash(_("A test event is on its way: its attempt appears in the log below."), "success")
    return redirect(url_for("webhooks.show", endpoint_id=endpoint_id))


@bp.route("/<int:endpoint_id>/deliveries/<int:delivery_id>/resend", methods=["POST"])
@login_required
def resend(endpoint_id, delivery_id):
    guarded(endpoint_id)
    delivery = webhooks.user_delivery(current_user.id, endpoint_id, delivery_id)
    if delivery is None:
        abort(404)
    webhooks.resend(delivery)
    flash(_("The event will be sent again, with the same webhook-id."), "success")
    return redirect(url_for("webhooks.show", endpoint_id=endpoint_id))
