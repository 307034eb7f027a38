"""The opt-out list: who no longer receives the user's SMS, and the keywords that say so."""
from flask import Blueprint, Response, abort, current_app, flash, redirect, render_template, request, \
    stream_with_context, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user, login_required

from ..ids import row_id
from ..models import OptOut
from ..numbers import InvalidNumber, to_e164
from ..services import opt_outs
from .forms import AddForm, ImportForm, RemoveForm, SearchForm, SettingsForm

bp = Blueprint("optouts", __name__, url_prefix="/opt-outs")


@bp.route("")
@login_required
def index():
    search = SearchForm(request.args)
    query = search.q.data if search.validate() and search.q.data else ""
    region = current_app.config["DEFAULT_PHONE_REGION"]
    if request.args.get("fragment") == "after":  # the live page asks for opt-outs recorded since it last looked
        rows = opt_outs.added_after(current_user.id, request.args.get("after_id", 0, type=row_id), query, region)
        response = current_app.make_response(render_rows(rows))
        if rows:
            response.headers["X-Last-Id"] = str(rows[0].id)
        return response
    rows, next_before = opt_outs.page_of(current_user.id, query, before_id=request.args.get("before", type=row_id),
                                         region=region)
    return render_template("optouts/index.html", rows=rows, names=names_of(rows), next_before=next_before,
                           search=search, query=query, add_form=AddForm(), import_form=ImportForm(),
                           sources=opt_outs.SOURCES, first_page=not request.args.get("before"),
                           newest_id=opt_outs.newest_id(current_user.id))


def names_of(rows) -> dict:
    return opt_outs.contact_names(current_user.id, [row.number for row in rows])


def render_rows(rows) -> str:
    return render_template("optouts/_rows.html", rows=rows, names=names_of(rows), sources=opt_outs.SOURCES)


@bp.route("/add", methods=["POST"])
@login_required
def add():
    form = AddForm()
    if form.validate_on_submit():
        try:
            number = to_e164(form.number.data, current_app.config["DEFAULT_PHONE_REGION"])
        except InvalidNumber as error:
            flash(_("%(number)s is not a valid number: %(reason)s.", number=error.typed, reason=error.reason), "error")
        else:
            if opt_outs.record(current_user.id, number, OptOut.MANUAL) is None:
                flash(_("%(number)s was on the list already.", number=number), "info")
            else:
                flash(_("%(number)s will no longer receive your SMS.", number=number), "success")
    return redirect(url_for("optouts.index"))


@bp.route("/<int:opt_out_id>/remove", methods=["POST"])
@login_required
def remove(opt_out_id):
    if not RemoveForm().validate_on_submit():
        abort(400)
    opt_out = opt_outs.user_opt_out(current_user.id, opt_out_id)
    if opt_out is None:
        abort(404)
    number = opt_out.number
    opt_outs.remove(current_user.id, number)
    flash(_("%(number)s may receive your SMS again.", number=number), "success")
    return redirect(url_for("optouts.index"))


@bp.route("/import", methods=["POST"])
@login_required
def import_csv():
    form = ImportForm()
    if not form.validate_on_submit():
        for error in form.file.errors:
            flash(error, "error")
        return redirect(url_for("optouts.index"))
    content = form.file.data.read().decode("utf-8-sig", "replace")
    imported = opt_outs.import_csv(current_user.id, content, current_app.config["DEFAULT_PHONE_REGION"])
    flash(ngettext("%(num)d number added to the list.", "%(num)d numbers added to the list.", imported.added)
          + (" " + ngettext("%(num)d was on it already.", "%(num)d were on it already.", imported.already)
             if imported.already else ""), "success")
    for problem in imported.problems[:opt_outs.MAX_IMPORT_ERRORS_SHOWN]:
        flash(problem, "error")
    if len(imported.problems) > opt_outs.MAX_IMPORT_ERRORS_SHOWN:
        flash(ngettext("… and %(num)d more row that could not be read.", "… and %(num)d more rows that could not be read.",
                       len(imported.problems) - opt_outs.MAX_IMPORT_ERRORS_SHOWN), "error")
    return redirect(url_for("optouts.index"))


@bp.route("/export.csv")
@login_required
def export():
    lines = opt_outs.export_lines(current_user.id)
    return Response(stream_with_context(lines), content_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": "attachment; filename=opt-outs.csv"})


@bp.route("/settings", methods=["GET", "POST"])
@login_required
def settings():
    saved = opt_outs.settings_of(current_user.id)
    form = SettingsForm()
    if form.validate_on_submit():
        stop_keywords = opt_outs.keyword_list(form.stop_keywords.data)
        start_keywords = opt_outs.keyword_list(form.start_keywords.data)
        both = {opt_outs.keyword_form(word) for word in stop_keywords} & \
            {opt_outs.keyword_form(word) for word in start_keywords}
        if both:
            form.start_keywords.errors.append(_("A keyword cannot both opt out and opt in: %(words)s.",
                                                words=", ".join(sorted(both))))
        else:
            opt_outs.save_settings(current_user, opt_outs.OptOutSettings(
                stop_keywords=stop_keywords, start_keywords=start_keywords, confirm=form.confirm.data,
                stop_reply=form.stop_reply.data.strip(), start_reply=form.start_reply.data.strip()))
            flash(_("Your opt-out settings are saved."), "success")
            return redirect(url_for("optouts.settings"))
    elif request.method == "GET":
        form.stop_keywords.data = "\n".join(saved.stop_keywords)
        form.start_keywords.data = "\n".join(saved.start_keywords)
        form.confirm.data = saved.confirm
        form.stop_reply.data = saved.stop_reply or _(opt_outs.DEFAULT_STOP_REPLY)
        form.start_reply.data = saved.start_reply or _(opt_outs.DEFAULT_START_REPLY)
    return render_template("optouts/settings.html", form=form)
