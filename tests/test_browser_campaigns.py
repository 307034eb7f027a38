"""A newcomer's first campaign in Debian's chromium: a Simulator phone, three contacts with a first
name (one without), a group of them, an SMS "Bonjour {first_name}" to the group, the confirmation
(the one without a first name listed, a fallback typed, the preview following the chosen recipient
and the fallback), then the campaign's page filling up live until all are delivered. Screenshots at
desktop width and at 390 px go to tests/screenshots/ (git-ignored), named campaigns-NN-….
"""
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
    create_administrator,
    open_page,  # noqa: F401 (a fixture)
    record_page_errors,
    record_policy_violations,
    running_sms_desk,
)

pytestmark = pytest.mark.browser

PEOPLE = [("Hélène Dupont", "06 12 34 56 78", "Hélène"), ("Bruno Martin", "06 98 76 54 32", "Bruno"),
          ("M. Leroy", "06 11 22 33 44", None)]


def add_contact(page, name, number, first_name):
    page.goto("/contacts/new")
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_label("Number", exact=True).fill(number)
    if first_name:
        page.locator("#extra_fields-0-key").fill("first_name")
        page.locator("#extra_fields-0-value").fill(first_name)
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".flash")).to_contain_text(f"Contact “{name}” added.")


def test_a_group_gets_a_personalized_campaign_followed_on_its_page(open_page, tmp_path):
    with running_sms_desk(tmp_path) as base_url:
        page = open_page(base_url)
        errors = record_page_errors(page)
        violations = record_policy_violations(page)
        shot = Screenshots(page, prefix="campaigns-")
        create_administrator(page)
        page.locator("a.card.provider", has=page.get_by_role("heading", name="Simulator", exact=True)).click()
        page.get_by_label("Delivery delay (seconds)").fill("1")
        page.get_by_role("button", name="Save").click()
        expect(page).to_have_url(re.compile(r"/phones/\d+$"))
        for person in PEOPLE:
            add_contact(page, *person)
        page.goto("/contacts/")
        page.get_by_role("link", name="Groups", exact=True).click()
        page.get_by_label("Group name").fill("Parents")
        page.get_by_role("button", name="Create the group").click()
        page.get_by_role("link", name="Contacts", exact=True).last.click()
        page.get_by_label("Select all").check()
        page.get_by_role("button", name="Add to group").click()
        expect(page.locator(".flash")).to_contain_text("3 contacts added to “Parents”.")

        page.get_by_role("link", name="Groups", exact=True).click()
        page.get_by_role("link", name="Parents").click()
        page.get_by_role("link", name="Send an SMS to this group").click()
        expect(page.get_by_label("Parents (3)")).to_be_checked()
        page.get_by_label("Message").fill("Bonjour {first_name}, la réunion est jeudi à 18 h.")
        shot.take("compose")
        page.get_by_role("button", name="Send").click()

        expect(page.get_by_role("heading", name="Confirm the sending")).to_be_visible()
        expect(page.locator("[data-review-figures]")).to_contain_text("3recipients")
        expect(page.locator("[data-missing='first_name']")).to_contain_text("M. Leroy — +33611223344")
        expect(page.locator("[data-preview-text]")).to_have_text("Bonjour Bruno, la réunion est jeudi à 18 h.")
        page.get_by_label("For", exact=True).select_option(label="Hélène Dupont — +33612345678")
        expect(page.locator("[data-preview-text]")).to_have_text("Bonjour Hélène, la réunion est jeudi à 18 h.")
        page.get_by_label("For them").select_option("fallback")
        page.get_by_label("Instead of {first_name}").fill("Madame, Monsieur")
        page.get_by_label("For", exact=True).select_option(label="M. Leroy — +33611223344")
        expect(page.locator("[data-preview-text]")).to_have_text("Bonjour Madame, Monsieur, la réunion est jeudi à 18 h.")
        expect(page.locator("[data-preview-cost]")).to_contain_text("1 SMS")
        shot.take("review")
        page.set_viewport_size({"width": 390, "height": 844})
        shot.take("review-390")
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        page.set_viewport_size({"width": 1280, "height": 900})
        page.get_by_role("button", name="Send 3 SMS").click()

        expect(page).to_have_url(re.compile(r"/campaigns/\d+$"))
        expect(page.locator(".flash.success")).to_contain_text("3 SMS are on their way.")
        expect(page.locator("[data-progress-percent]")).to_have_text("100 %", timeout=20_000)
        expect(page.locator("[data-status-count='delivered']")).to_contain_text("3")
        expect(page.locator("tbody tr")).to_have_count(3)
        expect(page.locator("tbody")).to_contain_text("Bonjour Madame, Monsieur")
        shot.take("campaign")
        page.set_viewport_size({"width": 390, "height": 844})
        page.reload()
        shot.take("campaign-390")
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        follow_menu_link(page, "Campaigns")
        expect(page.locator("tbody tr")).to_have_count(1)
        shot.take("list-390")
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        assert errors == [] and violations == []
