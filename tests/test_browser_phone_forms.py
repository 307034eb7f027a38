"""Adding each provider's phone in Debian's chromium with values as they come from the consoles:
spaces around them, invisible characters, numbers in national form or with spaces, an OVH service
name in capitals. Each form is saved in one go; the phone's settings (read in the database and
on the edit form) are the clean values, the connection test against the provider's fake
(tests/fakes/), which knows only the exact credentials, passes, and an SMS sent by the worker
from a Twilio or OVH number reaches the fake from the number in E.164. Then a form with one wrong field:
the user fixes only that field and saves without typing the secrets again.
Screenshots go to tests/screenshots/ (git-ignored), named forms-NN-….
"""
import json
import re
import sqlite3
from dataclasses import dataclass
from typing import Callable

import pytest

from .browser_support import CHROMIUM

if not CHROMIUM.exists():
    pytest.skip("Debian's chromium is not installed (apt-get install chromium)", allow_module_level=True)

from playwright.sync_api import expect  # noqa: E402

from .browser_support import (  # noqa: E402
    Screenshots,
    browser,  # noqa: F401 (a fixture)
    choose_provider,
    create_administrator,
    open_page,  # noqa: F401 (a fixture)
    record_page_errors,
    running_sms_desk,
)
from .conftest import wait_for  # noqa: E402
from .fakes.netoxygen import FakeNetOxygen  # noqa: E402
from .fakes.octopush import FakeOctopush  # noqa: E402
from .fakes.odyssey import FakeOdyssey  # noqa: E402
from .fakes.ovh import FakeOvh  # noqa: E402
from .fakes.twilio import FakeTwilio  # noqa: E402
from .test_browser_providers import send_sms  # noqa: E402

pytestmark = pytest.mark.browser

OVH_KEYS = {"app_key": "TDPKJdwZwAQPwKX2", "app_secret": "9ufkBmLaTQ9nz5yMUlg79taH0GNnzDjk",
            "consumer_key": "5mBuy6SUQcRw2ZUxg0cG68BoDKpED4KY"}
NBSP, ZERO_WIDTH, NARROW_NBSP, BOM = "\u00a0", "\u200b", "\u202f", "\ufeff"


@dataclass
class Pasted:
    """One provider's add form as a user fills it from the console, and what SMS Desk keeps."""
    provider: str  # its name on the "Add a phone" page
    typed: dict  # field label -> what is pasted
    stored: dict  # setting -> what the database holds (not secrets)
    connection_ok: str  # the connection test's sentence once the fake accepted the credentials
    sent_as: Callable | None = None  # fakes -> whether an SMS reached the fake as the stored settings say


@pytest.fixture
def fakes():
    with FakeTwilio(numbers=("+33757000000",)) as twilio, FakeOvh(**OVH_KEYS) as ovh, \
            FakeOctopush() as octopush, FakeOdyssey() as odyssey, FakeNetOxygen() as netoxygen:
        yield {"twilio": twilio, "ovh": ovh, "octopush": octopush, "odyssey": odyssey, "netoxygen": netoxygen}


def pasted_forms(fakes) -> list[Pasted]:
    twilio, ovh, octopush, odyssey, netoxygen = (fakes[key] for key in
                                                 ("twilio", "ovh", "octopush", "odyssey", "netoxygen"))
    return [
        Pasted("Twilio virtual number",
               {"Account SID": f" {twilio.account_sid}{NBSP}", "Auth Token": f"{ZERO_WIDTH}{twilio.auth_token} ",
                "Sender": " +33 7 57 00 00 00 "},
               {"account_sid": twilio.account_sid, "number": "+33757000000"},
               "Twilio accepted the credentials of the account “SMS Desk test account” (active).",
               lambda fakes: fakes["twilio"].last_message and fakes["twilio"].last_message.params["From"]
               == "+33757000000"),
        Pasted("OVH SMS",
               {"Application Key": f"{OVH_KEYS['app_key']} ", "Application Secret": f" {OVH_KEYS['app_secret']}",
                "Consumer Key": f"{NARROW_NBSP}{OVH_KEYS['consumer_key']}\t", "Service name": " SMS-AB12345-1 ",
                "Virtual number": f"06{NBSP}12{NBSP}34{NBSP}56{NBSP}00"},
               {"application_key": OVH_KEYS["app_key"], "service_name": "sms-ab12345-1",
                "virtual_number": "+33612345600"},
               "OVH accepted the API keys for sms-ab12345-1",
               lambda fakes: [send.path for send in fakes["ovh"].sends()]
               == ["/1.0/sms/sms-ab12345-1/virtualNumbers/0033612345600/jobs"]),
        Pasted("Octopush virtual number",
               {"Octopush login": f" {octopush.api_login} ", "API key": f"{BOM}{octopush.api_key}{NBSP}",
                "Virtual number": "0644630000"},
               {"api_login": octopush.api_login, "virtual_number": "+33644630000"},
               "Octopush accepted the login and the API key."),
        Pasted("Odyssey Messaging",
               {"Odyssey login": f"{odyssey.login}{NBSP}", "Password": f" {odyssey.password}{ZERO_WIDTH}"},
               {"login": odyssey.login},
               "Odyssey accepted the login and the password."),
        Pasted("NetOxygen SMS gateway",
               {"User": f" {netoxygen.user}", "Password": f"{netoxygen.password} "},
               {"user": netoxygen.user},
               "The NetOxygen gateway accepted the user and the password."),
    ]


def fake_addresses(fakes) -> dict:
    return {"TWILIO_API_BASE_URL": fakes["twilio"].base_url, "OVH_API_BASE_URL": fakes["ovh"].base_url,
            "OCTOPUSH_API_BASE_URL": fakes["octopush"].base_url, "ODYSSEY_API_BASE_URL": fakes["odyssey"].base_url,
            "NETOXYGEN_API_URL": fakes["netoxygen"].base_url}


def stored_settings(tmp_path, phone_id: int) -> dict:
    with sqlite3.connect(tmp_path / "instance" / "smsdesk.sqlite") as database:
        (settings,) = database.execute("SELECT settings FROM phones WHERE id = ?", (phone_id,)).fetchone()
    return json.loads(settings)


def open_add_form(page, provider: str) -> None:
    page.goto("/phones/new")
    choose_provider(page, provider)
    expect(page.get_by_role("heading", name="Where to find each value")).to_be_visible()


def saved_phone_id(page, provider: str) -> int:
    expect(page).to_have_url(re.compile(r"/phones/\d+$"))
    expect(page.locator(".flash.success")).to_contain_text("added")
    expect(page.get_by_role("heading", name=provider)).to_be_visible()
    return int(page.url.rsplit("/", 1)[1])


def expect_connection_ok(page, sentence: str) -> None:
    page.get_by_role("button", name="Test the connection").click()
    expect(page.locator("#connection .ok")).to_contain_text(sentence, timeout=15_000)


@pytest.mark.browser
def test_each_providers_form_takes_values_as_pasted_from_the_console(tmp_path, fakes, open_page):
    with running_sms_desk(tmp_path, **fake_addresses(fakes)) as base_url:
        page = open_page(base_url)
        errors = record_page_errors(page)
        shot = Screenshots(page, "forms-")
        create_administrator(page)
        for form in pasted_forms(fakes):
            open_add_form(page, form.provider)
            for label, value in form.typed.items():
                page.get_by_label(label, exact=True).fill(value)
            page.get_by_role("button", name="Save").click()
            phone_id = saved_phone_id(page, form.provider)

            settings = stored_settings(tmp_path, phone_id)
            assert {name: settings[name] for name in form.stored} == form.stored, form.provider
            expect_connection_ok(page, form.connection_ok)  # the fake knows only the exact secrets
            if form.sent_as:  # through the worker, from the number (and service) as stored
                send_sms(page, form.provider, f"Pasted into the {form.provider} form")
                wait_for(lambda: form.sent_as(fakes), timeout=20, message=f"an SMS at the {form.provider} fake")
                page.goto(f"/phones/{phone_id}")
            page.get_by_role("link", name="Edit settings").click()
            for name, value in form.stored.items():
                expect(page.locator(f"#setting_{name}")).to_have_value(value)
            shot.take(f"{form.provider.split()[0].lower()}-saved")
        assert errors == [], errors


@pytest.mark.browser
def test_a_wrong_field_is_fixed_alone_and_the_secrets_typed_are_kept(tmp_path, fakes, open_page):
    ovh = next(form for form in pasted_forms(fakes) if form.provider == "OVH SMS")
    with running_sms_desk(tmp_path, **fake_addresses(fakes)) as base_url:
        page = open_page(base_url)
        shot = Screenshots(page, "forms-")
        create_administrator(page)
        open_add_form(page, ovh.provider)
        steps = page.locator("#credential-steps")
        expect(steps.get_by_role("link", name="Create the API keys (OVH Europe)")).to_have_attribute(
            "href", re.compile(r"^https://eu\.api\.ovh\.com/createToken/"))
        expect(steps.get_by_role("link", name="OVH Control Panel: SMS")).to_have_attribute(
            "href", "https://www.ovhtelecom.fr/manager/#/sms/")
        for label, value in ovh.typed.items():
            page.get_by_label(label, exact=True).fill(value)
        page.get_by_label("Service name", exact=True).fill("my SMS offer")  # the wrong field
        page.screenshot(path="/tmp/forms-ovh-add-form.png", full_page=True)
        page.get_by_role("button", name="Save").click()

        # shown again: the error under the service name, the secrets kept but not in the page
        expect(page.locator(".field.has-error")).to_contain_text("It looks like sms-ab12345-1.")
        for label in ("Application Secret", "Consumer Key"):
            secret = page.get_by_label(label, exact=True)
            expect(secret).to_have_value("")
            expect(page.locator(".field", has=secret)).to_contain_text(
                "Kept from your last try — leave blank to keep it.")
        html = page.content()
        assert OVH_KEYS["app_secret"] not in html and OVH_KEYS["consumer_key"] not in html
        expect(page.get_by_label("Application Key", exact=True)).to_have_value(OVH_KEYS["app_key"])
        shot.take("ovh-kept-secrets")
        page.screenshot(path="/tmp/forms-ovh-kept-secrets.png", full_page=True)

        page.get_by_label("Service name", exact=True).fill("sms-ab12345-1")
        page.get_by_role("button", name="Save").click()
        phone_id = saved_phone_id(page, ovh.provider)
        assert stored_settings(tmp_path, phone_id)["service_name"] == "sms-ab12345-1"
        expect_connection_ok(page, ovh.connection_ok)  # signed with the secrets kept from the first try
