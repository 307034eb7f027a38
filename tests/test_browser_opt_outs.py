"""Opt-outs in Debian's chromium, on a phone-sized screen (390 px): a recipient's STOP, simulated
from the phone's page, puts the number on the opt-out list through the real worker; the list is
updated live while the STOP arrives, searched, a number added by hand, and one removed after the browser's confirmation.
Full-page screenshots go to tests/screenshots/ (git-ignored), named optouts-NN-….
"""
import re

import pytest

from .browser_support import CHROMIUM

if not CHROMIUM.exists():
    pytest.skip("Debian's chromium is not installed (apt-get install chromium)", allow_module_level=True)

from playwright.sync_api import expect  # noqa: E402

from .browser_support import (  # noqa: E402
    follow_menu_link,
    Screenshots,
    browser,  # noqa: F401 (a fixture)
    choose_provider,
    create_administrator,
    open_page,  # noqa: F401 (a fixture)
    record_page_errors,
    running_sms_desk,
)

pytestmark = pytest.mark.browser

NUMBER = "+33698765432"


def test_a_stop_reply_lands_on_the_opt_out_list_usable_on_a_phone(open_page, tmp_path):
    with running_sms_desk(tmp_path) as base_url:
        page = open_page(base_url)
        page.set_viewport_size({"width": 390, "height": 844})
        errors = record_page_errors(page)
        shot = Screenshots(page, "optouts-")
        create_administrator(page)
        choose_provider(page, "Simulator")
        page.get_by_role("button", name="Save").click()
        expect(page).to_have_url(re.compile(r"/phones/\d+$"))

        phone_page_url = page.url
        page.goto("/opt-outs")  # open while the STOP comes: the row appears by itself
        expect(page.get_by_text("No number has opted out.")).to_be_visible()
        phone_page = page.context.new_page()
        phone_page.goto(phone_page_url)
        simulate = phone_page.locator("#simulate")
        simulate.get_by_label("From").fill(NUMBER)
        simulate.get_by_label("Text").fill("Stop !")
        simulate.get_by_role("button", name="Simulate an incoming SMS").click()
        rows = page.locator("tr[data-opt-out]")
        expect(rows).to_have_count(1, timeout=20_000)
        expect(rows.first).to_contain_text(NUMBER)
        expect(rows.first).to_contain_text("STOP keyword")
        page.get_by_label("Number").fill("06 11 11 11 11")
        page.get_by_role("button", name="Add to the list").click()
        expect(page.locator(".flash.success")).to_contain_text("+33611111111 will no longer receive your SMS.")
        expect(rows).to_have_count(2)
        assert page.evaluate("document.documentElement.scrollWidth") <= 390  # nothing wider than the screen
        shot.take("list")

        page.get_by_label("Search").fill("0698")
        page.get_by_role("button", name="Search").click()
        expect(rows).to_have_count(1)
        page.once("dialog", lambda dialog: dialog.accept())
        rows.first.get_by_role("button", name="Remove").click()
        expect(page.locator(".flash.success")).to_contain_text(f"{NUMBER} may receive your SMS again.")
        expect(rows).to_have_count(1)  # the one added by hand

        # one SMS to a number that opted out: sent only once the box naming it is ticked
        follow_menu_link(page, "New SMS")
        page.get_by_label("To", exact=True).fill("06 11 11 11 11")
        page.get_by_label("Message").fill("Your order is ready")
        page.get_by_role("button", name="Send").click()
        expect(page.locator(".error:not([hidden])")).to_contain_text("+33611111111 is on your opt-out list since")
        confirmation = page.get_by_label(re.compile(r"Send this one SMS to \+33611111111 anyway"))
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        shot.take("compose-confirmation")
        confirmation.check()
        page.get_by_role("button", name="Send").click()
        expect(page.locator(".flash.success")).to_contain_text("Your SMS is on its way.")

        page.goto("/opt-outs")
        page.get_by_role("link", name="Keywords and replies").click()
        expect(page.get_by_label("Keywords that opt out")).to_contain_text("DESABONNER")
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        shot.take("settings")
        assert errors == []
