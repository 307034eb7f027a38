"""A newcomer imports their contacts from a spreadsheet's CSV export in Debian's chromium: a
semicolon-separated Latin-1 file with a header row and one bad number, the columns as guessed, a new
group, the progress page refreshing itself until the report, and the rejected row. Screenshots at
desktop width and at 390 px go to tests/screenshots/ (git-ignored), named import-NN-….
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

SPREADSHEET = ("Nom;Téléphone;Classe;Né le\nHélène Dupont;06 12 34 56 78;6B;2014-03-02\n"
               "Bruno Martin;0692 12 34 56;6B;2014-07-19\nChloé Petit;+33 6 98 76 54 32;5A;2013-11-30\n"
               "Zoé Faure;06 12;5A;2013-01-08\n")


def test_a_newcomer_imports_a_csv_into_a_new_group(open_page, tmp_path):
    csv_file = tmp_path / "élèves.csv"
    csv_file.write_bytes(SPREADSHEET.encode("latin-1"))
    with running_sms_desk(tmp_path) as base_url:
        page = open_page(base_url)
        errors = record_page_errors(page)
        violations = record_policy_violations(page)
        shot = Screenshots(page, prefix="import-")
        create_administrator(page)
        page.get_by_role("navigation").get_by_role("link", name="Contacts", exact=True).click()
        page.get_by_role("link", name="Or import them from a spreadsheet (CSV).").click()
        page.get_by_label("CSV file").set_input_files(str(csv_file))
        shot.take("upload")
        page.get_by_role("button", name="Upload and preview").click()

        expect(page.get_by_role("heading", level=1)).to_contain_text("élèves.csv")
        expect(page.get_by_text("Read as Latin-1 / Windows-1252 text.")).to_be_visible()
        preview = page.locator("table.import-preview")
        expect(preview).to_contain_text("Hélène Dupont")
        expect(page.get_by_label("Columns separated by")).to_have_value("semicolon")
        expect(page.get_by_label("What column 1 holds")).to_have_value("name")
        expect(page.get_by_label("What column 2 holds")).to_have_value("number")
        expect(page.get_by_label("Field name of column 3")).to_have_value("Classe")
        page.get_by_label("Field name of column 4").fill("born")
        page.get_by_label("or in a new group named").fill("Parents")
        shot.take("columns")
        page.set_viewport_size({"width": 390, "height": 844})
        shot.take("columns-390")
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        page.set_viewport_size({"width": 1280, "height": 900})
        page.get_by_role("button", name="Import the contacts").click()

        expect(page.get_by_text("Import finished.")).to_be_visible(timeout=30_000)  # the page refreshed itself
        expect(page.get_by_text("3 contacts added")).to_be_visible()
        expect(page.get_by_text("1 row rejected")).to_be_visible()
        rejected = page.locator("table.rejections")
        expect(rejected).to_contain_text("06 12")
        expect(rejected).to_contain_text("not a valid number: it has too few or too many digits")
        shot.take("report")
        with page.expect_download() as download:
            page.get_by_role("link", name="Download the rejected rows (CSV)").click()
        assert "06 12" in download.value.path().read_text()
        page.set_viewport_size({"width": 390, "height": 844})
        shot.take("report-390")
        assert page.evaluate("document.documentElement.scrollWidth") <= 390

        page.get_by_role("link", name="See the group “Parents”").click()
        expect(page.get_by_role("heading", level=1)).to_contain_text("3 members")
        expect(page.locator("table.contacts-table")).to_contain_text("Bruno Martin")
        expect(page.locator("table.contacts-table")).to_contain_text("+262692123456")  # Réunion
        shot.take("group-390")
        page.goto("/account")
        page.get_by_label("Language").select_option("fr")
        page.get_by_role("button", name="Save").click()
        page.goto("/contacts/import")
        expect(page.get_by_role("heading", level=1)).to_contain_text("Importer des contacts")
        shot.take("upload-fr-390")
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        assert errors == [] and violations == []
