"""The history on a phone-sized screen (390 px) in Debian's chromium: 60 SMS sent through the real
worker, found by a text typed without accents in capitals, paged older and newer, and downloaded
as CSV with the filter. Full-page screenshots go to tests/screenshots/ (git-ignored), named history-NN-….
"""
import csv
import io
import re

import pytest

from .browser_support import CHROMIUM

if not CHROMIUM.exists():
    pytest.skip("Debian's chromium is not installed (apt-get install chromium)", allow_module_level=True)

from playwright.sync_api import expect  # noqa: E402

from .browser_support import (  # noqa: E402
    Screenshots,
    browser,  # noqa: F401 (a fixture)
    confirm_the_sending,
    choose_provider,
    create_administrator,
    open_page,  # noqa: F401 (a fixture)
    record_page_errors,
    running_sms_desk,
)

pytestmark = pytest.mark.browser


def test_history_search_pages_and_export_on_a_phone(open_page, tmp_path):
    with running_sms_desk(tmp_path) as base_url:
        page = open_page(base_url)
        page.set_viewport_size({"width": 390, "height": 844})
        errors = record_page_errors(page)
        shot = Screenshots(page, "history-")
        create_administrator(page)
        choose_provider(page, "Simulator")
        page.get_by_role("button", name="Save").click()
        expect(page).to_have_url(re.compile(r"/phones/\d+$"))
        page.goto("/compose")
        page.get_by_label("To").fill("\n".join(f"06 12 34 56 {i:02d}" for i in range(60)))
        page.get_by_label("Message").fill("Réunion des élèves à l'école")
        page.get_by_role("button", name="Send", exact=True).click()
        confirm_the_sending(page)
        expect(page).not_to_have_url(re.compile(r"/campaigns/drafts/"))

        page.goto("/history")
        expect(page.get_by_label("Text contains")).to_be_hidden()  # a phone shows the list first
        page.locator("summary", has_text="Filters").click()
        page.get_by_label("Text contains").fill("REUNION DES ELEVES")
        page.get_by_role("button", name="Filter").click()
        expect(page.get_by_text("60 messages match.")).to_be_visible()
        expect(page.locator("[data-message-id]")).to_have_count(50)
        expect(page.get_by_label("Text contains")).to_have_value("REUNION DES ELEVES")  # filters in use stay open
        shot.take("search")
        assert page.evaluate("document.documentElement.scrollWidth") <= 390  # nothing wider than the screen
        page.get_by_role("link", name="Older messages").click()
        expect(page.locator("[data-message-id]")).to_have_count(10)
        shot.take("older")
        page.get_by_role("link", name="Newer messages").click()
        expect(page.locator("[data-message-id]")).to_have_count(50)
        expect(page.get_by_role("link", name="Newer messages")).to_have_count(0)

        with page.expect_download() as download:
            page.get_by_role("link", name="Export as CSV").click()
        rows = list(csv.DictReader(io.StringIO(download.value.path().read_text(encoding="utf-8"))))
        assert len(rows) == 60 and rows[0]["text"] == "Réunion des élèves à l'école"
        assert errors == []
