"""Limits and quotas in Debian's chromium, on SMS Desk started by its real run command with a
clock the test moves (CLOCK_FILE): the administrator gives themselves a quota, sets a phone's
daily limit on its form, sends a campaign that pauses at the limit (its page says why and when it
resumes) and uses up the quota (the dashboard says so), then the next day the campaign ends.
Screenshots at desktop width and at 390 px."""
import pytest

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


def at_both_widths(page, shot, name):
    shot.take(f"{name}-desktop")
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("document.documentElement.scrollWidth") <= 390, name
    shot.take(f"{name}-390")
    page.set_viewport_size({"width": 1280, "height": 900})


def test_a_campaign_pauses_at_the_daily_limit_uses_up_the_quota_and_ends_the_next_day(tmp_path, browser,  # noqa: F811
                                                                                      open_page):  # noqa: F811
    clock = tmp_path / "clock"
    clock.write_text("2026-12-03T10:00:00")
    with running_sms_desk(tmp_path, CLOCK_FILE=str(clock)) as base_url:
        page = open_page(base_url)
        errors = record_page_errors(page)
        shot = Screenshots(page, prefix="limits-")
        create_administrator(page)

        page.goto("/")
        page.get_by_role("link", name="Try it with the simulator").click()
        page.get_by_label("Maximum per day").fill("2")
        page.get_by_label("Counted in").select_option("messages")
        at_both_widths(page, shot, "phone-form")
        page.get_by_role("button", name="Save").click()

        page.goto("/admin/users")
        page.get_by_role("link", name="Set the quota").click()
        page.get_by_label("SMS segments per month, renewed on the 1st").check()
        page.get_by_label("SMS segments", exact=True).fill("4")
        at_both_widths(page, shot, "quota-form")
        page.get_by_role("button", name="Save the quota").click()
        expect(page.locator("[data-quota]")).to_contain_text("0 / 4 per month")

        page.goto("/compose")
        page.get_by_label("To").fill("06 12 34 56 71, 06 12 34 56 72, 06 12 34 56 73, 06 12 34 56 74")
        page.get_by_label("Message").fill("Rappel : réunion des parents jeudi à 18 h.")
        page.get_by_role("button", name="Send", exact=True).click()
        confirm_the_sending(page)
        campaign_url = page.url
        expect(page.locator('[data-status-count="delivered"]')).to_contain_text("2", timeout=20_000)
        page.reload()
        paused = page.locator("[data-paused]")
        expect(paused).to_contain_text("Paused: Simulator reached its daily limit of 2 SMS; it resumes on 12/4/26")
        at_both_widths(page, shot, "campaign-paused")

        page.goto("/")
        quota = page.locator("[data-quota-level]")
        expect(quota).to_have_attribute("data-quota-level", "100")
        expect(quota).to_contain_text("Your quota is used up")
        at_both_widths(page, shot, "dashboard-quota-used-up")

        page.goto("/compose")
        page.get_by_label("To").fill("06 12 34 56 75")
        page.get_by_label("Message").fill("Encore un")
        page.get_by_role("button", name="Send", exact=True).click()
        expect(page.locator("p.error:not([hidden])")).to_contain_text("Not sent: this send needs 1 SMS segment and your quota of 4 per month has 0 left")
        shot.take("compose-refused")

        clock.write_text("2026-12-03T23:00:05")  # past midnight in Paris
        page.goto(campaign_url)
        expect(page.locator('[data-status-count="delivered"]')).to_contain_text("4", timeout=20_000)
        page.reload()
        expect(page.locator("[data-paused]")).to_have_count(0)
        shot.take("campaign-done")
        assert errors == []
