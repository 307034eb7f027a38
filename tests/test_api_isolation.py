"""A key sees exactly what its user sees: every endpoint, called with another user's key, finds
nothing of the first user's and changes nothing of it."""
import pytest
from sqlalchemy import func, select

from webapp.extensions import db
from webapp.models import Contact, ContactGroup, ContactGroupMember, Message, OptOut, PhonePool
from webapp.services import contacts, opt_outs
from webapp.services.messages import queue_outbound
from webapp.services.pools import MemberChoice, save_pool

from .conftest import make_phone
from .test_api import receive


@pytest.fixture
def owned(app, user):
    """The first user's phone, SMS both ways, contact, group and opt-out."""
    phone = make_phone(user)
    [sent] = queue_outbound(phone, ["+33611111111"], "Private")
    received = receive(phone, "+33622222222", "Private reply", "in-1").id
    contact, _ = contacts.save_contact(user, contacts.ContactInput("Ada", "+33611111111"))
    group, _ = contacts.save_group(user, "Parents")
    contacts.add_members(user, group, [contact.id])
    opt_outs.record(user.id, "+33633333333", OptOut.MANUAL)
    pool = save_pool(PhonePool(user_id=user.id), "Main", "first_available", [MemberChoice(phone.id, 1)])
    return {"phone": phone.id, "message": sent, "received": received, "contact": contact.id, "group": group.id,
            "pool": pool.public_id}


# every endpoint that names one of the user's rows: called with the other user's key
BY_ID = [
    ("GET", "/api/v1/messages/{message}", None, 404),
    ("POST", "/api/v1/messages/{message}/cancel", None, 404),
    ("POST", "/api/v1/messages/{received}/cancel", None, 404),
    ("POST", "/api/v1/conversations/+33622222222/read", None, 404),
    ("POST", "/api/v1/conversations/+33622222222/unread", None, 404),
    ("GET", "/api/v1/contacts/{contact}", None, 404),
    ("PATCH", "/api/v1/contacts/{contact}", {"name": "Taken"}, 404),
    ("DELETE", "/api/v1/contacts/{contact}", None, 404),
    ("GET", "/api/v1/contacts?group_id={group}", None, 404),
    ("GET", "/api/v1/groups/{group}", None, 404),
    ("PATCH", "/api/v1/groups/{group}", {"name": "Taken"}, 404),
    ("DELETE", "/api/v1/groups/{group}", None, 404),
    ("GET", "/api/v1/groups/{group}/members", None, 404),
    ("POST", "/api/v1/groups/{group}/members", {"contact_ids": [1]}, 404),
    ("DELETE", "/api/v1/groups/{group}/members", {"contact_ids": ["{contact}"]}, 404),
    ("DELETE", "/api/v1/opt-outs/+33633333333", None, 404),
    ("POST", "/api/v1/messages", {"to": ["+33644444444"], "text": "Hi", "phone_id": "{phone}"}, 422),
    ("POST", "/api/v1/messages", {"to": ["+33644444444"], "text": "Hi", "pool_id": "{pool}"}, 422),
]


def filled(value, ids):
    if isinstance(value, str):
        whole = value.startswith("{") and value.endswith("}") and value[1:-1] in ids
        return ids[value[1:-1]] if whole else value.format(**ids)
    if isinstance(value, list):
        return [filled(item, ids) for item in value]
    if isinstance(value, dict):
        return {name: filled(item, ids) for name, item in value.items()}
    return value


def everything_of(user_id):
    db.session.expire_all()
    counts = {model.__name__: db.session.scalar(select(func.count()).select_from(model).where(model.user_id == user_id))
              for model in (Message, Contact, ContactGroup, OptOut)}
    counts["members"] = db.session.scalar(select(func.count()).select_from(ContactGroupMember))
    names = (db.session.scalars(select(Contact.name).where(Contact.user_id == user_id)).all(),
             db.session.scalars(select(ContactGroup.name).where(ContactGroup.user_id == user_id)).all())
    return counts, names


@pytest.mark.parametrize("method, path, body, status", BY_ID, ids=[f"{m} {p}" for m, p, _b, _s in BY_ID])
def test_another_users_key_reaches_none_of_their_rows(owned, user, other_api, method, path, body, status):
    before = everything_of(user.id)
    answer = other_api.call(method, path.format(**owned), json=filled(body, owned) if body is not None else None)
    assert answer.status_code == status, answer.get_data(as_text=True)
    assert everything_of(user.id) == before
    if status == 422:
        assert answer.get_json()["errors"][0]["field"] == ("pool_id" if "pool_id" in body else "phone_id")


LISTS = ["/api/v1/messages", "/api/v1/messages?direction=inbound", "/api/v1/conversations", "/api/v1/incoming",
         "/api/v1/contacts", "/api/v1/groups", "/api/v1/opt-outs", "/api/v1/phones", "/api/v1/pools",
         "/api/v1/conversations?q=Private", "/api/v1/messages?text=Private", "/api/v1/contacts?q=Ada"]


@pytest.mark.parametrize("path", LISTS)
def test_another_users_lists_hold_none_of_their_rows(owned, api, other_api, path):
    assert api.get(path.split("?")[0]).get_json()["data"]  # the owner sees their rows there
    assert other_api.get(path).get_json()["data"] == []


def test_every_endpoint_is_covered(app):
    """A new endpoint must be added to the tables above."""
    spec = app.test_client().get("/api/v1/openapi.json").get_json()
    documented = {(method.upper(), path) for path, item in spec["paths"].items() for method in item
                  if method in ("get", "post", "patch", "put", "delete")}
    covered = {(method, "/api/v1/" + path.split("?")[0][len("/api/v1/"):]) for method, path, _b, _s in BY_ID}
    covered |= {("GET", path.split("?")[0]) for path in LISTS}
    as_templates = {(method, template) for method, template in documented
                    if any(method == covered_method and matches(template, covered_path)
                           for covered_method, covered_path in covered)}
    assert documented - as_templates <= {("POST", "/api/v1/contacts"), ("POST", "/api/v1/groups"),
                                         ("POST", "/api/v1/opt-outs")}  # they only make the caller's own


def matches(template: str, path: str) -> bool:
    parts, given = template.split("/"), path.split("/")
    return len(parts) == len(given) and all(p.startswith("{") or p == g for p, g in zip(parts, given))
