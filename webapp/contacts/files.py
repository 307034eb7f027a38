"""Contacts imported from a CSV and exported as one: upload, preview and columns, progress, report."""
from flask import Response, abort, redirect, render_template, request, stream_with_context, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from ..extensions import csrf
from ..models import ContactImport
from ..services import contact_files
from ..services import contacts as contact_service
from ..services.contact_files import ImportChoices, UnreadableFile
from .forms import DELIMITER_CHOICES, ImportMappingForm, ImportUploadForm
from .routes import bp, list_query, owned_group

# what a multipart form adds around the file, at most
FORM_OVERHEAD_BYTES = 64 * 1024


def owned_import(import_id: int) -> ContactImport:
    upload = contact_files.user_import(current_user, import_id)
    if upload is None:
        abort(404)
    return upload


def too_large_message() -> str:
    return _("The file is larger than %(max)s MB. Split it into smaller files, or ask your administrator to "
             "raise CONTACT_IMPORT_MAX_BYTES.", max=contact_files.size_in_mb(contact_files.max_bytes()))


def upload_page(form, status=200):
    return render_template("contacts/import.html", form=form, imports=contact_files.recent_imports(current_user),
                           max_mb=contact_files.size_in_mb(contact_files.max_bytes())), status


# Exempt from the app-wide CSRF check, which reads the form before this view can raise the size
# limit for it (a page's forms are limited to MAX_CONTENT_LENGTH): the form checks its token itself.
@bp.route("/import", methods=["GET", "POST"])
@csrf.exempt
@login_required
def import_upload():
    limit = contact_files.max_bytes() + FORM_OVERHEAD_BYTES
    request.max_content_length = limit
    if request.method == "POST" and (request.content_length or 0) > limit:
        form = ImportUploadForm(formdata=None)  # the body is not read
        form.file.errors = [too_large_message()]
        return upload_page(form, 413)
    form = ImportUploadForm()
    if form.validate_on_submit():
        try:
            upload = contact_files.store_upload(current_user, form.file.data.filename,
                                                form.file.data.read(contact_files.max_bytes() + 1))
        except UnreadableFile as error:
            form.file.errors = list(form.file.errors) + [error.reason]
        else:
            return redirect(url_for("contacts.import_show", import_id=upload.id))
    return upload_page(form)


def mapping_form(upload: ContactImport) -> ImportMappingForm:
    form = ImportMappingForm()
    form.group_id.choices = [(0, _("No group"))] + [
        (group.id, f"{group.name} ({size})") for group, size in contact_service.chosen_groups_with_sizes(current_user)]
    return form


@bp.route("/import/<int:import_id>", methods=["GET", "POST"])
@login_required
def import_show(import_id):
    upload = owned_import(import_id)
    if request.args.get("fragment") == "progress":
        return render_template("contacts/_import_progress.html", **progress_context(upload))
    if upload.status != ContactImport.UPLOADED:
        return render_template("contacts/import_progress.html", **progress_context(upload))
    form = mapping_form(upload)
    preview = contact_files.preview_of(upload)
    if form.validate_on_submit():
        if form.read_again.data:
            contact_files.read_again(upload, DELIMITER_CHOICES[form.delimiter.data], form.has_header.data)
            return redirect(url_for("contacts.import_show", import_id=upload.id))
        problems = contact_files.start_import(current_user, upload, ImportChoices(
            form.mapping_typed(preview.width), form.on_existing.data, form.group_id.data or None,
            form.new_group.data or ""))
        if not problems:
            return redirect(url_for("contacts.import_show", import_id=upload.id))
        for name, messages in problems.items():
            if name in form:
                form[name].errors = list(form[name].errors) + messages
    elif not form.is_submitted():
        form.show(upload)
    return render_template("contacts/import_mapping.html", upload=upload, form=form, preview=preview,
                           encoding=contact_files.encoding_name(upload))


def progress_context(upload: ContactImport) -> dict:
    return {"upload": upload, "percent": contact_files.progress_percent(upload),
            "rejections": contact_files.rejections(upload) if upload.is_over else [],
            "shown_limit": contact_files.MAX_REJECTIONS_SHOWN}


def csv_download(lines, filename: str) -> Response:
    return Response(stream_with_context(lines), content_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f"attachment; filename={filename}"})


@bp.route("/import/<int:import_id>/rejected.csv")
@login_required
def import_rejections(import_id):
    upload = owned_import(import_id)
    return csv_download(contact_files.rejection_lines(upload), f"rejected-rows-{upload.id}.csv")


@bp.route("/export.csv")
@login_required
def export():
    return csv_download(contact_files.export_lines(current_user, list_query()), "contacts.csv")


@bp.route("/groups/<int:group_id>/export.csv")
@login_required
def export_group(group_id):
    group = owned_group(group_id)
    return csv_download(contact_files.export_lines(current_user, group=group), f"group-{group.id}.csv")
