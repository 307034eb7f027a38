import functools
import hashlib
import json
import re

from flask import (Blueprint, Response, abort, current_app, flash, jsonify, redirect, render_template, request,
                   stream_with_context, url_for)
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user, login_required
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

from .. import reasons, statuses
from ..extensions import db
from ..ids import row_id, row_ids
from ..numbers import split_typed_numbers
from ..personalization import Template
from ..providers import provider_class
from ..providers.base import Capability
from ..services import contacts as contact_service
from ..services import limits
from ..services import conversations as conversation_service
from ..services import campaigns as campaign_service
from ..services import history
from ..services import messages as message_service
from ..services import scheduled as scheduled_service
from ..services.phones import phone_label, user_phones
from ..services.pools import user_pools
from ..sms_text import counter_rules
from ..templating import local_time, local_to_utc, user_zone, utc_to_local
from ..timezones import zone_label
from .forms import ComposeForm, ConversationSearchForm, EditScheduledForm, HistoryFilterForm, MessageActionForm, ReplyForm, ResendForm

bp = Blueprint("messages", __name__)


def phone_choices():
    return [(phone.id, phone_label(phone)) for phone in user_phones(current_user)]


def pool_choices():
    return [("", _("None: the phone above"))] + [(pool.id, pool.name) for pool in user_pools(current_user)]


def chosen_pool(form) -> int | None:
    return form.pool_id.data if "pool_id" in form else None


def queue_from_form(form, numbers: list[str]) -> message_service.Composed | None:
    """Queues one message per number; None when refused, with the reasons on the form's fields."""
    send_at = getattr(form, "send_at", None) and form.send_at.data
    composed = message_service.compose(
        current_user, form.phone_id.data, numbers, form.body.data,
        flash=bool(getattr(form, "flash", None) and form.flash.data),
        scheduled_at=local_to_utc(send_at) if send_at else None, submission_token=form.submission_token.data,
        send_to_opted_out=form.send_to_opted_out.data or None, pool_id=chosen_pool(form))
    form.opted_out = composed.opted_out  # the template asks to confirm it
    fields = {"phone": form.pool_id if chosen_pool(form) else form.phone_id, "numbers": form.numbers,
              "body": form.body, "quota": form.body, "flash": getattr(form, "flash", None),
              "send_at": getattr(form, "send_at", None)}
    for about, problems in composed.problems.items():
        (fields[about] or form.numbers).errors.extend(problems)
    if composed.repeated:
        flash(_("This form had been sent already: nothing more was sent."), "info")
    return None if composed.problems else composed


def phone_capabilities() -> dict:
    """For the compose form's script: which options each phone offers."""
    offered = {}
    for phone in user_phones(current_user):
        provider = provider_class(phone.provider_key)
        settings = phone.settings or {}
        offered[phone.id] = {"flash": provider.has(Capability.FLASH, settings),
                             "schedule": provider.has(Capability.SCHEDULED_SEND, settings),
                             "check": provider.cleans_numbers, "provider": str(provider.company),
                             "check_url": url_for("phones.check_numbers", phone_id=phone.id)}
    return offered


@bp.app_context_processor
def text_counters():
    """What templates/messages/_text_counter.html reads, when a page includes it."""
    return {"text_counter": text_counter}


def text_counter() -> dict:
    """The limit of each of the user's phones, as its provider declares it, and where the counting
    rules are (sms_text.counter_rules: one table for the server and the counter)."""
    limits = {}
    for phone in user_phones(current_user):
        provider = provider_class(phone.provider_key)
        limits[phone.id] = {"limit": provider.max_text_length, "provider": str(provider.company)}
    return {"limits": limits, "rules_url": url_for("messages.text_rules", v=counter_rules_json()[1])}


@functools.cache
def counter_rules_json() -> tuple[str, str]:
    """The rules as JSON, and a digest of them that changes with them (the URL's, cached for a year)."""
    text = json.dumps(counter_rules(), ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return text, hashlib.sha256(text.encode()).hexdigest()[:16]


@bp.route("/sms-text-rules.json")
@login_required
def text_rules():
    response = current_app.response_class(counter_rules_json()[0], content_type="application/json")
    response.cache_control.private = True
    response.cache_control.max_age = 365 * 24 * 3600
    return response


@bp.route("/compose", methods=["GET", "POST"])
@login_required
def compose():
    form = ComposeForm()
    form.phone_id.choices = phone_choices()
    form.pool_id.choices = pool_choices()
    if len(form.pool_id.choices) == 1:  # no pool: no such field
        del form.pool_id
    form.numbers.description = str(form.numbers.description) % {"region": current_app.config["DEFAULT_PHONE_REGION"]}
    form.send_at.description = your_time_zone_help()
    if not form.phone_id.choices:
        flash(_("Add a phone first: it is what your SMS are sent from."), "info")
        return redirect(url_for("phones.choose_provider"))
    groups = contact_service.groups_with_sizes(current_user)
    form.group_ids.choices = [(group.id, f"{group.name} ({size})") for group, size in groups]
    if request.method == "GET":
        if request.args.get("to"):
            form.numbers.data = request.args["to"]
        if request.args.get("phone", type=row_id) in dict(form.phone_id.choices):
            form.phone_id.data = request.args.get("phone", type=row_id)
        if "pool_id" in form and request.args.get("pool", type=row_id) in dict(form.pool_id.choices):
            form.pool_id.data = request.args.get("pool", type=row_id)
        form.group_ids.data = request.args.getlist("group_ids", type=row_id)
        form.contact_ids.data = ",".join(str(i) for i in request.args.getlist("contact_ids", type=row_id)) or None
    if form.validate_on_submit():
        if is_one_sms(form):
            composed = queue_from_form(form, split_typed_numbers(form.numbers.data or ""))
            if composed is not None:
                return redirect_after_sending(composed)
        else:
            draft = prepare_campaign(form)
            if draft is not None:
                return redirect(url_for("campaigns.review", draft_id=draft.id))
    chosen_contacts = contact_service.user_contacts(current_user, row_ids(form.contact_ids.data or ""))
    return render_template("messages/compose.html", form=form, capabilities=phone_capabilities(),
                           chosen_contacts=chosen_contacts)


def your_time_zone_help() -> str:
    return _("Leave blank to send now. In your time zone, %(zone)s (change it in your account).",
             zone=zone_label(str(user_zone()), str(get_locale())))


def is_one_sms(form) -> bool:
    """One typed number, no contacts, groups or file, no placeholder: sent at once, as a reply is
    (with the confirmation a number that opted out needs). Anything else is confirmed first."""
    return (not form.group_ids.data and not row_ids(form.contact_ids.data or "") and not form.numbers_file.data
            and len(split_typed_numbers(form.numbers.data or "")) <= 1 and not Template.of(form.body.data).fields)


def prepare_campaign(form):
    """The draft its confirmation shows, or None with the problems on the form's fields."""
    send_at = form.send_at.data
    upload = form.numbers_file.data
    draft, composed = campaign_service.prepare(current_user, campaign_service.ComposeInput(
        phone_id=form.phone_id.data, pool_id=chosen_pool(form), body=form.body.data, pasted=form.numbers.data or "",
        csv_bytes=upload.read() if upload else None, contact_ids=row_ids(form.contact_ids.data or ""),
        group_ids=form.group_ids.data or [], flash=bool(form.flash.data),
        scheduled_at=local_to_utc(send_at) if send_at else None))
    fields = {"phone": form.pool_id if chosen_pool(form) else form.phone_id, "numbers": form.numbers,
              "flash": form.flash, "send_at": form.send_at}
    for about, problems in composed.problems.items():
        fields.get(about, form.numbers).errors.extend(problems)
    return draft


def redirect_after_sending(composed: message_service.Composed):
    """The same page for a submission made again: that of the messages it sent the first time."""
    message_ids = composed.message_ids
    if composed.left_out:
        flash(ngettext("%(num)d number was left out: it opted out of your SMS.",
                       "%(num)d numbers were left out: they opted out of your SMS.", composed.left_out), "info")
    if len(message_ids) == 1:
        if composed.repeated:
            pass
        elif composed.scheduled_at:
            flash(_("Your SMS will be sent on %(date)s.", date=local_time(composed.scheduled_at, "medium")), "success")
        else:
            flash(_("Your SMS is on its way."), "success")
        return redirect(url_for("messages.show", message_id=message_ids[0]))
    if not composed.repeated:
        flash(ngettext("%(num)d SMS is on its way.", "%(num)d SMS are on their way.", len(message_ids)), "success")
    return redirect(url_for("messages.history_list", direction="outbound"))


def contact_names(numbers) -> dict[str, str]:
    """{number: name} of the current user's contacts among the numbers a page shows, in one query."""
    return contact_service.names_by_number(current_user.id, list(numbers))


def search_from(typed: str | None) -> conversation_service.Search:
    """One box: what is written like a number (digits, +, spaces) searches the numbers, anything
    else the texts."""
    typed = (typed or "").strip()
    if not typed:
        return conversation_service.Search()
    if re.fullmatch(r"[\d\s+.\-()/]+", typed):
        return conversation_service.Search(number=typed)
    return conversation_service.Search(text=typed)


@bp.route("/conversations")
@login_required
def conversations():
    form = ConversationSearchForm(request.args)
    form.validate()
    search = search_from(form.q.data) if not form.errors else conversation_service.Search()
    before = request.args.get("before", type=row_id)
    rows, next_before = conversation_service.conversations_page(current_user, search, before_id=before)
    arguments = {"q": form.q.data} if form.q.data else {}
    template = "messages/_conversation_rows.html" if request.args.get("fragment") else "messages/conversations.html"
    return render_template(template, form=form, conversations=rows, next_before=next_before, arguments=arguments,
                           before=before, action_form=MessageActionForm(),
                           names=contact_names(row.remote_number for row in rows))


@bp.route("/conversations/<path:number>/<any(read, unread):state>", methods=["POST"])
@login_required
def mark(number, state):
    """Marks a conversation read or unread by hand."""
    if not MessageActionForm().validate_on_submit():
        abort(400)
    marked = (conversation_service.mark_all_read if state == "read" else conversation_service.mark_unread)
    if not marked(current_user, number):
        abort(404)
    return redirect(url_for("messages.conversations"))


@bp.route("/inbox")
@login_required
def inbox_news():
    """For every page's poll: the unread count, and the incoming SMS since the newest it knew of."""
    news = conversation_service.news(current_user, request.args.get("after", type=row_id))
    names = contact_names(message.remote_number for message in news.incoming)
    return jsonify({"unread": news.unread, "last_id": news.last_id,
                    "incoming": [{"id": message.id, "sender": sender_shown(message.remote_number, names),
                                  "text": truncate(message.body, conversation_service.TOAST_TEXT_LENGTH),
                                  "url": url_for("messages.conversation", number=message.remote_number)}
                                 for message in news.incoming]})


def sender_shown(number: str, names: dict[str, str]) -> str:
    return f"{names[number]} ({number})" if number in names else number


def truncate(text: str, length: int) -> str:
    return text if len(text) <= length else text[:length - 1].rstrip() + "…"


@bp.app_context_processor
def inbox_counts():
    """The menu's unread badge and the title's count, read when base.html asks (the fragments
    that live pages fetch ask nothing)."""
    return {"inbox_state": inbox_state}


def inbox_state() -> dict | None:
    if not current_user.is_authenticated:
        return None
    try:
        return {"unread": conversation_service.unread_total(current_user),
                "newest_id": conversation_service.newest_incoming_id(current_user)}
    except SQLAlchemyError:  # the error page of a database that failed still shows
        db.session.rollback()
        return None


def is_one_number(number: str) -> bool:
    """A conversation is with one number (or sender name): a reply must never go to several.
    No number holds a NUL, which PostgreSQL cannot even compare."""
    return split_typed_numbers(number) == [number] and "\x00" not in number


@bp.route("/conversations/<path:number>", methods=["GET", "POST"])
@login_required
def conversation(number):
    if not is_one_number(number):
        abort(404)
    form = ReplyForm()
    form.phone_id.choices = phone_choices()
    form.numbers.data = number
    if form.validate_on_submit():
        if queue_from_form(form, [number]) is not None:
            return redirect(url_for("messages.conversation", number=number))
    thread, earlier = history.conversation(current_user, number, before_id=request.args.get("before", type=row_id))
    if request.args.get("fragment") == "after":
        rows = history.conversation_after(current_user, number, request.args.get("after_id", 0, type=row_id))
        if rows:  # shown in the open conversation, so read
            conversation_service.mark_read(current_user, number, max(row.id for row in rows))
        return _rows_fragment("messages/_bubble.html", rows)
    if thread and not request.args.get("before"):
        conversation_service.mark_read(current_user, number, thread[-1].id)
    if not thread and not form.phone_id.choices:
        abort(404)
    if request.method == "GET" and thread:
        last_phone = next((m.phone_id for m in reversed(thread) if m.phone_id in dict(form.phone_id.choices)), None)
        form.phone_id.data = last_phone
    return render_template("messages/conversation.html", number=number, thread=thread, earlier=earlier, form=form,
                           names=contact_names([number]))


def _rows_fragment(template, rows, **context):
    response = current_app.make_response(render_template(template, messages=rows, **context))
    if rows:
        response.headers["X-Last-Id"] = str(max(row.id for row in rows))
    return response


def filters_from(form) -> history.HistoryFilters:
    return history.HistoryFilters(
        phone_id=form.phone.data, status=form.status.data or None, direction=form.direction.data or None,
        number=form.number.data or None, text=form.text.data or None,
        date_from=form.date_from.data, date_to=form.date_to.data)


def history_filters():
    form = HistoryFilterForm(request.args)
    form.phone.choices = [("", _("All phones"))] + phone_choices()
    form.validate()
    return form, filters_from(form) if not form.errors else history.HistoryFilters()


@bp.route("/history")
@login_required
def history_list():
    form, filters = history_filters()
    if request.args.get("fragment") == "after":
        rows = list(reversed(history.messages_after(current_user, filters, request.args.get("after_id", 0, type=row_id))))
        return _rows_fragment("messages/_rows.html", rows, names=contact_names(row.remote_number for row in rows))
    after = request.args.get("after", type=row_id)
    if after:
        rows, newer_after = history.newer_page(current_user, filters, after)
        next_before = rows[-1].id if rows else None
    else:
        rows, next_before = history.history_page(current_user, filters, before_id=request.args.get("before", type=row_id))
        newer_after = rows[0].id if rows and request.args.get("before") else None
    total, more = history.filtered_total(current_user, filters)
    # the filters only: any other argument would reach url_for (?_external=1, ?endpoint=x)
    arguments = {field.name: request.args[field.name] for field in form if field.name in request.args}
    return render_template("messages/history.html", form=form, messages=rows, next_before=next_before,
                           newer_after=newer_after, total=total, more_than_total=more, arguments=arguments,
                           first_page=not (request.args.get("before") or after),
                           names=contact_names(row.remote_number for row in rows))


@bp.route("/history/export.csv")
@login_required
def history_export():
    _form, filters = history_filters()
    lines = history.export_csv_lines(current_user, filters)
    return Response(stream_with_context(lines), content_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": "attachment; filename=history.csv"})


@bp.route("/messages/<int:message_id>")
@login_required
def show(message_id):
    message = history.user_message(current_user, message_id)
    if message is None:
        abort(404)
    if request.args.get("fragment") == "timeline":
        return render_template("messages/_timeline.html", message=message)
    return render_template("messages/show.html", message=message, action_form=MessageActionForm(),
                           cancel_while=message_service.cancelable_statuses(message), resend_form=ResendForm(),
                           held_here=message_service.held_here(message),
                           names=contact_names([message.remote_number]), pause=limits.pause_holding(message))


@bp.route("/messages/<int:message_id>/cancel", methods=["POST"])
@login_required
def cancel(message_id):
    if not MessageActionForm().validate_on_submit():
        abort(400)
    message = history.user_message(current_user, message_id)
    if message is None or not message.is_outbound:
        abort(404)
    try:
        outcome = message_service.cancel(message)
    except RedisError:
        outcome = None
    flash(*{message_service.CANCELED: (_("The SMS was canceled before it was sent."), "success"),
            message_service.PROVIDER_ASKED: (_("Asking the provider to cancel it…"), "info"),
            message_service.TOO_LATE: (_("Too late: the SMS has already been handed to the provider."), "error"),
            None: (_("The background worker cannot be reached, so the SMS cannot be canceled now."), "error"),
            }[outcome])
    return redirect(url_for("messages.show", message_id=message.id))


@bp.route("/messages/<int:message_id>/send-now", methods=["POST"])
@login_required
def send_now(message_id):
    """A message SMS Desk holds for later (held because its time passed while it was stopped, or
    not yet due) is sent now."""
    if not MessageActionForm().validate_on_submit():
        abort(400)
    message = history.user_message(current_user, message_id)
    if message is None or not message.is_outbound:
        abort(404)
    if message_service.send_now(message):
        flash(_("Your SMS is on its way."), "success")
    else:
        flash(_("This SMS is no longer waiting for its time: it was sent or canceled already."), "error")
    return redirect(url_for("messages.show", message_id=message.id))


@bp.route("/messages/<int:message_id>/resend", methods=["POST"])
@login_required
def resend(message_id):
    """Sends a failed message again (an unknown one only when the user ticked that it may have
    been received), as a new attempt on its timeline; back to its page or its conversation."""
    form = ResendForm()
    if not form.validate_on_submit():
        abort(400)
    message = history.user_message(current_user, message_id)
    if message is None or not message.is_outbound:
        abort(404)
    if message.status == statuses.UNKNOWN and not form.include_unknown.data:
        flash(_("This SMS may have been received: tick the box to send it again anyway."), "error")
    else:
        for text, category in campaign_service.resend_summary(
                campaign_service.resend(current_user, [message.id], confirmed_unknown=form.include_unknown.data)):
            flash(text, category)
    if request.form.get("back") == "conversation":
        return redirect(url_for("messages.conversation", number=message.remote_number))
    return redirect(url_for("messages.show", message_id=message.id))


@bp.route("/messages/statuses")
@login_required
def live_statuses():
    """The current status of the messages a page shows and is still waiting on."""
    ids = row_ids(request.args.get("ids", ""))
    return jsonify({str(message.id): {"status": message.status, "label": statuses.label(message.status),
                                      "glyph": statuses.glyph(message.status), "final": message.is_final,
                                      "reason": reasons.shown(message.error_reason) or None}
                    for message in history.message_statuses(current_user, ids)})


@bp.route("/scheduled")
@login_required
def scheduled():
    """The SMS and campaigns to be sent later, soonest first."""
    return render_template("messages/scheduled.html", sends=scheduled_service.scheduled_sends(current_user),
                           action_form=MessageActionForm())


@bp.route("/scheduled/messages/<int:message_id>", methods=["GET", "POST"])
@login_required
def edit_scheduled_message(message_id):
    message = scheduled_service.held_message(current_user, message_id)
    if message is None:
        if history.user_message(current_user, message_id) is None:
            abort(404)
        flash(_("This SMS is no longer waiting for its time: it was sent or canceled already."), "error")
        return redirect(url_for("messages.show", message_id=message_id))
    form = EditScheduledForm()
    if request.method == "GET":
        form.body.data, form.send_at.data = message.body, utc_to_local(message.scheduled_at)
    if form.validate_on_submit():
        edited = scheduled_service.edit_message(message, form.body.data or "", local_to_utc(form.send_at.data))
        if not edited.problems:
            return after_edit(edited, url_for("messages.show", message_id=message.id))
        for about, problems in edited.problems.items():
            getattr(form, about).errors.extend(problems)
    return render_template("messages/edit_scheduled.html", form=form, message=message, campaign=None,
                           names=contact_names([message.remote_number]))


@bp.route("/scheduled/campaigns/<int:campaign_id>", methods=["GET", "POST"])
@login_required
def edit_scheduled_campaign(campaign_id):
    campaign = campaign_service.user_campaign(current_user, campaign_id)
    if campaign is None:
        abort(404)
    at = scheduled_service.campaign_schedule(campaign)
    if at is None or not scheduled_service.has_held_messages(campaign):
        flash(_("This campaign is no longer waiting for its time: it was sent or canceled already."), "error")
        return redirect(url_for("campaigns.show", campaign_id=campaign.id))
    form = EditScheduledForm()
    text_editable = scheduled_service.may_edit_text(campaign)
    if request.method == "GET":
        form.body.data, form.send_at.data = campaign.body, utc_to_local(at)
    if form.validate_on_submit():
        edited = scheduled_service.edit_campaign(campaign, form.body.data if text_editable else None,
                                                 local_to_utc(form.send_at.data))
        if not edited.problems:
            return after_edit(edited, url_for("campaigns.show", campaign_id=campaign.id))
        for about, problems in edited.problems.items():
            getattr(form, about).errors.extend(problems)
    return render_template("messages/edit_scheduled.html", form=form, message=None, campaign=campaign,
                           text_editable=text_editable, names={})


def after_edit(edited, page_url: str):
    if edited.gone:
        flash(_("Too late: it went (or was canceled) while you were editing it; nothing was changed."), "error")
    elif edited.changed:
        flash(_("Saved: it will be sent with these changes."), "success")
    else:
        flash(_("Nothing was changed."), "info")
    return redirect(page_url)
