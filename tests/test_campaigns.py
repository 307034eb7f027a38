"""Campaigns through the forms: who a compose action to several people goes to, what its
confirmation says, the texts each recipient gets, and the campaign's page."""
import csv
import io
import random
import re

import phonenumbers
import pytest
from sqlalchemy import select

from webapp import broker, statuses
from webapp.extensions import db
from webapp.models import Campaign, Message, OptOut
from webapp.numbers import unlikely_to_receive_sms
from webapp.personalization import Template
from webapp.services import contacts as contact_service
from webapp.services import opt_outs, status_store
from webapp.services.sending import outbound_sms
from webapp.sms_text import text_cost

from .conftest import confirm_sending, login, make_phone, make_user, post_form
from .test_contacts import make_contact, make_group


def compose(client, phone, body, numbers="", group_ids=(), files=None, contact_ids=""):
    data = {"phone_id": phone.id, "numbers": numbers, "body": body, "group_ids": [str(i) for i in group_ids],
            "contact_ids": contact_ids}
    if files:
        data["numbers_file"] = files
    return post_form(client, "/compose", data, content_type="multipart/form-data")


def review_page(client, response) -> str:
    assert response.status_code == 302 and "/campaigns/drafts/" in response.headers["Location"], response.status
    return client.get(response.headers["Location"]).get_data(as_text=True)


def sent():
    db.session.expire_all()
    return {message.remote_number: message for message in db.session.scalars(select(Message).order_by(Message.id))}


@pytest.fixture
def parents(user):
    """A class's parents: a group of three, one of whom has no first name."""
    group = make_group(user, "6B parents")
    people = [make_contact(user, "Hélène Martin", "0611111111", first_name="Hélène", **{"class": "6B"}),
              make_contact(user, "Paul Durand", "0622222222", first_name="Paul", **{"class": "6B"}),
              make_contact(user, "M. Leroy", "0633333333", **{"class": "6B"})]
    contact_service.add_members(user, group, [person.id for person in people])
    return group


def test_a_group_and_pasted_numbers_are_sent_to_once_each_with_a_campaign(logged_in, user, parents):
    phone = make_phone(user)
    response = compose(logged_in, phone, "Réunion jeudi 18 h", numbers="06 11 11 11 11\n+33644444444",
                       group_ids=[parents.id])
    page = review_page(logged_in, response)
    assert re.search(r"<strong>4</strong><span>recipients</span>", page)
    assert "1 duplicate removed" in page
    assert re.search(r"<strong>4</strong><span>SMS in total</span>", page)
    confirmed = confirm_sending(logged_in, response)
    campaign = db.session.scalar(select(Campaign))
    assert confirmed.headers["Location"].endswith(f"/campaigns/{campaign.id}")
    messages = sent()
    assert sorted(messages) == ["+33611111111", "+33622222222", "+33633333333", "+33644444444"]
    assert {message.campaign_id for message in messages.values()} == {campaign.id}
    assert (campaign.body, campaign.phone_id, campaign.user_id, campaign.recipient_count) == (
        "Réunion jeudi 18 h", phone.id, user.id, 4)
    assert sorted(message_id for job in broker.job_queue().jobs for message_id in job.args[0]) == \
        sorted(message.id for message in messages.values())


def test_a_group_member_who_replied_stop_is_left_out_and_never_sent_to(logged_in, user, parents):
    phone = make_phone(user)
    opt_outs.record(user.id, "+33622222222", OptOut.KEYWORD)
    db.session.commit()
    response = compose(logged_in, phone, "Réunion", group_ids=[parents.id])
    assert "1 left out: this number opted out (STOP)." in review_page(logged_in, response)
    confirm_sending(logged_in, response)
    assert sorted(sent()) == ["+33611111111", "+33633333333"]
    assert db.session.scalar(select(Campaign.left_out))["opted_out"] == 1


def test_one_who_opts_out_between_the_confirmation_page_and_the_click_is_left_out(logged_in, user, parents):
    phone = make_phone(user)
    response = compose(logged_in, phone, "Réunion", group_ids=[parents.id])
    review_page(logged_in, response)
    opt_outs.record(user.id, "+33611111111", OptOut.KEYWORD)
    db.session.commit()
    confirmed = confirm_sending(logged_in, response)
    assert "1 number was left out: it opted out meanwhile." in logged_in.get(confirmed.headers["Location"]).get_data(as_text=True)
    assert sorted(sent()) == ["+33622222222", "+33633333333"]


def test_a_csv_of_numbers_is_read_whatever_its_separator_and_its_bad_rows_are_listed_by_line(logged_in, user):
    phone = make_phone(user)
    content = "Nom;Téléphone\nAda;06 55 55 55 51\nBob;hello\nCyd;+33655555553\n".encode("cp1252")
    response = compose(logged_in, phone, "Hi", files=(io.BytesIO(content), "people.csv"))
    page = review_page(logged_in, response)
    assert "1 invalid number" in page and "<strong>hello</strong> (CSV line 3): it is not a phone number" in page
    assert re.search(r"<strong>2</strong><span>recipients</span>", page)
    confirm_sending(logged_in, response, send_to_valid="y")
    assert list(sent()) == ["+33655555551", "+33655555553"]


def test_a_landline_is_flagged_on_the_confirmation(logged_in, user):
    phone = make_phone(user)
    response = compose(logged_in, phone, "Hi", numbers="01 23 45 67 89, 0612345678")
    page = review_page(logged_in, response)
    assert "1 number unlikely to receive SMS" in page and "+33123456789" in page


def test_placeholders_are_filled_per_recipient_and_one_missing_a_field_is_listed_not_skipped(logged_in, user, parents):
    phone = make_phone(user)
    response = compose(logged_in, phone, "Bonjour {first_name}, réunion des {class} jeudi.", group_ids=[parents.id])
    page = review_page(logged_in, response)
    assert "1 recipient lacks a field the text uses" in page
    assert re.search(r"<strong>\{first_name\}</strong> — 1 recipient has no value:", page)
    assert "M. Leroy — +33633333333" in page
    refused = confirm_sending(logged_in, response)  # no choice made: nothing is sent
    assert "give a value to put instead, or leave them out" in refused.get_data(as_text=True)
    assert sent() == {}
    no_value = confirm_sending(logged_in, response, missing="fallback")
    assert "Give the value to put instead of {first_name}." in no_value.get_data(as_text=True)
    confirm_sending(logged_in, response, missing="fallback", **{"fallback-first_name": "Madame, Monsieur"})
    assert {number: message.body for number, message in sent().items()} == {
        "+33611111111": "Bonjour Hélène, réunion des 6B jeudi.",
        "+33622222222": "Bonjour Paul, réunion des 6B jeudi.",
        "+33633333333": "Bonjour Madame, Monsieur, réunion des 6B jeudi."}
    assert db.session.scalar(select(Campaign.fallbacks)) == {"first_name": "Madame, Monsieur"}


def test_recipients_missing_a_field_can_be_left_out(logged_in, user, parents):
    phone = make_phone(user)
    response = compose(logged_in, phone, "Bonjour {first_name}", group_ids=[parents.id])
    updated = post_form(logged_in, response.headers["Location"], {"missing": "leave_out", "update": "Update"})
    assert "1 left out for a missing field." in updated.get_data(as_text=True)
    confirm_sending(logged_in, response, missing="leave_out")
    assert sorted(sent()) == ["+33611111111", "+33622222222"]
    assert db.session.scalar(select(Campaign.left_out))["missing_field"] == 1


def test_the_confirmation_shows_the_range_of_sms_per_recipient_computed_on_the_server(logged_in, user):
    phone = make_phone(user)
    make_contact(user, "Short", "0611111111", note="ok")
    make_contact(user, "Long", "0622222222", note="x" * 200)
    make_contact(user, "Accented", "0633333333", note="ç" * 70)
    group = make_group(user, "All")
    contact_service.add_members(user, group, [c.id for c in contact_service.contact_page(user, contact_service.ContactQuery())[0]])
    response = compose(logged_in, phone, "Note: {note}", group_ids=[group.id])
    page = review_page(logged_in, response)
    # "Note: ok" 1 SMS, 206 GSM-7 characters 2 SMS, 76 UCS-2 characters 2 SMS
    assert re.search(r"<strong>1 to 2</strong><span>SMS per recipient</span>", page)
    assert re.search(r"<strong>5</strong><span>SMS in total</span>", page)
    confirm_sending(logged_in, response)
    assert {m.remote_number: (m.encoding, m.segment_count) for m in sent().values()} == {
        "+33611111111": ("GSM-7", 1), "+33622222222": ("GSM-7", 2), "+33633333333": ("UCS-2", 2)}


def test_the_preview_counts_in_french_with_the_singular_for_one_character_and_gives_the_script_both_forms(
        logged_in, user):
    user.locale = "fr"
    db.session.commit()
    phone = make_phone(user)
    make_contact(user, "Short", "0611111111", note="A")
    make_contact(user, "Other", "0622222222", note="B")
    group = make_group(user, "All")
    contact_service.add_members(user, group, [c.id for c in contact_service.contact_page(user, contact_service.ContactQuery())[0]])
    page = review_page(logged_in, compose(logged_in, phone, "{note}", group_ids=[group.id]))
    cost = re.search(r'<p class="counter" data-preview-cost[^>]*>([^<]*)</p>', page)
    assert cost.group(1) == "1 caractère · GSM-7 · 1 SMS"
    assert 'data-template="%(chars)s caractère · %(encoding)s · %(segments)s SMS"' in cost.group(0)
    assert 'data-template-many="%(chars)s caractères · %(encoding)s · %(segments)s SMS"' in cost.group(0)


def test_the_preview_shows_the_text_of_a_chosen_recipient_with_the_fallback_typed(logged_in, user, parents):
    phone = make_phone(user)
    response = compose(logged_in, phone, "Bonjour {first_name}", group_ids=[parents.id])
    location = response.headers["Location"]
    paul = logged_in.get(location + "/preview?number=%2B33622222222").get_json()
    assert (paul["text"], paul["segments"], paul["encoding"]) == ("Bonjour Paul", 1, "GSM-7")
    leroy = logged_in.get(location + "/preview", query_string={
        "number": "+33633333333", "missing": "fallback", "fallback-first_name": "à vous"}).get_json()
    assert leroy["text"] == "Bonjour à vous" and leroy["missing"] == ["first_name"]
    assert logged_in.get(location + "/preview?number=%2B33699999999").status_code == 404


def test_another_users_draft_and_campaign_are_not_found(app, logged_in, user, parents):
    phone = make_phone(user)
    response = compose(logged_in, phone, "Hi", group_ids=[parents.id])
    draft_url = response.headers["Location"]
    campaign_url = confirm_sending(logged_in, response).headers["Location"]
    eve = make_user("eve@example.org")
    intruder = login(app.test_client(), eve)
    for url in (draft_url, draft_url + "/preview", campaign_url, campaign_url + "/progress", campaign_url + "/export.csv"):
        assert intruder.get(url).status_code == 404, url
    page = intruder.get("/campaigns").get_data(as_text=True)
    for action in ("/cancel", "/resend"):
        assert intruder.post(campaign_url + action, data={"csrf_token": re.search(
            r'name="csrf_token" value="([^"]+)"', page).group(1)}).status_code == 404
    assert "No campaign yet" in page
    # another user's group given to compose is not found: nothing goes to its members
    eve_phone = make_phone(eve)
    refused = compose(intruder, eve_phone, "Hi", group_ids=[parents.id])
    assert refused.status_code == 200 and "Choose at least one recipient" in refused.get_data(as_text=True)


def campaign_of(logged_in, user, phone, numbers):
    response = compose(logged_in, phone, "Hello", numbers=numbers)
    location = confirm_sending(logged_in, response).headers["Location"]
    return db.session.scalar(select(Campaign).order_by(Campaign.id.desc())), location


def test_the_campaign_page_counts_statuses_groups_failures_and_filters_recipients(logged_in, user):
    phone = make_phone(user)
    campaign, location = campaign_of(logged_in, user, phone, "0611111111, 0622222222, 0633333333")
    one, two, three = sent().values()
    for message in (one, two):
        status_store.move(message, statuses.FAILED, by=statuses.PIPELINE, error_reason="the number was unreachable")
    db.session.commit()
    page = logged_in.get(location).get_data(as_text=True)
    assert "Hello" in page and phone.name in page and user.email in page
    assert re.search(r'data-status-count="failed">failed <strong>2</strong>', page)
    assert re.search(r'the number was unreachable</td><td class="number">2</td>', page)
    progress = logged_in.get(location + "/progress").get_json()
    assert progress["counts"]["failed"] == 2 and progress["counts"]["queued"] == 1 and progress["total"] == 3
    filtered = logged_in.get(location + "?status=queued").get_data(as_text=True)
    assert "+33633333333" in filtered and "+33611111111" not in filtered
    assert "Send again to the 2 failed ones" in page
    listed = logged_in.get("/campaigns").get_data(as_text=True)
    assert f"/campaigns/{campaign.id}" in listed


def test_the_recipients_are_paged_by_keyset(logged_in, user, monkeypatch):
    from webapp.services import campaigns
    monkeypatch.setattr(campaigns, "PAGE_SIZE", 2)
    monkeypatch.setattr(campaigns.recipients_page, "__defaults__", (None, None, 2))
    phone = make_phone(user)
    _campaign, location = campaign_of(logged_in, user, phone, "0611111111, 0622222222, 0633333333")
    first = logged_in.get(location).get_data(as_text=True)
    assert "+33611111111" in first and "+33622222222" in first and "+33633333333" not in first
    after = re.search(r'href="([^"]*after=\d+)"', first).group(1).replace("&amp;", "&")
    second = logged_in.get(after).get_data(as_text=True)
    assert "+33633333333" in second and "+33611111111" not in second


def test_the_results_export_as_csv(logged_in, user):
    phone = make_phone(user)
    make_contact(user, "=Ada", "0611111111")
    _campaign, location = campaign_of(logged_in, user, phone, "0611111111, 0622222222")
    response = logged_in.get(location + "/export.csv")
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert rows[0] == ["number", "name", "status", "text", "reason", "status_changed_at"]
    assert [row[:4] for row in rows[1:]] == [["+33611111111", "'=Ada", "queued", "Hello"],
                                           ["+33622222222", "", "queued", "Hello"]]


def test_cancel_what_is_not_sent_yet_cancels_the_queued_ones_only(logged_in, user):
    phone = make_phone(user)
    _campaign, location = campaign_of(logged_in, user, phone, "0611111111, 0622222222")
    first, second = sent().values()
    status_store.move(first, statuses.SENDING, by=statuses.PIPELINE)
    db.session.commit()
    post_form(logged_in, location, {}, action=location + "/cancel")
    now = sent()
    assert (now["+33611111111"].status, now["+33622222222"].status) == (statuses.SENDING, statuses.CANCELED)
    assert "Canceled with the rest of its campaign." in logged_in.get(f"/messages/{second.id}").get_data(as_text=True)


def test_resend_queues_the_failed_ones_again_as_a_new_attempt_and_the_unknown_only_when_confirmed(logged_in, user):
    phone = make_phone(user)
    _campaign, location = campaign_of(logged_in, user, phone, "0611111111, 0622222222, 0633333333")
    failed, unknown, delivered = sent().values()
    for message, status in ((failed, statuses.FAILED), (unknown, statuses.UNKNOWN), (delivered, statuses.DELIVERED)):
        status_store.move(message, statuses.SENDING, by=statuses.PIPELINE)
        db.session.execute(Message.__table__.update().where(Message.id == message.id).values(
            attempt_count=2, provider_message_id=f"SIM{message.id}"))
        status_store.move(message, status, by=statuses.PROVIDER, expected=statuses.SENDING)
    db.session.commit()
    broker.job_queue().empty()
    post_form(logged_in, location, {}, action=location + "/resend")
    now = sent()
    assert [now[n].status for n in ("+33611111111", "+33622222222", "+33633333333")] == [
        statuses.QUEUED, statuses.UNKNOWN, statuses.DELIVERED]
    again = now["+33611111111"]
    assert (again.attempts_before_resend, again.provider_message_id, again.error_reason) == (2, None, None)
    assert [job.args[0] for job in broker.job_queue().jobs] == [[again.id]]
    assert outbound_sms(again, phone).reference == f"{phone.public_id}-{again.id}-r2"  # new at the provider
    timeline = logged_in.get(f"/messages/{again.id}").get_data(as_text=True)
    assert "Sent again at the user&#39;s request." in timeline or "Sent again at the user's request." in timeline
    post_form(logged_in, location, {"include_unknown": "y"}, action=location + "/resend")
    assert sent()["+33622222222"].status == statuses.QUEUED
    assert sent()["+33633333333"].status == statuses.DELIVERED  # never sent twice


def test_one_failed_message_is_sent_again_from_its_page_and_from_its_conversation(logged_in, user):
    phone = make_phone(user)
    post_form(logged_in, "/compose", {"phone_id": phone.id, "numbers": "0611111111", "body": "Hi"})
    [message] = sent().values()
    status_store.move(message, statuses.FAILED, by=statuses.PIPELINE, error_reason="unreachable")
    db.session.commit()
    assert "Send again" in logged_in.get(f"/messages/{message.id}").get_data(as_text=True)
    conversation = logged_in.get("/conversations/+33611111111").get_data(as_text=True)
    assert "Send again" in conversation
    back = post_form(logged_in, "/conversations/+33611111111", {"back": "conversation"},
                     action=f"/messages/{message.id}/resend")
    assert back.headers["Location"].endswith("/conversations/+33611111111")
    assert sent()["+33611111111"].status == statuses.QUEUED
    # an unknown one asks first
    status_store.move(sent()["+33611111111"], statuses.SENDING, by=statuses.PIPELINE)
    status_store.move(sent()["+33611111111"], statuses.UNKNOWN, by=statuses.PIPELINE)
    db.session.commit()
    page = post_form(logged_in, f"/messages/{message.id}", {}, action=f"/messages/{message.id}/resend",
                     follow_redirects=True).get_data(as_text=True)
    assert "tick the box to send it again anyway" in page and sent()["+33611111111"].status == statuses.UNKNOWN
    post_form(logged_in, f"/messages/{message.id}", {"include_unknown": "y"}, action=f"/messages/{message.id}/resend")
    assert sent()["+33611111111"].status == statuses.QUEUED


def test_an_opted_out_number_is_not_sent_again(logged_in, user):
    phone = make_phone(user)
    post_form(logged_in, "/compose", {"phone_id": phone.id, "numbers": "0611111111", "body": "Hi"})
    [message] = sent().values()
    status_store.move(message, statuses.FAILED, by=statuses.PIPELINE)
    opt_outs.record(user.id, "+33611111111", OptOut.KEYWORD)
    db.session.commit()
    page = post_form(logged_in, f"/messages/{message.id}", {}, action=f"/messages/{message.id}/resend",
                     follow_redirects=True).get_data(as_text=True)
    assert "1 number was not sent to again: it opted out." in page
    assert sent()["+33611111111"].status == statuses.FAILED


# ---- the fast paths give what the plain ones give ----

def test_a_templates_cost_is_what_text_cost_says_of_the_text_filled():
    chance = random.Random(17)
    alphabet = "abcdefghij ABC0123456789.,;€[]{}^~|éèàçÇΩ😀\n"
    for _ in range(2000):
        body = "".join(chance.choice(alphabet + "{x}{y}") for _ in range(chance.randint(0, 200)))
        template = Template.of(body.replace("{x}", "{first_name}").replace("{y}", "{class}"))
        values = {name: "".join(chance.choice(alphabet) for _ in range(chance.randint(0, 30)))
                  for name in template.used_fields}
        assert template.cost(values) == text_cost(template.render(values)), (template.body, values)


def test_the_mobile_check_agrees_with_phonenumbers_number_type():
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for kind in range(12):
            example = phonenumbers.example_number_for_type(region, kind)
            if example is None:
                continue
            e164 = phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)
            landline = phonenumbers.number_type(example) not in (phonenumbers.PhoneNumberType.MOBILE,
                                                                  phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE)
            assert unlikely_to_receive_sms(e164) == landline, (region, kind, e164)


def test_placeholders_are_field_names_between_braces_and_anything_else_stays_text():
    template = Template.of("Hi {first_name}, {member since} { } {1} {} {\"a\": 1} {first_name}")
    assert template.used_fields == ["first_name", "member since"]
    assert template.render({"first_name": "Ana", "member since": "2020"}) == 'Hi Ana, 2020 { } {1} {} {"a": 1} Ana'


def test_the_confirmation_and_the_campaign_page_speak_french(logged_in, user, parents):
    phone = make_phone(user)
    french = {"Accept-Language": "fr"}
    response = compose(logged_in, phone, "Bonjour {first_name}", group_ids=[parents.id])
    page = logged_in.get(response.headers["Location"], headers=french).get_data(as_text=True)
    assert "Confirmer l’envoi" in page and "1 destinataire n’a pas un champ utilisé par le texte" in page
    location = confirm_sending(logged_in, response, missing="leave_out").headers["Location"]
    page = logged_in.get(location, headers=french).get_data(as_text=True)
    assert "Annuler ce qui n’est pas encore parti" in page and "Échecs par motif" in page
    assert "Campagnes" in logged_in.get("/campaigns", headers=french).get_data(as_text=True)
