"""A send asked through the API: its recipients (numbers, contacts, groups) resolved to numbers,
its phone chosen, then exactly the compose form's service (messages.compose), with the call's
Idempotency-Key as the form's one-time submission token."""
import hashlib
import json
from dataclasses import dataclass

from sqlalchemy import select

from .. import statuses
from ..extensions import db
from ..models import Message, Phone
from ..reasons import Reason
from . import contacts, messages, pools
from .phones import user_phones


def default_phone(user) -> Phone | None:
    """A user has no chosen default phone: it is their only phone, or else the first they added
    (the oldest, which renaming does not change; the list pages sort by name)."""
    return db.session.scalar(select(Phone).where(Phone.user_id == user.id, Phone.deleted_at.is_(None))
                             .order_by(Phone.id).limit(1))


def request_hash(body: dict) -> str:
    """The body as read, in one spelling: the same JSON with other spaces or key order is the same request."""
    return hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False, default=str).encode()).hexdigest()


@dataclass
class ApiSend:
    composed: messages.Composed
    phone_id: int | None
    pool_id: str | None = None  # the pool's public id, when sent to one


def send(user, request: dict, idempotency_key: str | None, body_hash: str) -> ApiSend:
    """request: the validated body (to, contact_ids, group_ids, text, phone_id, flash, send_at)."""
    numbers, rejected = list(request["to"]), []
    if request["contact_ids"]:
        found = {contact.id: contact for contact in contacts.user_contacts(user, request["contact_ids"])}
        for contact_id in dict.fromkeys(request["contact_ids"]):
            if contact_id in found:
                numbers.append(found[contact_id].number)
            else:
                rejected.append(unknown("contact", contact_id))
    for group_id in dict.fromkeys(request["group_ids"]):
        group = contacts.user_group(user, group_id)
        if group is None:
            rejected.append(unknown("group", group_id))
        else:
            numbers.extend(contacts.group_numbers(user, group))
    if request.get("pool_id") is not None:
        return send_to_pool(user, request, numbers, rejected, idempotency_key, body_hash)
    phone_id = request.get("phone_id")
    if phone_id is None:
        phone = default_phone(user)
        phone_id = phone.id if phone is not None else None
    composed = messages.compose(user, phone_id, numbers, request["text"], flash=request["flash"],
                                scheduled_at=request.get("send_at"), submission_token=idempotency_key,
                                request_hash=body_hash if idempotency_key else None, leave_out_invalid=True,
                                rejected=rejected)
    return ApiSend(composed, phone_id)


def send_to_pool(user, request: dict, numbers: list[str], rejected: list[dict], idempotency_key: str | None,
                 body_hash: str) -> ApiSend:
    """A send to the pool named by its public id; with a phone_id too, refused (which would send?)."""
    pool = pools.user_pool_by_public_id(user, request["pool_id"])
    if request.get("phone_id") is not None:
        composed = messages.Composed()
        composed.refuse("phone", Reason("Give phone_id or pool_id, not both."))
        return ApiSend(composed, None, request["pool_id"])
    if pool is None:
        composed = messages.Composed()
        composed.refuse("phone", Reason("You have no pool with this id."))
        return ApiSend(composed, None, request["pool_id"])
    composed = messages.compose(user, None, numbers, request["text"], flash=request["flash"],
                                scheduled_at=request.get("send_at"), submission_token=idempotency_key,
                                request_hash=body_hash if idempotency_key else None, leave_out_invalid=True,
                                rejected=rejected, pool_id=pool.id)
    phones = pools.pool_phones(pool)
    return ApiSend(composed, phones[0].id if phones else None, pool.public_id)


def unknown(kind: str, row_id: int) -> dict:
    reason = (Reason("You have no contact with the id %(id)d.", id=row_id) if kind == "contact"
              else Reason("You have no group with the id %(id)d.", id=row_id))
    return {"recipient": f"{kind}:{row_id}", "code": f"unknown_{kind}", "reason": reason.as_data()}


def sent_messages(user, message_ids: list[int]) -> list[dict]:
    """The messages a send queued, as its first answer gave them: queued (scheduled, when SMS Desk
    holds them for later), in the order sent."""
    rows = {row.id: row for row in db.session.execute(select(
        Message.id, Message.remote_number, Message.scheduled_at, Message.phone_id).where(
        Message.user_id == user.id, Message.id.in_(message_ids))).all()} if message_ids else {}
    phones = {phone_id: db.session.get(Phone, phone_id) for phone_id in {row.phone_id for row in rows.values()}}

    def first_status(row) -> str:
        held = row is not None and row.scheduled_at is not None and not messages.scheduled_by_provider(
            phones[row.phone_id])
        return statuses.SCHEDULED if held else statuses.QUEUED
    return [{"id": message_id, "to": rows[message_id].remote_number if message_id in rows else "",
             "status": first_status(rows.get(message_id))} for message_id in message_ids]


def phones_with_default(user) -> list[tuple[Phone, bool]]:
    default = default_phone(user)
    return [(phone, default is not None and phone.id == default.id) for phone in user_phones(user)]
