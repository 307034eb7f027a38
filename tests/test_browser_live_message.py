"""A message's page follows what becomes of the SMS while it is open: a failure reported after the
page was shown brings its reason, the provider's id and a banner saying so, without a reload."""
import re

import pytest

from .browser_support import CHROMIUM

if not CHROMIUM.exists():
    pytest.skip("Debian's chromium is not installed (apt-get install chromium)", allow_module_level=True)

from playwright.sync_api import expect  # noqa: E402

from .browser_support import (  # noqa: E402
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    Screenshots,
    browser,  # noqa: F401 (a fixture)
    record_page_errors,
    running_sms_desk,
)

pytestmark = pytest.mark.browser

FAILURE = "The handset could not be reached (simulated)."


def test_a_failure_reported_while_the_message_page_is_open_shows_its_reason_and_replaces_the_banner(
        tmp_path, browser):
    with running_sms_desk(tmp_path) as base_url:
        context = browser.new_context(locale="en-US", base_url=base_url, viewport={"width": 390, "height": 844})
        context.set_default_timeout(15_000)
        page = context.new_page()
        errors = record_page_errors(page)
        shot = Screenshots(page, "live-message-")

        page.goto("/")
        page.get_by_label("E-mail").fill(ADMIN_EMAIL)
        page.get_by_label("Password", exact=True).fill(ADMIN_PASSWORD)
        page.get_by_label("Password again").fill(ADMIN_PASSWORD)
        page.get_by_role("button", name="Create the administrator").click()
        page.locator("a.card.provider", has=page.get_by_role("heading", name="Simulator", exact=True)).click()
        page.get_by_label("Delivery delay (seconds)").fill("4")
        page.get_by_label("Fail numbers ending with").fill("8")
        page.get_by_role("button", name="Save").click()
        expect(page).to_have_url(re.compile(r"/phones/\d+$"))

        page.goto("/compose")
        page.get_by_label("To", exact=True).fill("06 12 34 56 78")
        page.get_by_label("Message").fill("See you at noon")
        page.get_by_role("button", name="Send", exact=True).click()

        expect(page).to_have_url(re.compile(r"/messages/\d+$"))
        banner = page.locator(".flash")
        expect(banner).to_have_text("Your SMS is on its way.")
        facts = page.locator(".facts")
        expect(facts).not_to_contain_text("Reason")
        page.evaluate("window.notReloaded = true")
        shot.take("on-its-way")

        expect(facts.locator("[data-status-badge]")).to_have_text("failed", timeout=30_000)
        expect(facts).to_contain_text(f"Reason{FAILURE}")
        expect(facts).to_contain_text(re.compile(r"Provider id\S+"))
        expect(banner).to_have_text(f"Your SMS was not sent: {FAILURE}")
        expect(banner).to_have_attribute("role", "status")  # said by a screen reader, politely
        expect(banner).to_have_class(re.compile(r"\berror\b"))
        expect(page.get_by_text("Your SMS is on its way.")).to_have_count(0)
        expect(page.get_by_role("button", name="Send again")).to_be_visible()
        expect(page.locator(".timeline")).to_contain_text(FAILURE)
        assert page.evaluate("window.notReloaded") is True
        shot.take("failed")
        assert errors == []
        context.close()


def test_a_status_change_on_the_history_and_a_conversation_is_said_by_the_polite_live_region(tmp_path, browser):
    with running_sms_desk(tmp_path) as base_url:
        context = browser.new_context(locale="en-US", base_url=base_url, viewport={"width": 390, "height": 844})
        context.set_default_timeout(15_000)
        page = context.new_page()
        errors = record_page_errors(page)
        page.goto("/")
        page.get_by_label("E-mail").fill(ADMIN_EMAIL)
        page.get_by_label("Password", exact=True).fill(ADMIN_PASSWORD)
        page.get_by_label("Password again").fill(ADMIN_PASSWORD)
        page.get_by_role("button", name="Create the administrator").click()
        page.locator("a.card.provider", has=page.get_by_role("heading", name="Simulator", exact=True)).click()
        page.get_by_label("Delivery delay (seconds)").fill("4")
        page.get_by_role("button", name="Save").click()
        expect(page).to_have_url(re.compile(r"/phones/\d+$"))
        announcer = page.locator("[data-announcer]")
        expect(announcer).to_have_attribute("role", "status")  # polite: said once the reader is done speaking

        for number, page_shown, said in (("+33612345679", "/history", "SMS to +33612345679: delivered"),
                                         ("+33612345677", "/conversations/+33612345677", "Status: delivered")):
            page.goto("/compose")
            page.get_by_label("To", exact=True).fill(number)
            page.get_by_label("Message").fill("À demain, 9 h")
            page.get_by_role("button", name="Send", exact=True).click()
            expect(page).to_have_url(re.compile(r"/messages/\d+$"))
            page.goto(page_shown)
            expect(announcer).to_be_empty()  # nothing said on arriving
            expect(announcer).to_have_text(said, timeout=30_000)
        assert errors == []
        context.close()
