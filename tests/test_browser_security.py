"""Every main page works under the Content-Security-Policy, in Debian's chromium: nothing it refuses
is needed (copy buttons, live pages, the compose counter, confirmations), and what SMS Desk's run
command wrote is private to its user."""
import re
import stat

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
    record_policy_violations,
    running_sms_desk,
)

pytestmark = pytest.mark.browser

NUMBER = "+33612345678"


def try_inline_script_and_style(page) -> None:
    """What an injected script or style would be: the policy must refuse both."""
    page.evaluate("""() => {
        const script = document.createElement("script");
        script.textContent = "window.injected = true";
        document.body.appendChild(script);
        document.body.setAttribute("style", "background: red");
    }""")


def test_every_main_page_runs_under_the_content_security_policy(tmp_path, open_page):  # noqa: F811
    with running_sms_desk(tmp_path) as base_url:
        page = open_page(base_url)
        errors = record_page_errors(page)
        violations = record_policy_violations(page)
        shot = Screenshots(page, prefix="csp-")
        create_administrator(page)
        choose_provider(page, "Simulator")
        page.get_by_label("Delivery delay (seconds)").fill("0.5")
        page.get_by_role("button", name="Save").click()
        expect(page).to_have_url(re.compile(r"/phones/\d+$"))
        phone_url = page.url

        try_inline_script_and_style(page)
        for _ in range(50):  # the console messages of the refusals arrive
            if len(violations) >= 2:
                break
            page.wait_for_timeout(100)
        assert page.evaluate("window.injected") is None
        assert any("script-src" in violation for violation in violations), violations
        assert any("style-src" in violation for violation in violations), violations
        violations.clear()

        # the phone's page: copy a callback URL, refuse a deletion
        copy_button = page.locator("button[data-copy='url-status']")
        copy_button.click()
        expect(page.get_by_role("status").filter(has_text="Copied")).to_have_count(1)
        page.once("dialog", lambda dialog: dialog.dismiss())
        page.get_by_role("button", name="Delete this phone").click()
        expect(page).to_have_url(phone_url)
        shot.take("phone")

        # compose (its counter), the message's page following the SMS live
        page.goto("/compose")
        page.get_by_label("To", exact=True).fill(NUMBER)
        page.get_by_label("Message").fill("Hello")
        expect(page.locator("[data-sms-counter]")).to_have_text("5 / 1,600 characters · 1 SMS")
        page.get_by_role("button", name="Send", exact=True).click()
        expect(page.locator(".facts [data-status-badge]")).to_have_text("delivered", timeout=30_000)
        expect(page.locator(".timeline li strong").last).to_have_text("delivered", timeout=10_000)

        # a reply shows up in the conversation by itself
        page.goto(phone_url)
        page.locator("#simulate").get_by_label("From").fill(NUMBER)
        page.locator("#simulate").get_by_label("Text").fill("Hi back")
        page.get_by_role("button", name="Simulate an incoming SMS").click()
        expect(page.locator(".thread .bubble.in .bubble-text")).to_have_text("Hi back", timeout=20_000)

        for path in ("/", "/conversations", "/history", "/phones/", phone_url + "/edit", "/account",
                     "/admin/users", "/phones/new"):
            page.goto(path)
            expect(page.locator("main h1").first).to_be_visible()
        with page.expect_response(lambda response: "fragment=1" in response.url, timeout=15_000):
            page.goto("/")  # and the dashboard refreshes itself once

        assert violations == [], violations
        assert errors == [], errors

    folder = tmp_path / "instance"
    modes = {path.relative_to(folder).as_posix(): stat.S_IMODE(path.stat().st_mode)
             for path in [folder, *folder.rglob("*")] if not path.is_socket()}
    assert modes["."] == 0o700 and modes["broker"] == 0o700 and modes["smsdesk.sqlite"] == 0o600
    assert {name for name, mode in modes.items() if mode & 0o077} == set(), modes
