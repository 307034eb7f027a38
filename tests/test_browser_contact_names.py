"""An unknown number becomes a contact from its conversation, in Debian's chromium: the user texts
06 12 34 56 78, opens the conversation, follows "Add to contacts" (the number already filled in),
saves a name and is back in the conversation, headed with the name, which the conversations list
and the history then show beside the number. Screenshots at desktop width and at 390 px, in
English and French, in tests/screenshots/ (git-ignored), named contact-names-NN-…."""
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
    record_policy_violations,
    running_sms_desk,
)
from .test_browser_providers import NUMBER, send_sms  # noqa: E402

pytestmark = pytest.mark.browser


def test_an_unknown_number_is_added_to_contacts_from_its_conversation(open_page, tmp_path):
    with running_sms_desk(tmp_path) as base_url:
        page = open_page(base_url)
        errors = record_page_errors(page)
        violations = record_policy_violations(page)
        shot = Screenshots(page, prefix="contact-names-")
        create_administrator(page)
        choose_provider(page, "Simulator")
        page.get_by_role("button", name="Save").click()
        send_sms(page, "Simulator", "Bonjour, c’est l’école : Léa a oublié son manteau.")

        follow_menu_link(page, "Conversations")
        page.get_by_role("link", name=NUMBER).click()
        heading = page.get_by_role("heading", level=1)
        expect(heading).to_contain_text(f"Conversation with {NUMBER}")
        page.set_viewport_size({"width": 390, "height": 844})
        shot.take("unknown-number-390")
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        heading.get_by_role("link", name="Add to contacts").click()
        expect(page.get_by_label("Number", exact=True)).to_have_value(NUMBER)
        page.get_by_label("Name", exact=True).fill("Maman de Léa")
        shot.take("contact-form-390")
        page.get_by_role("button", name="Save").click()

        expect(page).to_have_url(re.compile(r"/conversations/" + re.escape(NUMBER) + "$"))
        expect(page.locator(".flash")).to_contain_text("Contact “Maman de Léa” added.")
        expect(heading).to_contain_text(f"Conversation with Maman de Léa {NUMBER}")
        expect(heading.get_by_role("link", name="Add to contacts")).to_have_count(0)
        shot.take("named-conversation-390")
        follow_menu_link(page, "Conversations")
        row = page.locator(f"[data-conversation='{NUMBER}']")
        expect(row).to_contain_text("Maman de Léa")
        expect(row.get_by_role("link", name="Add to contacts")).to_have_count(0)
        shot.take("conversations-390")
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        page.get_by_label("Search", exact=True).fill("maman de lea")
        page.get_by_role("button", name="Search").click()
        expect(page.locator("[data-conversation]")).to_have_count(1)
        page.set_viewport_size({"width": 1280, "height": 900})
        follow_menu_link(page, "History")
        expect(page.locator("tbody tr").first).to_contain_text(f"Maman de Léa {NUMBER}")
        shot.take("history")

        page.goto("/account")
        page.get_by_label("Language").select_option("fr")
        page.get_by_role("button", name="Save").click()
        page.set_viewport_size({"width": 390, "height": 844})
        page.goto("/history")
        expect(page.locator("tbody tr").first).to_contain_text("Maman de Léa")
        shot.take("history-fr-390")
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        assert errors == [] and violations == []
