"""Signing another browser out from the account page, in Debian's chromium."""
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
    create_administrator,
    open_page,  # noqa: F401 (a fixture)
    record_page_errors,
    running_sms_desk,
)

pytestmark = pytest.mark.browser


def test_the_account_page_signs_another_browser_out(tmp_path, open_page):  # noqa: F811
    with running_sms_desk(tmp_path) as base_url:
        laptop = open_page(base_url)
        errors = record_page_errors(laptop)
        shot = Screenshots(laptop, prefix="sessions-")
        create_administrator(laptop)

        other = open_page(base_url)
        other.goto("/login")
        other.get_by_label("E-mail").fill(ADMIN_EMAIL)
        other.get_by_label("Password").fill(ADMIN_PASSWORD)
        other.get_by_role("button", name="Sign in").click()
        expect(other).not_to_have_url(re.compile(r"/login"))

        laptop.goto("/account")
        rows = laptop.locator("#sign-ins tr[data-sign-in]")
        expect(rows).to_have_count(2)
        expect(rows.filter(has_text="this browser")).to_have_count(1)
        expect(rows.first).to_contain_text("Chrome on Linux")
        expect(rows.first).to_contain_text("127.0.0.1")
        shot.take("two-browsers")

        rows.filter(has_not_text="this browser").get_by_role("button", name="Sign out").click()
        expect(laptop.get_by_text("That browser is signed out.")).to_be_visible()
        expect(rows).to_have_count(1)
        shot.take("one-browser-left")

        other.goto("/account")
        expect(other).to_have_url(re.compile(r"/login"))
        laptop.goto("/account")
        expect(laptop).to_have_url(re.compile(r"/account$"))
        assert errors == []
