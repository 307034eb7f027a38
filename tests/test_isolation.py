"""Every user sees only their own phones, messages and conversations; pages need a signed-in user."""
import pytest

from webapp import statuses
from webapp.extensions import db
from webapp.models import Message, Phone
from webapp.providers.base import InboundSms

from webapp.services.messages import queue_outbound, record_inbound

from .conftest import make_phone, make_user, post_form

PAGES = ["/", "/compose", "/history", "/conversations", "/phones/", "/phones/new", "/account",
         "/phones/new/simulator", "/messages/statuses?ids=1", "/inbox?after=0",
         "/contacts/", "/contacts/new", "/contacts/groups/", "/contacts/groups/new-smart",
         "/opt-outs", "/opt-outs/settings", "/opt-outs/export.csv", "/account/choose-password",
         "/history/export.csv", "/statistics/", "/statistics/daily.csv", "/statistics/phones.csv",
         "/statistics/failures.csv"]


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
    for path in ("/history", "/conversations", "/", "/history?fragment=after&after_id=0", "/history?after=0",
                 "/history/export.csv", "/history/export.csv?text=secret", "/history?number=0698",
                 "/conversations?q=secret", "/conversations?q=0698", "/conversations?fragment=1"):
        page = logged_in.get(path).get_data(as_text=True)
        assert "Bob" not in page and "+33698765432" not in page, path
    assert logged_in.get(f"/messages/statuses?ids={message.id}").get_json() == {}
    assert logged_in.get("/inbox?after=0").get_json() == {"unread": 0, "last_id": 0, "incoming": []}


def test_another_users_unread_conversations_and_failures_are_not_on_the_dashboard(logged_in, user):
    bob = make_user("bob@example.org")
    bobs_phone = make_phone(bob, name="Bob's phone")
    [bobs] = queue_outbound(bobs_phone, ["+33698765432"], "Bob's secret")
    message = db.session.get(Message, bobs)
    message.status, message.error_reason = statuses.FAILED, "Bob's failure"
    db.session.commit()
    record_inbound(bobs_phone, InboundSms("IN1", "+33698765430", "Bob's reply"))
    make_phone(user)
    page = logged_in.get("/").get_data(as_text=True)
    assert "Bob" not in page and "+336987654" not in page
    assert "Unread conversations" not in page and "Recent failures" not in page
    assert 'data-next-step="send_first_sms"' in page  # Bob's sends are not Ada's


def test_compose_refuses_another_users_phone(logged_in, other_users_things, user):
    phone, _ = other_users_things
    make_phone(user)
    response = post_form(logged_in, "/compose", {"phone_id": phone.id, "numbers": "0612345678", "body": "Hi"})
    assert response.status_code == 200
    assert db.session.query(Message).count() == 1


@pytest.fixture
def other_users_contacts(app):
    """Bob's contact, group and smart group, with the ids Ada will try."""
    from webapp.services import contacts as contact_service
    from webapp.services.contacts import ContactInput
    bob = make_user("bob@example.org")
    contact, _ = contact_service.save_contact(bob, ContactInput("Bob's friend", "+33698765432", {"class": "6B"}))
    group, _ = contact_service.save_group(bob, "Bob's group")
    contact_service.add_members(bob, group, [contact.id])
    smart, _ = contact_service.save_group(bob, "Bob's smart group",
                                          [{"field": "class", "operator": "=", "value": "6B"}])
    return contact, group, smart


@pytest.mark.parametrize("path", [
    "/contacts/{contact}", "/contacts/{contact}/delete", "/contacts/groups/{group}", "/contacts/groups/{group}/edit",
    "/contacts/groups/{group}/delete", "/contacts/groups/{smart}", "/contacts/groups/{smart}/edit",
])
def test_another_users_contact_pages_answer_404(logged_in, other_users_contacts, path):
    contact, group, smart = other_users_contacts
    response = logged_in.get(path.format(contact=contact.id, group=group.id, smart=smart.id))
    assert response.status_code == 404
    assert "Bob" not in response.get_data(as_text=True)


def test_another_users_contacts_are_not_in_lists_searches_or_smart_groups(logged_in, user, other_users_contacts):
    from webapp.services import contacts as contact_service
    for path in ("/contacts/", "/contacts/?q=friend", "/contacts/?q=0698765432", "/contacts/groups/"):
        assert "Bob" not in logged_in.get(path).get_data(as_text=True)
    own_smart, _ = contact_service.save_group(user, "6B", [{"field": "class", "operator": "=", "value": "6B"}])
    assert "Bob" not in logged_in.get(f"/contacts/groups/{own_smart.id}").get_data(as_text=True)
    _, group, smart = other_users_contacts
    assert contact_service.group_members(user, group) == [] and contact_service.smart_group_members(user, smart) == []


def test_another_users_contacts_and_groups_cannot_be_changed(logged_in, user, other_users_contacts):
    from webapp.models import Contact, ContactGroup, ContactGroupMember
    from webapp.services import contacts as contact_service
    contact, group, _ = other_users_contacts
    own_group, _ = contact_service.save_group(user, "Mine")
    for action, data in [
        (f"/contacts/{contact.id}", {"name": "stolen", "number": "0612345678"}),
        (f"/contacts/{contact.id}/delete", {}),
        (f"/contacts/groups/{group.id}/edit", {"name": "stolen"}),
        (f"/contacts/groups/{group.id}/delete", {}),
    ]:
        assert post_form(logged_in, "/contacts/", data, action=action).status_code == 404
    post_form(logged_in, "/contacts/", {"contact_ids": [contact.id]}, action="/contacts/delete-selected")
    post_form(logged_in, "/contacts/", {"action": "add", "group_id": own_group.id, "contact_ids": [contact.id]},
              action="/contacts/selection")
    post_form(logged_in, "/contacts/", {"action": "remove", "from_group": group.id, "group_id": group.id,
                                        "contact_ids": [contact.id]}, action="/contacts/selection")
    db.session.expire_all()
    assert db.session.get(Contact, contact.id).name == "Bob's friend"
    assert db.session.get(ContactGroup, group.id).name == "Bob's group"
    assert db.session.query(ContactGroupMember).filter_by(group_id=group.id).count() == 1
    assert db.session.query(ContactGroupMember).filter_by(group_id=own_group.id).count() == 0


def test_another_users_opt_outs_are_not_listed_exported_nor_removable(logged_in, user):
    from webapp.models import OptOut
    from webapp.services import opt_outs
    bob = make_user("bob@example.org")
    bobs = opt_outs.record(bob.id, "+33698765432", OptOut.MANUAL, original_text="Bob's STOP")
    assert "+33698765432" not in logged_in.get("/opt-outs?q=33698765432").get_data(as_text=True)
    assert "+33698765432" not in logged_in.get("/opt-outs/export.csv").get_data(as_text=True)
    response = post_form(logged_in, "/opt-outs", {}, action=f"/opt-outs/{bobs.id}/remove")
    assert response.status_code == 404
    assert opt_outs.opt_out_of(bob.id, "+33698765432") is not None


def test_another_users_contact_name_never_shows_beside_the_same_number(logged_in, user, other_users_contacts):
    """Bob calls +33698765432 "Bob's friend"; on Ada's pages that number stays a number she may add."""
    [message_id] = queue_outbound(make_phone(user), ["+33698765432"], "Hello")
    for path in ("/history", "/history?fragment=after&after_id=0", "/conversations", "/conversations?fragment=1",
                 "/conversations/+33698765432", f"/messages/{message_id}", "/"):
        page = logged_in.get(path).get_data(as_text=True)
        assert "friend" not in page, path
    assert "Add to contacts" in logged_in.get("/conversations/+33698765432").get_data(as_text=True)
    found = logged_in.get("/conversations?q=friend").get_data(as_text=True)
    assert "+33698765432" not in found and "No conversation matches." in found
