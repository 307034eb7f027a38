"""Phone pools: ordered lists of a user's phones that a message is sent to instead of one phone.

"first available" sends from the first usable phone of the list and, when a phone's provider
refuses a message for a reason of its own (unreachable after the retries, out of credit, its
account suspended or its credentials refused), the next phone takes it; never when the refusal is
the recipient's (an invalid number, an opt-out), nor when the message may have left. "spread"
shares the sends between the phones by weight, in turns (weighted round robin), and fails over the
same way. A phone is usable while it is not deleted and is healthy (webapp/services/phone_health.py).
"""
from dataclasses import dataclass

from sqlalchemy import select, update

from ..extensions import db
from ..models import Phone, PhonePool, PhonePoolMember


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


def pools_of_phone(phone_id: int) -> list[PhonePool]:
    return db.session.scalars(select(PhonePool).join(PhonePoolMember).where(
        PhonePoolMember.phone_id == phone_id)).all()


def take_spread_turn(pool: PhonePool) -> int:
    """The next turn of a spread pool, counted in the database so that every worker takes its own."""
    db.session.execute(update(PhonePool).where(PhonePool.id == pool.id)
                       .values(sends_chosen=PhonePool.sends_chosen + 1).execution_options(synchronize_session=False))
    return db.session.scalar(select(PhonePool.sends_chosen).where(PhonePool.id == pool.id))
