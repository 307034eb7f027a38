"""Adding a real provider's phone in Debian's chromium: Twilio and OVH SMS, against their fakes.

Each test starts a fake provider (tests/fakes/), then SMS Desk by its real run command with the
provider's API address pointed at the fake, and clicks through as a person would: create the
administrator, add the phone, check its page (callback URLs, setup steps, the warning that
127.0.0.1 cannot be reached from the internet), talk to the provider, send an SMS that the fake
reports delivered through the callback URL, and receive a reply the fake posts to SMS Desk.
Full-page screenshots go to tests/screenshots/ (git-ignored), named twilio-NN-… and ovh-NN-….
"""
import re

import pytest
import requests

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
    open_page,  # noqa: F401 (a fixture)
    record_page_errors,
    running_sms_desk,
)
from .fakes.ovh import FakeOvh  # noqa: E402
from .fakes.twilio import FakeTwilio, webhook_reply_problem  # noqa: E402

pytestmark = pytest.mark.browser

TWILIO_NUMBER = "+15005550006"
OVH_KEYS = {"app_key": "TDPKJdwZwAQPwKX2", "app_secret": "9ufkBmLaTQ9nz5yMUlg79taH0GNnzDjk",
            "consumer_key": "5mBuy6SUQcRw2ZUxg0cG68BoDKpED4KY"}
OVH_SERVICE = "sms-ab12345-1"
OVH_NUMBER = "+33612345600"
TYPED_NUMBER = "06 12 34 56 78"
NUMBER = "+33612345678"
OVH_CONTACT = "+33698765432"


@pytest.fixture
def twilio():
    fake = FakeTwilio(numbers=(TWILIO_NUMBER,))
    fake.auto_callbacks = True  # "sent" then "delivered", signed, to the StatusCallback of each SMS
    with fake:
        yield fake


@pytest.fixture
def ovh():
    fake = FakeOvh(virtual_numbers=("0033612345600",), **OVH_KEYS)
    fake.auto_dlr = True  # GET {callBack}?id=…&dlr=1 after each send, once a callBack is set
    with fake:
        yield fake








def callback_urls(page, base_url) -> tuple[str, str]:
    """The phone page's two callback URLs, as a user would copy them."""
    expect(page.get_by_role("heading", name="Callback URLs")).to_be_visible()
    status_url = page.locator("#url-status").input_value()
    inbound_url = page.locator("#url-inbound").input_value()
    assert re.fullmatch(re.escape(base_url) + r"/callbacks/[^/]+/[^/]+/status", status_url), status_url
    assert inbound_url == status_url.removesuffix("/status") + "/inbound", inbound_url
    return status_url, inbound_url


def expect_loopback_warning(page, base_url) -> None:
    warning = page.locator("#callbacks .flash.warning")
    expect(warning).to_be_visible()
    expect(warning).to_contain_text(f"These addresses start with {base_url}")
    expect(warning).to_contain_text("a real provider cannot call them")
    expect(warning.get_by_role("link", name="Set the address at which the internet reaches SMS Desk in the "
                                            "settings.")).to_have_attribute("href", "/admin/settings")


def expect_side_by_side(page) -> None:
    """At 1280 px the phone's page has two columns: the setup steps' long URLs must wrap rather
    than push the Connection card below them."""
    callbacks = page.locator("#callbacks").bounding_box()
    connection = page.locator("#connection").bounding_box()
    assert connection["x"] >= callbacks["x"] + callbacks["width"], (callbacks, connection)
    assert abs(connection["y"] - callbacks["y"]) < 5, (callbacks, connection)


def send_sms(page, phone_name: str, text: str) -> str:
    """Sends `text` to TYPED_NUMBER from New SMS; returns the message page's URL."""
    page.get_by_role("navigation").get_by_role("link", name="New SMS").click()
    expect(page.get_by_role("heading", name="New SMS")).to_be_visible()
    choose_sending_phone(page, phone_name)
    page.get_by_label("To", exact=True).fill(TYPED_NUMBER)
    page.get_by_label("Message").fill(text)
    page.get_by_role("button", name="Send", exact=True).click()
    expect(page).to_have_url(re.compile(r"/messages/\d+$"))
    expect(page.get_by_role("heading", name=f"SMS to {NUMBER}")).to_be_visible()
    return page.url


def expect_delivered(page) -> None:
    """On the message page, without reloading it: the badge, then the timeline, reach delivered."""
    expect(page.locator(".facts [data-status-badge]")).to_have_text("delivered", timeout=30_000)
    timeline = page.locator(".timeline li strong")
    expect(timeline.last).to_have_text("delivered", timeout=10_000)
    steps = timeline.all_inner_texts()
    assert steps[:3] == ["queued", "sending", "sent"], steps


@pytest.mark.browser
def test_a_twilio_number_sends_and_receives(tmp_path, twilio, open_page):
    with running_sms_desk(tmp_path, TWILIO_API_BASE_URL=twilio.base_url) as base_url:
        page = open_page(base_url)
        errors = record_page_errors(page)
        shot = Screenshots(page, "twilio-")
        create_administrator(page, shot)

        # 1. The form, filled from the Twilio Console (the fake's credentials).
        choose_provider(page, "Twilio virtual number")
        page.get_by_label("Account SID").fill(twilio.account_sid)
        page.get_by_label("Auth Token").fill(twilio.auth_token)
        page.get_by_label("Sender").fill(TWILIO_NUMBER)
        shot.take("phone-form")
        page.get_by_role("button", name="Save").click()

        # 2. The phone's page: callback URLs, the setup steps with the inbound URL to paste,
        #    and the warning that Twilio cannot reach 127.0.0.1.
        expect(page).to_have_url(re.compile(r"/phones/\d+$"))
        expect(page.locator(".flash.success")).to_contain_text("added")
        expect(page.get_by_role("heading", name="Twilio virtual number")).to_be_visible()
        status_url, inbound_url = callback_urls(page, base_url)
        expect(page.get_by_role("heading", name="How to set up this phone")).to_be_visible()
        steps = page.locator("ol.steps li")
        expect(steps).to_have_count(5)
        expect(steps.nth(0)).to_contain_text("Sign up at Twilio")
        expect(steps.nth(3)).to_contain_text("A message comes in")
        expect(steps.nth(3)).to_contain_text(inbound_url)
        expect_loopback_warning(page, base_url)
        expect_side_by_side(page)
        expect(page.get_by_role("button", name="Set the callback URLs at", exact=False)).to_have_count(0)
        expect(page.locator("#simulate")).to_have_count(0)  # only the Simulator makes up replies

        page.get_by_role("button", name="Test the connection").click()
        connection = page.locator("#connection")
        expect(connection.locator(".ok")).to_contain_text(
            "Twilio accepted the credentials of the account “SMS Desk test account” (active).", timeout=15_000)
        assert any(r.path.endswith(f"/Accounts/{twilio.account_sid}.json") and r.auth == (
            twilio.account_sid, twilio.auth_token) for r in twilio.requests)
        shot.take("phone")

        # 3. An SMS, reported delivered by Twilio's signed callbacks, followed live on its page.
        text = "Hello from Twilio, see you at 1 pm."
        send_sms(page, "Twilio virtual number", text)
        shot.take("message-queued")
        expect_delivered(page)
        sent = twilio.last_message
        assert sent.params["To"] == NUMBER and sent.params["From"] == TWILIO_NUMBER, sent.params
        assert sent.params["Body"] == text
        assert sent.status_callback == status_url  # the URL shown on the phone's page
        assert [c.status_code for c in twilio.callbacks] == [204, 204], twilio.callbacks
        shot.take("message-delivered")

        # 4. A forged status callback is refused and changes nothing.
        forged = requests.post(status_url, data={
            "MessageSid": sent.sid, "MessageStatus": "undelivered", "ErrorCode": "30003",
            "AccountSid": twilio.account_sid, "From": TWILIO_NUMBER, "To": NUMBER},
            headers={"X-Twilio-Signature": "forged"}, timeout=10)
        assert forged.status_code == 403, (forged.status_code, forged.text)
        unsigned = requests.post(status_url, data={"MessageSid": sent.sid, "MessageStatus": "failed"}, timeout=10)
        assert unsigned.status_code == 403, (unsigned.status_code, unsigned.text)
        page.reload()
        expect(page.locator(".facts [data-status-badge]")).to_have_text("delivered")
        expect(page.locator(".facts")).to_contain_text(sent.sid)  # the provider's id, shown once reloaded

        # 5. A reply, posted by Twilio to the inbound URL, shows up in the open conversation.
        page.get_by_role("navigation").get_by_role("link", name="Conversations").click()
        page.get_by_role("link", name=NUMBER).click()
        expect(page.get_by_role("heading", name=f"Conversation with {NUMBER}")).to_be_visible()
        thread = page.locator(".thread")
        expect(thread.locator(".bubble.out .bubble-text")).to_have_text(text)
        expect(thread.locator(".bubble.out .ticks")).to_contain_text("✓✓")
        expect(thread.locator(".bubble.in")).to_have_count(0)
        answer = twilio.send_inbound(inbound_url, NUMBER, TWILIO_NUMBER, "Reply via Twilio")
        assert webhook_reply_problem(answer) is None, (answer.status_code, answer.headers, answer.text)
        expect(thread.locator(".bubble.in .bubble-text")).to_have_text("Reply via Twilio", timeout=20_000)
        shot.take("conversation")

        assert errors == [], errors


@pytest.mark.browser
def test_an_ovh_account_sends_and_receives(tmp_path, ovh, open_page):
    with running_sms_desk(tmp_path, OVH_API_BASE_URL=ovh.base_url) as base_url:
        page = open_page(base_url)
        errors = record_page_errors(page)
        shot = Screenshots(page, "ovh-")
        create_administrator(page, shot)

        # 1. The form, with both a virtual number and a sender name: one too many.
        choose_provider(page, "OVH SMS")
        expect(page.get_by_label("OVH region")).to_have_value("ovh-eu")
        page.get_by_label("OVH region").select_option(label="OVH Europe")

        def fill_keys():
            page.get_by_label("Application Key").fill(OVH_KEYS["app_key"])
            page.get_by_label("Application Secret").fill(OVH_KEYS["app_secret"])
            page.get_by_label("Consumer Key").fill(OVH_KEYS["consumer_key"])
        fill_keys()
        page.get_by_label("Service name").fill(OVH_SERVICE)
        page.get_by_label("Virtual number").fill(OVH_NUMBER)
        page.get_by_label("Sender name").fill("SMSDesk")
        page.get_by_role("button", name="Save").click()
        expect(page).to_have_url(re.compile(r"/phones/new/ovh$"))  # still the form
        sender_field = page.locator(".field.has-error", has=page.get_by_label("Sender name"))
        expect(sender_field.locator(".error")).to_have_text("Fill in a virtual number or a sender name, not both.")
        expect(page.locator(".field.has-error")).to_have_count(1)
        shot.take("phone-form-both")

        # ... fixed: the sender left blank. The browser does not keep typed secrets across a
        # refused form, so they are typed again, as a user would have to.
        expect(page.get_by_label("Virtual number")).to_have_value(OVH_NUMBER)
        expect(page.get_by_label("Service name")).to_have_value(OVH_SERVICE)
        page.get_by_label("Sender name").fill("")
        fill_keys()
        shot.take("phone-form-fixed")
        page.get_by_role("button", name="Save").click()

        # 2. The phone's page, then the button that sets both callback URLs at OVH.
        expect(page).to_have_url(re.compile(r"/phones/\d+$"))
        expect(page.locator(".flash.success")).to_contain_text("added")
        status_url, inbound_url = callback_urls(page, base_url)
        steps = page.locator("ol.steps li")
        expect(steps).to_have_count(5)
        expect(steps.nth(2)).to_contain_text(status_url)
        expect(steps.nth(3)).to_contain_text(inbound_url)
        expect(steps.nth(4)).to_contain_text(inbound_url + "?notice=stop")  # the stopCallBack
        expect_loopback_warning(page, base_url)
        expect_side_by_side(page)
        assert ovh.account["callBack"] == ""

        page.get_by_role("button", name="Set the callback URLs at OVH SMS for me").click()
        connection = page.locator("#connection")
        expect(connection.locator(".ok")).to_contain_text(
            "Your OVH account now sends delivery reports, incoming SMS and STOP replies to SMS Desk.", timeout=15_000)
        assert ovh.account["callBack"] == status_url
        assert ovh.account["smsResponse"]["cgiUrl"] == inbound_url
        assert ovh.account["smsResponse"]["responseType"] == "cgi"
        shot.take("phone")

        page.get_by_role("button", name="Test the connection").click()
        expect(connection.locator(".ok")).to_contain_text(f"OVH accepted the API keys for {OVH_SERVICE}",
                                                          timeout=15_000)
        shot.take("phone-tested")

        # 3. An SMS from the virtual number, reported delivered by OVH's GET to the callBack.
        text = "Hello from OVH, see you at 1 pm."
        send_sms(page, "OVH SMS", text)
        shot.take("message-queued")
        expect_delivered(page)
        job = ovh.jobs[max(ovh.jobs)]
        assert job.receiver == NUMBER and job.message == text, job
        assert ovh.sends()[-1].path == f"/1.0/sms/{OVH_SERVICE}/virtualNumbers/0033612345600/jobs"
        assert "sender" not in job.payload, job.payload
        dlr = [c for c in ovh.callbacks if c["kind"] == "dlr"]
        assert [c["status"] for c in dlr] == [200], ovh.callbacks
        assert dlr[0]["url"].startswith(status_url + "?"), dlr
        shot.take("message-delivered")
        page.reload()
        expect(page.locator(".facts")).to_contain_text(str(job.id))  # the provider's id, shown once reloaded

        # 4. A reply from a new contact, pushed by OVH: it appears at the top of the open
        #    history, and then in its conversation.
        page.get_by_role("navigation").get_by_role("link", name="History").click()
        rows = page.locator("tbody[data-rows] tr")
        expect(rows).to_have_count(1)
        answer = ovh.push_incoming(OVH_CONTACT, "Reply via OVH")
        assert answer.status_code == 200, (answer.status_code, answer.text)
        expect(rows).to_have_count(2, timeout=20_000)
        expect(rows.nth(0)).to_contain_text("Reply via OVH")
        expect(rows.nth(0)).to_contain_text(OVH_CONTACT)
        expect(rows.nth(0)).to_contain_text("received")
        shot.take("history")
        rows.nth(0).get_by_role("link", name=OVH_CONTACT).click()
        expect(page.get_by_role("heading", name=f"Conversation with {OVH_CONTACT}")).to_be_visible()
        expect(page.locator(".thread .bubble.in .bubble-text")).to_have_text("Reply via OVH")
        expect(page.locator(".thread .bubble.out")).to_have_count(0)
        expect(page.get_by_label("From")).to_have_value(re.compile(r"\d+"))  # a phone to answer from
        shot.take("conversation")

        assert errors == [], errors
