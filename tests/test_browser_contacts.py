"""A newcomer keeps their contacts in Debian's chromium: adds three (one from Réunion typed without
its country code, each with a class), gathers two in a group from the contact list, makes a smart
group "class = 6B", finds Hélène by typing "helene", and ticks "select all" to delete but cancels.
Screenshots at desktop width and at 390 px, in English and French, go to tests/screenshots/
(git-ignored), named contacts-NN-….
"""
import pytest

from .browser_support import CHROMIUM

if not CHROMIUM.exists():
    pytest.skip("Debian's chromium is not installed (apt-get install chromium)", allow_module_level=True)

from playwright.sync_api import expect  # noqa: E402

from .browser_support import (  # noqa: E402
    Screenshots,
    browser,  # noqa: F401 (a fixture)
    create_administrator,
    open_page,  # noqa: F401 (a fixture)
    record_page_errors,
    record_policy_violations,
    running_sms_desk,
)

pytestmark = pytest.mark.browser

PEOPLE = [("Hélène Dupont", "06 12 34 56 78", "6B"), ("Bruno Martin", "0692 12 34 56", "6B"),
          ("Chloé Petit", "+33 6 98 76 54 32", "5A")]


def add_contact(page, name, number, school_class):
    page.get_by_role("link", name="Add a contact").click()
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_label("Number", exact=True).fill(number)
    page.locator("#extra_fields-0-key").fill("class")
    page.locator("#extra_fields-0-value").fill(school_class)
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".flash")).to_contain_text(f"Contact “{name}” added.")


def test_a_newcomer_adds_contacts_makes_groups_and_searches(open_page, tmp_path):
    with running_sms_desk(tmp_path) as base_url:
        page = open_page(base_url)
        errors = record_page_errors(page)
        violations = record_policy_violations(page)
        shot = Screenshots(page, prefix="contacts-")
        create_administrator(page)
        page.get_by_role("navigation").get_by_role("link", name="Contacts", exact=True).click()
        expect(page.get_by_text("You have no contact yet.")).to_be_visible()
        for person in PEOPLE:
            add_contact(page, *person)
        rows = page.locator("table.contacts-table tbody tr")
        expect(rows).to_have_count(3)
        expect(page.get_by_role("row", name="Bruno Martin")).to_contain_text("+262692123456")  # Réunion
        shot.take("list")

        page.get_by_role("link", name="Groups", exact=True).click()
        page.get_by_label("Group name").fill("Choir")
        page.get_by_role("button", name="Create the group").click()
        expect(page.get_by_text("0 members")).to_be_visible()
        page.get_by_role("link", name="Contacts", exact=True).last.click()
        page.get_by_label("Select Hélène Dupont").check()
        page.get_by_label("Select Chloé Petit").check()
        page.get_by_role("button", name="Add to group").click()
        expect(page.locator(".flash")).to_contain_text("2 contacts added to “Choir”.")
        expect(page.locator("#group_id")).to_contain_text("Choir (2)")

        page.get_by_role("link", name="Groups", exact=True).click()
        page.get_by_role("link", name="New smart group").click()
        page.get_by_label("Group name").fill("Class 6B")
        page.locator("#conditions-0-field").fill("class")
        page.locator("#conditions-0-operator").select_option("=")
        page.locator("#conditions-0-value").fill("6b")
        page.get_by_role("button", name="Show who is in it").click()
        expect(page.get_by_role("heading", name="2 contacts meet these conditions")).to_be_visible()
        shot.take("smart-group-preview")
        page.get_by_role("button", name="Save").click()
        expect(page.get_by_role("heading", level=1)).to_contain_text("Class 6B")
        expect(page.get_by_role("heading", level=1)).to_contain_text("2 members")
        expect(page.locator("table.contacts-table")).to_contain_text("Bruno Martin")
        expect(page.locator("table.contacts-table")).not_to_contain_text("Chloé")
        page.get_by_role("link", name="Groups", exact=True).click()
        expect(page.get_by_role("row", name="Choir")).to_contain_text("2 members")
        expect(page.get_by_role("row", name="Class 6B")).to_contain_text("2 members")
        shot.take("groups")

        page.get_by_role("link", name="Contacts", exact=True).last.click()
        page.get_by_label("Search", exact=True).fill("helene")
        page.get_by_role("button", name="Search").click()
        expect(rows).to_have_count(1)
        expect(rows).to_contain_text("Hélène Dupont")
        shot.take("search")

        page.get_by_role("link", name="Clear").click()
        page.get_by_label("Select all").check()
        page.get_by_role("button", name="Delete…").click()
        expect(page.get_by_role("heading", name="Delete 3 contacts?")).to_be_visible()
        shot.take("confirm-delete")
        page.get_by_role("link", name="Cancel").click()
        expect(rows).to_have_count(3)

        page.set_viewport_size({"width": 390, "height": 844})
        shot.take("list-390")
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        page.get_by_role("link", name="Groups", exact=True).click()
        page.get_by_role("link", name="Class 6B").click()
        shot.take("smart-group-390")
        page.get_by_role("link", name="Edit").click()
        shot.take("smart-group-form-390")
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        page.goto("/contacts/new")
        shot.take("contact-form-390")
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        page.goto("/account")
        page.get_by_label("Language").select_option("fr")
        page.get_by_role("button", name="Save").click()
        for path, heading in [("/contacts/", "Contacts"), ("/contacts/groups/", "Groupes")]:
            page.goto(path)
            expect(page.get_by_role("heading", level=1)).to_contain_text(heading)
            shot.take(f"{heading.lower()}-fr-390")
            assert page.evaluate("document.documentElement.scrollWidth") <= 390
        assert errors == [] and violations == []
