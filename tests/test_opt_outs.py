"""The opt-out list page, the keyword settings, and compose leaving opted-out numbers out."""
import io

import pytest
from sqlalchemy import func, select

from webapp.extensions import db
from webapp.models import Message, OptOut, OutboxEvent
from webapp.providers.base import InboundSms
from webapp.services import opt_outs
from webapp.services.messages import record_inbound

from .conftest import confirm_sending, make_phone, post_form


@pytest.mark.parametrize("text, action", [
    ("STOP", "stop"), ("  stop ", "stop"), ("Stop !", "stop"), ("stop sms", "stop"), ("Stop-SMS", "stop"),
    ("arrêt", "stop"), ("ARRET.", "stop"), ("Désabonner", "stop"), ("unsubscribe", "stop"), ("STOPALL", "stop"),
    ("start", "start"), ("Unstop", "start"), ("yes!", "start"),
    ("stop the music", None), ("Please stop", None), ("", None), ("?!", None), ("oui", None),
])
def test_the_default_keywords_ignore_case_accents_spaces_and_punctuation(text, action):
    assert opt_outs.OptOutSettings().action_of(text) == action


def numbers_listed(page: str) -> list[str]:
    import re
    return re.findall(r'data-opt-out="([^"]+)"', page)


def test_a_number_added_by_hand_is_listed_and_removed_after_confirmation(logged_in, user):
    response = post_form(logged_in, "/opt-outs", {"number": "06 98 76 54 32"}, action="/opt-outs/add",
                         follow_redirects=True)
    page = response.get_data(as_text=True)
    assert "+33698765432 will no longer receive your SMS." in page and numbers_listed(page) == ["+33698765432"]
    assert "added by hand" in page
    again = post_form(logged_in, "/opt-outs", {"number": "+33698765432"}, action="/opt-outs/add",
                      follow_redirects=True)
    assert "was on the list already" in again.get_data(as_text=True)
    opt_out = opt_outs.opt_out_of(user.id, "+33698765432")
    assert f'data-confirm="Take +33698765432 off the list?' in page  # the remove button asks first
    removed = post_form(logged_in, "/opt-outs", {}, action=f"/opt-outs/{opt_out.id}/remove", follow_redirects=True)
    assert numbers_listed(removed.get_data(as_text=True)) == []
    assert db.session.scalars(select(OutboxEvent.kind).where(OutboxEvent.kind.like("optout.%"))
                              .order_by(OutboxEvent.id)).all() == [OutboxEvent.OPT_OUT_CREATED,
                                                                   OutboxEvent.OPT_OUT_REMOVED]


def test_a_bad_number_typed_by_hand_is_refused_saying_why(logged_in, user):
    response = post_form(logged_in, "/opt-outs", {"number": "12"}, action="/opt-outs/add", follow_redirects=True)
    assert "12 is not a valid number" in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count(OptOut.id))) == 0


def test_removing_needs_the_forms_token(logged_in, user):
    opt_out = opt_outs.record(user.id, "+33698765432", OptOut.MANUAL)
    assert logged_in.post(f"/opt-outs/{opt_out.id}/remove").status_code == 400
    assert opt_outs.opt_out_of(user.id, "+33698765432") is not None


def import_file(logged_in, content: str):
    page = logged_in.get("/opt-outs").get_data(as_text=True)
    from .conftest import csrf_token_from
    return logged_in.post("/opt-outs/import", data={"csrf_token": csrf_token_from(page),
                                                    "file": (io.BytesIO(content.encode()), "stops.csv")},
                          content_type="multipart/form-data", follow_redirects=True)


def test_an_import_keeps_the_good_rows_and_says_which_lines_are_bad(logged_in, user):
    opt_outs.record(user.id, "+33611111111", OptOut.MANUAL)
    response = import_file(logged_in, "number,date\n0698765432,2026-01-15\nnot a number\n+33611111111\n"
                                      "0612345678,15/01/2026\n+33 6 22 22 22 22\n0698765432\n")
    page = response.get_data(as_text=True)
    assert "2 numbers added to the list. 2 were on it already." in page
    assert "Line 3: not a number is not a valid number" in page
    assert "Line 5: 15/01/2026 is not a date (YYYY-MM-DD)." in page
    imported = opt_outs.opt_out_of(user.id, "+33698765432")
    assert imported.source == OptOut.IMPORT and str(imported.opted_out_at) == "2026-01-15 00:00:00"
    assert set(numbers_listed(page)) == {"+33698765432", "+33622222222", "+33611111111"}


def test_the_export_is_a_csv_of_every_opt_out_streamed(logged_in, user):
    opt_outs.record(user.id, "+33698765432", OptOut.KEYWORD, original_text="Stop, merci")
    opt_outs.record(user.id, "+33611111111", OptOut.MANUAL)
    response = logged_in.get("/opt-outs/export.csv")
    assert response.is_streamed and response.headers["Content-Type"].startswith("text/csv")
    lines = response.get_data(as_text=True).splitlines()
    assert lines[0] == "number,opted_out_at,source,original_text"
    assert [line.split(",")[0] for line in lines[1:]] == ["+33698765432", "+33611111111"]
    assert lines[1].endswith(',keyword,"Stop, merci"')


def test_the_list_is_searched_by_number_as_typed_and_by_text(logged_in, user):
    phone = make_phone(user)
    record_inbound(phone, InboundSms("IN1", "+33698765432", "STOP"))
    opt_outs.record(user.id, "+33611111111", OptOut.MANUAL)
    opt_outs.record(user.id, "+33630698111", OptOut.MANUAL)  # holds 698, but does not start with 06 98
    assert numbers_listed(logged_in.get("/opt-outs?q=0698").get_data(as_text=True)) == ["+33698765432"]
    assert numbers_listed(logged_in.get("/opt-outs?q=06 98 76").get_data(as_text=True)) == ["+33698765432"]
    assert numbers_listed(logged_in.get("/opt-outs?q=stop").get_data(as_text=True)) == ["+33698765432"]
    assert numbers_listed(logged_in.get("/opt-outs?q=%2B3361111").get_data(as_text=True)) == ["+33611111111"]
    assert "No opt-out matches." in logged_in.get("/opt-outs?q=0700").get_data(as_text=True)


def test_the_list_pages_through_older_opt_outs(logged_in, user, monkeypatch):
    monkeypatch.setattr(opt_outs, "PAGE_SIZE", 2)
    for number in ("+33611111111", "+33622222222", "+33633333333"):
        opt_outs.record(user.id, number, OptOut.MANUAL)
    first = logged_in.get("/opt-outs").get_data(as_text=True)
    assert numbers_listed(first) == ["+33633333333", "+33622222222"]
    import re
    older = re.search(r'href="(/opt-outs\?before=\d+)"', first).group(1)
    assert numbers_listed(logged_in.get(older).get_data(as_text=True)) == ["+33611111111"]


def test_the_settings_change_the_keywords_and_turn_confirmations_on(logged_in, user):
    page = logged_in.get("/opt-outs/settings").get_data(as_text=True)
    assert "DESABONNER" in page and "Reply START to subscribe again." in page
    response = post_form(logged_in, "/opt-outs/settings", {
        "stop_keywords": "STOP, Halte\nSTOP", "start_keywords": "Reprendre", "confirm": "y",
        "stop_reply": "Vous ne recevrez plus nos SMS.", "start_reply": ""}, follow_redirects=True)
    assert "Your opt-out settings are saved." in response.get_data(as_text=True)
    saved = opt_outs.settings_of(user.id)
    assert (saved.stop_keywords, saved.start_keywords, saved.confirm) == (["STOP", "Halte"], ["Reprendre"], True)
    assert saved.action_of("halte !") == "stop" and saved.action_of("arrêt") is None


def test_a_keyword_cannot_both_opt_out_and_in(logged_in, user):
    response = post_form(logged_in, "/opt-outs/settings", {"stop_keywords": "STOP", "start_keywords": "stop",
                                                          "stop_reply": "", "start_reply": ""})
    assert "cannot both opt out and opt in: stop" in response.get_data(as_text=True)
    assert opt_outs.settings_of(user.id).start_keywords == list(opt_outs.DEFAULT_START_KEYWORDS)


def test_no_confirmation_is_sent_unless_the_user_asked(user):
    phone = make_phone(user)
    record_inbound(phone, InboundSms("IN1", "+33698765432", "STOP"))
    assert opt_outs.opt_out_of(user.id, "+33698765432").source == OptOut.KEYWORD
    assert db.session.scalar(select(func.count(Message.id)).where(Message.direction == Message.OUTBOUND)) == 0


def test_compose_leaves_opted_out_numbers_out_and_says_how_many(logged_in, user):
    phone = make_phone(user)
    opt_outs.record(user.id, "+33698765432", OptOut.MANUAL)
    response = post_form(logged_in, "/compose", {"phone_id": phone.id, "body": "Réunion jeudi",
                                                 "numbers": "0698765432, 0611111111, 0622222222"})
    review = logged_in.get(response.headers["Location"]).get_data(as_text=True)
    assert "1 left out: this number opted out (STOP)." in review
    sent = confirm_sending(logged_in, response)
    assert "2 SMS are on their way." in logged_in.get(sent.headers["Location"]).get_data(as_text=True)
    assert set(db.session.scalars(select(Message.remote_number))) == {"+33611111111", "+33622222222"}


def test_one_sms_to_an_opted_out_number_needs_a_confirmation_naming_it(logged_in, user):
    phone = make_phone(user)
    opt_outs.record(user.id, "+33698765432", OptOut.MANUAL)
    form = {"phone_id": phone.id, "body": "Your order is ready", "numbers": "06 98 76 54 32"}
    refused = post_form(logged_in, "/compose", form).get_data(as_text=True)
    assert "+33698765432 is on your opt-out list since" in refused
    assert 'name="send_to_opted_out" value="+33698765432"' in refused
    assert db.session.scalar(select(func.count(Message.id))) == 0
    wrong = post_form(logged_in, "/compose", dict(form, send_to_opted_out="+33611111111"))
    assert "is on your opt-out list" in wrong.get_data(as_text=True)  # confirmed for another number
    sent = post_form(logged_in, "/compose", dict(form, send_to_opted_out="+33698765432"), follow_redirects=True)
    assert "Your SMS is on its way." in sent.get_data(as_text=True)
    assert db.session.scalars(select(Message.remote_number)).all() == ["+33698765432"]


def test_the_open_list_is_given_the_opt_outs_recorded_since(logged_in, user):
    opt_outs.record(user.id, "+33611111111", OptOut.MANUAL)
    page = logged_in.get("/opt-outs").get_data(as_text=True)
    import re
    newest = re.search(r'data-last-id="(\d+)"', page).group(1)
    assert logged_in.get(f"/opt-outs?fragment=after&after_id={newest}").headers.get("X-Last-Id") is None
    record_inbound(make_phone(user), InboundSms("IN1", "+33698765432", "ARRET"))
    fragment = logged_in.get(f"/opt-outs?fragment=after&after_id={newest}")
    assert numbers_listed(fragment.get_data(as_text=True)) == ["+33698765432"]
    assert int(fragment.headers["X-Last-Id"]) > int(newest)


def test_the_list_and_its_settings_are_in_french(logged_in, user):
    user.locale = "fr"
    db.session.commit()
    opt_outs.record(user.id, "+33611111111", OptOut.MANUAL)
    page = logged_in.get("/opt-outs").get_data(as_text=True)
    assert "Désabonnements" in page and "ajouté à la main" in page and "Exporter en CSV" in page
    settings = logged_in.get("/opt-outs/settings").get_data(as_text=True)
    assert "Vous ne recevrez plus nos SMS. Répondez START pour vous réabonner." in settings


def test_a_reply_to_a_number_that_replied_stop_needs_the_same_confirmation(logged_in, user):
    phone = make_phone(user)
    record_inbound(phone, InboundSms("IN1", "+33698765432", "STOP"))
    form = {"phone_id": phone.id, "body": "Sorry to see you go: your refund is on its way"}
    refused = post_form(logged_in, "/conversations/+33698765432", form).get_data(as_text=True)
    assert "replied STOP on" in refused and 'value="+33698765432"' in refused
    post_form(logged_in, "/conversations/+33698765432", dict(form, send_to_opted_out="+33698765432"))
    assert db.session.scalars(select(Message.body).where(Message.direction == Message.OUTBOUND)).all() == [
        form["body"]]


def test_the_list_names_the_contact_an_opted_out_number_belongs_to(logged_in, user):
    from webapp.services import contacts
    contacts.save_contact(user, contacts.ContactInput("Hélène Martin", "0698765432", {}))
    post_form(logged_in, "/opt-outs", {"number": "+33698765432"}, action="/opt-outs/add")
    post_form(logged_in, "/opt-outs", {"number": "+33698765433"}, action="/opt-outs/add")
    page = logged_in.get("/opt-outs").get_data(as_text=True)
    assert "Hélène Martin" in page
    assert page.count("Hélène Martin") == 1  # the other number is nobody's
