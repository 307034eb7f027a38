from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user, login_required

from ..ids import row_id
from ..messages.forms import without_nul
from ..numbers import InvalidNumber, to_e164
from ..redirects import same_site_path
from ..services import contacts as contact_service
from ..services.contacts import ContactInput, ContactQuery
from .forms import ConfirmForm, ContactForm, GroupForm, SelectionForm, SmartGroupForm

bp = Blueprint("contacts", __name__, url_prefix="/contacts")


def owned_contact(contact_id: int):
    contact = contact_service.user_contact(current_user, contact_id)
    if contact is None:
        abort(404)
    return contact


def owned_group(group_id: int):
    group = contact_service.user_group(current_user, group_id)
    if group is None:
        abort(404)
    return group


def guarded_post():
    if not ConfirmForm().validate_on_submit():
        abort(400, _("The form expired. Reload the page and try again."))


def list_query(group=None, outside_group=None, search_argument="q") -> ContactQuery:
    sort = request.args.get("sort", "name")
    return ContactQuery(search=without_nul(request.args.get(search_argument, ""))[:200], group=group,
                        outside_group=outside_group, sort=sort if sort in contact_service.SORTS else "name")


def selection_form() -> SelectionForm:
    form = SelectionForm()
    form.group_id.choices = [(group.id, f"{group.name} ({size})")
                             for group, size in contact_service.chosen_groups_with_sizes(current_user)]
    return form


@bp.route("/")
@login_required
def index():
    query = list_query()
    contacts, next_after = contact_service.contact_page(current_user, query,
                                                        after_id=request.args.get("after", type=row_id))
    return render_template("contacts/index.html", contacts=contacts, next_after=next_after, query=query,
                           total=contact_service.contact_count(current_user, query),
                           selection=selection_form(), sorts=sort_labels())


def sort_labels() -> dict:
    return {"name": _("Name"), "number": _("Number"), "created": _("Newest first")}


def contact_form() -> ContactForm:
    form = ContactForm()
    form.number.description = str(form.number.description) % {"region": contact_service.default_region(current_user)}
    return form


def saved_from(form: ContactForm, contact=None):
    """Saves what the form holds; None when refused, with the reasons under the fields."""
    typed = ContactInput(form.name.data, form.number.data, form.fields_typed(), form.notes.data or "")
    contact, problems = contact_service.save_contact(current_user, typed, contact)
    for name, messages in problems.items():
        form[name].errors = list(form[name].errors) + messages
    return None if problems else contact


def number_to_prefill(typed: str) -> str:
    """The number a page's "Add to contacts" link gives, in E.164 when it reads as one."""
    typed = without_nul(typed).strip()[:32]
    try:
        return to_e164(typed, contact_service.default_region(current_user))
    except InvalidNumber:
        return typed


@bp.route("/new", methods=["GET", "POST"])
@login_required
def create():
    form = contact_form()
    back_to = same_site_path(request.args.get("next"))
    if form.validate_on_submit() and (contact := saved_from(form)):
        flash(_("Contact “%(name)s” added.", name=contact.name), "success")
        return redirect(back_to or url_for("contacts.index"))
    if not form.is_submitted() and request.args.get("number"):
        form.number.data = number_to_prefill(request.args["number"])
    return render_template("contacts/form.html", form=form, contact=None, groups=[], back_to=back_to)


@bp.route("/<int:contact_id>", methods=["GET", "POST"])
@login_required
def edit(contact_id):
    contact = owned_contact(contact_id)
    form = contact_form()
    if form.validate_on_submit() and saved_from(form, contact):
        flash(_("Contact “%(name)s” saved.", name=contact.name), "success")
        return redirect(url_for("contacts.index"))
    if not form.is_submitted():
        form.name.data, form.number.data, form.notes.data = contact.name, contact.number, contact.notes
        form.show_fields(contact.fields or {})
    return render_template("contacts/form.html", form=form, contact=contact,
                           groups=contact_service.groups_of(current_user, contact))


@bp.route("/<int:contact_id>/delete", methods=["GET", "POST"])
@login_required
def delete(contact_id):
    contact = owned_contact(contact_id)
    if request.method == "POST":
        guarded_post()
        contact_service.delete_contacts(current_user, [contact.id])
        flash(_("Contact “%(name)s” deleted.", name=contact.name), "success")
        return redirect(url_for("contacts.index"))
    return render_template("contacts/confirm_delete.html", contacts=[contact], form=ConfirmForm())


def selected_ids() -> list[int]:
    return request.form.getlist("contact_ids", type=row_id)


def back_from_selection():
    group_id = request.form.get("from_group", type=row_id)
    if group_id and contact_service.user_group(current_user, group_id):
        return redirect(url_for("contacts.group", group_id=group_id))
    return redirect(url_for("contacts.index"))


@bp.route("/selection", methods=["POST"])
@login_required
def selection():
    form = selection_form()
    if not form.validate_on_submit():
        abort(400, _("The form expired. Reload the page and try again."))
    ids = selected_ids()
    if not ids:
        flash(_("Tick the contacts first."), "info")
        return back_from_selection()
    if form.action.data == "delete":
        return render_template("contacts/confirm_delete.html", form=ConfirmForm(),
                               contacts=contact_service.user_contacts(current_user, ids))
    group_id = form.group_id.data or request.form.get("from_group", 0, type=row_id)
    group = contact_service.user_group(current_user, group_id)
    if group is None or group.is_smart:
        flash(_("Choose a group."), "info")
        return back_from_selection()
    if form.action.data == "add":
        added = contact_service.add_members(current_user, group, ids)
        flash(ngettext("%(num)d contact added to “%(group)s”.", "%(num)d contacts added to “%(group)s”.",
                       added, group=group.name), "success")
    else:
        removed = contact_service.remove_members(current_user, group, ids)
        flash(ngettext("%(num)d contact removed from “%(group)s”.",
                       "%(num)d contacts removed from “%(group)s”.", removed, group=group.name), "success")
    return back_from_selection()


@bp.route("/delete-selected", methods=["POST"])
@login_required
def delete_selected():
    guarded_post()
    deleted = contact_service.delete_contacts(current_user, selected_ids())
    flash(ngettext("%(num)d contact deleted.", "%(num)d contacts deleted.", deleted), "success")
    return redirect(url_for("contacts.index"))


# ---- groups ----

@bp.route("/groups/", methods=["GET", "POST"])
@login_required
def groups():
    form = GroupForm()
    if form.validate_on_submit():
        group, problems = contact_service.save_group(current_user, form.name.data)
        form.name.errors = list(form.name.errors) + problems.get("name", [])
        if not problems:
            flash(_("Group “%(name)s” created.", name=group.name), "success")
            return redirect(url_for("contacts.group", group_id=group.id))
    return render_template("contacts/groups.html", groups=contact_service.groups_with_sizes(current_user),
                           form=form)


def smart_group_page(form, group=None):
    preview = None
    if form.is_submitted() and form.conditions_typed():
        preview = contact_service.smart_group_members(current_user, form.conditions_typed())
    return render_template("contacts/smart_group_form.html", form=form, group=group, preview=preview,
                           field_names=["name", "number"] + contact_service.field_names(current_user))


def saved_smart_group(form, group=None):
    if not form.validate_on_submit() or request.form.get("preview"):
        return None
    saved, problems = contact_service.save_group(current_user, form.name.data, form.conditions_typed(), group)
    form.name.errors = list(form.name.errors) + problems.get("name", [])
    return None if problems else saved


@bp.route("/groups/new-smart", methods=["GET", "POST"])
@login_required
def create_smart_group():
    form = SmartGroupForm()
    if group := saved_smart_group(form):
        flash(_("Smart group “%(name)s” created.", name=group.name), "success")
        return redirect(url_for("contacts.group", group_id=group.id))
    return smart_group_page(form)


@bp.route("/groups/<int:group_id>")
@login_required
def group(group_id):
    group = owned_group(group_id)
    after_id = request.args.get("after", type=row_id)
    if group.is_smart:
        members, next_after, size = contact_service.smart_group_page(current_user, group, after_id)
        return render_template("contacts/group.html", group=group, contacts=members, size=size,
                               next_after=next_after, candidates=None, selection=None)
    query = ContactQuery(group=group)
    members, next_after = contact_service.contact_page(current_user, query, after_id)
    candidates = None
    if request.args.get("add_q", "").strip():
        candidates, _more = contact_service.contact_page(
            current_user, list_query(outside_group=group, search_argument="add_q"))
    return render_template("contacts/group.html", group=group, contacts=members, next_after=next_after,
                           size=contact_service.contact_count(current_user, query),
                           candidates=candidates, selection=selection_form())


@bp.route("/groups/<int:group_id>/edit", methods=["GET", "POST"])
@login_required
def edit_group(group_id):
    group = owned_group(group_id)
    if group.is_smart:
        form = SmartGroupForm()
        if saved_smart_group(form, group):
            flash(_("Group “%(name)s” saved.", name=group.name), "success")
            return redirect(url_for("contacts.group", group_id=group.id))
        if not form.is_submitted():
            form.name.data = group.name
            form.show_conditions(group.conditions)
        return smart_group_page(form, group)
    form = GroupForm()
    if form.validate_on_submit():
        _group, problems = contact_service.save_group(current_user, form.name.data, group=group)
        form.name.errors = list(form.name.errors) + problems.get("name", [])
        if not problems:
            flash(_("Group “%(name)s” saved.", name=group.name), "success")
            return redirect(url_for("contacts.group", group_id=group.id))
    if not form.is_submitted():
        form.name.data = group.name
    return render_template("contacts/group_form.html", form=form, group=group)


@bp.route("/groups/<int:group_id>/delete", methods=["GET", "POST"])
@login_required
def delete_group(group_id):
    group = owned_group(group_id)
    if request.method == "POST":
        guarded_post()
        contact_service.delete_group(current_user, group)
        flash(_("Group “%(name)s” deleted. Its contacts are kept.", name=group.name), "success")
        return redirect(url_for("contacts.groups"))
    return render_template("contacts/confirm_delete_group.html", group=group, form=ConfirmForm(),
                           size=contact_service.group_size(current_user, group))


from . import files  # noqa: E402,F401  (the import and export pages, on this blueprint)
