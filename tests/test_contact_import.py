"""Contacts imported from a CSV and exported as one, through the pages a user fills in; the worker's
job is run here (run_queued_jobs) except in the end-to-end test, which has a real worker."""
import csv
import io
import re
from html.parser import HTMLParser

import pytest

from webapp.extensions import db
from webapp.models import Contact, ContactGroupMember, ContactImport, ContactImportRejection
from webapp.services import contact_files
from webapp.services import contacts as contact_service

from .conftest import login, make_user, post_form, run_queued_jobs, wait_for
from .test_contacts import make_contact, make_group


class FormValues(HTMLParser):
    """What a browser would send for the page's form: its inputs, checked boxes and selected options."""

    def __init__(self):
        super().__init__()
        self.values, self.select, self.first_option = {}, None, None

    def handle_starttag(self, tag, attributes):
        attributes = dict(attributes)
        name = attributes.get("name")
        if tag == "input" and name and attributes.get("type", "text") not in ("submit", "file"):
            if attributes.get("type") in ("checkbox", "radio"):
                if "checked" in attributes:
                    self.values[name] = attributes.get("value", "y")
            else:
                self.values[name] = attributes.get("value", "")
        elif tag == "select":
            self.select, self.first_option = name, None
        elif tag == "option" and self.select:
            if self.first_option is None:
                self.first_option = attributes.get("value")
                self.values.setdefault(self.select, self.first_option)
            if "selected" in attributes:
                self.values[self.select] = attributes.get("value")

    def handle_endtag(self, tag):
        if tag == "select":
            self.select = None


def form_values(html: str) -> dict:
    parser = FormValues()
    parser.feed(html)
    return parser.values


def upload(client, content: bytes, filename="contacts.csv"):
    return post_form(client, "/contacts/import", {"file": (io.BytesIO(content), filename)},
                     content_type="multipart/form-data")


def uploaded(client, content: bytes, filename="contacts.csv") -> int:
    response = upload(client, content, filename)
    assert response.status_code == 302, response.get_data(as_text=True)
    return int(re.search(r"/contacts/import/(\d+)$", response.headers["Location"]).group(1))


def start(client, import_id: int, **changes):
    page = client.get(f"/contacts/import/{import_id}").get_data(as_text=True)
    data = dict(form_values(page), submit="Import the contacts", **changes)
    return client.post(f"/contacts/import/{import_id}", data=data)


def imported(client, content: bytes, **changes) -> ContactImport:
    """Uploads the file, accepts the columns as guessed (with changes), and runs the worker's job."""
    import_id = uploaded(client, content)
    response = start(client, import_id, **changes)
    assert response.status_code == 302, response.get_data(as_text=True)
    run_queued_jobs()
    db.session.expire_all()
    return db.session.get(ContactImport, import_id)


def contacts_by_number() -> dict:
    db.session.expire_all()
    return {contact.number: contact for contact in db.session.query(Contact)}


SCHOOL = "nom;téléphone;classe\nHélène Dupont;06 12 34 56 78;6B\nLéo Cœur;0692 12 34 56;5A\n"


@pytest.mark.parametrize("codec, shown", [("utf-8", "UTF-8"), ("utf-8-sig", "UTF-8"),
                                          ("latin-1", "Latin-1 / Windows-1252"), ("cp1252", "Latin-1 / Windows-1252")])
def test_each_encoding_is_read_with_its_accents(logged_in, user, codec, shown):
    text = SCHOOL if codec == "cp1252" else SCHOOL.replace("Cœur", "Coeur")  # Latin-1 has no œ
    import_id = uploaded(logged_in, text.encode(codec))
    page = logged_in.get(f"/contacts/import/{import_id}").get_data(as_text=True)
    assert f"Read as {shown} text." in page and "Hélène Dupont" in page
    values = form_values(page)
    assert (values["columns-0-use"], values["columns-1-use"]) == ("name", "number")
    assert (values["columns-2-use"], values["columns-2-field"]) == ("field", "classe")
    assert start(logged_in, import_id).status_code == 302
    run_queued_jobs()
    stored = contacts_by_number()
    assert stored["+33612345678"].name == "Hélène Dupont" and stored["+33612345678"].fields == {"classe": "6B"}
    assert stored["+262692123456"].name == ("Léo Cœur" if codec == "cp1252" else "Léo Coeur")  # Réunion


@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
def test_each_delimiter_is_recognised(logged_in, user, delimiter):
    rows = [["name", "number", "class"], ["Dupont, Hélène", "+33612345678", "6B"], ["Léo", "0698765432", "5A"]]
    out = io.StringIO()
    csv.writer(out, delimiter=delimiter).writerows(rows)
    import_id = uploaded(logged_in, out.getvalue().encode())
    page = logged_in.get(f"/contacts/import/{import_id}").get_data(as_text=True)
    assert form_values(page)["delimiter"] == {",": "comma", ";": "semicolon", "\t": "tab"}[delimiter]
    assert "3 columns." in page
    start(logged_in, import_id)
    run_queued_jobs()
    stored = contacts_by_number()
    assert stored["+33612345678"].name == "Dupont, Hélène" and stored["+33698765432"].fields == {"class": "5A"}


def test_a_file_without_header_is_guessed_so_and_its_first_row_imported(logged_in, user):
    done = imported(logged_in, b"Helene,0612345678,6B\nLeo,0698765432,5A\n", **{"columns-2-use": "field",
                                                                              "columns-2-field": "class"})
    assert (done.has_header, done.added, done.rejected) == (False, 2, 0)
    assert contacts_by_number()["+33612345678"].fields == {"class": "6B"}


def test_reading_again_with_another_delimiter_and_header_choice_changes_the_preview(logged_in, user):
    import_id = uploaded(logged_in, b"name;number\nHelene;0612345678\n")
    page = logged_in.get(f"/contacts/import/{import_id}").get_data(as_text=True)
    response = logged_in.post(f"/contacts/import/{import_id}", data=dict(
        form_values(page), delimiter="comma", has_header="", read_again="Read the file again"))
    assert response.status_code == 302
    page = logged_in.get(f"/contacts/import/{import_id}").get_data(as_text=True)
    assert "1 column." in page and "Column 1" in page and "name;number" in page


def test_numbers_already_present_are_skipped_or_updated_as_chosen(logged_in, user):
    make_contact(user, "Hélène", "+33612345678", **{"class": "6A", "first_name": "Hélène"})
    file = b"name,number,class\nHelene D.,0612345678,6B\nLeo,0698765432,5A\n"
    skipped = imported(logged_in, file)
    assert (skipped.added, skipped.updated, skipped.skipped) == (1, 0, 1)
    helene = contacts_by_number()["+33612345678"]
    assert helene.name == "Hélène" and helene.fields == {"class": "6A", "first_name": "Hélène"}

    updated = imported(logged_in, file, on_existing="update")
    assert (updated.added, updated.updated, updated.skipped) == (0, 2, 0)
    helene = contacts_by_number()["+33612345678"]
    assert helene.name == "Helene D." and helene.fields == {"class": "6B", "first_name": "Hélène"}
    page = logged_in.get("/contacts/?q=6b").get_data(as_text=True)  # the search text was written anew
    assert "Helene D." in page


def test_the_contacts_go_into_an_existing_group_or_a_new_one(logged_in, user):
    choir = make_group(user, "Choir")
    make_contact(user, "Already there", "+33611111111")
    done = imported(logged_in, b"name,number\nHelene,0612345678\nAlready,0611111111\n", group_id=str(choir.id))
    members = {member.contact_id for member in db.session.query(ContactGroupMember).filter_by(group_id=choir.id)}
    assert len(members) == 2 and done.skipped == 1  # the contact left as it was is put in the group too
    page = logged_in.get(f"/contacts/import/{done.id}").get_data(as_text=True)
    assert "See the group “Choir”" in page

    fresh = imported(logged_in, b"name,number\nLeo,0698765432\n", new_group="Parents 6B")
    assert fresh.group.name == "Parents 6B"
    assert db.session.query(ContactGroupMember).filter_by(group_id=fresh.group_id).count() == 1


def test_a_new_group_named_like_an_existing_one_is_refused_in_the_form(logged_in, user):
    make_group(user, "Choir")
    import_id = uploaded(logged_in, b"name,number\nLeo,0698765432\n")
    response = start(logged_in, import_id, new_group="Choir")
    assert "You already have a group named “Choir”." in response.get_data(as_text=True)
    assert db.session.get(ContactImport, import_id).status == ContactImport.UPLOADED


def test_rejected_rows_are_reported_with_line_value_and_reason_and_downloadable(logged_in, user):
    file = ("name,number\nHelene,0612345678\nNobody,06 12\nNo number,\nTwice,+33 6 12 34 56 78\n\n"
            "Overseas,0690 12 34 56\nBad,=HYPERLINK(1)\n").encode()
    done = imported(logged_in, file)
    assert (done.added, done.rejected, done.total_rows, done.status) == (2, 4, 6, ContactImport.DONE)
    assert done.content is None  # the upload is not kept once imported
    page = logged_in.get(f"/contacts/import/{done.id}").get_data(as_text=True)
    assert "2 contacts added" in page and "4 rows rejected" in page
    assert "not a valid number: it has too few or too many digits" in page
    assert "the same number as line 2" in page and "no number in the number column" in page
    report = logged_in.get(f"/contacts/import/{done.id}/rejected.csv")
    assert report.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(report.get_data(as_text=True))))
    assert rows[0] == ["line", "value", "reason"]
    assert rows[1:4] == [["3", "06 12", "not a valid number: it has too few or too many digits"],
                         ["4", "", "no number in the number column"], ["5", "+33 6 12 34 56 78",
                                                                       "the same number as line 2"]]
    assert rows[4][0] == "8" and rows[4][1] == "'=HYPERLINK(1)"  # never run as a formula
    assert "+590690123456" in contacts_by_number()  # Guadeloupe, typed without its country code


def test_the_report_is_in_the_readers_language(logged_in, user):
    done = imported(logged_in, b"name,number\nNobody,06 12\n")
    user.locale = "fr"
    db.session.commit()
    page = logged_in.get(f"/contacts/import/{done.id}").get_data(as_text=True)
    assert "Lignes refusées" in page
    report = logged_in.get(f"/contacts/import/{done.id}/rejected.csv").get_data(as_text=True)
    assert report.splitlines()[0] == "ligne,valeur,raison"
    assert "pas un numéro valide" in report


@pytest.mark.parametrize("content, message", [
    (b"", "The file is empty."),
    (b"\n \n", "The file is empty."),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01", "This file is not text"),
    (bytes(range(1, 32)) * 40, "This file is not text"),
    (b"PK\x03\x04\x14\x00\x06\x00", "This is a spreadsheet file (Excel or LibreOffice), not a CSV."),
])
def test_an_unreadable_file_is_refused_in_the_form_and_nothing_is_stored(logged_in, user, content, message):
    response = upload(logged_in, content)
    assert response.status_code == 200 and message in response.get_data(as_text=True)
    assert db.session.query(ContactImport).count() == 0


def test_no_file_chosen_is_asked_for(logged_in):
    response = post_form(logged_in, "/contacts/import", {}, content_type="multipart/form-data")
    assert "Choose the file to import." in response.get_data(as_text=True)


@pytest.fixture
def app_config(app_config):
    return dict(app_config, CONTACT_IMPORT_MAX_BYTES=1024 * 1024)


def test_a_file_over_the_limit_is_refused_with_the_limit_and_the_contacts_are_untouched(logged_in, user):
    make_contact(user, "Hélène", "+33612345678")
    big = b"name,number\n" + b"".join(b"Someone,+3361%07d\n" % index for index in range(60_000))
    assert len(big) > 1024 * 1024
    response = upload(logged_in, big)
    assert response.status_code == 413
    assert "The file is larger than 1 MB." in response.get_data(as_text=True)
    assert db.session.query(ContactImport).count() == 0 and db.session.query(Contact).count() == 1


def test_a_file_just_under_the_limit_but_sent_larger_than_the_form_allows_is_refused_too(logged_in, user):
    big = b"name,number\n" + b"x" * (1024 * 1024 + 10)
    response = upload(logged_in, big)
    assert "The file is larger than 1 MB." in response.get_data(as_text=True)


def test_without_a_number_column_nothing_is_imported(logged_in, user):
    import_id = uploaded(logged_in, b"name,number\nHelene,0612345678\n")
    response = start(logged_in, import_id, **{"columns-1-use": "ignore"})
    assert response.status_code == 200
    assert "Choose the column that holds the numbers." in response.get_data(as_text=True)
    assert run_queued_jobs() == 0 and db.session.query(Contact).count() == 0
    response = start(logged_in, import_id, **{"columns-0-use": "number"})  # the names as numbers: two of them
    assert "Only one column can hold the numbers." in response.get_data(as_text=True)
    response = start(logged_in, import_id, **{"columns-0-use": "field", "columns-0-field": ""})
    assert "Give the field of column 1 a name." in response.get_data(as_text=True)


def test_sending_the_columns_twice_imports_once(logged_in, user):
    import_id = uploaded(logged_in, b"name,number\nHelene,0612345678\n")
    page = logged_in.get(f"/contacts/import/{import_id}").get_data(as_text=True)
    data = dict(form_values(page), submit="Import the contacts")
    assert logged_in.post(f"/contacts/import/{import_id}", data=data).status_code == 302
    assert logged_in.post(f"/contacts/import/{import_id}", data=data).status_code == 200  # the progress page
    assert run_queued_jobs() == 1
    assert db.session.get(ContactImport, import_id).added == 1


def test_the_progress_page_refreshes_itself_until_the_import_is_over(logged_in, user):
    import_id = uploaded(logged_in, b"name,number\nHelene,0612345678\n")
    start(logged_in, import_id)
    page = logged_in.get(f"/contacts/import/{import_id}").get_data(as_text=True)
    assert f'data-refresh="/contacts/import/{import_id}?fragment=progress"' in page
    assert "Waiting for the worker" in page and "data-refresh-done" not in page
    run_queued_jobs()
    fragment = logged_in.get(f"/contacts/import/{import_id}?fragment=progress").get_data(as_text=True)
    assert "Import finished." in fragment and "data-refresh-done" in fragment and "<html" not in fragment


def test_another_users_import_and_report_are_not_found(app, logged_in, user):
    other = login(app.test_client(), make_user("bob@example.org"))
    import_id = imported(other, b"name,number\nNobody,06 12\n").id
    for path in (f"/contacts/import/{import_id}", f"/contacts/import/{import_id}?fragment=progress",
                 f"/contacts/import/{import_id}/rejected.csv"):
        assert logged_in.get(path).status_code == 404, path
    assert post_form(logged_in, "/contacts/import", {"submit": "Import the contacts"},
                     action=f"/contacts/import/{import_id}").status_code == 404
    assert "contacts.csv" not in logged_in.get("/contacts/import").get_data(as_text=True)
    assert "contacts.csv" in other.get("/contacts/import").get_data(as_text=True)


# ---- export ----

def exported(client, path) -> list[list[str]]:
    response = client.get(path)
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/csv")
    assert "attachment" in response.headers["Content-Disposition"]
    return list(csv.reader(io.StringIO(response.get_data(as_text=True))))


def test_export_all_a_search_and_a_group_with_fields_as_columns(logged_in, user):
    helene = make_contact(user, "Hélène", "+33612345678", **{"class": "6B", "first_name": "Hélène"})
    make_contact(user, "Léo", "+33698765432", **{"Class": "5A", "member_since": "2021"})
    make_contact(user, "=cmd|' /C calc'!A0", "+33611111111")
    rows = exported(logged_in, "/contacts/export.csv")
    assert rows[0] == ["name", "number", "class", "first_name", "member_since", "notes"]
    assert rows[1] == ["'=cmd|' /C calc'!A0", "+33611111111", "", "", "", ""]
    assert rows[2] == ["Hélène", "+33612345678", "6B", "Hélène", "", ""]
    assert rows[3] == ["Léo", "+33698765432", "5A", "", "2021", ""]
    assert [row[0] for row in exported(logged_in, "/contacts/export.csv?q=helene")[1:]] == ["Hélène"]
    choir = make_group(user, "Choir")
    contact_service.add_members(user, choir, [helene.id])
    assert [row[0] for row in exported(logged_in, f"/contacts/groups/{choir.id}/export.csv")[1:]] == ["Hélène"]
    smart = make_group(user, "5A", [{"field": "class", "operator": "=", "value": "5a"}])
    rows = exported(logged_in, f"/contacts/groups/{smart.id}/export.csv")
    assert rows == [["name", "number", "Class", "member_since", "notes"], ["Léo", "+33698765432", "5A", "2021", ""]]
    page = logged_in.get("/contacts/?q=helene").get_data(as_text=True)
    assert 'href="/contacts/export.csv?q=helene' in page


def test_an_export_reads_in_batches_every_contact_once(logged_in, user, monkeypatch):
    monkeypatch.setattr(contact_files, "EXPORT_BATCH", 3)
    for index in range(8):
        make_contact(user, f"Person {index}", f"+3361111111{index}")
    rows = exported(logged_in, "/contacts/export.csv")
    assert [row[0] for row in rows[1:]] == [f"Person {index}" for index in range(8)]


def test_an_exported_file_imports_back_as_the_same_contacts(logged_in, user):
    make_contact(user, "Hélène", "+33612345678", **{"class": "6B"})
    exported_text = logged_in.get("/contacts/export.csv").get_data()
    db.session.query(Contact).delete()
    db.session.commit()
    imported(logged_in, exported_text)
    helene = contacts_by_number()["+33612345678"]
    assert (helene.name, helene.fields) == ("Hélène", {"class": "6B"})


def test_another_users_group_export_is_not_found(client, user):
    other = make_user("bob@example.org")
    group = make_group(other, "Bob's")
    login(client, user)
    assert client.get(f"/contacts/groups/{group.id}/export.csv").status_code == 404


# ---- with the real worker ----

def test_an_import_runs_in_the_real_worker_with_its_progress(logged_in, user, worker, monkeypatch):
    rows = "".join(f"Person {index},+3361{index:07d},{index % 3}\n" for index in range(5000))
    import_id = uploaded(logged_in, ("name,number,class\n" + rows + "Bad,12\n").encode())
    assert start(logged_in, import_id, new_group="Everyone").status_code == 302

    def finished():
        db.session.expire_all()
        return db.session.get(ContactImport, import_id).is_over
    wait_for(finished, timeout=60, message="the import to finish")
    done = db.session.get(ContactImport, import_id)
    assert (done.status, done.added, done.rejected, done.total_rows) == (ContactImport.DONE, 5000, 1, 5001)
    assert db.session.query(ContactGroupMember).filter_by(group_id=done.group_id).count() == 5000
    assert db.session.query(ContactImportRejection).one().line == 5002
    page = logged_in.get(f"/contacts/import/{import_id}").get_data(as_text=True)
    assert "5000 contacts added" in page and "1 row rejected" in page


def test_a_big_files_rows_read_by_other_processes_are_the_rows_read_here(app):
    """The fast path (chunks read by spawned processes) against the plain one, on the same chunks."""
    columns = contact_files.Columns(number=1, name=0, fields=[(2, "class")])
    chunks = [[(line, [f"Person {line}", number, "6B" if line % 2 else ""])
               for line, number in enumerate(["06 12 34 56 78", "0690 12 34 56", "+44 7911 123456", "06 12", "",
                                              "0612345678"], start=2)]] * 3
    plain = list(contact_files.prepared_chunks(iter(chunks), columns, "FR", parallel=False))
    parallel = list(contact_files.prepared_chunks(iter(chunks), columns, "FR", parallel=True))
    assert parallel == plain
    rows = plain[0][1]
    assert rows[0]["number"] == "+33612345678" and rows[0]["national"] == "0612345678"
    assert rows[1]["number"] == "+590690123456" and rows[2]["fields"] == {} and rows[3] == contact_files.Reason(
        contact_files.NOT_A_VALID_NUMBER, reason=contact_files.Reason("it has too few or too many digits"))
