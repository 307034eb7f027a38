"""A newcomer's first visit, end to end, in Debian's chromium.

SMS Desk is started the way the README says (`python -m webapp.launcher`: embedded broker,
migrations, gunicorn and a worker), then driven by clicking and typing as a person would.
A full-page screenshot of each step is written to tests/screenshots/ (git-ignored).
"""
import re

import pytest

from .browser_support import CHROMIUM

if not CHROMIUM.exists():
    pytest.skip("Debian's chromium is not installed (apt-get install chromium)", allow_module_level=True)

from playwright.sync_api import expect  # noqa: E402

from .browser_support import (  # noqa: E402
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    PROJECT_ROOT,
    SCREENSHOTS,
    Screenshots,
    browser,  # noqa: F401 (a fixture)
    record_page_errors,
    running_sms_desk,
)

pytestmark = pytest.mark.browser

FRENCH_CATALOG = PROJECT_ROOT / "webapp" / "translations" / "fr" / "LC_MESSAGES" / "messages.mo"

TYPED_NUMBER = "06 12 34 56 78"
NUMBER = "+33612345678"
SENT_TEXT = "Hello! Lunch at 1 pm costs 12 €, see you there."
REPLY_TEXT = "See you at one, I will bring the change."


@pytest.fixture
def sms_desk(tmp_path):
    """SMS Desk started by its real run command, with all of its processes, on a fresh instance
    folder; yields its base URL."""
    with running_sms_desk(tmp_path, all_processes=True) as base_url:
        yield base_url


@pytest.mark.browser
def test_a_newcomer_sends_and_receives_an_sms(sms_desk, browser):
    context = browser.new_context(locale="en-US", base_url=sms_desk, viewport={"width": 1280, "height": 900})
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=sms_desk)
    context.set_default_timeout(10_000)
    page = context.new_page()
    errors = record_page_errors(page)
    shot = Screenshots(page)

    # 1. The first visit asks for the administrator.
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/setup$"))
    expect(page.get_by_role("heading", name="Welcome to SMS Desk")).to_be_visible()
    page.get_by_label("E-mail").fill(ADMIN_EMAIL)
    page.get_by_label("Password", exact=True).fill(ADMIN_PASSWORD)
    page.get_by_label("Password again").fill(ADMIN_PASSWORD)
    shot.take("setup")
    page.get_by_role("button", name="Create the administrator").click()

    # 2. Then straight to "Add a phone": the Simulator needs no provider account.
    expect(page.get_by_role("heading", name="Add a phone")).to_be_visible()
    expect(page.get_by_role("navigation")).to_contain_text("New SMS")
    shot.take("choose-provider")
    page.locator("a.card.provider", has=page.get_by_role("heading", name="Simulator", exact=True)).click()
    expect(page.get_by_role("heading", name="New phone: Simulator")).to_be_visible()
    expect(page.get_by_label("Name")).to_have_value("Simulator")
    page.get_by_label("Delivery delay (seconds)").fill("1")
    shot.take("phone-form")
    page.get_by_role("button", name="Save").click()

    # 3. The phone's page: its callback URLs, copyable, and a connection test.
    expect(page).to_have_url(re.compile(r"/phones/\d+$"))
    expect(page.get_by_role("heading", name="Callback URLs")).to_be_visible()
    expect(page.locator(".flash.success")).to_contain_text("added")
    status_url = page.locator("#url-status").input_value()
    inbound_url = page.locator("#url-inbound").input_value()
    assert status_url.startswith(sms_desk + "/callbacks/") and status_url.endswith("/status"), status_url
    assert inbound_url.startswith(sms_desk + "/callbacks/") and inbound_url.endswith("/inbound"), inbound_url
    phone_url = page.url
    copy_button = page.locator("button[data-copy='url-status']")
    copy_button.click()
    expect(page.get_by_role("status").filter(has_text="Copied")).to_have_count(1)  # what a screen reader hears
    expect(copy_button).to_have_accessible_name("Copy")  # the button keeps its name
    assert page.evaluate("navigator.clipboard.readText()") == status_url
    page.get_by_role("button", name="Test the connection").click()
    connection = page.locator("#connection")
    expect(connection).to_contain_text("The simulator is always reachable.", timeout=15_000)
    expect(connection.locator(".ok")).to_be_visible()
    shot.take("phone")

    # 4. A new SMS, with its live cost.
    page.get_by_role("navigation").get_by_role("link", name="New SMS").click()
    expect(page.get_by_role("heading", name="New SMS")).to_be_visible()
    page.get_by_label("Send from").select_option(label="Simulator")
    page.get_by_label("To", exact=True).fill(TYPED_NUMBER)
    message_box = page.get_by_label("Message")
    counter = page.locator("[data-sms-counter]")
    message_box.press_sequentially("Hello")
    expect(counter).to_have_text("5 / 1,600 characters · 1 SMS")
    message_box.press_sequentially(" €")
    expect(counter).to_have_text("8 / 1,600 characters · 1 SMS")  # the euro sign costs two
    expect(page.get_by_text("€ counts as two characters.")).to_be_visible()
    message_box.fill(SENT_TEXT)
    expect(counter).to_have_text(f"{len(SENT_TEXT) + 1} / 1,600 characters · 1 SMS")
    shot.take("compose")
    page.get_by_role("button", name="Send", exact=True).click()

    # 5. The message page follows the SMS to "delivered" by itself.
    expect(page).to_have_url(re.compile(r"/messages/\d+$"))
    expect(page.get_by_role("heading", name=f"SMS to {NUMBER}")).to_be_visible()
    shot.take("message-queued")
    expect(page.locator(".facts [data-status-badge]")).to_have_text("delivered", timeout=30_000)
    expect(page.locator(".timeline li strong")).to_have_text(["queued", "sending", "sent", "delivered"],
                                                             timeout=10_000)
    expect(page.get_by_role("button", name="Cancel this SMS")).to_be_hidden()  # too late to cancel
    shot.take("message-delivered")

    # 6. A reply, simulated from the phone's page, shows up in the conversation by itself.
    page.get_by_role("navigation").get_by_role("link", name="Phones").click()
    expect(page.get_by_role("heading", name="Phones")).to_be_visible()
    expect(page.locator("table")).to_contain_text("works")
    shot.take("phones")
    page.get_by_role("table").get_by_role("link", name="Simulator").click()
    expect(page).to_have_url(phone_url)
    simulate = page.locator("#simulate")
    simulate.get_by_label("From").fill(NUMBER)
    simulate.get_by_label("Text").fill(REPLY_TEXT)
    simulate.get_by_role("button", name="Simulate an incoming SMS").click()
    expect(page.get_by_role("heading", name=f"Conversation with {NUMBER}")).to_be_visible()
    thread = page.locator(".thread")
    expect(thread.locator(".bubble.out .bubble-text")).to_have_text(SENT_TEXT)
    expect(thread.locator(".bubble.out .ticks")).to_contain_text("✓✓")
    expect(thread.locator(".bubble.in .bubble-text")).to_have_text(REPLY_TEXT, timeout=20_000)
    shot.take("conversation")

    # 7. The history lists both.
    page.get_by_role("navigation").get_by_role("link", name="History").click()
    expect(page.get_by_role("heading", name="History")).to_be_visible()
    rows = page.locator("tbody[data-rows] tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text(REPLY_TEXT[:40])
    expect(rows.nth(0)).to_contain_text("received")
    expect(rows.nth(1)).to_contain_text(SENT_TEXT[:40])
    expect(rows.nth(1)).to_contain_text("delivered")
    shot.take("history")

    assert errors == [], errors
    context.close()


@pytest.mark.browser
def test_a_french_browser_is_welcomed_in_french(sms_desk, browser):
    if not FRENCH_CATALOG.exists():
        pytest.skip("the French translation is not compiled (webapp/translations/fr/LC_MESSAGES/messages.mo)")
    context = browser.new_context(locale="fr-FR", base_url=sms_desk)
    page = context.new_page()
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/setup$"))
    expect(page.locator("html")).to_have_attribute("lang", "fr")
    expect(page).to_have_title("Bienvenue · SMS Desk")
    page.screenshot(path=SCREENSHOTS / "fr-setup.png", full_page=True)
    context.close()
