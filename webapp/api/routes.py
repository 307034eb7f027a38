"""The REST API, /api/v1: thin views over the same services as the pages."""
from flask import request
from flask.views import MethodView
from flask_babel import gettext as _
from flask_login import current_user
from flask_smorest import Blueprint
from redis.exceptions import RedisError
from werkzeug.exceptions import HTTPException

from .. import reasons
from ..extensions import limiter
from ..models import OptOut
from ..numbers import InvalidNumber, split_typed_numbers, to_e164
from ..providers import provider_class
from ..services import api_sends, contacts, conversations, history, opt_outs, phone_health, pools
from ..services import messages as message_service
from ..services.history import HistoryFilters
from . import auth, problems, schemas
from .problems import ApiProblem

bp = Blueprint("api", __name__, url_prefix="/api/v1",
               description="Send SMS, read messages, conversations, contacts, groups, opt-outs and phones.")
bp.before_request(auth.authenticate)
bp.after_request(auth.add_rate_limit_headers)
limiter.limit(auth.rate_limit, key_func=auth.rate_limit_key)(bp)
bp.register_error_handler(HTTPException, problems.from_http_exception)
bp.register_error_handler(Exception, problems.server_error)

COMPOSE_FIELDS = {"phone": "phone_id", "numbers": "to", "flash": "flash", "send_at": "send_at"}
POOL_FIELDS = dict(COMPOSE_FIELDS, phone="pool_id")


def not_found():
    return ApiProblem(404, "not-found", _("There is no such resource, or it is not yours."))


def invalid(errors: dict) -> ApiProblem:
    """A 422 naming each field: errors is {field: [problems]}."""
    return ApiProblem(422, "validation-failed", _("Some fields are not valid: see errors."),
                      [{"field": name, "detail": str(problem)} for name, problems in errors.items()
                       for problem in problems])


def page(data, next_id) -> dict:
    return {"data": data, "next_cursor": str(next_id) if next_id is not None else None}


def shown_reason(value) -> str | None:
    return reasons.shown(value) or None


def message_data(message) -> dict:
    data = {column: getattr(message, column) for column in (
        "id", "direction", "phone_id", "remote_number", "body", "status", "encoding", "segment_count", "flash",
        "scheduled_at", "created_at", "status_changed_at", "error_code")}
    data["error_reason"] = shown_reason(message.error_reason)
    return data


# ---- sending ----

@bp.route("/messages", methods=["POST"])
@bp.arguments(schemas.SendRequest)
@bp.arguments(schemas.IdempotencyHeader, location="headers")
@bp.response(201, schemas.SendAnswer)
@bp.alt_response(200, schema=schemas.SendAnswer, description="The answer of the first call with this Idempotency-Key")
@bp.alt_response(422, schema=schemas.Problem, content_type="application/problem+json",
                 description="Not sent: the fields named are not valid, or the Idempotency-Key came with another body")
@bp.alt_response(403, schema=schemas.Problem, content_type="application/problem+json",
                 description="Not sent: your quota has not the SMS segments this send needs left (quota-exceeded)")
def send(body, headers):
    """Send one text to one or many recipients

    Recipients are numbers, contact ids and group ids, together. Invalid numbers and numbers that
    opted out are left out and listed in `rejected`, with the reason; the others are queued. A
    single recipient who opted out is refused (422). Without `phone_id`, the SMS leaves from your
    default phone: your only phone, or else the first you added. With `pool_id` instead, from one
    of your pools (GET /pools)."""
    key = headers.get("idempotency_key")
    sent = api_sends.send(current_user, body, key, api_sends.request_hash(request.get_json()))
    composed = sent.composed
    if composed.key_reused:
        raise ApiProblem(422, "idempotency-key-reused",
                         _("This Idempotency-Key was used in the last 24 hours with another request body."))
    if "quota" in composed.problems:
        raise ApiProblem(403, "quota-exceeded", composed.problems["quota"][0])
    if composed.problems:
        names = POOL_FIELDS if sent.pool_id else COMPOSE_FIELDS
        raise invalid({names.get(about, about): problems for about, problems in composed.problems.items()})
    answer = {"messages": api_sends.sent_messages(current_user, composed.message_ids),
              "rejected": [dict(rejected, reason=reasons.shown(reasons.Reason.from_data(rejected["reason"])))
                           for rejected in composed.rejected],
              "phone_id": sent.phone_id, "pool_id": sent.pool_id}
    if composed.repeated:
        answer["phone_id"] = sent.phone_id
        return answer, 200, {"Idempotent-Replayed": "true"}
    return answer, 201


# ---- messages ----

@bp.route("/messages", methods=["GET"])
@bp.arguments(schemas.MessageFilters, location="query")
@bp.response(200, schemas.MessagePage)
def list_messages(arguments):
    """List your messages, newest first, with the history's filters"""
    filters = HistoryFilters(phone_id=arguments.get("phone_id"), status=arguments.get("status"),
                             direction=arguments.get("direction"), number=arguments.get("number"),
                             text=arguments.get("text"), date_from=arguments.get("date_from"),
                             date_to=arguments.get("date_to"))
    rows, next_before = history.history_page(current_user, filters, before_id=arguments.get("cursor"),
                                             limit=arguments["limit"])
    return page([message_data(row) for row in rows], next_before)


def owned_message(message_id):
    message = history.user_message(current_user, message_id)
    if message is None:
        raise not_found()
    return message


@bp.route("/messages/<int:message_id>", methods=["GET"])
@bp.response(200, schemas.MessageWithTimeline)
def get_message(message_id):
    """One message, with its timeline: every status change, attempt and provider report"""
    message = owned_message(message_id)
    data = message_data(message)
    data["timeline"] = [{"created_at": event.created_at, "status": event.status,
                         "provider_status": event.provider_status, "error_code": event.error_code,
                         "reason": shown_reason(event.reason)} for event in message.events]
    return data


@bp.route("/messages/<int:message_id>/cancel", methods=["POST"])
@bp.response(200, schemas.CancelAnswer)
@bp.alt_response(409, schema=schemas.Problem, content_type="application/problem+json",
                 description="Too late: the SMS has left")
@bp.alt_response(503, schema=schemas.Problem, content_type="application/problem+json",
                 description="The background worker cannot be reached")
def cancel_message(message_id):
    """Cancel an SMS not sent yet, or one its provider holds for a later time"""
    message = owned_message(message_id)
    if not message.is_outbound:
        raise not_found()
    try:
        outcome = message_service.cancel(message)
    except RedisError:
        raise ApiProblem(503, "worker-unreachable",
                         _("The background worker cannot be reached, so the SMS cannot be canceled now.")) from None
    if outcome == message_service.TOO_LATE:
        raise ApiProblem(409, "too-late", _("Too late: the SMS has already been handed to the provider."))
    outcome_name = "canceled" if outcome == message_service.CANCELED else "provider_asked"
    return {"outcome": outcome_name, "message": message_data(owned_message(message_id))}


# ---- conversations and incoming SMS ----

@bp.route("/conversations", methods=["GET"])
@bp.arguments(schemas.ConversationArguments, location="query")
@bp.response(200, schemas.ConversationPage)
def list_conversations(arguments):
    """Your conversations, most recent activity first, with their unread count"""
    from ..messages.routes import search_from
    rows, next_before = conversations.conversations_page(current_user, search_from(arguments.get("q")),
                                                         before_id=arguments.get("cursor"))
    names = contacts.names_by_number(current_user.id, [row.remote_number for row in rows])
    return page([{"remote_number": row.remote_number, "contact_name": names.get(row.remote_number),
                  "unread_count": row.unread_count, "last_message": message_data(row.last_message)}
                 for row in rows], next_before)


def one_number(number: str) -> str:
    if split_typed_numbers(number) != [number] or "\x00" in number:
        raise not_found()
    return number


@bp.route("/conversations/<path:number>/<any(read, unread):state>", methods=["POST"])
@bp.response(200, schemas.ConversationState)
def mark_conversation(number, state):
    """Mark a conversation read (every incoming SMS in it) or unread"""
    number = one_number(number)
    marked = conversations.mark_all_read if state == "read" else conversations.mark_unread
    if not marked(current_user, number):
        raise not_found()
    return {"number": number, "unread_count": conversations.unread_in(current_user, number)}


@bp.route("/incoming", methods=["GET"])
@bp.arguments(schemas.CursorArguments, location="query")
@bp.response(200, schemas.IncomingPage)
def list_incoming(arguments):
    """The SMS you received, newest first, each with whether it is unread"""
    rows, next_before = history.history_page(current_user, HistoryFilters(direction="inbound"),
                                             before_id=arguments.get("cursor"))
    unread = conversations.unread_ids(current_user, {row.remote_number for row in rows})
    data = [dict(message_data(row), unread=row.id in unread) for row in rows]
    return dict(page(data, next_before), unread_total=conversations.unread_total(current_user))


# ---- contacts ----

def contact_input(data: dict, contact=None) -> contacts.ContactInput:
    return contacts.ContactInput(name=data.get("name", contact.name if contact else ""),
                                 number=data.get("number", contact.number if contact else ""),
                                 fields=data.get("fields_", contact.fields if contact else {}),
                                 notes=data.get("notes", contact.notes if contact else ""))


def owned_contact(contact_id):
    contact = contacts.user_contact(current_user, contact_id)
    if contact is None:
        raise not_found()
    return contact


def owned_group(group_id):
    group = contacts.user_group(current_user, group_id)
    if group is None:
        raise not_found()
    return group


@bp.route("/contacts")
class ContactList(MethodView):
    @bp.arguments(schemas.ContactArguments, location="query")
    @bp.response(200, schemas.ContactPage)
    def get(self, arguments):
        """Your contacts, by name"""
        group = owned_group(arguments["group_id"]) if arguments.get("group_id") else None
        rows, next_after = contacts.contact_page(current_user, contacts.ContactQuery(
            search=arguments.get("q", ""), group=group), after_id=arguments.get("cursor"))
        return page(rows, next_after)

    @bp.arguments(schemas.ContactIn)
    @bp.response(201, schemas.ContactOut)
    @bp.alt_response(422, schema=schemas.Problem, content_type="application/problem+json")
    def post(self, data):
        """Add a contact"""
        contact, problems = contacts.save_contact(current_user, contact_input(data))
        if problems:
            raise invalid(problems)
        return contact


@bp.route("/contacts/<int:contact_id>")
class ContactItem(MethodView):
    @bp.response(200, schemas.ContactOut)
    def get(self, contact_id):
        """One contact"""
        return owned_contact(contact_id)

    @bp.arguments(schemas.ContactPatch)
    @bp.response(200, schemas.ContactOut)
    @bp.alt_response(422, schema=schemas.Problem, content_type="application/problem+json")
    def patch(self, data, contact_id):
        """Change some of a contact's fields"""
        contact = owned_contact(contact_id)
        saved, problems = contacts.save_contact(current_user, contact_input(data, contact), contact)
        if problems:
            raise invalid(problems)
        return saved

    @bp.response(204)
    def delete(self, contact_id):
        """Delete a contact (it leaves its groups)"""
        contacts.delete_contacts(current_user, [owned_contact(contact_id).id])


# ---- groups ----

def group_data(group) -> dict:
    return {"id": group.id, "name": group.name, "smart": group.is_smart, "conditions": group.conditions,
            "size": contacts.group_size(current_user, group), "created_at": group.created_at}


@bp.route("/groups")
class GroupListView(MethodView):
    @bp.response(200, schemas.GroupList)
    def get(self):
        """Your groups, with their sizes (smart groups evaluated now)"""
        return {"data": [dict(group_data(group), size=size)
                         for group, size in contacts.groups_with_sizes(current_user)]}

    @bp.arguments(schemas.GroupIn)
    @bp.response(201, schemas.GroupOut)
    @bp.alt_response(422, schema=schemas.Problem, content_type="application/problem+json")
    def post(self, data):
        """Make a group; with conditions, a smart group"""
        group, problems = contacts.save_group(current_user, data["name"], data.get("conditions"))
        if problems:
            raise invalid(problems)
        return group_data(group)


@bp.route("/groups/<int:group_id>")
class GroupItem(MethodView):
    @bp.response(200, schemas.GroupOut)
    def get(self, group_id):
        """One group"""
        return group_data(owned_group(group_id))

    @bp.arguments(schemas.GroupPatch)
    @bp.response(200, schemas.GroupOut)
    @bp.alt_response(422, schema=schemas.Problem, content_type="application/problem+json")
    def patch(self, data, group_id):
        """Rename a group, or change a smart group's conditions"""
        group = owned_group(group_id)
        if "conditions" in data and not group.is_smart:
            raise invalid({"conditions": [_("Only a smart group has conditions.")]})
        saved, problems = contacts.save_group(current_user, data.get("name", group.name), data.get("conditions"),
                                              group)
        if problems:
            raise invalid(problems)
        return group_data(saved)

    @bp.response(204)
    def delete(self, group_id):
        """Delete a group (its contacts stay)"""
        contacts.delete_group(current_user, owned_group(group_id))


@bp.route("/groups/<int:group_id>/members")
class GroupMembers(MethodView):
    @bp.arguments(schemas.CursorArguments, location="query")
    @bp.response(200, schemas.ContactPage)
    def get(self, arguments, group_id):
        """A group's members, by name"""
        group = owned_group(group_id)
        if group.is_smart:
            rows, next_after, _size = contacts.smart_group_page(current_user, group, after_id=arguments.get("cursor"))
        else:
            rows, next_after = contacts.contact_page(current_user, contacts.ContactQuery(group=group),
                                                     after_id=arguments.get("cursor"))
        return page(rows, next_after)

    @bp.arguments(schemas.Members)
    @bp.response(200, schemas.MembersChanged)
    @bp.alt_response(422, schema=schemas.Problem, content_type="application/problem+json")
    def post(self, data, group_id):
        """Put contacts in a group (ids that are not your contacts are ignored)"""
        return self.changed(group_id, data["contact_ids"], contacts.add_members)

    @bp.arguments(schemas.Members)
    @bp.response(200, schemas.MembersChanged)
    @bp.alt_response(422, schema=schemas.Problem, content_type="application/problem+json")
    def delete(self, data, group_id):
        """Take contacts out of a group"""
        return self.changed(group_id, data["contact_ids"], contacts.remove_members)

    @staticmethod
    def changed(group_id, contact_ids, change):
        group = owned_group(group_id)
        if group.is_smart:
            raise invalid({"contact_ids": [_("A smart group's members are those who meet its conditions.")]})
        changed = change(current_user, group, contact_ids)
        return {"changed": changed, "size": contacts.group_size(current_user, group)}


# ---- opt-outs ----

def region() -> str:
    return contacts.default_region(current_user)


@bp.route("/opt-outs")
class OptOutList(MethodView):
    @bp.arguments(schemas.OptOutArguments, location="query")
    @bp.response(200, schemas.OptOutPage)
    def get(self, arguments):
        """The numbers your SMS no longer go to, newest first"""
        rows, next_before = opt_outs.page_of(current_user.id, arguments.get("q", ""),
                                             before_id=arguments.get("cursor"), region=region())
        return page(rows, next_before)

    @bp.arguments(schemas.OptOutIn)
    @bp.response(201, schemas.OptOutOut)
    @bp.alt_response(200, schema=schemas.OptOutOut, description="The number was on the list already")
    @bp.alt_response(422, schema=schemas.Problem, content_type="application/problem+json")
    def post(self, data):
        """Add a number: your SMS no longer go to it"""
        number = valid_number(data["number"])
        recorded = opt_outs.record(current_user.id, number, OptOut.MANUAL)
        if recorded is None:
            return opt_outs.opt_out_of(current_user.id, number), 200
        return recorded, 201


def valid_number(typed: str) -> str:
    try:
        return to_e164(typed, region())
    except InvalidNumber as error:
        raise invalid({"number": [_("%(number)s is not a valid number: %(reason)s.", number=error.typed,
                                    reason=error.reason)]}) from None


@bp.route("/opt-outs/<path:number>", methods=["DELETE"])
@bp.response(204)
def remove_opt_out(number):
    """Take a number off the list: it may receive your SMS again"""
    try:
        number = to_e164(number, region())
    except InvalidNumber:
        raise not_found() from None
    if not opt_outs.remove(current_user.id, number):
        raise not_found()


# ---- phones ----

@bp.route("/phones", methods=["GET"])
@bp.response(200, schemas.PhoneList)
def list_phones():
    """Your phones, with what each can do and how it is doing (never a secret)"""
    failures = {row["phone"].id: row["failures_today"] for row in history.phone_health(current_user)}
    data = []
    for phone, is_default in api_sends.phones_with_default(current_user):
        provider = provider_class(phone.provider_key)
        health = phone_health.phone_health(phone)
        data.append({"id": phone.id, "name": phone.name, "provider": phone.provider_key, "default": is_default,
                     "capabilities": sorted(capability.value for capability in
                                            provider.capabilities_for(phone.settings or {})),
                     "health": {"last_check_at": phone.last_check_at, "last_check_ok": phone.last_check_ok,
                                "last_check_message": shown_reason(phone.last_check_message),
                                "last_callback_at": phone.last_callback_at,
                                "failures_last_24h": failures.get(phone.id, 0),
                                "recent_sends": health.recent.sends, "recent_failures": health.recent.failures,
                                "healthy": health.healthy, "last_error": shown_reason(health.last_error),
                                "last_error_at": health.last_error_at, "credits": health.credits}})
    return {"data": data}


@bp.route("/pools", methods=["GET"])
@bp.response(200, schemas.PoolList)
def list_pools():
    """Your phone pools: ordered lists of phones that a send can target instead of one phone"""
    return {"data": [{"id": pool.public_id, "name": pool.name, "strategy": pool.strategy,
                      "phones": [{"phone_id": member.phone_id, "name": member.phone.name,
                                  "position": member.position, "weight": member.weight,
                                  "healthy": phone_health.is_healthy(member.phone)}
                                 for member in pools.live_members(pool)]}
                     for pool in pools.user_pools(current_user)]}
