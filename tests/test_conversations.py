"""The conversations list and unread SMS: every number the user exchanged with, page by page,
searchable; incoming SMS unread until their conversation is opened; what every page's poll learns."""
import re

from sqlalchemy import select

from webapp.extensions import db
from webapp.models import Conversation
from webapp.providers.base import InboundSms
from webapp.services import conversations as conversation_service
from webapp.services.messages import queue_outbound, record_inbound

from .conftest import make_phone, post_form, wait_for


def receive(phone, sender, text, provider_id=None):
    return record_inbound(phone, InboundSms(provider_message_id=provider_id or f"in-{sender}-{text}"[:100],
                                            sender=sender, text=text))


def listed_numbers(page: str) -> list[str]:
    return re.findall(r'data-conversation="([^"]+)"', page)


def older_link(page: str) -> str | None:
    match = re.search(r'href="([^"]+)">Older conversations', page)
    return match.group(1).replace("&amp;", "&") if match else None


def unread_badge(page: str) -> str | None:
    match = re.search(r'data-unread-badge[^>]*?( hidden)?>(\d*)</span>', page)
    return None if match.group(1) else match.group(2)


def test_every_number_is_reachable_page_by_page_newest_activity_first(logged_in, user):
    phone = make_phone(user)
    numbers = [f"+336120{index:05d}" for index in range(130)]
    queue_outbound(phone, numbers, "Réunion des parents jeudi")  # one send to 130 numbers
    receive(phone, numbers[3], "Nous serons là")  # the newest activity: first in the list
    seen, path = [], "/conversations"
    while path:
        page = logged_in.get(path).get_data(as_text=True)
        seen += listed_numbers(page)
        path = older_link(page)
    assert len(seen) == 130 and set(seen) == set(numbers)
    assert seen[0] == numbers[3] and seen[1:] == [number for number in reversed(numbers) if number != numbers[3]]


def test_each_row_shows_the_last_message_its_time_and_unread_count(logged_in, user):
    phone = make_phone(user)
    queue_outbound(phone, ["+33612345678"], "Rendez-vous à 18 h")
    receive(phone, "+33612345678", "D'accord")
    receive(phone, "0612345678", "Je serai un peu en retard", provider_id="second")  # national form: same number
    page = logged_in.get("/conversations").get_data(as_text=True)
    [row] = re.findall(r'<li class="unread" data-conversation="\+33612345678">(.*?)</li>', page, re.S)
    assert "Je serai un peu en retard" in row and "Rendez-vous" not in row
    assert re.search(r'class="time">\d', row)
    assert re.search(r'class="unread-count"[^>]*>2<', row)
    assert "Mark as read" in row


def test_search_by_number_typed_in_national_form_and_by_text(logged_in, user):
    phone = make_phone(user)
    queue_outbound(phone, ["+33612345678", "+33630612345", "+33798765432"], "Bonjour")
    receive(phone, "+33798765432", "La sortie à la piscine est annulée")
    receive(phone, "+33798765432", "Merci", provider_id="last")

    def found(typed):
        return listed_numbers(logged_in.get("/conversations", query_string={"q": typed}).get_data(as_text=True))
    assert found("06 12") == ["+33612345678"]  # not +33630612345, which holds 0612 further on
    assert found("0612345678") == ["+33612345678"]
    assert found("+33 6") == ["+33630612345", "+33612345678"]
    assert found("0612") == ["+33612345678"]
    assert found("612") == ["+33630612345", "+33612345678"]  # digits alone: anywhere in the number
    assert found("piscine") == ["+33798765432"]  # in an earlier message than the last
    assert found("PISCINE est") == ["+33798765432"]
    assert found("bonjour") == ["+33798765432", "+33630612345", "+33612345678"]
    receive(phone, "INFO-BANK", "Votre code : 4821")
    assert found("info-bank") == found("bank") == ["INFO-BANK"]  # a sender's name
    page = logged_in.get("/conversations", query_string={"q": "concert"}).get_data(as_text=True)
    assert listed_numbers(page) == [] and "No conversation matches." in page


def test_a_common_text_is_found_in_every_conversation_that_holds_it(logged_in, user, monkeypatch):
    """Past TEXT_PROBE matching messages the search walks the conversations instead: same rows."""
    phone = make_phone(user)
    numbers = [f"+336120{index:05d}" for index in range(8)]
    queue_outbound(phone, numbers, "Rappel cantine")
    receive(phone, numbers[2], "Bien reçu")
    queue_outbound(phone, numbers[:2], "Autre chose")

    def found():
        return listed_numbers(logged_in.get("/conversations?q=cantine").get_data(as_text=True))
    through_the_index = found()
    monkeypatch.setattr(conversation_service, "TEXT_PROBE", 3)
    assert found() == through_the_index == [numbers[1], numbers[0], numbers[2]] + numbers[7:2:-1]


def test_incoming_sms_are_unread_until_the_conversation_is_opened(logged_in, user):
    phone = make_phone(user)
    receive(phone, "+33612345678", "Bonjour")
    receive(phone, "+33612345678", "Vous êtes là ?")
    receive(phone, "+33698765432", "Une question")
    page = logged_in.get("/history").get_data(as_text=True)
    assert unread_badge(page) == "3"
    assert "<title>(3) History · SMS Desk</title>" in page
    assert logged_in.get("/inbox").get_json()["unread"] == 3

    logged_in.get("/conversations/+33612345678")
    page = logged_in.get("/conversations").get_data(as_text=True)
    assert unread_badge(page) == "1" and "<title>(1) Conversations" in page
    assert re.search(r'<li class="" data-conversation="\+33612345678">', page)

    logged_in.get("/conversations/+33698765432")
    page = logged_in.get("/").get_data(as_text=True)
    assert unread_badge(page) is None and "<title>Dashboard · SMS Desk</title>" in page


def test_marking_a_conversation_unread_then_read_by_hand(logged_in, user):
    phone = make_phone(user)
    queue_outbound(phone, ["+33612345678"], "Bonjour")  # sent only: nothing unread
    receive(phone, "+33698765432", "Salut")
    logged_in.get("/conversations/+33698765432")
    assert logged_in.get("/inbox").get_json()["unread"] == 0

    response = post_form(logged_in, "/conversations", {}, action="/conversations/+33698765432/unread")
    assert response.status_code == 302
    post_form(logged_in, "/conversations", {}, action="/conversations/+33612345678/unread")
    page = logged_in.get("/conversations").get_data(as_text=True)
    assert unread_badge(page) == "2"
    assert page.count("Mark as read") == 2

    post_form(logged_in, "/conversations", {}, action="/conversations/+33612345678/read")
    assert logged_in.get("/inbox").get_json()["unread"] == 1
    logged_in.get("/conversations/+33698765432")  # opened: read again
    assert logged_in.get("/inbox").get_json()["unread"] == 0
    assert post_form(logged_in, "/conversations", {}, action="/conversations/+33600000000/unread").status_code == 404
    assert logged_in.post("/conversations/+33698765432/unread").status_code == 400  # no CSRF token


def test_an_sms_arriving_while_the_conversation_is_open_is_read_once_it_shows(logged_in, user):
    phone = make_phone(user)
    first = receive(phone, "+33612345678", "Bonjour")
    logged_in.get("/conversations/+33612345678")
    receive(phone, "+33612345678", "Encore moi")
    assert logged_in.get("/inbox").get_json()["unread"] == 1  # not shown yet
    response = logged_in.get(f"/conversations/+33612345678?fragment=after&after_id={first.id}")
    assert "Encore moi" in response.get_data(as_text=True)
    assert logged_in.get("/inbox").get_json()["unread"] == 0


def test_the_inbox_poll_tells_of_the_sms_received_since_the_page_was_shown(logged_in, user):
    phone = make_phone(user)
    assert 'data-inbox-after="0"' in logged_in.get("/").get_data(as_text=True)  # none received yet
    receive(phone, "+33698765432", "Ancien")
    assert [sms["text"] for sms in logged_in.get("/inbox?after=0").get_json()["incoming"]] == ["Ancien"]
    page = logged_in.get("/").get_data(as_text=True)
    after = int(re.search(r'data-inbox-after="(\d+)"', page).group(1))
    assert logged_in.get(f"/inbox?after={after}").get_json()["incoming"] == []
    long_text = "La réunion de demain est déplacée à la salle polyvalente, à côté du gymnase, à 18 h 30."
    message = receive(phone, "06 12 34 56 78", long_text)
    news = logged_in.get(f"/inbox?after={after}").get_json()
    assert news["unread"] == 2 and news["last_id"] == message.id
    [sms] = news["incoming"]
    assert sms["sender"] == "+33612345678" and sms["url"] == "/conversations/+33612345678"
    assert long_text.startswith(sms["text"][:-1]) and sms["text"].endswith("…") and len(sms["text"]) <= 80
    assert logged_in.get(f"/inbox?after={message.id}").get_json()["incoming"] == []


def test_the_summary_rows_agree_with_the_messages_they_sum_up(app, user):
    """The rows kept in step by the status store are those a grouping of the messages gives."""
    phone = make_phone(user)
    queue_outbound(phone, ["+33612345678", "+33698765432"], "Un")
    receive(phone, "+33612345678", "Deux")
    queue_outbound(phone, ["+33698765432", "+33700000001"], "Trois")
    kept = db.session.execute(select(Conversation.user_id, Conversation.remote_number,
                                     Conversation.last_message_id).order_by(Conversation.remote_number)).all()
    conversation_service.rebuild()
    rebuilt = db.session.execute(select(Conversation.user_id, Conversation.remote_number,
                                        Conversation.last_message_id).order_by(Conversation.remote_number)).all()
    assert kept == rebuilt and len(kept) == 3


def test_a_simulated_reply_through_the_worker_moves_the_unread_count(logged_in, user, live_server, worker):
    phone = make_phone(user)
    logged_in.get("/conversations")
    assert logged_in.get("/inbox").get_json()["unread"] == 0
    response = post_form(logged_in, f"/phones/{phone.id}", {"sender": "06 12 34 56 78", "text": "Je viens !"},
                         action=f"/phones/{phone.id}/simulate-inbound")
    assert response.status_code == 302
    wait_for(lambda: logged_in.get("/inbox").get_json()["unread"] == 1, message="the reply, unread")
    page = logged_in.get("/conversations").get_data(as_text=True)
    assert unread_badge(page) == "1" and listed_numbers(page) == ["+33612345678"]
    assert "Je viens !" in logged_in.get("/conversations/+33612345678").get_data(as_text=True)
    assert logged_in.get("/inbox").get_json()["unread"] == 0


def test_the_migration_sums_up_the_messages_already_stored_as_read(tmp_path):
    from flask_migrate import downgrade, upgrade
    from sqlalchemy import text

    from .conftest import database_at, insert_old_message
    with database_at(tmp_path, "0014-1"):
        for message_id, number, direction in [(1, "+33612345678", "outbound"), (2, "+33612345678", "inbound"),
                                              (3, "+33698765432", "inbound")]:
            insert_old_message(message_id, number, direction)
        db.session.commit()
        upgrade(revision="0014")
        rows = db.session.execute(text("SELECT remote_number, last_message_id, unread_count FROM conversations "
                                       "ORDER BY remote_number")).all()
        assert [tuple(row) for row in rows] == [("+33612345678", 2, 0), ("+33698765432", 3, 0)]
        downgrade(revision="0014-1")
