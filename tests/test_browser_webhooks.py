"""Webhooks in Debian's chromium, on a phone-sized screen (390 px): adding an endpoint from the
account page (its secret shown once), sending it a test event through the real worker, and
reading its delivery log; a receiver on 127.0.0.1 checks the signature with `standardwebhooks`.
Full-page screenshots go to tests/screenshots/, named webhooks-NN-….
"""
import re

import pytest

from .browser_support import CHROMIUM

if not CHROMIUM.exists():
    pytest.skip("Debian's chromium is not installed (apt-get install chromium)", allow_module_level=True)

from playwright.sync_api import expect  # noqa: E402
from standardwebhooks.webhooks import Webhook  # noqa: E402
from werkzeug.wrappers import Response  # noqa: E402

from .browser_support import (  # noqa: E402
    Screenshots,
    browser,  # noqa: F401 (a fixture)
    create_administrator,
    open_page,  # noqa: F401 (a fixture)
    record_page_errors,
    running_sms_desk,
)
from .fakes.receiver import Receiver  # noqa: E402

pytestmark = pytest.mark.browser


def test_adding_an_endpoint_and_reading_its_log_on_a_phone(open_page, tmp_path):
    receiver = Receiver()
    receiver.reply = lambda: Response('{"received": true, "queue": "sms-desk"}', status=200,
                                      content_type="application/json")
    try:
        with running_sms_desk(tmp_path, WEBHOOK_ALLOW_PRIVATE_ADDRESSES="1") as base_url:
            page = open_page(base_url)
            page.set_viewport_size({"width": 390, "height": 844})
            errors = record_page_errors(page)
            shot = Screenshots(page, "webhooks-")
            create_administrator(page)
            page.goto("/account")
            page.get_by_role("link", name="Your webhooks").click()
            expect(page.get_by_role("heading", name="Webhooks", level=1)).to_be_visible()
            expect(page.get_by_label("E-mail address")).to_be_hidden()  # the fields of the kind chosen only
            page.get_by_label("URL", exact=True).fill(receiver.url("/hook"))
            page.get_by_label(re.compile(r"^message\.received")).check()
            page.get_by_label(re.compile(r"^message\.failed")).check()
            assert page.evaluate("document.documentElement.scrollWidth") <= 390
            shot.take("add")
            page.get_by_role("button", name="Add the endpoint").click()
            expect(page.locator(".flash.success")).to_contain_text("The endpoint was added.")
            secret = page.get_by_label("Signing secret").input_value()
            assert secret.startswith("whsec_")
            assert page.evaluate("document.documentElement.scrollWidth") <= 390
            shot.take("secret-once")

            page.get_by_role("button", name="Send a test event").click()
            expect(page.locator(".flash.success")).to_contain_text("A test event is on its way")
            [request] = receiver.wait_for(1, timeout=20)
            headers = {name.lower(): value for name, value in request["headers"].items()}
            assert Webhook(secret).verify(request["body"], headers)["type"] == "webhook.test"
            expect(page.get_by_label("Signing secret")).to_have_count(0)  # shown once only
            rows = page.locator("tr[data-attempt]")
            for _ in range(20):
                page.reload()
                if rows.count():
                    break
                page.wait_for_timeout(250)
            expect(rows).to_have_count(1)
            expect(rows.first).to_contain_text("webhook.test")
            expect(rows.first).to_contain_text("attempt 1")
            expect(rows.first).to_contain_text("200")
            answer = rows.first.get_by_role("group", name="Answer to attempt 1")  # a box one reaches with Tab
            expect(answer).to_have_text('{"received": true, "queue": "sms-desk"}')
            expect(answer).to_have_attribute("tabindex", "0")
            assert page.evaluate("document.documentElement.scrollWidth") <= 390
            shot.take("log")
            assert errors == []
    finally:
        receiver.close()
