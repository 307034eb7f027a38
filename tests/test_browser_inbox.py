"""A reply arriving while the user is on another page, in Debian's chromium: the menu's badge, the
title's count and a toast with a sound appear without a reload; the conversation opens from the
toast and the badge clears. Screenshots at desktop width and at 390 px."""
import re

import pytest
import requests

from .browser_support import CHROMIUM
from .conftest import wait_for

if not CHROMIUM.exists():
    pytest.skip("Debian's chromium is not installed (apt-get install chromium)", allow_module_level=True)

from playwright.sync_api import expect  # noqa: E402

from .browser_support import (  # noqa: E402
    follow_menu_link,
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
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
REPLY_TEXT = "Merci pour le rappel ! Je viendrai chercher Léa à 16 h 30, devant le portail de l'école."
# counts the tones the page plays (WebAudio makes no sound a test could hear) and keeps the titles
# of the browser notifications it shows (headless chromium draws none)
RECORD_TONES_AND_NOTIFICATIONS = """(() => {
  window.tonesPlayed = 0;
  const create = AudioContext.prototype.createOscillator;
  AudioContext.prototype.createOscillator = function () { window.tonesPlayed += 1; return create.call(this); };
  window.notificationsShown = [];
  const RealNotification = window.Notification;
  window.Notification = class extends RealNotification {
    constructor(title, options) { super(title, options); window.notificationsShown.push(title + ": " + options.body); }
  };
})();"""


def reply_as_the_simulator(inbound_url: str, text: str, message_id: str) -> None:
    """What the simulated provider posts to the phone's inbound URL when a handset answers."""
    response = requests.post(inbound_url, data={"message_id": message_id, "from": NUMBER, "text": text}, timeout=10)
    assert response.status_code == 200, response.text


def test_a_reply_shows_on_another_page_and_clears_once_its_conversation_is_opened(tmp_path, browser, open_page):  # noqa: F811
    with running_sms_desk(tmp_path) as base_url:
        page = open_page(base_url)
        page.add_init_script(RECORD_TONES_AND_NOTIFICATIONS)
        errors = record_page_errors(page)
        violations = record_policy_violations(page)
        shot = Screenshots(page, prefix="inbox-")
        create_administrator(page)
        choose_provider(page, "Simulator")
        page.get_by_role("button", name="Save").click()
        inbound_url = page.locator("#url-inbound").input_value()

        follow_menu_link(page, "New SMS")
        page.get_by_label("To", exact=True).fill("06 12 34 56 78")
        page.get_by_label("Message").fill("Rappel : sortie à la piscine demain, départ 14 h.")
        page.get_by_role("button", name="Send", exact=True).click()
        expect(page).to_have_url(re.compile(r"/messages/\d+$"))

        # On another page when the reply comes: the badge, the title and a toast, without a reload.
        follow_menu_link(page, "History")
        expect(page.get_by_role("heading", name="History")).to_be_visible()
        page.get_by_role("heading", name="History").click()  # a page may play sound once touched
        badge = page.locator("[data-unread-badge]")
        expect(badge).to_be_hidden()
        reply_as_the_simulator(inbound_url, REPLY_TEXT, "SIMIN-reply-1")
        expect(badge).to_have_text("1", timeout=10_000)
        expect(page).to_have_title(re.compile(r"^\(1\) History · SMS Desk$"))
        toast = page.locator(".toast")
        expect(toast).to_contain_text(f"New SMS from {NUMBER}")
        expect(toast).to_contain_text(REPLY_TEXT[:40])
        assert toast.evaluate("toast => toast.closest('[aria-live]').getAttribute('aria-live')") == "polite"
        expect(page).to_have_url(re.compile(r"/history$"))  # no reload, no move
        assert page.evaluate("window.tonesPlayed") >= 1
        shot.take("toast-desktop")
        page.set_viewport_size({"width": 390, "height": 844})
        expect(toast).to_be_visible()
        box = toast.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= 390
        shot.take("toast-390")

        # The toast opens the conversation, which reads it: the badge clears.
        toast.get_by_role("link").click()
        expect(page.get_by_role("heading", name=f"Conversation with {NUMBER}")).to_be_visible()
        expect(page.locator(".thread .bubble.in .bubble-text")).to_have_text(REPLY_TEXT)
        expect(badge).to_be_hidden()
        expect(page).to_have_title(f"{NUMBER} · SMS Desk")
        shot.take("conversation-390")

        # The list, with the sound turned off: a second reply shows, without a sound.
        follow_menu_link(page, "Conversations")
        row = page.locator("[data-conversation]")
        expect(row).to_have_count(1)
        expect(row).to_contain_text(REPLY_TEXT[:30])
        page.get_by_label("Play a sound").uncheck()
        tones_before = page.evaluate("window.tonesPlayed")
        reply_as_the_simulator(inbound_url, "Et pour le goûter ?", "SIMIN-reply-2")
        expect(badge).to_have_text("1", timeout=10_000)
        expect(page.locator(".toast").last).to_contain_text("Et pour le goûter ?")
        expect(row.locator(".unread-count")).to_have_text("1", timeout=10_000)  # the list refreshes by itself
        assert page.evaluate("window.tonesPlayed") == tones_before
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        shot.take("conversations-390")
        page.set_viewport_size({"width": 1280, "height": 900})
        shot.take("conversations-desktop")

        # Marked read from the list, then unread again by hand.
        row.get_by_role("button", name="Mark as read").click()
        expect(badge).to_be_hidden()
        row.get_by_role("button", name="Mark as unread").click()
        expect(badge).to_have_text("1")
        page.get_by_label("Search").fill("06 12")
        page.get_by_role("button", name="Search").click()
        expect(row).to_have_count(1)
        page.get_by_label("Search").fill("goûter")
        page.get_by_role("button", name="Search").click()
        expect(row).to_have_count(1)

        # Allowed, a browser notification when another tab is in front.
        page.context.grant_permissions(["notifications"], origin=base_url)
        page.reload()
        page.get_by_role("button", name="Also show browser notifications").click()
        expect(page.get_by_text("Browser notifications are on.")).to_be_visible()
        # Playwright makes every page believe it has the focus: stop that, and put another tab in front
        page.context.new_cdp_session(page).send("Emulation.setFocusEmulationEnabled", {"enabled": False})
        elsewhere = page.context.new_page()
        elsewhere.goto("about:blank")
        elsewhere.bring_to_front()
        reply_as_the_simulator(inbound_url, "Vu, merci", "SIMIN-reply-4")
        wait_for(lambda: page.evaluate("window.notificationsShown"), timeout=20, message="a notification")
        assert page.evaluate("window.notificationsShown") == [f"New SMS from {NUMBER}: Vu, merci"]
        elsewhere.close()

        # In French, at 390 px.
        french = browser.new_context(locale="fr-FR", base_url=base_url, viewport={"width": 390, "height": 844})
        page = french.new_page()
        errors += record_page_errors(page)
        shot = Screenshots(page, prefix="inbox-fr-")
        page.goto("/login")
        page.locator("input[name=email]").fill(ADMIN_EMAIL)
        page.locator("input[name=password]").fill(ADMIN_PASSWORD)
        page.locator("input[type=submit]").click()
        page.goto("/conversations")
        badge, row = page.locator("[data-unread-badge]"), page.locator("[data-conversation]")
        expect(page.get_by_role("heading", name="Quand un SMS arrive")).to_be_visible()
        expect(row.get_by_role("button", name="Marquer comme lue")).to_be_visible()
        reply_as_the_simulator(inbound_url, "À tout à l'heure", "SIMIN-reply-3")
        expect(page.locator(".toast").last).to_contain_text(f"Nouveau SMS de {NUMBER}", timeout=10_000)
        expect(badge).to_have_text("3")
        expect(row).to_contain_text("À tout à l'heure", timeout=10_000)  # the list refreshes by itself
        expect(row.locator(".unread-count")).to_have_text("3")
        expect(page).to_have_title(re.compile(r"^\(3\) Conversations · SMS Desk$"))
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        shot.take("conversations-390")
        french.close()
        assert errors == [] and violations == []
