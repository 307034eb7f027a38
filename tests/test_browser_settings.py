"""The Settings page in Debian's chromium, at 1366 and 390 px: the administrator saves the public
address and runs "Check my address" against the running SMS Desk. Screenshots: tests/screenshots/settings-NN-…"""
import pytest

from .browser_support import CHROMIUM

if not CHROMIUM.exists():
    pytest.skip("Debian's chromium is not installed (apt-get install chromium)", allow_module_level=True)

from playwright.sync_api import expect  # noqa: E402

from .browser_support import (  # noqa: E402
    Screenshots,
    browser,  # noqa: F401 (a fixture)
    create_administrator,
    open_page,  # noqa: F401 (a fixture)
    record_page_errors,
    running_sms_desk,
)

pytestmark = pytest.mark.browser


def test_the_administrator_saves_and_checks_the_public_address(open_page, tmp_path):
    with running_sms_desk(tmp_path) as base_url:
        page = open_page(base_url)
        page.set_viewport_size({"width": 1366, "height": 900})
        errors = record_page_errors(page)
        shot = Screenshots(page, "settings-")
        create_administrator(page)
        page.get_by_role("link", name="Users").click()
        page.get_by_role("navigation", name="Administration").get_by_role("link", name="Settings").click()
        expect(page.locator("[data-public-address]")).to_contain_text(base_url)
        page.get_by_label("Public address").fill(base_url + "/")
        page.get_by_role("button", name="Save the address").click()
        expect(page.locator(".flash.success")).to_contain_text(f"Public address saved: {base_url}.")
        page.get_by_role("button", name="Check my address").click()
        steps = page.locator("[data-address-check] li")
        expect(steps.nth(0)).to_contain_text("127.0.0.1 is an IP address")
        expect(steps.nth(1)).to_contain_text("The address is http://, not https://")
        expect(steps.nth(2)).to_contain_text("Reached SMS Desk's callback endpoint")
        expect(steps.nth(3)).to_contain_text("It cannot prove that a provider can reach the address")
        shot.take("checked-1366")
        page.set_viewport_size({"width": 390, "height": 844})
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        shot.take("checked-390")
        assert errors == []
