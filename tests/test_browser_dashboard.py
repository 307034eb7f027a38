"""The dashboard of a newcomer, in Debian's chromium: first the next step (add a phone, with the
simulator to try it; then send a first SMS), then, once SMS go and come, the unread conversation
and the failure appear by themselves, and a count opens the history of its messages.
Screenshots at desktop width and at 390 px, in English and French."""
import re

import pytest
import requests

from .browser_support import CHROMIUM

if not CHROMIUM.exists():
    pytest.skip("Debian's chromium is not installed (apt-get install chromium)", allow_module_level=True)

from playwright.sync_api import expect  # noqa: E402

from .browser_support import (  # noqa: E402
    Screenshots,
    browser,  # noqa: F401 (a fixture)
    confirm_the_sending,
    create_administrator,
    open_page,  # noqa: F401 (a fixture)
    record_page_errors,
    running_sms_desk,
)

pytestmark = pytest.mark.browser

FAILING, ANSWERING = "+33612345679", "+33612345678"


def at_both_widths(page, shot, name):
    shot.take(f"{name}-desktop")
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("document.documentElement.scrollWidth") <= 390, name
    shot.take(f"{name}-390")
    page.set_viewport_size({"width": 1280, "height": 900})


def test_a_newcomers_dashboard_leads_to_the_first_sms_then_shows_what_to_act_on(tmp_path, browser, open_page):  # noqa: F811
    with running_sms_desk(tmp_path) as base_url:
        page = open_page(base_url)
        errors = record_page_errors(page)
        shot = Screenshots(page, prefix="dashboard-")
        create_administrator(page)

        page.goto("/")
        expect(page.get_by_role("heading", name="Add your first phone")).to_be_visible()
        expect(page.locator("[data-count]")).to_have_count(0)
        at_both_widths(page, shot, "add-a-phone")

        page.get_by_role("link", name="Try it with the simulator").click()
        page.get_by_label("Fail numbers ending with").fill("9")
        page.get_by_role("button", name="Save").click()
        inbound_url = page.locator("#url-inbound").input_value()
        page.goto("/")
        expect(page.get_by_role("heading", name="Send your first SMS")).to_be_visible()
        at_both_widths(page, shot, "send-a-first-sms")

        page.get_by_role("link", name="Send your first SMS").last.click()
        page.get_by_label("To").fill("06 12 34 56 79, 06 12 34 56 78")
        page.get_by_label("Message").fill("Rappel : réunion des parents jeudi à 18 h.")
        page.get_by_role("button", name="Send", exact=True).click()
        confirm_the_sending(page)
        page.goto("/")
        expect(page.get_by_role("heading", name="Send your first SMS")).to_be_hidden()

        # the reply and the failure come while the dashboard is open: it shows them by itself
        answer = requests.post(inbound_url, data={"message_id": "SIMIN-1", "from": ANSWERING,
                                                  "text": "Bien reçu, je serai là."}, timeout=10)
        assert answer.status_code == 200
        unread = page.locator(".dashboard-unread [data-conversation]")
        expect(unread).to_contain_text("Bien reçu", timeout=15_000)
        failure = page.locator(".dashboard-failures [data-failure]")
        expect(failure).to_contain_text("could not be reached", timeout=15_000)
        expect(failure).to_contain_text(FAILING)
        headings = page.locator(".card h2").all_inner_texts()
        assert headings.index("Unread conversations") < headings.index("Recent failures") < headings.index("Today")
        at_both_widths(page, shot, "to-act-on")

        page.locator('[data-count="today-failed"]').click()
        expect(page).to_have_url(re.compile(r"/history\?status=failed&"))
        expect(page.locator("main")).to_contain_text(FAILING)
        expect(page.locator("main")).not_to_contain_text(ANSWERING)
        shot.take("failed-today-history")

        page.goto("/account")
        page.get_by_label("Language").select_option("fr")
        page.get_by_role("button", name="Save").click()
        page.goto("/")
        expect(page.get_by_role("heading", name="Conversations non lues")).to_be_visible()
        expect(page.get_by_role("heading", name="Échecs récents")).to_be_visible()
        expect(failure).to_contain_text("injoignable")
        at_both_widths(page, shot, "to-act-on-fr")

        page.locator(".dashboard-unread a").first.click()
        expect(page).to_have_url(re.compile(r"/conversations/%2B33612345678$|/conversations/\+33612345678$"))
        page.goto("/")
        expect(page.locator(".dashboard-unread")).to_have_count(0)
        assert errors == []
