"""The API sends to a pool, named by its public id, and lists the pools and the phones' health."""
from sqlalchemy import select

from webapp.extensions import db
from webapp.models import Message, PhonePool
from webapp.services.pools import MemberChoice, choose_phones, save_pool

from .api_support import ApiClient, key_for
from .conftest import make_phone, make_user, reload_message


def pool_of(user, *phones, strategy="first_available", name="Main"):
    return save_pool(PhonePool(user_id=user.id), name, strategy,
                     [MemberChoice(phone.id, position) for position, phone in enumerate(phones, start=1)])


def test_a_send_to_a_pool_is_queued_for_it_and_the_pool_chooses_the_phone(api, user):
    first, second = make_phone(user, name="First"), make_phone(user, name="Second")
    pool = pool_of(user, second, first, strategy="spread")
    answer = api.post("/api/v1/messages", json={"to": ["+33612345678", "+33698765432"], "text": "Hi",
                                                "pool_id": pool.public_id})
    assert answer.status_code == 201, answer.get_json()
    body = answer.get_json()
    assert body["pool_id"] == pool.public_id and body["phone_id"] == second.id
    message_ids = [message["id"] for message in body["messages"]]
    assert db.session.scalars(select(Message.pool_id).where(Message.id.in_(message_ids))).all() == [pool.id] * 2
    choose_phones(message_ids)
    db.session.commit()
    assert sorted(reload_message(message_id).phone.name for message_id in message_ids) == ["First", "Second"]


def test_a_send_to_an_unknown_or_another_users_pool_is_refused_naming_pool_id(api, user):
    make_phone(user)
    bob = make_user("bob@example.org")
    bobs = pool_of(bob, make_phone(bob, name="Bob's phone"))
    for pool_id in ("nope", bobs.public_id):
        answer = api.post("/api/v1/messages", json={"to": ["+33612345678"], "text": "Hi", "pool_id": pool_id})
        assert answer.status_code == 422
        assert answer.get_json()["errors"] == [{"field": "pool_id", "detail": "You have no pool with this id."}]
    assert db.session.query(Message).count() == 0


def test_a_send_naming_both_a_phone_and_a_pool_is_refused(api, user):
    phone = make_phone(user)
    pool = pool_of(user, phone)
    answer = api.post("/api/v1/messages", json={"to": ["+33612345678"], "text": "Hi", "pool_id": pool.public_id,
                                                "phone_id": phone.id})
    assert answer.status_code == 422
    assert answer.get_json()["errors"] == [{"field": "pool_id", "detail": "Give phone_id or pool_id, not both."}]


def test_the_pools_and_the_phones_health_are_listed_for_their_owner_only(api, client, user):
    first, second = make_phone(user, name="First"), make_phone(user, name="Second")
    pool = pool_of(user, first, second)
    bob = make_user("bob@example.org")
    pool_of(bob, make_phone(bob, name="Bob's phone"), name="Bob's pool")
    assert api.get("/api/v1/pools").get_json() == {"data": [{
        "id": pool.public_id, "name": "Main", "strategy": "first_available", "phones": [
            {"phone_id": first.id, "name": "First", "position": 1, "weight": 1, "healthy": True},
            {"phone_id": second.id, "name": "Second", "position": 2, "weight": 1, "healthy": True}]}]}
    health = api.get("/api/v1/phones").get_json()["data"][0]["health"]
    assert {name: health[name] for name in ("recent_sends", "recent_failures", "healthy", "last_error", "credits")} \
        == {"recent_sends": 0, "recent_failures": 0, "healthy": True, "last_error": None, "credits": None}
    bobs_api = ApiClient(client, key_for(bob))
    assert [row["name"] for row in bobs_api.get("/api/v1/pools").get_json()["data"]] == ["Bob's pool"]


def test_the_openapi_document_describes_pools(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    assert "/api/v1/pools" in spec["paths"]
    assert "pool_id" in spec["components"]["schemas"]["SendRequest"]["properties"]
