"""The phone forms take values as users paste them from their provider's console: surrounding and
invisible characters go, numbers become E.164, service names lower case; a form with an error keeps
the secrets typed, without showing them; and the add form says where to find each value."""
import re
import time

import pytest
from sqlalchemy import select

from webapp import providers
from webapp.crypto import seal_kept_secrets
from webapp.extensions import db
from webapp.models import Phone
from webapp.providers.base import Capability, Provider, SettingField
from webapp.services.phones import adapter_for

from .conftest import login, make_phone, make_user, post_form

TWILIO_SID = "AC" + "0123456789abcdef" * 2
TWILIO_TOKEN = "fedcba9876543210" * 2
OVH_SECRET = "9ufkBmLaTQ9nz5yMUlg79taH0GNnzDjk"
OVH_CONSUMER_KEY = "5mBuy6SUQcRw2ZUxg0cG68BoDKpED4KY"

# what a user pastes into each provider's add form -> what is stored (secrets included)
PASTED = {
    "twilio": (
        {"account_sid": f" \u200b{TWILIO_SID}\u00a0", "auth_token": f"  {TWILIO_TOKEN}\n",
         "number": "+33 7 57 00 00 00"},
        {"account_sid": TWILIO_SID, "auth_token": TWILIO_TOKEN, "number": "+33757000000"}),
    "octopush": (
        {"api_login": " ada@example.org\t", "api_key": "\ufeffk3y-0f-ada ", "virtual_number": "0644630000",
         "message_type": "sms_premium", "sender": ""},
        {"api_login": "ada@example.org", "api_key": "k3y-0f-ada", "virtual_number": "+33644630000"}),
    "ovh": (
        {"endpoint": "ovh-eu", "application_key": " TDPKJdwZwAQPwKX2 ", "application_secret": f"{OVH_SECRET}\u200b",
         "consumer_key": f"\u202f{OVH_CONSUMER_KEY}", "service_name": " SMS-AB12345-1 ",
         "virtual_number": "\u200e06\u00a012\u00a034\u00a056\u00a000 ", "sender": "", "inbound_mode": "push"},
        {"application_key": "TDPKJdwZwAQPwKX2", "application_secret": OVH_SECRET, "consumer_key": OVH_CONSUMER_KEY,
         "service_name": "sms-ab12345-1", "virtual_number": "+33612345600"}),
    "odyssey": (
        {"login": " 12345.ada ", "password": " pass word\u200b ", "sender": ""},
        {"login": "12345.ada", "password": "pass word"}),
    "netoxygen": (
        {"user": "\u00a0user33 ", "password": "\tmypass ", "sender": ""},
        {"user": "user33", "password": "mypass"}),
}


def form_data(values: dict, name="Pasted") -> dict:
    return {"name": name} | {f"setting_{key}": value for key, value in values.items()}


def kept_token(page: str) -> str:
    match = re.search(r'name="kept_secrets" type="hidden" value="([^"]*)"', page)
    assert match, "no kept_secrets field in the page"
    return match.group(1)


def only_phone() -> Phone:
    db.session.expire_all()
    return db.session.scalars(select(Phone)).one()


@pytest.mark.parametrize("provider_key", PASTED)
def test_values_pasted_from_the_console_are_stored_clean(logged_in, provider_key):
    typed, stored = PASTED[provider_key]
    response = post_form(logged_in, f"/phones/new/{provider_key}", form_data(typed))
    assert response.status_code == 302, response.get_data(as_text=True)
    settings = adapter_for(only_phone()).settings
    assert {name: settings[name] for name in stored} == stored


def test_a_number_in_national_form_is_stored_in_e164_when_editing_too(logged_in, user):
    phone = make_phone(user, provider_key="twilio", account_sid=TWILIO_SID, auth_token=TWILIO_TOKEN,
                       number="+33757000000")
    response = post_form(logged_in, f"/phones/{phone.id}/edit",
                         form_data({"account_sid": TWILIO_SID, "auth_token": "", "number": "07 57 00 00 01"}))
    assert response.status_code == 302
    assert only_phone().settings["number"] == "+33757000001"
    assert adapter_for(only_phone()).settings["auth_token"] == TWILIO_TOKEN


def test_a_number_that_cannot_be_is_refused_with_the_reason(logged_in):
    response = post_form(logged_in, "/phones/new/octopush", form_data(
        dict(PASTED["octopush"][0], virtual_number="06 44")))
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "06 44 is not a valid number: it has too few or too many digits." in page
    assert db.session.scalar(select(Phone)) is None


def test_a_form_with_an_error_keeps_the_secrets_typed_without_showing_them(logged_in):
    typed = dict(PASTED["ovh"][0], service_name="my service")  # the one wrong field
    response = post_form(logged_in, "/phones/new/ovh", form_data(typed))
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and "It looks like sms-ab12345-1." in page
    assert OVH_SECRET not in page and OVH_CONSUMER_KEY not in page
    assert page.count("Kept from your last try — leave blank to keep it.") == 2
    assert db.session.scalar(select(Phone)) is None

    # the user fixes the service name only: the secrets come from the last try
    fixed = dict(typed, service_name="sms-ab12345-1", application_secret="", consumer_key="")
    response = post_form(logged_in, "/phones/new/ovh", form_data(fixed) | {"kept_secrets": kept_token(page)})
    assert response.status_code == 302, response.get_data(as_text=True)
    settings = adapter_for(only_phone()).settings
    assert (settings["application_secret"], settings["consumer_key"]) == (OVH_SECRET, OVH_CONSUMER_KEY)


def test_secrets_stay_kept_over_several_tries_and_a_secret_typed_again_wins(logged_in):
    typed = {"account_sid": "AC123", "auth_token": TWILIO_TOKEN, "number": "+33757000000"}
    page = post_form(logged_in, "/phones/new/twilio", form_data(typed)).get_data(as_text=True)
    second = dict(typed, auth_token="", number="12")
    page = post_form(logged_in, "/phones/new/twilio",
                     form_data(second) | {"kept_secrets": kept_token(page)}).get_data(as_text=True)
    assert "An Account SID is AC followed by 32 letters and digits." in page and TWILIO_TOKEN not in page
    assert "Kept from your last try" in page
    retyped = "0" * 32
    fixed = dict(typed, account_sid=TWILIO_SID, auth_token=retyped)
    response = post_form(logged_in, "/phones/new/twilio", form_data(fixed) | {"kept_secrets": kept_token(page)})
    assert response.status_code == 302
    assert adapter_for(only_phone()).settings["auth_token"] == retyped


def test_a_secret_with_an_error_of_its_own_is_not_kept(logged_in):
    typed = {"account_sid": TWILIO_SID, "auth_token": "not hex", "number": "+33757000000"}
    page = post_form(logged_in, "/phones/new/twilio", form_data(typed)).get_data(as_text=True)
    assert "An Auth Token has 32 letters and digits." in page
    assert "Kept from your last try" not in page and kept_token(page) == ""


def refused_kept_secret(client, token: str) -> str:
    """Posts the Twilio add form with the Auth Token left blank and `token` as the kept secrets."""
    response = post_form(client, "/phones/new/twilio", form_data(
        {"account_sid": TWILIO_SID, "auth_token": "", "number": "+33757000000"}) | {"kept_secrets": token})
    assert response.status_code == 200
    assert db.session.scalar(select(Phone)) is None
    return response.get_data(as_text=True)


def test_kept_secrets_of_another_user_are_refused(app, logged_in):
    page = post_form(logged_in, "/phones/new/twilio", form_data(
        {"account_sid": "AC1", "auth_token": TWILIO_TOKEN, "number": "+33757000000"})).get_data(as_text=True)
    other = login(app.test_client(), make_user("bob@example.org"))
    assert "This field is required." in refused_kept_secret(other, kept_token(page))


def test_kept_secrets_that_expired_or_were_altered_are_refused(logged_in, user):
    owner = f"{user.id}/twilio/new"
    expired = seal_kept_secrets({"auth_token": TWILIO_TOKEN}, owner, at_time=int(time.time()) - 16 * 60)
    assert "This field is required." in refused_kept_secret(logged_in, expired)
    fresh = seal_kept_secrets({"auth_token": TWILIO_TOKEN}, owner)
    assert "This field is required." in refused_kept_secret(logged_in, fresh[:-6] + "AAAAAA")
    assert "This field is required." in refused_kept_secret(logged_in, "not a token")


def test_kept_secrets_of_another_provider_are_refused(logged_in, user):
    token = seal_kept_secrets({"auth_token": TWILIO_TOKEN}, f"{user.id}/octopush/new")
    assert "This field is required." in refused_kept_secret(logged_in, token)


def test_kept_secrets_of_another_phone_are_refused(logged_in, user):
    first = make_phone(user, provider_key="twilio", name="First", account_sid=TWILIO_SID, auth_token="1" * 32,
                       number="+33757000001")
    second = make_phone(user, provider_key="twilio", name="Second", account_sid=TWILIO_SID, auth_token="2" * 32,
                        number="+33757000002")
    wrong = {"account_sid": "AC1", "auth_token": "3" * 32, "number": "+33757000001"}
    page = post_form(logged_in, f"/phones/{first.id}/edit", form_data(wrong, "First")).get_data(as_text=True)
    assert "3" * 32 not in page and "Kept from your last try" in page

    # the kept token, replayed on the second phone's form, leaves its saved token as it was
    blank = {"account_sid": TWILIO_SID, "auth_token": "", "number": "+33757000002"}
    response = post_form(logged_in, f"/phones/{second.id}/edit",
                         form_data(blank, "Second") | {"kept_secrets": kept_token(page)})
    assert response.status_code == 302
    db.session.expire_all()
    assert adapter_for(db.session.get(Phone, second.id)).settings["auth_token"] == "2" * 32
    # and on the first phone's form, it gives the token typed there
    response = post_form(logged_in, f"/phones/{first.id}/edit",
                         form_data(blank | {"number": "+33757000001"}, "First") | {"kept_secrets": kept_token(page)})
    assert response.status_code == 302
    assert adapter_for(db.session.get(Phone, first.id)).settings["auth_token"] == "3" * 32


# the console pages the guides in specs/seeds/ name, for each provider's add form
CONSOLE_PAGES = {
    "twilio": ("https://www.twilio.com/try-twilio", "https://www.twilio.com/console",
               "https://www.twilio.com/console/phone-numbers/incoming"),
    "octopush": ("https://www.octopush.com/", "https://www.octopush-dm.com/api-logins"),
    "ovh": ("https://www.ovhtelecom.fr/sms/reponse/numeros-virtuels.xml", "https://www.ovhtelecom.fr/manager/#/sms/",
            "https://eu.api.ovh.com/createToken/index.cgi?GET=/sms&amp;GET=/sms/*&amp;POST=/sms/*&amp;PUT=/sms/*"
            "&amp;DELETE=/sms/*&amp;"),
    "odyssey": ("https://www.odyssey-messaging.com/",),
    "netoxygen": ("https://netoxygen.ch/support/faqs/", "mailto:support@netoxygen.ch"),
}


@pytest.mark.parametrize("provider_key", CONSOLE_PAGES)
def test_the_add_form_says_where_to_find_each_value(logged_in, provider_key):
    page = logged_in.get(f"/phones/new/{provider_key}").get_data(as_text=True)
    assert "Where to find each value" in page
    for url in CONSOLE_PAGES[provider_key]:
        assert f'href="{url}" target="_blank" rel="noopener noreferrer"' in page


def test_the_simulator_form_has_nothing_to_find(logged_in):
    assert "Where to find each value" not in logged_in.get("/phones/new/simulator").get_data(as_text=True)


def test_a_french_reader_gets_the_steps_and_the_kept_note_in_french(logged_in):
    french = {"Accept-Language": "fr"}
    page = logged_in.get("/phones/new/twilio", headers=french).get_data(as_text=True)
    assert "Où trouver chaque valeur" in page and "Console Twilio" in page
    response = post_form(logged_in, "/phones/new/twilio", form_data(
        {"account_sid": "AC1", "auth_token": TWILIO_TOKEN, "number": "+33757000000"}), headers=french)
    assert "Gardé de votre dernier essai — laissez vide pour le garder." in response.get_data(as_text=True)


class SenderProvider(Provider):
    """A provider whose sender is a name or a number, as OVH's or NetOxygen's may be."""
    key = "sender-test"
    name = "Sender test"
    fields = (SettingField("sender", "Sender", kind="sender", required=False),)
    capabilities = frozenset({Capability.SEND})


@pytest.mark.parametrize("typed, stored", [
    (" 06 12 34 56 78\u00a0", "+33612345678"), ("+41 22 364 8000", "+41223648000"),
    ("36180", "36180"),  # a short code, no phone number: kept for the field's pattern to judge
    ("\u200bMy Shop ", "My Shop"), ("textobox.ch", "textobox.ch")])
def test_a_sender_is_a_number_in_e164_or_a_name_as_typed(logged_in, monkeypatch, typed, stored):
    monkeypatch.setitem(providers.PROVIDERS, SenderProvider.key, SenderProvider)
    response = post_form(logged_in, "/phones/new/sender-test", {"name": "Sender", "setting_sender": typed})
    assert response.status_code == 302
    assert only_phone().settings["sender"] == stored
