"""The Pools page: the user's phone pools, made, changed and deleted (webapp/services/pools.py)."""
from flask import abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from ..models import PhonePool
from ..services import phones as phone_service
from ..services import pools as pool_service
from ..services.pools import MemberChoice
from .forms import PhoneActionForm, pool_form_class
from .routes import bp, guarded_post


def owned_pool(pool_id: int) -> PhonePool:
    pool = pool_service.user_pool_or_none(current_user, pool_id)
    if pool is None:
        abort(404)
    return pool


@bp.route("/pools/")
@login_required
def pools():
    return render_template("phones/pools.html", pools=pool_service.user_pools(current_user),
                           has_phones=bool(phone_service.user_phones(current_user)))


@bp.route("/pools/new", methods=["GET", "POST"])
@login_required
def create_pool():
    return pool_form_page(PhonePool(user_id=current_user.id))


@bp.route("/pools/<int:pool_id>", methods=["GET", "POST"])
@login_required
def edit_pool(pool_id):
    return pool_form_page(owned_pool(pool_id))


def pool_form_page(pool: PhonePool):
    phones = phone_service.user_phones(current_user)
    form = pool_form_class(phones)()
    if form.validate_on_submit() and not refused_name(form, pool):
        choices = [MemberChoice(phone.id, order.data, weight.data or 1)
                   for phone, order, weight in form.member_fields() if order.data]
        creating = pool.id is None
        pool_service.save_pool(pool, form.name.data, form.strategy.data, choices)
        flash(_("Pool “%(name)s” created.", name=pool.name) if creating
              else _("Pool “%(name)s” saved.", name=pool.name), "success")
        return redirect(url_for("phones.pools"))
    if not form.is_submitted() and pool.id is not None:
        form.name.data, form.strategy.data = pool.name, pool.strategy
        members = {member.phone_id: member for member in pool.members}
        for phone, order, weight in form.member_fields():
            if phone.id in members:
                order.data, weight.data = members[phone.id].position, members[phone.id].weight
    return render_template("phones/pool_form.html", form=form, pool=pool, action_form=PhoneActionForm())


def refused_name(form, pool: PhonePool) -> bool:
    if pool_service.name_taken(current_user, form.name.data, pool if pool.id is not None else None):
        form.name.errors.append(_("You already have a pool by this name."))
        return True
    return False


@bp.route("/pools/<int:pool_id>/delete", methods=["POST"])
@login_required
def delete_pool(pool_id):
    guarded_post()
    pool = owned_pool(pool_id)
    pool_service.delete_pool(pool)
    flash(_("Pool “%(name)s” deleted. Its phones and their messages stay.", name=pool.name), "success")
    return redirect(url_for("phones.pools"))
