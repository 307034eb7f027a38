"""Every user sees only their own phones, messages and conversations; pages need a signed-in user."""
import pytest

from webapp.extensions import db
from webapp.models import Message, Phone

from webapp.services.messages import queue_outbound

from .conftest import make_phone, make_user, post_form

PAGES = ["/", "/compose", "/history", "/conversations", "/phones/", "/phones/new", "/account",
         "/phones/new/simulator", "/messages/statuses?ids=1", "/inbox?after=0"]


@pytest.mark.parametrize("path", PAGES)
def test_pages_need_a_signed_in_user(client, user, path):
    response = client.get(path)
    assert response.status_code == 302 and "/login" in response.headers["Location"]


@pytest.fixture
def other_users_things(app):
    """Bob's phone and message, with the ids Ada will try."""
    bob = make_user("bob@example.org")
    phone = make_phone(bob, name="Bob's phone")
    [message_id] = queue_outbound(phone, ["+33698765432"], "Bob's secret")
    return phone, db.session.get(Message, message_id)


@pytest.mark.parametrize("path", [
    "/phones/{phone}", "/phones/{phone}/edit", "/phones/{phone}/health", "/messages/{message}",
    "/messages/{message}?fragment=timeline", "/conversations/+33698765432",
])
def test_another_users_pages_answer_404(logged_in, other_users_things, path):
    phone, message = other_users_things
    response = logged_in.get(path.format(phone=phone.id, message=message.id))
    assert response.status_code == 404
    assert "Bob" not in response.get_data(as_text=True)


@pytest.mark.parametrize("path", [
    "/phones/{phone}/edit", "/phones/{phone}/test", "/phones/{phone}/rotate-token", "/phones/{phone}/delete",
    "/phones/{phone}/simulate-inbound", "/messages/{message}/cancel",
    "/conversations/+33698765432/unread", "/conversations/+33698765432/read",
])
def test_another_users_actions_answer_404_and_change_nothing(logged_in, user, other_users_things, path):
    phone, message = other_users_things
    token = phone.callback_token
    own_phone = make_phone(user)
    response = post_form(logged_in, f"/phones/{own_phone.id}", {"name": "stolen", "sender": "+33611111111",
                                                                 "text": "x"},
                         action=path.format(phone=phone.id, message=message.id))
    assert response.status_code == 404
    db.session.expire_all()
    phone = db.session.get(Phone, phone.id)
    assert phone.name == "Bob's phone" and phone.callback_token == token and phone.deleted_at is None
    assert db.session.get(Message, message.id).status == "queued"


def test_another_users_messages_are_not_in_lists_or_live_statuses(logged_in, other_users_things):
    _, message = other_users_things
    for path in ("/history", "/conversations", "/", "/history?fragment=after&after_id=0",
                 "/conversations?q=secret", "/conversations?q=0698", "/conversations?fragment=1"):
        page = logged_in.get(path).get_data(as_text=True)
        assert "Bob" not in page and "+33698765432" not in page, path
    assert logged_in.get(f"/messages/statuses?ids={message.id}").get_json() == {}
    assert logged_in.get("/inbox?after=0").get_json() == {"unread": 0, "last_id": 0, "incoming": []}


def test_compose_refuses_another_users_phone(logged_in, other_users_things, user):
    phone, _ = other_users_things
    make_phone(user)
    response = post_form(logged_in, "/compose", {"phone_id": phone.id, "numbers": "0612345678", "body": "Hi"})
    assert response.status_code == 200
    assert db.session.query(Message).count() == 1
