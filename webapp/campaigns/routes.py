"""Campaigns: the confirmation of a compose action to several recipients, the campaigns list and
each campaign's page. The rules are in webapp/services/campaigns.py."""
from flask import Blueprint, Response, abort, flash, jsonify, redirect, render_template, request, stream_with_context, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user, login_required
from redis.exceptions import RedisError

from .. import statuses
from ..ids import row_id
from ..messages.forms import CampaignReviewForm, MessageActionForm, ResendForm
from ..services import campaigns as campaign_service
from ..templating import local_time
from ..services import scheduled as scheduled_service
from ..services import contacts as contact_service
from ..services import limits, quotas

bp = Blueprint("campaigns", __name__, url_prefix="/campaigns")

PREVIEW_CHOICES = 100  # recipients offered in the preview's list (and any number can be typed)


def choices_from(values, fields) -> campaign_service.Choices:
    """The confirmation's choices, from its form (or the preview's query string)."""
    return campaign_service.Choices(
        send_to_valid=bool(values.get("send_to_valid")), missing=values.get("missing") or None,
        fallbacks={name: (values.get(f"fallback-{name}") or "").strip()[:200] for name in fields})


def draft_or_404(draft_id):
    draft = campaign_service.user_draft(current_user, draft_id)
    if draft is None:
        abort(404)
    return draft


@bp.route("/drafts/<int:draft_id>", methods=["GET", "POST"])
@login_required
def review(draft_id):
    form = CampaignReviewForm()
    draft = campaign_service.user_draft(current_user, draft_id)
    if draft is None:  # confirmed already (and gone with it): posted again, it shows what it sent
        if form.validate_on_submit():
            confirmed = campaign_service.confirm(current_user, draft_id, campaign_service.Choices(),
                                                 form.submission_token.data)
            if confirmed.repeated:
                return after_confirming(confirmed)
        abort(404)
    fields = draft.data["fields"]
    choices = choices_from(request.form, fields) if request.method == "POST" else campaign_service.Choices()
    problems = []
    if form.validate_on_submit() and not form.update.data:
        confirmed = campaign_service.confirm(current_user, draft.id, choices, form.submission_token.data)
        if not confirmed.problems:
            return after_confirming(confirmed)
        problems = confirmed.problems
    summary = campaign_service.review(draft, choices)
    recipients = draft.data["recipients"]
    offered = recipients[:PREVIEW_CHOICES]
    offered += [recipient for recipient in recipients[PREVIEW_CHOICES:] if not all(recipient[2])][:PREVIEW_CHOICES]
    from ..services.phones import user_phone_or_none
    from ..services.pools import user_pool_or_none
    pool_id = draft.data.get("pool_id")
    return render_template("campaigns/review.html", form=form, review=summary, choices=choices, problems=problems,
                           phone=user_phone_or_none(current_user, draft.data["phone_id"]), offered=offered,
                           pool=user_pool_or_none(current_user, pool_id) if pool_id else None,
                           first_preview=campaign_service.preview(draft, None, choices),
                           quota=quotas.usage(current_user))


def after_confirming(confirmed: campaign_service.Confirmed):
    if confirmed.repeated:
        flash(_("This form had been sent already: nothing more was sent."), "info")
    elif confirmed.opted_out_since:
        flash(ngettext("%(num)d number was left out: it opted out meanwhile.",
                       "%(num)d numbers were left out: they opted out meanwhile.", confirmed.opted_out_since), "info")
    if not confirmed.repeated and confirmed.scheduled_at:
        flash(ngettext("%(num)d SMS will be sent on %(date)s.", "%(num)d SMS will be sent on %(date)s.",
                       len(confirmed.message_ids), date=local_time(confirmed.scheduled_at, "medium")), "success")
    elif not confirmed.repeated:
        flash(ngettext("%(num)d SMS is on its way.", "%(num)d SMS are on their way.", len(confirmed.message_ids)),
              "success")
    if confirmed.campaign_id:
        return redirect(url_for("campaigns.show", campaign_id=confirmed.campaign_id))
    if confirmed.message_ids:
        return redirect(url_for("messages.show", message_id=confirmed.message_ids[0]))
    return redirect(url_for("campaigns.index"))


@bp.route("/drafts/<int:draft_id>/preview")
@login_required
def preview(draft_id):
    """For the confirmation page's script: the text one recipient gets, with the choices made."""
    draft = draft_or_404(draft_id)
    shown = campaign_service.preview(draft, request.args.get("number"), choices_from(request.args, draft.data["fields"]))
    if shown is None:
        abort(404)
    return jsonify(shown)


@bp.route("")
@login_required
def index():
    campaigns, next_before = campaign_service.campaigns_page(current_user, request.args.get("before", type=row_id))
    counts = campaign_service.campaigns_counts(campaigns)
    return render_template("campaigns/index.html", campaigns=campaigns, next_before=next_before,
                           progress={campaign.id: campaign_service.Progress(counts[campaign.id],
                                                                            sum(counts[campaign.id].values()))
                                     for campaign in campaigns})


def campaign_or_404(campaign_id):
    campaign = campaign_service.user_campaign(current_user, campaign_id)
    if campaign is None:
        abort(404)
    return campaign


@bp.route("/<int:campaign_id>")
@login_required
def show(campaign_id):
    campaign = campaign_or_404(campaign_id)
    status = request.args.get("status") if request.args.get("status") in statuses.OUTBOUND_STATUSES else None
    rows, next_after = campaign_service.recipients_page(campaign, status, request.args.get("after", type=row_id))
    return render_template("campaigns/show.html", campaign=campaign, progress=campaign_service.progress(campaign),
                           schedule=scheduled_service.campaign_schedule(campaign),
                           schedule_editable=scheduled_service.has_held_messages(campaign),
                           failures=campaign_service.failure_reasons(campaign), messages=rows, next_after=next_after,
                           status=status, statuses=statuses, action_form=MessageActionForm(), resend_form=ResendForm(),
                           pauses=limits.pauses_of_campaign(campaign.id),
                           names=contact_service.names_by_number(current_user.id, [row.remote_number for row in rows]))


@bp.route("/<int:campaign_id>/progress")
@login_required
def progress(campaign_id):
    """For the page's poll: its counts per status."""
    campaign = campaign_or_404(campaign_id)
    answer = campaign_service.progress(campaign).as_json()
    answer["labels"] = {status: statuses.label(status) for status in statuses.OUTBOUND_STATUSES}
    answer["paused"] = [pause.reason() for pause in limits.pauses_of_campaign(campaign.id)]
    return jsonify(answer)


@bp.route("/<int:campaign_id>/cancel", methods=["POST"])
@login_required
def cancel(campaign_id):
    campaign = campaign_or_404(campaign_id)
    if not MessageActionForm().validate_on_submit():
        abort(400)
    try:
        canceled, asked = campaign_service.cancel_rest(campaign)
    except RedisError:
        flash(_("The background worker cannot be reached, so the SMS held by the provider cannot be canceled now."),
              "error")
    else:
        flash(ngettext("%(num)d SMS not sent yet was canceled.", "%(num)d SMS not sent yet were canceled.", canceled),
              "success" if canceled else "info")
        if asked:
            flash(ngettext("Asking the provider to cancel %(num)d SMS it holds for later…",
                           "Asking the provider to cancel %(num)d SMS it holds for later…", asked), "info")
    return redirect(url_for("campaigns.show", campaign_id=campaign.id))


@bp.route("/<int:campaign_id>/resend", methods=["POST"])
@login_required
def resend(campaign_id):
    campaign = campaign_or_404(campaign_id)
    form = ResendForm()
    if not form.validate_on_submit():
        abort(400)
    resent = campaign_service.resend_failed(current_user, campaign, confirmed_unknown=form.include_unknown.data)
    for text, category in campaign_service.resend_summary(resent):
        flash(text, category)
    return redirect(url_for("campaigns.show", campaign_id=campaign.id))


@bp.route("/<int:campaign_id>/export.csv")
@login_required
def export(campaign_id):
    campaign = campaign_or_404(campaign_id)
    lines = campaign_service.export_csv_lines(current_user, campaign)
    return Response(stream_with_context(lines), content_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f"attachment; filename=campaign-{campaign.id}.csv"})
