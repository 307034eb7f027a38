"""Adding an Octopush or an Odyssey Messaging phone in Debian's chromium, against their fakes.

Each test starts a fake provider (tests/fakes/), then SMS Desk by its real run command
(browser_support.running_sms_desk) with the provider's API address pointed at the fake, and
clicks through as a person would: create the administrator, add the phone, read the callback
URLs from its page and "paste them at the provider" (set them on the fake, as the user does in
the Octopush "Callbacks" menu or Odyssey's "CallBack API" page), test the connection, send an
SMS that the fake reports delivered, and receive what the fake posts to SMS Desk.
Full-page screenshots go to tests/screenshots/ (git-ignored), named octopush-NN-… and odyssey-NN-….
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
    open_page,  # noqa: F401 (a fixture)
    record_page_errors,
    running_sms_desk,
)
from .fakes.octopush import FakeOctopush, reply_problem  # noqa: E402
from .fakes.odyssey import FakeOdyssey  # noqa: E402

pytestmark = pytest.mark.browser

OCTOPUSH_NUMBER = "+33644630000"
TYPED_NUMBER = "06 12 34 56 78"
NUMBER = "+33612345678"
STOP_TYPED = "06 98 76 54 32"
STOP_NUMBER = "+33698765432"


@pytest.fixture
def octopush():
    with FakeOctopush(virtual_number=OCTOPUSH_NUMBER, balance=12.5) as fake:
        yield fake


@pytest.fixture
def odyssey():
    with FakeOdyssey() as fake:
        yield fake




# ---- steps shared by both flows





def saved_phone_page(page, base_url, provider_name: str) -> tuple[str, str]:
    """After Save: the phone's page, and its two callback URLs as a user would copy them."""
    expect(page).to_have_url(re.compile(r"/phones/\d+$"))
    expect(page.locator(".flash.success")).to_contain_text("added")
    expect(page.get_by_role("heading", name=provider_name)).to_be_visible()
    expect(page.get_by_role("heading", name="Callback URLs")).to_be_visible()
    status_url = page.locator("#url-status").input_value()
    inbound_url = page.locator("#url-inbound").input_value()
    assert re.fullmatch(re.escape(base_url) + r"/callbacks/[^/]+/[^/]+/status", status_url), status_url
    assert inbound_url == status_url.removesuffix("/status") + "/inbound", inbound_url
    warning = page.locator("#callbacks .flash.warning")  # 127.0.0.1 cannot be reached by a provider
    expect(warning).to_contain_text("a real provider cannot call them")
    # these providers offer no API to set the callbacks: the user pastes them by hand
    expect(page.get_by_role("button", name=re.compile("Set the callback URLs at"))).to_have_count(0)
    expect(page.locator("#simulate")).to_have_count(0)
    return status_url, inbound_url


def click_test_the_connection(page, expected: str) -> None:
    page.get_by_role("button", name="Test the connection").click()
    expect(page).to_have_url(re.compile(r"checking=1"))
    expect(page.locator("#connection .ok")).to_have_text("✓ " + expected, timeout=15_000)
    expect(page.locator("#connection .bad")).to_have_count(0)


def send_sms(page, phone_name: str, typed_number: str, text: str) -> None:
    page.get_by_role("navigation").get_by_role("link", name="New SMS").click()
    expect(page.get_by_role("heading", name="New SMS")).to_be_visible()
    choose_sending_phone(page, phone_name)
    page.get_by_label("To", exact=True).fill(typed_number)
    page.get_by_label("Message").fill(text)
    page.get_by_role("button", name="Send", exact=True).click()


def expect_delivered(page) -> None:
    """On the message page, without reloading it: the badge, then the timeline, reach delivered."""
    expect(page.locator(".facts [data-status-badge]")).to_have_text("delivered", timeout=30_000)
    timeline = page.locator(".timeline li strong")
    expect(timeline.last).to_have_text("delivered", timeout=10_000)
    steps = timeline.all_inner_texts()
    assert steps[:3] == ["queued", "sending", "sent"], steps


def open_conversation(page, number: str) -> None:
    page.get_by_role("navigation").get_by_role("link", name="Conversations").click()
    page.get_by_role("link", name=number).click()
    expect(page.get_by_role("heading", name=f"Conversation with {number}")).to_be_visible()


# ---- the flows

@pytest.mark.browser
def test_an_octopush_virtual_number_sends_receives_and_honours_stop(tmp_path, octopush, open_page):
    with running_sms_desk(tmp_path, OCTOPUSH_API_BASE_URL=octopush.base_url) as base_url:
        page = open_page(base_url)
        errors = record_page_errors(page)
        shot = Screenshots(page, "octopush-")
        create_administrator(page, shot)

        # 1. The form, filled from the Octopush "API credentials" page; Premium kept.
        choose_provider(page, "Octopush virtual number")
        page.get_by_label("Octopush login").fill(octopush.api_login)
        page.get_by_label("API key").fill(octopush.api_key)
        page.get_by_label("Virtual number").fill(octopush.virtual_number)
        message_type = page.get_by_label("Message type")
        expect(message_type).to_have_value("sms_premium")
        expect(message_type.locator("option:checked")).to_have_text("Premium")
        expect(page.get_by_label("Sender name")).to_have_value("")
        purpose = page.get_by_label("Purpose")
        expect(purpose.locator("option:checked")).to_have_text("Alert (transactional)")
        expect(page.locator(".field", has=purpose).locator(".help")).to_contain_text("Wholesale: marketing")
        shot.take("phone-form")
        page.get_by_role("button", name="Save").click()

        # 2. The phone's page: the steps send the user to the "Callbacks" menu with both URLs,
        #    which the user pastes there (here: sets on the fake).
        status_url, inbound_url = saved_phone_page(page, base_url, "Octopush virtual number")
        steps = page.locator("ol.steps li")
        expect(steps).to_have_count(5)
        expect(steps.nth(2)).to_contain_text("“Callbacks” menu")
        expect(steps.nth(2)).to_contain_text(status_url)
        expect(steps.nth(3)).to_contain_text(inbound_url)
        expect(steps.nth(3)).to_contain_text("“Callbacks” menu")
        expect(steps.nth(4)).to_contain_text("it also shows your balance")
        octopush.status_url, octopush.inbound_url = status_url, inbound_url

        # 3. The connection test, then the balance. The worker stores the balance with the
        #    verdict, but the page's script only fills in the verdict: the balance table is
        #    rendered by the server, so unless the worker answered before the page was
        #    rendered, it takes a reload to see it.
        click_test_the_connection(page, "Octopush accepted the login and the API key.")
        balance_requests = [r for r in octopush.requests if r.path == "/v1/public/wallet/check-balance"]
        assert balance_requests and all(r.status == 200 for r in balance_requests), balance_requests
        assert balance_requests[-1].headers["api-login"] == octopush.api_login
        facts = page.locator("#connection [data-account-facts]")
        if facts.count() == 0:
            print("the balance was not on the page once the verdict came: reloading it")
            page.reload()
        expect(facts).to_contain_text("Balance")
        expect(facts.locator("tr", has_text="Balance")).to_contain_text("12.5 EUR")
        expect(page.locator("#connection .ok")).to_contain_text("Octopush accepted the login and the API key.")
        shot.take("phone")

        # 4. An SMS from the virtual number, reported DELIVERED by Octopush, followed live.
        octopush.auto_dlr = True
        text = "Hello from Octopush, see you at 1 pm."
        send_sms(page, "Octopush virtual number", TYPED_NUMBER, text)
        expect(page).to_have_url(re.compile(r"/messages/\d+$"))
        expect(page.get_by_role("heading", name=f"SMS to {NUMBER}")).to_be_visible()
        shot.take("message-queued")
        expect_delivered(page)
        campaign = octopush.last_campaign
        assert campaign.recipients == [NUMBER] and campaign.text == text, campaign
        assert campaign.type == "sms_premium" and campaign.with_replies and campaign.sender is None, campaign
        assert campaign.purpose == "alert", campaign
        assert campaign.unknown_fields == [], campaign.unknown_fields
        dlrs = [c for c in octopush.callbacks if c.kind == "dlr"]
        assert [c.url for c in dlrs] == [status_url], dlrs
        assert all(200 <= c.status_code < 300 for c in dlrs), dlrs
        shot.take("message-delivered")
        page.reload()
        expect(page.locator(".facts")).to_contain_text(campaign.ticket)  # the provider's id

        # 5. A reply, posted by Octopush to the inbound URL, appears in the open conversation.
        open_conversation(page, NUMBER)
        thread = page.locator(".thread")
        expect(thread.locator(".bubble.out .bubble-text")).to_have_text(text)
        expect(thread.locator(".bubble.out .ticks")).to_contain_text("✓✓")
        expect(thread.locator(".bubble.in")).to_have_count(0)
        answer = octopush.send_inbound(NUMBER, "Réponse Octopush")
        assert reply_problem(answer) is None, (reply_problem(answer), answer.status_code, answer.text)
        expect(thread.locator(".bubble.in .bubble-text")).to_have_text("Réponse Octopush", timeout=20_000)
        expect(thread.locator(".bubble")).to_have_count(2)
        shot.take("conversation")

        # 6. Another contact replies STOP: SMS Desk then refuses to write to that number.
        answer = octopush.send_stop(STOP_NUMBER)
        assert reply_problem(answer) is None, (reply_problem(answer), answer.status_code, answer.text)
        campaigns_before = len(octopush.campaigns)
        send_sms(page, "Octopush virtual number", STOP_TYPED, "Are you still there?")
        expect(page).to_have_url(re.compile(r"/compose$"))  # still the form
        numbers_field = page.locator(".field.has-error", has=page.get_by_label("To", exact=True))
        expect(numbers_field.locator(".error")).to_have_count(1)
        expect(numbers_field.locator(".error")).to_contain_text(
            re.compile(re.escape(STOP_NUMBER) + r" replied STOP on .+ and no longer wants your SMS"))
        expect(page.get_by_label("To", exact=True)).to_have_value(STOP_TYPED)
        expect(page.get_by_label("Message")).to_have_value("Are you still there?")
        shot.take("stop-refused")
        assert len(octopush.campaigns) == campaigns_before
        assert all(STOP_NUMBER not in c.recipients for c in octopush.campaigns.values())

        # nothing was queued for that number either
        page.get_by_role("navigation").get_by_role("link", name="History").click()
        rows = page.locator("tbody[data-rows] tr")
        expect(rows).to_have_count(2)  # the SMS sent and the reply
        expect(page.locator("tbody[data-rows]")).not_to_contain_text(STOP_NUMBER)
        shot.take("history")

        assert errors == [], errors


@pytest.mark.browser
def test_an_odyssey_account_sends_and_receives(tmp_path, odyssey, open_page):
    with running_sms_desk(tmp_path, ODYSSEY_API_BASE_URL=odyssey.base_url) as base_url:
        page = open_page(base_url)
        errors = record_page_errors(page)
        shot = Screenshots(page, "odyssey-")
        create_administrator(page, shot)

        # 1. The form: login and password, the optional sender left blank.
        choose_provider(page, "Odyssey Messaging")
        page.get_by_label("Odyssey login").fill(odyssey.login)
        page.get_by_label("Password", exact=True).fill(odyssey.password)
        expect(page.get_by_label("Sender name")).to_have_value("")
        shot.take("phone-form")
        page.get_by_role("button", name="Save").click()

        # 2. The phone's page: two callbacks to add under Configurer → CallBack API.
        status_url, inbound_url = saved_phone_page(page, base_url, "Odyssey Messaging")
        steps = page.locator("ol.steps li")
        expect(steps).to_have_count(5)
        expect(steps.nth(1)).to_contain_text("ItemStatusChanged")
        expect(steps.nth(1)).to_contain_text(status_url)
        expect(steps.nth(2)).to_contain_text("InboundSMS")
        expect(steps.nth(2)).to_contain_text(inbound_url)
        expect(steps.nth(3)).to_contain_text("OptOut")  # STOP replies, to the same address
        expect(steps.nth(3)).to_contain_text(inbound_url)
        odyssey.status_url, odyssey.inbound_url = status_url, inbound_url

        click_test_the_connection(page, "Odyssey accepted the login and the password.")
        checks = [r for r in odyssey.requests if r.path == "/api/v1/JobTypes"]
        assert checks and checks[-1].auth == (odyssey.login, odyssey.password) and checks[-1].status == 200, checks
        shot.take("phone")

        # 3. An SMS, reported delivered (ItemStatusChanged, Outcome S), followed live.
        odyssey.auto_status = True
        text = "Hello from Odyssey, see you at 1 pm."
        send_sms(page, "Odyssey Messaging", TYPED_NUMBER, text)
        expect(page).to_have_url(re.compile(r"/messages/\d+$"))
        expect(page.get_by_role("heading", name=f"SMS to {NUMBER}")).to_be_visible()
        shot.take("message-queued")
        message_url = page.url
        expect_delivered(page)
        job = odyssey.last_job
        assert job.addresses == ["0033612345678"] and job.text == text, job
        assert job.sender is None and "Parameter" not in job.payload, job.payload  # sender left blank
        assert job.ignored_fields == [], job.ignored_fields
        assert [c.url for c in odyssey.callbacks] == [status_url], odyssey.callbacks
        assert 200 <= odyssey.callbacks[0].status_code < 300, odyssey.callbacks
        shot.take("message-delivered")
        page.reload()
        expect(page.locator(".facts")).to_contain_text(str(job.job_number))  # the provider's id
        timeline = page.locator(".timeline li").all_inner_texts()

        # 4. A reply from 0033612345678 (Odyssey's 00 form) lands in the conversation with +33612345678.
        open_conversation(page, NUMBER)
        thread = page.locator(".thread")
        expect(thread.locator(".bubble.out .bubble-text")).to_have_text(text)
        expect(thread.locator(".bubble.in")).to_have_count(0)
        answer = odyssey.send_inbound("0033612345678", "Réponse Odyssey")
        assert 200 <= answer.status_code < 300, (answer.status_code, answer.text)
        expect(thread.locator(".bubble.in .bubble-text")).to_have_text("Réponse Odyssey", timeout=20_000)
        expect(thread.locator(".bubble")).to_have_count(2)
        shot.take("conversation")

        # 5. Another kind of event (5, JOB_STATUS_CHANGED) is acknowledged and changes nothing.
        answer = odyssey.send_event(5, JobNumber=job.job_number)
        assert 200 <= answer.status_code < 300, (answer.status_code, answer.text)
        page.wait_for_timeout(3_000)  # more than one round of the page's polling (2.5 s)
        expect(thread.locator(".bubble")).to_have_count(2)
        expect(thread.locator(".bubble.out .ticks")).to_contain_text("✓✓")
        page.reload()
        expect(thread.locator(".bubble")).to_have_count(2)
        page.get_by_role("navigation").get_by_role("link", name="History").click()
        rows = page.locator("tbody[data-rows] tr")
        expect(rows).to_have_count(2)
        expect(rows.nth(0)).to_contain_text("Réponse Odyssey")
        expect(rows.nth(1)).to_contain_text("delivered")
        page.goto(message_url)
        expect(page.locator(".facts [data-status-badge]")).to_have_text("delivered")
        assert page.locator(".timeline li").all_inner_texts() == timeline  # no trace of the ignored event
        shot.take("after-other-event")
        assert len(odyssey.jobs) == 1

        assert errors == [], errors
