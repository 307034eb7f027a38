"""A user's contacts and groups of contacts.

Every query starts from the user's id, so another user's contacts and groups are never reachable.
Search and sort read folded columns (no accents, no case) written here, so they behave the same on
SQLite and PostgreSQL. Lists are paginated by keyset, like the history.
"""
import re
from dataclasses import dataclass, field
from functools import lru_cache

import phonenumbers
from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import delete, func, or_, select, tuple_
from sqlalchemy.exc import IntegrityError

from ..extensions import db
from ..folding import folded
from ..models import Contact, ContactGroup, ContactGroupMember, utcnow
from ..numbers import InvalidNumber, to_e164

PAGE_SIZE = 50
SORTS = ("name", "number", "created")
OPERATORS = ("=", "≠", "<", ">", "contains")
BUILT_IN_FIELDS = ("name", "number")


def _digits(number: str) -> str:
    return re.sub(r"[^\d+]", "", number)


def _looks_like_a_number(typed: str) -> bool:
    return bool(re.fullmatch(r"[\d\s.+()/-]+", typed)) and any(c.isdigit() for c in typed)


def _national_digits(number: str) -> str:
    """+33612345678 as it is dialled at home, 0612345678, so that a search for "0612" finds it."""
    try:
        parsed = phonenumbers.parse(number)
    except phonenumbers.NumberParseException:
        return ""
    return national_digits_of(parsed)


def national_digits_of(parsed: phonenumbers.PhoneNumber) -> str:
    return _digits(phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.NATIONAL))


def _search_text(contact: Contact) -> str:
    return search_text_of(contact.name, contact.number, _national_digits(contact.number), contact.fields)


def search_text_of(name: str, number: str, national_digits: str, fields: dict) -> str:
    """What a search of the contacts compares (the import writes it too, from a number it parsed once)."""
    # numbers fold to themselves; field values come back contact after contact (the cached fold)
    parts = [folded(name), number, national_digits, *(_folded(str(value)) for value in fields.values())]
    return "\n".join(part for part in parts if part)


def default_region(user) -> str:
    """The country a number typed without its code is read in (users have no setting of their own yet)."""
    return current_app.config["DEFAULT_PHONE_REGION"]


# ---- contacts ----

@dataclass
class ContactInput:
    name: str
    number: str
    fields: dict = field(default_factory=dict)
    notes: str = ""


def user_contact(user, contact_id: int) -> Contact | None:
    return db.session.scalar(select(Contact).where(Contact.id == contact_id, Contact.user_id == user.id))


def user_contacts(user, contact_ids) -> list[Contact]:
    ids = list(contact_ids)[:1000]
    if not ids:
        return []
    return db.session.scalars(select(Contact).where(Contact.user_id == user.id, Contact.id.in_(ids))
                              .order_by(Contact.sort_name, Contact.id)).all()


def contact_with_number(user, number: str) -> Contact | None:
    return db.session.scalar(select(Contact).where(Contact.user_id == user.id, Contact.number == number))


def names_by_number(user_id: int, numbers: list[str]) -> dict[str, str]:
    """{number: name} of the user's contacts among these numbers, for pages that show numbers."""
    if not numbers:
        return {}
    rows = db.session.execute(select(Contact.number, Contact.name).where(
        Contact.user_id == user_id, Contact.number.in_(set(numbers))))
    return dict(rows.all())


def numbers_found_by(user_id: int, typed: str):
    """A query of the numbers of the user's contacts whose name or fields hold the text, whatever
    its accents and case (for other lists' searches: conversations)."""
    return select(Contact.number).where(Contact.user_id == user_id,
                                        Contact.search_text.contains(folded(typed.strip()), autoescape=True))


def save_contact(user, typed: ContactInput, contact: Contact | None = None):
    """Creates the contact (or updates the one given); returns (contact, {form field: [problems]})."""
    try:
        number = to_e164(typed.number, default_region(user))
    except InvalidNumber as error:
        return contact, {"number": [error.reason]}
    holder = contact_with_number(user, number)
    if holder is not None and holder is not contact:
        return contact, {"number": [_("%(number)s is already the number of %(name)s.", number=number,
                                      name=holder.name)]}
    contact = contact or Contact(user_id=user.id)
    contact.name, contact.number = typed.name.strip(), number
    contact.fields = {key.strip(): value.strip() for key, value in typed.fields.items() if key.strip()}
    contact.notes = typed.notes or ""
    contact.search_text, contact.sort_name = _search_text(contact), folded(contact.name)[:200]
    contact.updated_at = utcnow()
    db.session.add(contact)
    try:
        db.session.commit()
    except IntegrityError:  # the same number saved at the same moment by another request
        db.session.rollback()
        return None, {"number": [_("%(number)s is already the number of one of your contacts.", number=number)]}
    return contact, {}


def delete_contacts(user, contact_ids) -> int:
    ids = [contact.id for contact in user_contacts(user, contact_ids)]
    if ids:
        db.session.execute(delete(ContactGroupMember).where(ContactGroupMember.contact_id.in_(ids)))
        db.session.execute(delete(Contact).where(Contact.user_id == user.id, Contact.id.in_(ids)))
        db.session.commit()
    return len(ids)


@dataclass
class ContactQuery:
    search: str = ""
    sort: str = "name"
    group: ContactGroup | None = None  # only its members
    outside_group: ContactGroup | None = None  # only those who are not its members


def _search_condition(user, typed: str):
    typed_folded = folded(typed.strip())
    condition = Contact.search_text.contains(typed_folded, autoescape=True)
    if _looks_like_a_number(typed):
        number = _digits(typed)
        try:
            number = to_e164(typed, default_region(user))
        except InvalidNumber:
            pass
        condition = or_(condition, Contact.search_text.contains(number, autoescape=True))
    return condition


def _sort_columns(sort: str):
    return {"name": (Contact.sort_name, Contact.id), "number": (Contact.number, Contact.id)}.get(sort)


def _filtered(user, query: ContactQuery):
    statement = select(Contact).where(Contact.user_id == user.id)
    if query.search.strip():
        statement = statement.where(_search_condition(user, query.search))
    if query.group is not None:
        statement = statement.where(Contact.id.in_(_member_ids(query.group)))
    if query.outside_group is not None:
        statement = statement.where(Contact.id.not_in(_member_ids(query.outside_group)))
    return statement


def _member_ids(group: ContactGroup):
    return select(ContactGroupMember.contact_id).where(ContactGroupMember.group_id == group.id)


def contact_page(user, query: ContactQuery, after_id: int | None = None, limit: int | None = None):
    """One page of the contacts, in the query's order; returns it and the id to continue after
    (None on the last page). The cursor is a contact's id: its sort value is read back from it."""
    limit = limit or PAGE_SIZE
    statement = _filtered(user, query)
    columns = _sort_columns(query.sort)
    after = user_contact(user, after_id) if after_id else None
    if columns is None:  # newest first
        if after is not None:
            statement = statement.where(Contact.id < after.id)
        statement = statement.order_by(Contact.id.desc())
    else:
        value_column, id_column = columns
        if after is not None:
            value = getattr(after, value_column.key)
            # a row value: SQLite and PostgreSQL start the index range at it, where "a > x OR (a = x AND
            # id > y)" reads the index from the user's first contact
            statement = statement.where(tuple_(value_column, id_column) > tuple_(value, after.id))
        statement = statement.order_by(value_column, id_column)
    rows = db.session.scalars(statement.limit(limit + 1)).all()
    next_after = rows[limit - 1].id if len(rows) > limit else None
    return rows[:limit], next_after


def contact_count(user, query: ContactQuery) -> int:
    return db.session.scalar(select(func.count()).select_from(_filtered(user, query).subquery()))


def field_names(user, query: ContactQuery | None = None) -> list[str]:
    """The extra fields the user's contacts (or a query's) have, for the smart group form's
    suggestions and the export's columns."""
    statement = select(Contact.fields).where(Contact.user_id == user.id) if query is None \
        else _filtered(user, query).with_only_columns(Contact.fields)
    return distinct_field_names(db.session.scalars(statement))


def distinct_field_names(all_fields) -> list[str]:
    """Each field name once, whatever its case and accents, in alphabetical order."""
    names = {}
    for fields in all_fields:
        for key in fields or {}:
            names.setdefault(folded(key), key)
    return sorted(names.values(), key=folded)


# ---- groups ----

def user_group(user, group_id: int) -> ContactGroup | None:
    return db.session.scalar(select(ContactGroup).where(ContactGroup.id == group_id,
                                                        ContactGroup.user_id == user.id))


def user_groups(user) -> list[ContactGroup]:
    return db.session.scalars(select(ContactGroup).where(ContactGroup.user_id == user.id)
                              .order_by(func.lower(ContactGroup.name), ContactGroup.id)).all()


def _chosen_member_counts(user) -> dict[int, int]:
    return dict(db.session.execute(
        select(ContactGroupMember.group_id, func.count()).join(ContactGroup)
        .where(ContactGroup.user_id == user.id).group_by(ContactGroupMember.group_id)).all())


def groups_with_sizes(user) -> list[tuple[ContactGroup, int]]:
    """Each group and its number of members now, smart groups evaluated."""
    groups, counts = user_groups(user), _chosen_member_counts(user)
    for group in groups:
        if group.is_smart:
            counts[group.id] = smart_group_size(user, group)
    return [(group, counts.get(group.id, 0)) for group in groups]


def chosen_groups_with_sizes(user) -> list[tuple[ContactGroup, int]]:
    """The groups contacts can be put in (not the smart ones), with their sizes: no contact is read."""
    counts = _chosen_member_counts(user)
    return [(group, counts.get(group.id, 0)) for group in user_groups(user) if not group.is_smart]


def group_size(user, group: ContactGroup) -> int:
    if group.is_smart:
        return smart_group_size(user, group)
    return contact_count(user, ContactQuery(group=group))


def groups_of(user, contact: Contact) -> list[tuple[ContactGroup, int]]:
    """The groups the contact was put in and the smart groups it meets the conditions of, with their sizes."""
    chosen = set(db.session.scalars(select(ContactGroupMember.group_id)
                                    .where(ContactGroupMember.contact_id == contact.id)))
    return [(group, size) for group, size in groups_with_sizes(user)
            if group.id in chosen or (group.is_smart and meets_all(contact, group.conditions))]


def save_group(user, name: str, conditions: list[dict] | None = None, group: ContactGroup | None = None):
    """Creates the group (or renames the one given, and sets its conditions when it is smart);
    returns (group, {form field: [problems]})."""
    name = name.strip()
    same_name = db.session.scalar(select(ContactGroup).where(ContactGroup.user_id == user.id,
                                                             ContactGroup.name == name))
    if same_name is not None and same_name is not group:
        return group, {"name": [_("You already have a group named “%(name)s”.", name=name)]}
    group = group or ContactGroup(user_id=user.id)
    group.name = name
    if conditions is not None:
        group.conditions = conditions
    db.session.add(group)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        return None, {"name": [_("You already have a group named “%(name)s”.", name=name)]}
    return group, {}


def delete_group(user, group: ContactGroup) -> None:
    """The group goes; its contacts stay."""
    db.session.execute(delete(ContactGroup).where(ContactGroup.id == group.id, ContactGroup.user_id == user.id))
    db.session.commit()


def add_members(user, group: ContactGroup, contact_ids) -> int:
    """Puts the user's contacts among the ids in the group; returns how many were not in it yet."""
    if group.is_smart:
        return 0
    wanted = {contact.id for contact in user_contacts(user, contact_ids)}
    wanted -= set(db.session.scalars(_member_ids(group).where(ContactGroupMember.contact_id.in_(wanted))))
    db.session.add_all(ContactGroupMember(group_id=group.id, contact_id=contact_id) for contact_id in wanted)
    db.session.commit()
    return len(wanted)


def remove_members(user, group: ContactGroup, contact_ids) -> int:
    ids = [contact.id for contact in user_contacts(user, contact_ids)]
    if not ids or group.is_smart:
        return 0
    removed = db.session.execute(delete(ContactGroupMember).where(
        ContactGroupMember.group_id == group.id, ContactGroupMember.contact_id.in_(ids))).rowcount
    db.session.commit()
    return removed


# ---- who a group's SMS go to ----

def group_members(user, group: ContactGroup) -> list[Contact]:
    """The contacts an SMS to the group goes to, by name; a smart group is evaluated now."""
    if group.user_id != user.id:
        return []
    if group.is_smart:
        return smart_group_members(user, group)
    return db.session.scalars(select(Contact).where(Contact.user_id == user.id,
                                                    Contact.id.in_(_member_ids(group)))
                              .order_by(Contact.sort_name, Contact.id)).all()


def smart_group_members(user, group_or_conditions) -> list[Contact]:
    """The user's contacts that meet every condition, by name. Takes a smart group or its conditions
    (to preview a group being written)."""
    return contacts_by_id(user, [row.id for row in _meeting_rows(user, group_or_conditions)])


def smart_group_rows(user, group: ContactGroup) -> list:
    """Light rows (id, name, number, fields) of a smart group's members, by name."""
    return _meeting_rows(user, group)


def smart_group_size(user, group: ContactGroup) -> int:
    return len(_meeting_rows(user, group))


def smart_group_page(user, group: ContactGroup, after_id: int | None = None, limit: int | None = None):
    """One page of a smart group's members by name, like contact_page; returns it, the id to continue
    after (None on the last page) and the group's size."""
    limit = limit or PAGE_SIZE
    rows = _meeting_rows(user, group)
    start = next((index + 1 for index, row in enumerate(rows) if row.id == after_id), 0)
    page = rows[start:start + limit]
    next_after = page[-1].id if start + limit < len(rows) else None
    return contacts_by_id(user, [row.id for row in page]), next_after, len(rows)


def group_member_rows(user, group: ContactGroup) -> list:
    """Light rows (id, name, number, fields) of the contacts an SMS to the group goes to, by name:
    what a campaign to 100,000 contacts reads, without building the contacts."""
    if group.user_id != user.id:
        return []
    if group.is_smart:
        return _meeting_rows(user, group)
    return db.session.execute(
        select(Contact.id, Contact.name, Contact.number, Contact.fields)
        .where(Contact.user_id == user.id, Contact.id.in_(_member_ids(group)))
        .order_by(Contact.sort_name, Contact.id)).all()


def contact_rows(user, contact_ids=None, numbers=None) -> list:
    """Light rows (id, name, number, fields) of the user's contacts among these ids or numbers."""
    column, wanted = (Contact.id, list(contact_ids)) if contact_ids is not None else (Contact.number, list(numbers))
    rows = []
    for start in range(0, len(wanted), 500):
        rows += db.session.execute(select(Contact.id, Contact.name, Contact.number, Contact.fields).where(
            Contact.user_id == user.id, column.in_(wanted[start:start + 500]))).all()
    return rows


def group_numbers(user, group: ContactGroup) -> list[str]:
    return [contact.number for contact in group_members(user, group)]


def contacts_by_id(user, ids: list[int]) -> list[Contact]:
    """The contacts, in the order of the ids given; read a chunk at a time (a database takes a bounded IN list)."""
    found = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        found.update((contact.id, contact) for contact in db.session.scalars(
            select(Contact).where(Contact.user_id == user.id, Contact.id.in_(chunk))))
    return [found[contact_id] for contact_id in ids if contact_id in found]


def _field_rows(user, conditions=()):
    """What conditions look at, for each of the user's contacts, by name: without building the
    contacts themselves, which costs more than evaluating the conditions. Conditions that a contact
    can only meet with the value in its search text narrow the rows read."""
    statement = select(Contact.id, Contact.name, Contact.number, Contact.fields).where(Contact.user_id == user.id)
    for condition in conditions:
        if _needs_value_in_search_text(condition):
            statement = statement.where(Contact.search_text.contains(folded(condition["value"].strip()), autoescape=True))
    return db.session.execute(statement.order_by(Contact.sort_name, Contact.id)).all()


def _needs_value_in_search_text(condition: dict) -> bool:
    """"contains x" and "= x" (x not a number, which could be written 2024.0) are only met by a value holding x."""
    wanted = condition["value"].strip()
    return bool(wanted) and (condition["operator"] == "contains"
                             or (condition["operator"] == "=" and _as_number(wanted) is None))


def _meeting_rows(user, group_or_conditions) -> list:
    conditions = getattr(group_or_conditions, "conditions", group_or_conditions) or []
    if getattr(group_or_conditions, "user_id", user.id) != user.id:
        return []
    return [row for row in _field_rows(user, conditions) if meets_all(row, conditions)]


# the same field names and values come back for contact after contact
_folded = lru_cache(maxsize=65536)(folded)


@lru_cache(maxsize=65536)
def _as_number(text: str) -> float | None:
    try:
        return float(text.strip().replace(",", "."))
    except ValueError:
        return None


def field_value(contact, name: str) -> str | None:
    """The value of a field of a contact (or of a row with its name, number and fields)."""
    wanted = _folded(name)
    if wanted in BUILT_IN_FIELDS:
        return getattr(contact, wanted)
    for key, value in (contact.fields or {}).items():
        if _folded(key) == wanted:
            return str(value)
    return None


def meets(contact, condition: dict) -> bool:
    """A contact without the field meets no condition on it. Numbers compare as numbers (9 < 10);
    anything else as text without accents or case, so that dates written 2023-09-01 compare too."""
    value = field_value(contact, condition["field"])
    if value is None or value == "":
        return False
    operator, wanted = condition["operator"], condition["value"]
    if operator == "contains":
        return _folded(wanted) in _folded(value)
    left, right = _as_number(value), _as_number(wanted)
    if left is None or right is None:
        left, right = _folded(value.strip()), _folded(wanted.strip())
    return {"=": left == right, "≠": left != right, "<": left < right, ">": left > right}[operator]


def meets_all(contact, conditions: list[dict]) -> bool:
    return all(meets(contact, condition) for condition in conditions)
