"""A contact's name beside its number wherever a number is shown (history and its live rows, the
conversations list and its live fragment, a conversation, a message), an unknown number offered as
a new contact, and conversations found by their contact's name."""
import html
import re

import pytest

from webapp.extensions import db
from webapp.models import Contact
from webapp.redirects import same_site_path
from webapp.services.messages import queue_outbound

from .conftest import make_phone, post_form
from .test_contacts import make_contact
from .test_conversations import listed_numbers, receive


def shown_names(page: str) -> list[str]:
    return [html.unescape(name) for name in re.findall(r'<span class="contact-name">([^<]+)</span>', page)]


def add_links(page: str) -> list[str]:
    return [html.unescape(link) for link in re.findall(r'<a class="add-contact" href="([^"]+)"', page)]


@pytest.fixture
def helene_and_a_stranger(user):
    """An SMS to Hélène (a contact) and one from +33798765432 (no contact)."""
    phone = make_phone(user)
    make_contact(user, "Hélène Dupont", "+33612345678")
    [to_helene] = queue_outbound(phone, ["+33612345678"], "Bonjour Hélène")
    from_stranger = receive(phone, "+33798765432", "Qui êtes-vous ?")
    return to_helene, from_stranger


def test_history_shows_the_contacts_name_and_offers_to_add_the_stranger(logged_in, helene_and_a_stranger):
    page = logged_in.get("/history").get_data(as_text=True)
    assert shown_names(page) == ["Hélène Dupont"]
    assert add_links(page) == ["/contacts/new?number=%2B33798765432&next=/history"]


def test_history_rows_that_arrive_live_carry_the_names_too(logged_in, user, helene_and_a_stranger):
    to_helene, _ = helene_and_a_stranger
    [later] = queue_outbound(make_phone(user, name="Second"), ["+33612345678"], "Encore")
    fragment = logged_in.get(f"/history?fragment=after&after_id={to_helene}").get_data(as_text=True)
    assert f'data-message-id="{later}"' in fragment and shown_names(fragment) == ["Hélène Dupont"]


def test_conversations_list_and_its_live_fragment_show_names(logged_in, helene_and_a_stranger):
    for path in ("/conversations", "/conversations?fragment=1"):
        page = logged_in.get(path).get_data(as_text=True)
        assert listed_numbers(page) == ["+33798765432", "+33612345678"], path
        assert shown_names(page) == ["Hélène Dupont"], path
        assert add_links(page) == ["/contacts/new?number=%2B33798765432&next=/conversations"], path


def test_a_conversation_and_a_message_are_headed_with_the_name(logged_in, helene_and_a_stranger):
    to_helene, from_stranger = helene_and_a_stranger
    conversation = logged_in.get("/conversations/+33612345678").get_data(as_text=True)
    assert "Hélène Dupont · SMS Desk</title>" in conversation and shown_names(conversation) == ["Hélène Dupont"]
    assert add_links(conversation) == []
    message = logged_in.get(f"/messages/{to_helene}").get_data(as_text=True)
    assert shown_names(message) == ["Hélène Dupont", "Hélène Dupont"]  # the heading and the number's line
    stranger = logged_in.get(f"/messages/{from_stranger.id}").get_data(as_text=True)
    assert shown_names(stranger) == [] and add_links(stranger) == [
        f"/contacts/new?number=%2B33798765432&next=/messages/{from_stranger.id}"]


def test_a_page_asks_for_the_names_in_one_query_whatever_its_rows(logged_in, user, monkeypatch):
    phone = make_phone(user)
    numbers = [f"+3361234{index:04d}" for index in range(30)]
    for number in numbers[:10]:
        make_contact(user, f"Contact {number[-4:]}", number)
    queue_outbound(phone, numbers, "Bonjour")
    from webapp.services import contacts
    asked = []
    real = contacts.names_by_number
    monkeypatch.setattr(contacts, "names_by_number", lambda *args: asked.append(args) or real(*args))
    for path in ("/history", "/conversations", "/conversations?fragment=1"):
        asked.clear()
        assert len(shown_names(logged_in.get(path).get_data(as_text=True))) == 10
        assert len(asked) == 1, path


def test_a_sender_name_is_not_offered_as_a_contact(logged_in, user):
    receive(make_phone(user), "INFO-BANK", "Votre code : 4821")
    assert add_links(logged_in.get("/conversations").get_data(as_text=True)) == []


def test_the_add_link_prefills_the_number_and_saving_goes_back(logged_in, helene_and_a_stranger):
    form = logged_in.get("/contacts/new?number=%2B33798765432&next=%2Fconversations").get_data(as_text=True)
    assert 'value="+33798765432"' in form and 'href="/conversations">Cancel' in form
    typed_nationally = logged_in.get("/contacts/new?number=07%2098%2076%2054%2032").get_data(as_text=True)
    assert 'value="+33798765432"' in typed_nationally
    response = post_form(logged_in, "/contacts/new?number=%2B33798765432&next=%2Fconversations",
                         {"name": "Zoé", "number": "+33798765432"}, follow_redirects=True)
    assert response.request.path == "/conversations"
    assert shown_names(response.get_data(as_text=True)) == ["Zoé", "Hélène Dupont"]


@pytest.mark.parametrize("target", ["//evil.example/", "/\\evil.example", "https://evil.example/", "evil",
                                    "/\r\nLocation: x", ""])
def test_saving_never_goes_back_to_another_site(logged_in, target):
    response = post_form(logged_in, "/contacts/new", {"name": "Zoé", "number": "0798765432"},
                         action="/contacts/new?" + f"next={target}".replace("\\", "%5C").replace("\r\n", "%0D%0A"))
    assert response.status_code == 302 and response.headers["Location"] == "/contacts/"
    assert db.session.query(Contact).one().name == "Zoé"


def test_a_same_site_path_is_kept_with_its_arguments():
    assert same_site_path("/history?number=%2B33612345678") == "/history?number=%2B33612345678"
    assert same_site_path("/\\\\evil.example") is None and same_site_path("///evil.example") is None


def test_conversations_are_found_by_the_contacts_name_whatever_accents_and_case(logged_in, helene_and_a_stranger):
    def found(typed):
        return listed_numbers(logged_in.get("/conversations", query_string={"q": typed}).get_data(as_text=True))
    assert found("helene") == found("HÉLÈNE dup") == ["+33612345678"]
    assert found("qui êtes") == ["+33798765432"]  # the messages' words still
    assert found("martin") == []


def test_in_french(logged_in, helene_and_a_stranger):
    page = logged_in.get("/conversations/+33798765432", headers={"Accept-Language": "fr"}).get_data(as_text=True)
    assert "Ajouter aux contacts</a>" in page


def test_the_toast_of_a_new_sms_names_its_sender(logged_in, helene_and_a_stranger):
    from webapp.models import Phone
    phone = db.session.query(Phone).one()
    receive(phone, "+33612345678", "Merci !")
    senders = [sms["sender"] for sms in logged_in.get("/inbox?after=0").get_json()["incoming"]]
    assert senders == ["+33798765432", "Hélène Dupont (+33612345678)"]
