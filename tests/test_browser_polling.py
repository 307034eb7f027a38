"""Without a public address, in Debian's chromium: SMS Desk at 127.0.0.1 asks a fake Twilio that
never calls back, and the user still gets the SMS sent to the number. Screenshots polling-NN-…"""
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
from .fakes.twilio import FakeTwilio  # noqa: E402

pytestmark = pytest.mark.browser

TWILIO_NUMBER = "+15005550006"
CONTACT = "+33612345678"


@pytest.mark.browser
def test_a_twilio_number_behind_a_home_router_gets_its_sms_by_asking(tmp_path, open_page):
    with FakeTwilio(numbers=(TWILIO_NUMBER,)) as twilio, \
            running_sms_desk(tmp_path, TWILIO_API_BASE_URL=twilio.base_url, INBOUND_POLL_SECONDS="1") as base_url:
        page = open_page(base_url)
        page.set_viewport_size({"width": 390, "height": 844})
        errors = record_page_errors(page)
        shot = Screenshots(page, "polling-")
        create_administrator(page)

        choose_provider(page, "Twilio virtual number")
        page.get_by_label("Account SID").fill(twilio.account_sid)
        page.get_by_label("Auth Token").fill(twilio.auth_token)
        page.get_by_label("Sender").fill(TWILIO_NUMBER)
        expect(page.get_by_label("Asking Twilio")).to_have_value("automatic")
        shot.take("phone-form")
        page.get_by_role("button", name="Save").click()
        expect(page).to_have_url(re.compile(r"/phones/\d+$"))

        panel = page.locator("#what-works")
        expect(panel).to_contain_text("Delivery reports: ✓ SMS Desk asks Twilio about each SMS a minute after it")
        expect(panel).to_contain_text("Incoming SMS: ✓ SMS Desk asks Twilio every 1 s (works now).")
        expect(panel).to_contain_text("With a public address, they arrive at once.")
        box = panel.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= 390, box

        twilio.receive(CONTACT, TWILIO_NUMBER, "Coming, no callback needed")
        follow_menu_link(page, "Conversations")
        expect(page.get_by_role("link", name=CONTACT)).to_be_visible(timeout=30_000)
        page.get_by_role("link", name=CONTACT).click()
        expect(page.locator(".thread .bubble.in .bubble-text")).to_have_text("Coming, no callback needed")
        shot.take("conversation")

        page.go_back()
        page.go_back()
        page.reload()
        expect(page.locator("[data-last-asked]")).to_contain_text("Last asked Twilio:")
        shot.take("phone")
        assert twilio.callbacks == [] and twilio.deletes == []
        assert sum(1 for message in twilio.messages.values() if message.resource["direction"] == "inbound") == 1
        assert errors == [], errors
