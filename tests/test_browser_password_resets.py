"""Password resets in Debian's chromium, on a phone-sized screen (390 px): the administrator's
temporary password, the forced change at the next sign-in, and the user's own reset by e-mail
through the launcher's worker and a local SMTP server. Screenshots: tests/screenshots/resets-NN-….
"""
import re

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
from .conftest import wait_for  # noqa: E402
from .mail_support import reset_link_in, smtp_server  # noqa: E402,F401 (a fixture)

pytestmark = pytest.mark.browser

BOB = "bob@example.org"
BOBS_FIRST_PASSWORD = "a first long passphrase"
BOBS_OWN_PASSWORD = "violet tuba lighthouse"
BOBS_NEXT_PASSWORD = "seven quiet harbours"


def fits_the_screen(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth") <= 390


def sign_in(page, address, password):
    page.goto("/login")
    page.get_by_label("E-mail").fill(address)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def choose_new_password(page, password):
    page.get_by_label("New password", exact=True).fill(password)
    page.get_by_label("New password again").fill(password)
    page.get_by_role("button", name="Set the new password").click()


def test_resetting_a_password_on_a_phone(open_page, smtp_server, tmp_path):
    with running_sms_desk(tmp_path, SMTP_URL=smtp_server.url, MAIL_FROM="desk@example.org") as base_url:
        admin = open_page(base_url)
        admin.set_viewport_size({"width": 390, "height": 844})
        errors = record_page_errors(admin)
        shot = Screenshots(admin, "resets-")
        create_administrator(admin)
        admin.goto("/admin/users")
        admin.get_by_label("E-mail").fill(BOB)
        admin.get_by_label("Password").fill(BOBS_FIRST_PASSWORD)
        admin.get_by_role("button", name="Create the user").click()
        assert fits_the_screen(admin)
        shot.take("users")
        admin.once("dialog", lambda dialog: dialog.accept())
        admin.locator("tr", has_text=BOB).get_by_role("button", name="Reset password").click()
        temporary = admin.locator("code.temporary-password").inner_text()
        assert fits_the_screen(admin)
        shot.take("temporary-password")

        bob = open_page(base_url)
        bob.set_viewport_size({"width": 390, "height": 844})
        bob_errors = record_page_errors(bob)
        bob_shot = Screenshots(bob, "resets-bob-")
        sign_in(bob, BOB, temporary)
        expect(bob).to_have_url(re.compile(r"/account/choose-password$"))
        assert fits_the_screen(bob)
        bob_shot.take("choose-password")
        choose_new_password(bob, BOBS_OWN_PASSWORD)
        expect(bob.locator(".flash.success")).to_contain_text("Your password has been changed.")
        bob.get_by_role("button", name="Menu").click()  # a narrow screen folds the menu away
        bob.get_by_role("button", name="Sign out").click()

        bob.get_by_role("link", name="Forgot your password?").click()
        bob.get_by_label("E-mail").fill(BOB)
        assert fits_the_screen(bob)
        bob_shot.take("forgot-password")
        bob.get_by_role("button", name="Send me a link").click()
        expect(bob.locator(".flash.success")).to_contain_text("an e-mail with a link")
        message = wait_for(smtp_server.received, message="the reset e-mail")[0]
        bob.goto(reset_link_in(message))
        assert fits_the_screen(bob)
        bob_shot.take("reset-password")
        choose_new_password(bob, BOBS_NEXT_PASSWORD)
        expect(bob.locator(".flash.success")).to_contain_text("Sign in with the new password")
        sign_in(bob, BOB, BOBS_NEXT_PASSWORD)
        expect(bob).to_have_url(re.compile(r"/$"))

        bob.goto(reset_link_in(message))  # used: refused, clearly
        expect(bob.get_by_role("alert")).to_contain_text("already used")
        bob_shot.take("used-link")
        assert errors == []
        assert bob_errors == [f"HTTP 400 for GET {reset_link_in(message)}"]
