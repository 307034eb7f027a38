"""A text longer than the chosen phone's provider accepts is refused, in the compose form and in a
conversation's reply form, with the provider's limit named; it is never cut, and nothing is queued.
The counter under the text area gets each of the user's phones' limits and the counting rules."""
import html
import json
import re

import pytest
from sqlalchemy import func, select

from webapp.extensions import db
from webapp.models import Message
from webapp.providers import PROVIDERS
from webapp.sms_text import counter_rules

from .conftest import login, make_phone, make_user, post_form

# each adapter's declared limit (where each figure comes from: beside max_text_length in the adapter)
LIMITS = {"twilio": 1600, "octopush": 1224, "ovh": 1224, "odyssey": 1224, "netoxygen": 1224, "simulator": 1600}
COMPANIES = {"twilio": "Twilio", "octopush": "Octopush", "ovh": "OVH", "odyssey": "Odyssey",
             "netoxygen": "NetOxygen", "simulator": "the SMS Desk simulator"}
NUMBER = "+33612345678"


def compose(client, phone, body):
    return post_form(client, "/compose", {"phone_id": phone.id, "numbers": "06 12 34 56 78", "body": body})


def reply(client, phone, body):
    return post_form(client, f"/conversations/{NUMBER}", {"phone_id": phone.id, "body": body})


def page_of(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def messages_queued() -> int:
    return db.session.scalar(select(func.count(Message.id)))


def test_every_adapter_declares_the_longest_text_its_provider_accepts():
    assert {key: provider.max_text_length for key, provider in PROVIDERS.items()} == LIMITS


@pytest.mark.parametrize("send", [compose, reply], ids=["compose", "reply"])
@pytest.mark.parametrize("provider_key", LIMITS)
def test_a_text_one_character_too_long_is_refused_with_the_limit_named(logged_in, user, send, provider_key):
    phone = make_phone(user, provider_key=provider_key)
    limit = LIMITS[provider_key]
    too_long = "Rappel : " + "a" * (limit - 8)
    response = send(logged_in, phone, too_long)
    page = page_of(response)
    assert response.status_code == 200
    assert (f"This text counts {limit + 1:,} characters and {COMPANIES[provider_key]} accepts at most {limit:,}: "
            "shorten it by 1. SMS Desk never cuts a text.") in page
    assert too_long in page  # given back whole, to shorten
    assert messages_queued() == 0

    response = send(logged_in, phone, too_long[:-1])
    assert response.status_code == 302
    assert db.session.scalar(select(Message.body)) == too_long[:-1]


@pytest.mark.parametrize("send", [compose, reply], ids=["compose", "reply"])
def test_characters_that_count_two_count_two_against_the_limit(logged_in, user, send):
    phone = make_phone(user, provider_key="octopush")
    response = send(logged_in, phone, "€" * 613)  # 613 characters typed, 1,226 counted
    page = page_of(response)
    assert "This text counts 1,226 characters and Octopush accepts at most 1,224: shorten it by 2." in page
    assert "Some characters count two: € [ ] { } ^ ~ \\ | and emoji." in page
    assert messages_queued() == 0
    assert send(logged_in, phone, "€" * 612).status_code == 302


def test_the_limit_is_that_of_the_phone_chosen(logged_in, user):
    twilio = make_phone(user, provider_key="twilio", name="Twilio")
    ovh = make_phone(user, provider_key="ovh", name="OVH")
    text = "x" * 1300
    assert "OVH accepts at most 1,224" in page_of(compose(logged_in, ovh, text))
    assert compose(logged_in, twilio, text).status_code == 302


def test_the_refusal_is_in_french_for_a_french_reader(app, client, user):
    login(client, user, headers={"Accept-Language": "fr"})
    phone = make_phone(user, provider_key="octopush")
    response = post_form(client, "/compose", {"phone_id": phone.id, "numbers": "0612345678", "body": "é" * 1225},
                         headers={"Accept-Language": "fr"})
    page = page_of(response)
    assert re.search(r"Ce texte compte 1\s225 caractères et Octopush en accepte au plus 1\s224 : "
                     r"raccourcissez-le de 1\. SMS Desk ne coupe jamais un texte\.", page), page


def test_the_counter_gets_the_limit_of_each_phone_of_the_user_only(logged_in, user):
    twilio = make_phone(user, provider_key="twilio", name="Twilio")
    ovh = make_phone(user, provider_key="ovh", name="OVH")
    make_phone(make_user("bob@example.org"), provider_key="octopush", name="Bob's")
    for url in ("/compose", f"/conversations/{NUMBER}"):
        page = logged_in.get(url).get_data(as_text=True)
        limits = json.loads(html.unescape(re.search(r'data-limits="([^"]*)"', page).group(1)))
        assert limits == {str(twilio.id): {"limit": 1600, "provider": "Twilio"},
                          str(ovh.id): {"limit": 1224, "provider": "OVH"}}
        rules_url = html.unescape(re.search(r'data-rules-url="([^"]*)"', page).group(1))
    response = logged_in.get(rules_url)
    assert response.get_json() == json.loads(json.dumps(counter_rules()))
    assert response.cache_control.max_age == 365 * 24 * 3600  # the URL changes with the rules
