"""A newcomer sets up a Twilio number in Debian's chromium, against the fake Twilio, with SMS Desk
at a local address: the phone's page names its two callback URLs by their endings, sets the
number's incoming SMS URL after showing what it replaces, waits for the first callback and turns
green by itself when Twilio's signed one arrives; a test SMS goes out and is reported delivered.
Screenshots in tests/screenshots/setup-NN-….png, at 1366 and 390 px wide.
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
    choose_provider,
    create_administrator,
    open_page,  # noqa: F401 (a fixture)
    record_page_errors,
    running_sms_desk,
)
from .fakes.twilio import FakeTwilio, webhook_reply_problem  # noqa: E402

pytestmark = pytest.mark.browser

TWILIO_NUMBER = "+15005550006"
NUMBER = "+33612345678"
WIDE, NARROW = {"width": 1366, "height": 900}, {"width": 390, "height": 844}


@pytest.fixture
def twilio():
    fake = FakeTwilio(numbers=(TWILIO_NUMBER,))
    fake.auto_callbacks = True  # "sent" then "delivered", signed, to each SMS's StatusCallback
    with fake:
        yield fake


def take_both_widths(page, shot, name: str) -> None:
    """A screenshot at 1366 px, then at 390 px, where nothing may be wider than the screen."""
    page.set_viewport_size(WIDE)
    shot.take(f"{name}-1366")
    page.set_viewport_size(NARROW)
    assert page.evaluate("document.documentElement.scrollWidth") <= NARROW["width"], name
    shot.take(f"{name}-390")
    page.set_viewport_size(WIDE)


def test_a_newcomer_sets_up_a_twilio_number_and_sees_the_first_callback_arrive(tmp_path, twilio, open_page):
    with running_sms_desk(tmp_path, TWILIO_API_BASE_URL=twilio.base_url) as base_url:
        page = open_page(base_url)
        page.set_viewport_size(WIDE)
        errors = record_page_errors(page)
        shot = Screenshots(page, "setup-")
        create_administrator(page)
        choose_provider(page, "Twilio virtual number")
        page.get_by_label("Account SID").fill(twilio.account_sid)
        page.get_by_label("Auth Token").fill(twilio.auth_token)
        page.get_by_label("Sender").fill(TWILIO_NUMBER)
        page.get_by_role("button", name="Save").click()

        # The phone's page: two URLs told apart by their endings, the status one needing nothing.
        expect(page).to_have_url(re.compile(r"/phones/\d+$"))
        status_row, inbound_row = page.locator("[data-callback-url=status]"), page.locator("[data-callback-url=inbound]")
        expect(status_row.locator(".url-ending")).to_have_text("…/status")
        expect(inbound_row.locator(".url-ending")).to_have_text("…/inbound")
        expect(status_row.locator("[data-nothing-to-paste]")).to_have_text("nothing to paste")
        expect(inbound_row.locator("[data-nothing-to-paste]")).to_have_count(0)
        inbound_url = page.locator("#url-inbound").input_value()
        assert inbound_url.startswith(base_url + "/callbacks/") and inbound_url.endswith("/inbound")
        waiting = page.locator("[data-first-callback]")
        expect(waiting).to_contain_text("Waiting for your provider’s first callback…")
        take_both_widths(page, shot, "phone-waiting")

        # Set the number's incoming SMS URL, after seeing what it replaces.
        page.get_by_role("button", name="Set the URLs on my Twilio number").click()
        expect(page.get_by_role("heading", name="Set the URLs on my Twilio number")).to_be_visible()
        expect(page.locator("[data-current-url]")).to_contain_text("https://demo.twilio.com/welcome/sms/reply",
                                                                   timeout=15_000)
        expect(page.locator("[data-new-url]")).to_have_text(inbound_url)
        assert twilio.incoming_number(TWILIO_NUMBER)["sms_url"] != inbound_url  # nothing changed yet
        take_both_widths(page, shot, "preview")
        page.get_by_role("button", name="Replace it").click()
        expect(page.locator("#connection .ok")).to_contain_text(
            f"Twilio now sends the SMS that {TWILIO_NUMBER} receives to SMS Desk", timeout=15_000)
        assert twilio.incoming_number(TWILIO_NUMBER)["sms_url"] == inbound_url
        assert twilio.incoming_number(TWILIO_NUMBER)["sms_method"] == "POST"

        # Twilio's first signed callback turns the page green without a reload.
        page.evaluate("window.notReloaded = true")
        answer = twilio.send_inbound(inbound_url, NUMBER, TWILIO_NUMBER, "Is it working?")
        assert webhook_reply_problem(answer) is None, (answer.status_code, answer.text)
        arrived = page.locator("[data-first-callback=arrived]")
        expect(arrived).to_contain_text(f"The first one was an incoming SMS from {NUMBER}", timeout=20_000)
        assert page.evaluate("window.notReloaded") is True
        take_both_widths(page, shot, "phone-arrived")

        # A test SMS goes through the queue and the worker; its page shows Twilio's delivery report.
        page.get_by_label("Your mobile number").fill("06 12 34 56 78")
        page.get_by_role("button", name="Send me a test SMS").click()
        expect(page).to_have_url(re.compile(r"/messages/\d+$"))
        expect(page.locator(".facts [data-status-badge]")).to_have_text("delivered", timeout=30_000)
        assert twilio.last_message.params["To"] == NUMBER
        shot.take("test-sms-delivered")

        # The phone list names the phone's number beside it, and fits a phone's screen.
        page.get_by_role("navigation").get_by_role("link", name="Phones").click()
        expect(page.locator("td[data-sender]")).to_have_text(TWILIO_NUMBER)
        take_both_widths(page, shot, "phones")
        assert errors == [], errors
