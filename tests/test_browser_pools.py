"""A pool in Debian's chromium at 390 px wide, against SMS Desk started by its real run command: a
Twilio phone whose API cannot be reached and a Simulator phone, put in a pool from the Pools page;
an SMS sent to the pool from New SMS fails over to the Simulator, which delivers it; its page says
so, and the phone list and the dashboard say the Twilio phone is unhealthy.
Screenshots go to tests/screenshots/ (git-ignored), named pools-NN-….
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
    choose_sending_phone,
    create_administrator,
    follow_menu_link,
    free_port,
    open_page,  # noqa: F401 (a fixture)
    record_page_errors,
    running_sms_desk,
)
from .fakes.twilio import FakeTwilio  # noqa: E402

TWILIO_NUMBER = "+15005550006"


def add_twilio_phone(page, fake) -> None:
    page.goto("/phones/new")
    choose_provider(page, "Twilio virtual number")
    page.get_by_label("Account SID").fill(fake.account_sid)
    page.get_by_label("Auth Token").fill(fake.auth_token)
    page.get_by_label("Sender").fill(TWILIO_NUMBER)
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".flash.success")).to_contain_text("added")


def add_simulator_phone(page) -> None:
    page.goto("/phones/new")
    choose_provider(page, "Simulator")
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".flash.success")).to_contain_text("added")


@pytest.mark.browser
def test_an_sms_sent_to_a_pool_fails_over_from_an_unreachable_phone_at_390_px(tmp_path, open_page):
    fake = FakeTwilio(numbers=(TWILIO_NUMBER,))  # its credentials only: nothing listens where SMS Desk calls
    closed = f"http://127.0.0.1:{free_port()}"
    with running_sms_desk(tmp_path, TWILIO_API_BASE_URL=closed, SEND_RETRY_BASE_SECONDS="0.2") as base_url:
        page = open_page(base_url)
        page.set_viewport_size({"width": 390, "height": 844})
        errors = record_page_errors(page)
        shot = Screenshots(page, "pools-")
        create_administrator(page)
        add_twilio_phone(page, fake)
        add_simulator_phone(page)

        # 1. The pool, made on the Pools page reached from Phones.
        follow_menu_link(page, "Phones")
        page.get_by_role("link", name="Pools: send from several phones, with failover").click()
        expect(page.get_by_role("heading", name="Pools", exact=True)).to_be_visible()
        page.get_by_role("link", name="New pool").click()
        page.get_by_label("Name", exact=True).fill("Main")
        page.get_by_label("First available", exact=False).check()
        page.get_by_label("Place of Twilio virtual number").fill("1")
        page.get_by_label("Place of Simulator").fill("2")
        shot.take("pool-form")
        page.get_by_role("button", name="Save").click()
        expect(page.locator(".flash.success")).to_contain_text("Pool “Main” created.")
        expect(page.locator("[data-pool-phones]")).to_have_text("Twilio virtual number → Simulator")
        shot.take("pools")

        # 2. An SMS to the pool: Twilio cannot be reached, so after its retries the Simulator sends it.
        follow_menu_link(page, "New SMS")
        choose_sending_phone(page, "Twilio virtual number")
        page.get_by_label("Or from a pool").select_option(label="Main")
        page.get_by_label("To", exact=True).fill("06 12 34 56 78")
        page.get_by_label("Message").fill("Sent through the pool")
        shot.take("compose")
        page.get_by_role("button", name="Send", exact=True).click()
        expect(page).to_have_url(re.compile(r"/messages/\d+$"))
        expect(page.locator(".facts [data-status-badge]")).to_have_text("delivered", timeout=40_000)
        page.reload()
        timeline = page.locator(".timeline")
        expect(timeline).to_contain_text("Twilio virtual number could not send it")
        expect(timeline).to_contain_text("Simulator sends it instead.")
        expect(page.locator(".facts")).to_contain_text("Simulator")
        shot.take("message")
        assert page.evaluate("document.documentElement.scrollWidth") <= 390

        # 3. The Twilio phone's health: on the phone list and the dashboard.
        follow_menu_link(page, "Phones")
        unhealthy = page.locator('tr[data-phone-health="unhealthy"]')
        expect(unhealthy).to_contain_text("Twilio virtual number")
        expect(unhealthy).to_contain_text("5 of its last 5 sends failed in the last hour")
        expect(unhealthy).to_contain_text("Your pools skip it until it recovers.")
        shot.take("phones")
        follow_menu_link(page, "Dashboard")
        expect(page.locator("[data-unhealthy-phone]")).to_contain_text("Twilio virtual number is unhealthy")
        shot.take("dashboard")
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        assert errors == [], errors
