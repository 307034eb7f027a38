"""Phone pools: the Pools page makes, changes and deletes a user's ordered lists of phones."""
import re

import pytest

from webapp.extensions import db
from webapp.models import PhonePool

from .conftest import make_phone, make_user, post_form


def pool_form(name, strategy="first_available", places=None, weights=None):
    """places and weights: {phone: value}; the phones not given stay out of the pool."""
    data = {"name": name, "strategy": strategy}
    for phone, place in (places or {}).items():
        data[f"order_{phone.id}"] = str(place)
    for phone, weight in (weights or {}).items():
        data[f"weight_{phone.id}"] = str(weight)
    return data


def members_of(pool_name):
    db.session.expire_all()
    pool = db.session.query(PhonePool).filter_by(name=pool_name).one()
    return [(member.phone.name, member.position, member.weight) for member in pool.members]


def test_a_pool_lists_the_phones_in_the_order_chosen_and_the_pools_page_shows_them(logged_in, user):
    first, second, unused = make_phone(user, name="Front desk"), make_phone(user, name="Backup"), \
        make_phone(user, name="Unused")
    response = post_form(logged_in, "/phones/pools/new",
                         pool_form("Main", places={first: 2, second: 1, unused: ""}))
    assert response.status_code == 302
    assert members_of("Main") == [("Backup", 1, 1), ("Front desk", 2, 1)]
    page = logged_in.get("/phones/pools/").get_data(as_text=True)
    assert "Main" in page and "Backup → Front desk" in page and "First available" in page
    assert "/phones/pools/" in logged_in.get("/phones/").get_data(as_text=True)


def test_a_spread_pool_keeps_its_weights_and_can_be_changed_then_deleted(logged_in, user):
    first, second = make_phone(user, name="A"), make_phone(user, name="B")
    post_form(logged_in, "/phones/pools/new", pool_form("Shared", "spread", {first: 1, second: 2}, {first: 3}))
    assert members_of("Shared") == [("A", 1, 3), ("B", 2, 1)]
    pool = db.session.query(PhonePool).filter_by(name="Shared").one()
    assert "(weight 3)" in logged_in.get("/phones/pools/").get_data(as_text=True)
    edit_page = logged_in.get(f"/phones/pools/{pool.id}").get_data(as_text=True)
    assert 'value="3"' in edit_page and re.search(r'<input checked[^>]*value="spread"', edit_page)
    post_form(logged_in, f"/phones/pools/{pool.id}", pool_form("Shared", "first_available", {second: 1}))
    assert members_of("Shared") == [("B", 1, 1)]
    assert db.session.get(PhonePool, pool.id).strategy == "first_available"
    response = post_form(logged_in, f"/phones/pools/{pool.id}", {}, action=f"/phones/pools/{pool.id}/delete")
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(PhonePool, pool.id) is None
    assert [phone.name for phone in (db.session.get(type(first), first.id), db.session.get(type(second), second.id))
            if phone.deleted_at is None] == ["A", "B"]


def test_a_pool_needs_a_phone_and_a_name_of_its_own(logged_in, user):
    phone = make_phone(user, name="A")
    page = post_form(logged_in, "/phones/pools/new", pool_form("Empty")).get_data(as_text=True)
    assert "Give at least one phone a place in the list." in page
    post_form(logged_in, "/phones/pools/new", pool_form("Main", places={phone: 1}))
    page = post_form(logged_in, "/phones/pools/new", pool_form("Main", places={phone: 1})).get_data(as_text=True)
    assert "You already have a pool by this name." in page
    assert db.session.query(PhonePool).count() == 1


def test_the_pools_page_speaks_french(logged_in, user):
    make_phone(user, name="A")
    page = logged_in.get("/phones/pools/", headers={"Accept-Language": "fr"}).get_data(as_text=True)
    assert "Aucun pool" in page or "Pools" in page
    form = logged_in.get("/phones/pools/new", headers={"Accept-Language": "fr"}).get_data(as_text=True)
    assert "Premier disponible" in form and "Répartir" in form


# ---- every user sees only their own pools ----

@pytest.fixture
def bobs_pool(app):
    bob = make_user("bob@example.org")
    phone = make_phone(bob, name="Bob's phone")
    from webapp.services.pools import MemberChoice, save_pool
    return save_pool(PhonePool(user_id=bob.id), "Bob's pool", "first_available", [MemberChoice(phone.id, 1)]), phone


def test_another_users_pools_are_not_listed_and_their_pages_answer_404(logged_in, bobs_pool):
    pool, _phone = bobs_pool
    assert "Bob" not in logged_in.get("/phones/pools/").get_data(as_text=True)
    response = logged_in.get(f"/phones/pools/{pool.id}")
    assert response.status_code == 404 and "Bob" not in response.get_data(as_text=True)


def test_another_users_pool_cannot_be_changed_or_deleted(logged_in, user, bobs_pool):
    pool, bobs_phone = bobs_pool
    own = make_phone(user, name="Mine")
    for action in (f"/phones/pools/{pool.id}", f"/phones/pools/{pool.id}/delete"):
        response = post_form(logged_in, "/phones/pools/new", pool_form("Stolen", places={own: 1}), action=action)
        assert response.status_code == 404
    assert members_of("Bob's pool") == [("Bob's phone", 1, 1)]


def test_another_users_phone_cannot_be_put_in_a_pool(logged_in, user, bobs_pool):
    _pool, bobs_phone = bobs_pool
    own = make_phone(user, name="Mine")
    post_form(logged_in, "/phones/pools/new", pool_form("Mine", places={own: 1, bobs_phone: 2}))
    assert members_of("Mine") == [("Mine", 1, 1)]
    assert "Bob" not in logged_in.get("/phones/pools/new").get_data(as_text=True)


@pytest.mark.parametrize("path", ["/phones/pools/", "/phones/pools/new", "/phones/pools/1"])
def test_the_pools_pages_need_a_signed_in_user(client, user, path):
    response = client.get(path)
    assert response.status_code == 302 and "/login" in response.headers["Location"]


# ---- composing to a pool ----

def test_compose_offers_the_pools_and_a_campaign_to_a_pool_says_so_and_sends_through_it(logged_in, user):
    from webapp.models import Message
    from webapp.services.pools import MemberChoice, save_pool
    from .conftest import confirm_sending
    first, second = make_phone(user, name="First"), make_phone(user, name="Second")
    assert "Or from a pool" not in logged_in.get("/compose").get_data(as_text=True)  # no pool yet
    pool = save_pool(PhonePool(user_id=user.id), "Both", "spread", [MemberChoice(first.id, 1), MemberChoice(second.id, 2)])
    page = logged_in.get(f"/compose?pool={pool.id}").get_data(as_text=True)
    assert re.search(rf'<option selected value="{pool.id}">Both</option>', page)
    response = post_form(logged_in, "/compose", {"phone_id": first.id, "pool_id": pool.id, "body": "Hi all",
                                                 "numbers": "+33698765432, +33611111111"})
    review = logged_in.get(response.headers["Location"]).get_data(as_text=True)
    assert "From the pool Both" in review
    confirm_sending(logged_in, response)
    db.session.expire_all()
    assert [message.pool_id for message in db.session.query(Message).all()] == [pool.id, pool.id]


def test_compose_refuses_another_users_pool(logged_in, user, bobs_pool):
    from webapp.models import Message
    from webapp.services.pools import MemberChoice, save_pool
    pool, _phone = bobs_pool
    own = make_phone(user, name="Mine")
    save_pool(PhonePool(user_id=user.id), "Mine", "first_available", [MemberChoice(own.id, 1)])
    post_form(logged_in, "/compose", {"phone_id": own.id, "pool_id": pool.id, "numbers": "+33698765432",
                                      "body": "Hi"})
    assert db.session.query(Message).count() == 0
    assert messages_compose_refused_service(user, own, pool) == ["Choose one of your phones."]


def messages_compose_refused_service(user, own, pool):
    from webapp.services.messages import compose
    return compose(user, own.id, ["+33698765432"], "Hi", pool_id=pool.id).problems["phone"]
