"""Scheduling a campaign on a 390 px phone screen, in Debian's chromium: a Simulator phone (which
cannot schedule, so SMS Desk holds the SMS), the time zone picked by country and city, an SMS to
two numbers for later, its confirmation, the campaign page with its send time, the Scheduled SMS
page, its time moved to the next minute, and the campaign sent then. Screenshots go to
tests/screenshots/ (git-ignored), named scheduling-NN-….
"""
import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from .browser_support import CHROMIUM

if not CHROMIUM.exists():
    pytest.skip("Debian's chromium is not installed (apt-get install chromium)", allow_module_level=True)

from playwright.sync_api import expect  # noqa: E402

from .browser_support import (  # noqa: E402
    Screenshots,
    browser,  # noqa: F401 (a fixture)
    choose_provider,
    confirm_the_sending,
    create_administrator,
    open_page,  # noqa: F401 (a fixture)
    record_page_errors,
    record_policy_violations,
    running_sms_desk,
)

pytestmark = pytest.mark.browser

ZONE = ZoneInfo("America/New_York")


def fits(page) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= 390


def test_a_campaign_scheduled_on_a_phone_screen_waits_for_its_time_then_goes(open_page, tmp_path):
    with running_sms_desk(tmp_path) as base_url:
        page = open_page(base_url)
        page.set_viewport_size({"width": 390, "height": 844})
        errors = record_page_errors(page)
        violations = record_policy_violations(page)
        shot = Screenshots(page, prefix="scheduling-")
        create_administrator(page)
        choose_provider(page, "Simulator")
        page.get_by_label("Delivery delay (seconds)").fill("1")
        page.get_by_role("button", name="Save").click()
        expect(page).to_have_url(re.compile(r"/phones/\d+$"))

        page.goto("/account")
        zones = page.get_by_label("Time zone")
        expect(zones.locator("optgroup[label='United States'] option", has_text="New York")).to_have_count(1)
        zones.select_option("America/New_York")
        shot.take("time-zone")
        fits(page)
        page.locator("form", has=zones).get_by_role("button").click()
        expect(page.locator(".flash.success")).to_contain_text("Your preferences have been saved.")

        page.goto("/compose")
        page.get_by_label("To", exact=True).fill("+33612345671\n+33612345672")
        page.get_by_label("Message").fill("Réunion des parents jeudi à 18 h.")
        later = (datetime.now(ZONE) + timedelta(hours=2)).replace(second=0, microsecond=0)
        send_later = page.get_by_label("Send later")
        expect(send_later).to_be_visible()  # a Simulator phone schedules too
        send_later.fill(later.strftime("%Y-%m-%dT%H:%M"))
        expect(page.get_by_text("In your time zone, New York (United States)")).to_be_visible()
        shot.take("compose")
        fits(page)
        page.get_by_role("button", name="Send").click()
        expect(page.get_by_role("heading", name="Confirm the sending")).to_be_visible()
        expect(page.locator("[data-send-at]")).to_contain_text(f"{later:%-I:%M}")
        shot.take("review")
        fits(page)
        confirm_the_sending(page)

        expect(page).to_have_url(re.compile(r"/campaigns/\d+$"))
        expect(page.locator(".flash.success")).to_contain_text("2 SMS will be sent on")
        expect(page.locator("[data-status-count='scheduled']")).to_contain_text("2")
        expect(page.locator(".facts")).to_contain_text(f"{later:%-I:%M}")
        shot.take("campaign-scheduled")
        fits(page)

        page.goto("/history")
        page.get_by_role("link", name="Scheduled SMS").click()
        row = page.locator("tbody tr", has_text="Campaign, 2 recipients")
        expect(row).to_contain_text("Réunion des parents")
        shot.take("scheduled-list")
        fits(page)
        row.get_by_role("link", name="Edit").click()
        expect(page.get_by_role("heading", name="Edit a scheduled campaign")).to_be_visible()
        soon = (datetime.now(ZONE) + timedelta(minutes=1)).replace(second=0, microsecond=0)
        page.get_by_label("Send at").fill(soon.strftime("%Y-%m-%dT%H:%M"))
        shot.take("edit")
        fits(page)
        page.get_by_role("button", name="Save").click()
        expect(page.locator(".flash.success")).to_contain_text("Saved: it will be sent with these changes.")
        expect(page).to_have_url(re.compile(r"/campaigns/\d+$"))
        # its minute comes (within the next minute and a half): the page follows it live
        expect(page.locator("[data-status-count='delivered']")).to_contain_text("2", timeout=120_000)
        shot.take("campaign-sent")
        fits(page)
        assert errors == [] and violations == []
