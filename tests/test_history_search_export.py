"""The history as a user reads it back: accent- and case-blind text search, numbers typed in national
form, newer and older pages, totals for the filter, and the filtered history downloaded as CSV."""
import csv
import io

from webapp.providers.base import InboundSms
from webapp.services.messages import queue_outbound, record_inbound

from .conftest import make_phone, make_user


def shown_count(client, query):
    return client.get("/history?" + query).get_data(as_text=True).count("data-message-id=")


def link(page, label):
    """The href of the pager button with this label."""
    before_label = page.split(f">{label}</a>")[0]
    return before_label.rsplit('href="', 1)[1].split('"')[0].replace("&amp;", "&")


def test_text_search_ignores_accents_and_case_both_ways(logged_in, user):
    phone = make_phone(user)
    queue_outbound(phone, ["+33612345601"], "Assemblée générale jeudi")
    queue_outbound(phone, ["+33612345602"], "ASSEMBLEE GENERALE VENDREDI")
    queue_outbound(phone, ["+33612345603"], "Réunion à l'école, Straße")
    assert shown_count(logged_in, "text=ASSEMBLEE") == 2
    assert shown_count(logged_in, "text=assemblée") == 2
    assert shown_count(logged_in, "text=g%C3%A9n%C3%A9rale+jeudi") == 1
    assert shown_count(logged_in, "text=ECOLE") == 1
    assert shown_count(logged_in, "text=%C3%A0+l%27") == 1  # "à l'" is "a l'"
    assert shown_count(logged_in, "text=strasse") == 1
    assert shown_count(logged_in, "text=%C3%89C") == 1  # "ÉC", shorter than a trigram: read from the messages


def test_a_number_begun_in_national_form_finds_the_numbers_it_begins(logged_in, user):
    phone = make_phone(user)
    queue_outbound(phone, ["+33612000001", "+33612000002"], "starts with 0612")
    queue_outbound(phone, ["+33630612000"], "holds 0612 inside")
    assert shown_count(logged_in, "number=0612") == 2
    assert shown_count(logged_in, "number=06+12") == 2
    assert shown_count(logged_in, "number=%2B336") == 3
    assert shown_count(logged_in, "number=0612000001") == 1
    assert shown_count(logged_in, "number=612") == 3  # digits alone are found anywhere


def test_newer_and_older_links_walk_the_same_pages_back_and_forth(logged_in, user):
    phone = make_phone(user)
    queue_outbound(phone, [f"+336123456{i:02d}" for i in range(60)] + [f"+336123457{i:02d}" for i in range(60)],
                   "Campaign")
    first = logged_in.get("/history").get_data(as_text=True)
    assert "Newer messages" not in first
    second = logged_in.get(link(first, "Older messages")).get_data(as_text=True)
    third = logged_in.get(link(second, "Older messages")).get_data(as_text=True)
    assert third.count("data-message-id=") == 20 and "Older messages" not in third
    back_to_second = logged_in.get(link(third, "Newer messages")).get_data(as_text=True)
    back_to_first = logged_in.get(link(back_to_second, "Newer messages")).get_data(as_text=True)

    def ids(page):
        return [part.split('"')[1] for part in page.split("data-message-id=")[1:]]
    assert ids(back_to_second) == ids(second)
    assert ids(back_to_first) == ids(first)
    assert "Newer messages" not in back_to_first
    assert ids(logged_in.get(link(back_to_first, "Older messages")).get_data(as_text=True)) == ids(second)


def test_filtered_pages_keep_the_filter_in_both_links(logged_in, user):
    phone = make_phone(user)
    queue_outbound(phone, [f"+336123456{i:02d}" for i in range(120)][:100], "Piscine")
    queue_outbound(phone, [f"+336123457{i:02d}" for i in range(20)], "Other")
    first = logged_in.get("/history?text=piscine").get_data(as_text=True)
    older = link(first, "Older messages")
    second = logged_in.get(older).get_data(as_text=True)
    assert "text=piscine" in older and second.count("data-message-id=") == 50 and "Other" not in second
    assert "text=piscine" in link(second, "Newer messages")


def test_the_total_counts_the_filter_and_stops_at_a_cap(app, logged_in, user, monkeypatch):
    phone = make_phone(user)
    queue_outbound(phone, [f"+336123456{i:02d}" for i in range(12)], "Rappel cantine")
    record_inbound(phone, InboundSms("IN1", "+33611111111", "Merci"))
    queue_outbound(make_phone(make_user("bob@example.org")), ["+33612345600"], "Rappel cantine")
    assert "13 messages match." in logged_in.get("/history").get_data(as_text=True)
    assert "12 messages match." in logged_in.get("/history?text=cantine").get_data(as_text=True)
    assert "1 message matches." in logged_in.get("/history?direction=inbound").get_data(as_text=True)
    monkeypatch.setattr("webapp.services.history.COUNT_CAP", 10)
    assert "More than 10 messages match." in logged_in.get("/history").get_data(as_text=True)


def exported(client, query=""):
    response = client.get("/history/export.csv" + query)
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    return list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))


def test_the_export_holds_the_filtered_history_and_never_another_users(logged_in, user, monkeypatch):
    monkeypatch.setattr("webapp.services.history.EXPORT_BATCH", 3)  # several keyset batches
    phone = make_phone(user, name="Front desk")
    queue_outbound(phone, [f"+336123456{i:02d}" for i in range(7)], "Sortie à la piscine")
    queue_outbound(phone, ["+33698765432"], "=HYPERLINK(\"x\")")
    record_inbound(phone, InboundSms("IN1", "+33611111111", "Réponse d'un parent"))
    queue_outbound(make_phone(make_user("bob@example.org"), name="Bob's"), ["+33612345600"], "Bob piscine")

    rows = exported(logged_in)
    assert len(rows) == 9
    assert list(rows[0]) == ["date", "direction", "phone", "number", "status", "text", "error_reason"]
    assert rows[0]["direction"] == "inbound" and rows[0]["number"] == "+33611111111"
    assert rows[0]["text"] == "Réponse d'un parent" and rows[0]["status"] == "received"
    assert rows[1]["text"] == "'=HYPERLINK(\"x\")"  # not run as a formula by a spreadsheet
    assert {row["phone"] for row in rows} == {"Front desk"}
    assert all("Bob" not in row["text"] for row in rows)
    assert len({row["number"] for row in rows}) == 9

    assert len(exported(logged_in, "?text=PISCINE")) == 7
    assert [row["number"] for row in exported(logged_in, "?direction=inbound")] == ["+33611111111"]
    assert len(exported(logged_in, "?number=0612")) == 7


def test_the_export_link_carries_the_filter(logged_in, user):
    make_phone(user)
    page = logged_in.get("/history?text=piscine&direction=outbound").get_data(as_text=True)
    href = link(page, "Export as CSV")
    assert href.startswith("/history/export.csv?") and "text=piscine" in href and "direction=outbound" in href


def test_the_pager_and_totals_speak_french(logged_in, user):
    queue_outbound(make_phone(user), [f"+336123456{i:02d}" for i in range(60)], "Campagne")
    french = {"Accept-Language": "fr"}
    first = logged_in.get("/history", headers=french).get_data(as_text=True)
    assert "60 messages correspondent." in first and "Exporter en CSV" in first
    second = logged_in.get(link(first, "Messages plus anciens"), headers=french).get_data(as_text=True)
    assert "Messages plus récents" in second


def test_the_migration_folds_the_texts_already_stored_and_indexes_them(tmp_path):
    from flask_migrate import downgrade, upgrade
    from sqlalchemy import text

    from webapp.extensions import db
    from webapp.models import User
    from webapp.services.history import HistoryFilters, history_page
    from .conftest import database_at, insert_old_message
    with database_at(tmp_path, "0014") as app:
        for message_id, body in [(1, "Assemblée générale"), (2, "Ça marche"), (3, "Nothing")]:
            insert_old_message(message_id, "+33612345678", "inbound", body)
        db.session.commit()
        upgrade()  # to the head: the model reads what later migrations add
        user = db.session.get(User, 1)
        with app.test_request_context():
            def found(typed):
                return [message.id for message in history_page(user, HistoryFilters(text=typed))[0]]
            assert found("ASSEMBLEE GENE") == [1]
            assert found("ca m") == [2]
        downgrade(revision="0014")
        assert db.session.execute(text("SELECT rowid FROM messages_text WHERE messages_text MATCH '\"Assemblée\"'")
                                  ).scalars().all() == [1]
