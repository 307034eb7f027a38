"""Phone pools: ordered lists of a user's phones that a message is sent to instead of one phone.

"first available" sends from the first usable phone of the list and, when a phone's provider
refuses a message for a reason of its own (unreachable after the retries, out of credit, its
account suspended or its credentials refused), the next phone takes it; never when the refusal is
the recipient's (an invalid number, an opt-out), nor when the message may have left. "spread"
shares the sends between the phones by weight, in turns (weighted round robin), and fails over the
same way. A phone is usable while it is not deleted, is healthy (webapp/services/phone_health.py)
and its daily and monthly limits let it send the message now (webapp/services/limits.py).
"""
from dataclasses import dataclass

from sqlalchemy import select, update

from .. import statuses
from ..extensions import db
from ..models import Message, MessageEvent, Phone, PhonePool, PhonePoolMember
from ..reasons import N_, Reason, loaded


@dataclass(frozen=True)
class MemberChoice:
    """A phone chosen for a pool, from the form or the API: its place in the list and its share."""
    phone_id: int
    position: int
    weight: int = 1


def user_pools(user) -> list[PhonePool]:
    """Sorted by name, whatever its case."""
    pools = db.session.scalars(select(PhonePool).where(PhonePool.user_id == user.id)).all()
    return sorted(pools, key=lambda pool: (pool.name.casefold(), pool.id))


def user_pool_or_none(user, pool_id: int) -> PhonePool | None:
    return db.session.scalar(select(PhonePool).where(PhonePool.id == pool_id, PhonePool.user_id == user.id))


def user_pool_by_public_id(user, public_id: str) -> PhonePool | None:
    return db.session.scalar(select(PhonePool).where(PhonePool.public_id == public_id,
                                                     PhonePool.user_id == user.id))


def name_taken(user, name: str, pool: PhonePool | None = None) -> bool:
    other = db.session.scalar(select(PhonePool.id).where(PhonePool.user_id == user.id, PhonePool.name == name))
    return other is not None and (pool is None or other != pool.id)


def live_members(pool: PhonePool) -> list[PhonePoolMember]:
    """Its members in order, without deleted phones."""
    return [member for member in pool.members if member.phone.deleted_at is None]


def pool_phones(pool: PhonePool) -> list[Phone]:
    return [member.phone for member in live_members(pool)]


def save_pool(pool: PhonePool, name: str, strategy: str, choices: list[MemberChoice]) -> PhonePool:
    """Writes the pool with these phones (the user's own, checked by the caller), renumbered 1, 2…
    in the order chosen. Commits."""
    pool.name, pool.strategy = name, strategy
    ordered = sorted(choices, key=lambda choice: choice.position)
    chosen = {choice.phone_id for choice in ordered}
    kept = {member.phone_id: member for member in pool.members if member.phone_id in chosen}
    for member in list(pool.members):
        if member.phone_id not in chosen:
            pool.members.remove(member)
    for position, choice in enumerate(ordered, start=1):
        member = kept.get(choice.phone_id)
        if member is None:
            member = PhonePoolMember(phone_id=choice.phone_id)
            pool.members.append(member)
        member.position, member.weight = position, max(1, choice.weight)
    db.session.add(pool)
    db.session.commit()
    return pool


def delete_pool(pool: PhonePool) -> None:
    """Its messages keep their phone; they lose only the pool (and with it their failover)."""
    db.session.delete(pool)
    db.session.commit()


def pooled_phone_ids(user) -> set[int]:
    """The user's phones that are in one of their pools."""
    return set(db.session.scalars(select(PhonePoolMember.phone_id).join(PhonePool).where(
        PhonePool.user_id == user.id)))


# ---- choosing a phone, in the worker ----

TALKED = (statuses.SENT, statuses.DELIVERED, statuses.SCHEDULED, statuses.UNKNOWN, statuses.RECEIVED)
FAILED_OVER = N_("%(phone)s could not send it: %(reason)s. %(next)s sends it instead.")


def usable(phone: Phone, segments: int = 1) -> bool:
    """A phone a pool may choose now for a message of `segments`: not deleted, healthy, and not at
    its limits."""
    from .limits import can_send_now
    from .phone_health import is_healthy
    return phone.deleted_at is None and is_healthy(phone) and can_send_now(phone, segments) is None


def candidates(pool: PhonePool, leaving_out=(), segments: int = 1) -> list[PhonePoolMember]:
    """The members a pool chooses from, in order: the usable ones; when none is, every live one
    (something is tried, the limits hold it until its phone may send, and the dashboard tells why
    a phone fails)."""
    live = [member for member in live_members(pool) if member.phone_id not in leaving_out]
    return [member for member in live if usable(member.phone, segments)] or live


def last_talking_phone(message: Message) -> int | None:
    """The phone of the latest SMS exchanged with the message's number before it: a reply goes
    out on the phone the recipient knows."""
    return db.session.scalar(select(Message.phone_id).where(
        Message.user_id == message.user_id, Message.remote_number == message.remote_number,
        Message.id < message.id, Message.status.in_(TALKED)).order_by(Message.id.desc()).limit(1))


def spread_order(members: list[PhonePoolMember]) -> list[PhonePoolMember]:
    """Each member as many times as its weight, interleaved (weights 3 and 1: A A B A, not A A A B)."""
    turns = []
    credit = {member.phone_id: 0 for member in members}
    total = sum(member.weight for member in members)
    for _turn in range(total):  # smooth weighted round robin
        for member in members:
            credit[member.phone_id] += member.weight
        chosen = max(members, key=lambda member: credit[member.phone_id])
        credit[chosen.phone_id] -= total
        turns.append(chosen)
    return turns


def choose_phones(message_ids: list[int]) -> bool:
    """The pool of each queued message sent to one, and not tried since it was queued (or failed
    over), chooses its phone now, among those it did not fail over from: the one that last talked
    with its number if the pool may use it, else the first usable phone (first available) or the
    message's turn (spread, by its id: a compose action's messages take turns). The same message
    gets the same choice while the pool's phones stay as they are. Returns whether it changed a
    phone. Does not commit."""
    waiting = db.session.scalars(select(Message).where(
        Message.id.in_(message_ids), Message.pool_id.is_not(None), Message.status == statuses.QUEUED,
        Message.attempt_count == Message.attempts_before_resend).order_by(Message.id)).all()
    changed = False
    for message in waiting:
        pool = db.session.get(PhonePool, message.pool_id)
        members = candidates(pool, leaving_out=phones_tried(message) if message.attempt_count else (),
                             segments=message.segment_count)
        if not members:
            continue  # its phones were all deleted: it stays on the one it has, which cancels it
        talked = last_talking_phone(message)
        chosen = next((member for member in members if member.phone_id == talked), None)
        if chosen is None and pool.strategy == PhonePool.SPREAD:
            turns = spread_order(members)  # the turn is the message's: a second choice gives the same phone
            chosen = turns[message.id % len(turns)]
        chosen = chosen or members[0]
        if chosen.phone_id != message.phone_id:
            db.session.execute(update(Message).where(Message.id == message.id, Message.status == statuses.QUEUED)
                               .values(phone_id=chosen.phone_id).execution_options(synchronize_session=False))
            message.phone_id = chosen.phone_id
            changed = True
    return changed


# ---- failing over ----

def phones_tried(message: Message) -> set[int]:
    """The phones this message failed over from, read from its timeline."""
    tried = set()
    for stored_reason in db.session.scalars(select(MessageEvent.reason).where(
            MessageEvent.message_id == message.id, MessageEvent.status == statuses.QUEUED)):
        reason = loaded(stored_reason)
        if isinstance(reason, Reason) and reason.msgid == FAILED_OVER:
            tried.add(reason.params.get("phone_id"))
    return tried


def next_phone(message: Message) -> Phone | None:
    """The phone a message that its phone's provider refused for a reason of its own goes to next:
    the next usable member of its pool after its phone, none it was tried on (the worker's
    choose_phones then chooses again among those). None: no failover."""
    pool = db.session.get(PhonePool, message.pool_id) if message.pool_id else None
    if pool is None:
        return None
    tried = phones_tried(message) | {message.phone_id}
    members = [member for member in live_members(pool)
               if member.phone_id not in tried and usable(member.phone, message.segment_count)]
    if not members:
        return None
    order = [member.phone_id for member in live_members(pool)]
    start = order.index(message.phone_id) if message.phone_id in order else -1
    # after its phone in the pool's order, then from the top
    members.sort(key=lambda member: (order.index(member.phone_id) - start - 1) % len(order))
    return members[0].phone


def failover_line(message: Message, reason, next_phone_: Phone) -> Reason:
    return Reason(FAILED_OVER, phone=message.phone.name, phone_id=message.phone_id, reason=reason,
                  next=next_phone_.name)


def move_off_deleted_phone(phone_id: int) -> None:
    """A deleted phone's messages queued to a pool wait for another of its phones rather than
    being canceled with the phone's own. Does not commit."""
    queued = db.session.execute(select(Message.id, Message.pool_id).where(
        Message.phone_id == phone_id, Message.status == statuses.QUEUED, Message.pool_id.is_not(None))).all()
    for pool_id in {row.pool_id for row in queued}:
        others = [member for member in candidates(db.session.get(PhonePool, pool_id), leaving_out=(phone_id,))]
        if others:
            db.session.execute(update(Message).where(
                Message.id.in_([row.id for row in queued if row.pool_id == pool_id]),
                Message.status == statuses.QUEUED).values(phone_id=others[0].phone_id)
                .execution_options(synchronize_session=False))
