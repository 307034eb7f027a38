"""The statistics page in Debian's chromium, once SMS went and came: its charts are drawn from the
tables' numbers, a chart's CSV downloads, and it fits 390 px. Screenshots at 1366 and 390 px."""
import csv
import io
import re

import pytest
import requests

from .browser_support import CHROMIUM

if not CHROMIUM.exists():
    pytest.skip("Debian's chromium is not installed (apt-get install chromium)", allow_module_level=True)

from playwright.sync_api import expect  # noqa: E402

from .browser_support import (  # noqa: E402
    SCREENSHOTS,
    Screenshots,
    browser,  # noqa: F401 (a fixture)
    confirm_the_sending,
    create_administrator,
    open_page,  # noqa: F401 (a fixture)
    record_page_errors,
    record_policy_violations,
    running_sms_desk,
)

pytestmark = pytest.mark.browser


def test_the_statistics_page_draws_its_charts_and_downloads_their_numbers(tmp_path, browser, open_page):  # noqa: F811
    with running_sms_desk(tmp_path) as base_url:
        page = open_page(base_url)
        errors = record_page_errors(page)
        violations = record_policy_violations(page)
        shot = Screenshots(page, prefix="statistics-")
        create_administrator(page)
        page.goto("/phones/new/simulator")
        page.get_by_label("Fail numbers ending with").fill("9")
        page.get_by_role("button", name="Save").click()
        inbound_url = page.locator("#url-inbound").input_value()
        page.goto("/compose")
        page.get_by_label("To").fill("06 12 34 56 79, 06 12 34 56 78, 06 12 34 56 77, 06 12 34 56 76")
        page.get_by_label("Message").fill("Rappel : réunion des parents jeudi à 18 h.")
        page.get_by_role("button", name="Send", exact=True).click()
        confirm_the_sending(page)
        answer = requests.post(inbound_url, data={"message_id": "SIMIN-1", "from": "+33612345678",
                                                  "text": "Bien reçu"}, timeout=10)
        assert answer.status_code == 200

        page.get_by_role("navigation").get_by_role("link", name="Statistics").click()
        expect(page.get_by_role("heading", name="Statistics", level=1)).to_be_visible()
        today = page.locator("[data-table=daily] tbody tr").first
        for _ in range(30):  # the simulator reports within a second or two
            if today.locator('[data-status="delivered"]').count() and \
                    today.locator('[data-status="delivered"]').inner_text() == "3":
                break
            page.wait_for_timeout(500)
            page.reload()
        expect(today.locator('[data-status="delivered"]')).to_have_text("3")
        expect(today.locator('[data-status="failed"]')).to_have_text("1")
        expect(today.locator('[data-status="received"]')).to_have_text("1")
        expect(page.locator("[data-table=phones] [data-figure=rate]").first).to_have_text("75%")
        expect(page.locator("[data-table=failures]")).to_contain_text("could not be reached")
        for chart in ("daily", "phones"):
            canvas = page.locator(f"canvas[data-chart={chart}]")
            expect(canvas).to_have_attribute("data-drawn", "1")
            assert canvas.get_attribute("aria-label")
            assert canvas.bounding_box()["height"] > 100
        drawn = page.evaluate("""() => {
            const chart = Chart.getChart(document.querySelector('canvas[data-chart=daily]'));
            return Object.fromEntries(chart.data.datasets.map((set) => [set.label, set.data.at(-1)]));
        }""")
        assert drawn == {"delivered": 3, "failed": 1, "received": 1}

        page.set_viewport_size({"width": 1366, "height": 900})
        shot.take("1366")
        page.set_viewport_size({"width": 390, "height": 844})
        page.wait_for_timeout(300)  # the charts follow their box's new width
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        assert page.locator("canvas[data-chart=daily]").bounding_box()["width"] <= 390
        table = page.locator("[data-table=daily]")
        assert table.evaluate("table => table.scrollWidth <= table.parentElement.clientWidth")  # no sideways scroll
        shot.take("390")
        table.locator("xpath=ancestor::section").screenshot(path=SCREENSHOTS / "statistics-390-daily.png")

        with page.expect_download() as download_info:
            page.locator("a[data-csv=daily]").click()
        download = download_info.value
        assert re.fullmatch(r"sms-daily-\d{4}-\d\d-\d\d-\d{4}-\d\d-\d\d\.csv", download.suggested_filename)
        rows = list(csv.DictReader(io.StringIO(open(download.path(), encoding="utf-8").read())))
        assert len(rows) == 30
        assert (rows[-1]["delivered"], rows[-1]["failed"], rows[-1]["received"]) == ("3", "1", "1")

        page.goto("/statistics/?start=2026-12-10&end=2026-12-01")
        expect(page.locator("[data-range-problem]")).to_have_text("The end date comes before the start date.")
        errors = [error for error in errors if "HTTP 400" not in error]  # that refusal answers 400
        assert errors == [] and violations == []
