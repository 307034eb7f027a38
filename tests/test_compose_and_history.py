"""Composing through the form, and reading messages back: history, conversations, live statuses, dashboard."""
from datetime import timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, func, select

from webapp import broker, statuses
from webapp.extensions import db
from webapp.models import Message
from webapp.services.messages import queue_outbound, record_inbound
from webapp.providers.base import InboundSms

from .conftest import confirm_sending, make_phone, make_user, post_form


def compose(client, phone, numbers, body, **kwargs):
    """Through the confirmation a send to several recipients asks for."""
    response = post_form(client, "/compose", {"phone_id": phone.id, "numbers": numbers, "body": body}, **kwargs)
    if response.status_code == 302 and "/campaigns/drafts/" in response.headers["Location"]:
        return confirm_sending(client, response)
    return response


def queued_job_ids():
    return [job_id.decode() for job_id in broker.redis_connection().lrange(f"rq:queue:{broker.QUEUE_NAME}", 0, -1)]


def queued_message_ids():
    return [message_id for job in broker.job_queue().jobs for message_id in job.args[0]]


def test_composing_to_several_numbers_queues_one_message_each_and_their_jobs(logged_in, user):
    phone = make_phone(user)
    response = compose(logged_in, phone, "06 12 34 56 78\n+33698765432, 0612345678", "Réunion à 18h €")
    assert response.status_code == 302
    messages = db.session.scalars(select(Message).order_by(Message.id)).all()
    assert [m.remote_number for m in messages] == ["+33612345678", "+33698765432"]  # the duplicate once
    assert {(m.status, m.encoding, m.segment_count) for m in messages} == {(statuses.QUEUED, "GSM-7", 1)}
    assert queued_message_ids() == [m.id for m in messages]
    assert set(queued_job_ids()) == {m.send_job_id for m in messages}


def test_the_server_counts_segments_with_the_same_rules_as_the_counter(logged_in, user):
    phone = make_phone(user)
    compose(logged_in, phone, "0612345678", "€" * 80 + "\r\n")  # CR LF from the browser counts as one
    message = db.session.scalar(select(Message))
    assert (message.encoding, message.segment_count) == ("GSM-7", 2)
    assert message.body.endswith("\n") and "\r" not in message.body


def test_invalid_numbers_are_listed_with_why_and_sent_around_only_once_the_user_chooses_so(logged_in, user):
    phone = make_phone(user)
    response = post_form(logged_in, "/compose", {"phone_id": phone.id, "numbers": "0612345678\n06 12\nhello",
                                                 "body": "Hi"})
    page = logged_in.get(response.headers["Location"]).get_data(as_text=True)
    assert "2 invalid numbers" in page
    assert "<strong>06 12</strong> (pasted): it has too few or too many digits" in page
    assert "<strong>hello</strong> (pasted): it is not a phone number" in page
    assert "Send to the valid ones" in page
    refused = confirm_sending(logged_in, response)
    assert refused.status_code == 200 and "tick “send to the valid ones”" in refused.get_data(as_text=True)
    assert db.session.scalar(select(Message)) is None
    assert queued_job_ids() == []
    sent = confirm_sending(logged_in, response, send_to_valid="y")
    assert sent.status_code == 302
    assert db.session.scalars(select(Message.remote_number)).all() == ["+33612345678"]


def test_a_big_compose_is_carried_by_jobs_of_fifty_ids(logged_in, user):
    phone = make_phone(user)
    ids = queue_outbound(phone, [f"+336123{index:05d}" for index in range(120)], "Campaign")
    assert [len(job.args[0]) for job in broker.job_queue().jobs] == [50, 50, 20]
    assert queued_message_ids() == ids


def test_compose_while_the_broker_is_down_still_stores_the_message(app, logged_in, user):
    phone = make_phone(user)
    app.config["REDIS_URL"] = "redis://127.0.0.1:1"
    app.extensions.pop("smsdesk_redis", None)
    response = compose(logged_in, phone, "0612345678", "Hi")
    assert response.status_code == 302
    assert db.session.scalar(select(Message.status)) == statuses.QUEUED


def test_history_filters_and_keyset_pagination(app, logged_in, user):
    phone = make_phone(user, name="Front desk")
    other = make_phone(user, name="Back office")
    queue_outbound(phone, [f"+336123456{i:02d}" for i in range(60)], "Campaign")
    queue_outbound(other, ["+33698765432"], "Different text")
    record_inbound(phone, InboundSms("IN1", "+33611111111", "A reply"))

    page = logged_in.get("/history").get_data(as_text=True)
    assert page.count("data-message-id=") == 50 and "Older messages" in page
    older = page.split('href="/history?before=')[1].split('"')[0]
    page2 = logged_in.get(f"/history?before={older}").get_data(as_text=True)
    assert page2.count("data-message-id=") == 12

    def count(query):
        return logged_in.get("/history?" + query).get_data(as_text=True).count("data-message-id=")
    assert count(f"phone={other.id}") == 1
    assert count("direction=inbound") == 1
    assert count("status=received") == 1
    assert count("number=98765") == 1
    assert count("text=reply") == 1
    assert count("text=%25") == 0  # a % is searched for, not a wildcard
    # the dates a user types are in their time zone (Paris by default): at 23:30 UTC, it is tomorrow there
    zone = ZoneInfo(app.config["BABEL_DEFAULT_TIMEZONE"])
    today = db.session.scalar(select(Message.created_at)).replace(tzinfo=timezone.utc).astimezone(zone).date()
    assert count(f"date_from={today}&date_to={today}") == 50
    assert count(f"date_to={today - timedelta(days=2)}") == 0


def history_texts(client, query):
    page = client.get("/history?" + query).get_data(as_text=True)
    return page.count("data-message-id="), page


def test_text_search_finds_any_part_of_the_text_whatever_its_case_and_pages_through_matches(logged_in, user):
    phone = make_phone(user)
    queue_outbound(phone, [f"+336123456{i:02d}" for i in range(60)], "Sortie piscine jeudi")
    queue_outbound(phone, ["+33698765432"], 'Tarif "réduit" à 100% pour le_bus de l\'école, voir C:\\bus')
    record_inbound(phone, InboundSms("IN1", "+33611111111", "A REPLY from a parent"))
    bob = make_user("bob@example.org")
    queue_outbound(make_phone(bob), ["+33698765432"], "Bob's piscine and reply")

    assert history_texts(logged_in, "text=reply")[0] == 1
    assert history_texts(logged_in, "text=EPL")[0] == 1  # inside a word, either case
    assert history_texts(logged_in, "text=%22r%C3%A9duit%22")[0] == 1  # quotes are text, not syntax
    assert history_texts(logged_in, "text=100%25")[0] == 1
    assert history_texts(logged_in, "text=le_bus")[0] == 1
    assert history_texts(logged_in, "text=le%25bus")[0] == 0  # % and _ are not wildcards
    assert history_texts(logged_in, "text=e_b")[0] == 1
    assert history_texts(logged_in, "text=l%27%C3%A9cole")[0] == 1
    assert history_texts(logged_in, "text=C%3A%5Cbus")[0] == 1  # C:\bus
    assert history_texts(logged_in, "text=je")[0] == 50  # shorter than an index trigram
    assert history_texts(logged_in, "text=jeudi+pi")[0] == 0  # words in the order typed
    assert history_texts(logged_in, "text=re%00ply&number=%00")[0] == 1  # no message holds a NUL
    assert history_texts(logged_in, "text=%00%00%00")[0] == 50  # nothing left to search for: a full page

    shown, page = history_texts(logged_in, "text=PISCINE")
    assert shown == 50 and "Bob" not in page
    older = page.split('href="/history?')[1].split('"')[0].replace("&amp;", "&")
    assert "before=" in older and "text=PISCINE" in older
    assert history_texts(logged_in, older)[0] == 10
    assert history_texts(logged_in, "text=piscine&number=0612345601")[0] == 1
    newest = db.session.scalar(select(func.max(Message.id)).where(Message.user_id == user.id))
    queue_outbound(phone, ["+33612345699"], "Piscine annulée")
    fresh = logged_in.get(f"/history?text=piscine&fragment=after&after_id={newest}").get_data(as_text=True)
    assert fresh.count("data-message-id=") == 1 and "annulée" in fresh


SEARCHED_BODIES = ["Bus at 8", "bus_stop 100%", 'say "ab" now', "a\\b and A'B", "AbAb ba", "nothing here"]


@pytest.fixture
def searchable(logged_in, user):
    phone = make_phone(user)
    for index, body in enumerate(SEARCHED_BODIES):
        queue_outbound(phone, [f"+3361234560{index}"], body)
    return logged_in


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(typed=st.text(alphabet="abAB s_%\"'\\*:()-^\x00", max_size=8) | st.text(max_size=12))
def test_any_typed_text_finds_exactly_the_messages_containing_it(searchable, typed):
    response = searchable.get("/history", query_string={"text": typed})
    assert response.status_code == 200
    wanted = typed.replace("\x00", "").strip()
    if wanted.isascii():  # beyond ASCII, case folding is the database's own
        expected = [body for body in SEARCHED_BODIES if wanted.lower() in body.lower()]
        assert response.get_data(as_text=True).count("data-message-id=") == len(expected), expected


def test_text_search_forgets_deleted_messages(app, logged_in, user):
    """A deleted message's text no longer finds anything (its id is never given to another message)."""
    phone = make_phone(user)
    [kept] = queue_outbound(phone, ["+33612345678"], "First message")
    [deleted] = queue_outbound(phone, ["+33612345679"], "Password is swordfish")
    db.session.execute(delete(Message).where(Message.id == deleted))
    db.session.commit()
    [newer] = queue_outbound(phone, ["+33612345680"], "Harmless note")
    assert history_texts(logged_in, "text=swordfish")[0] == 0
    assert history_texts(logged_in, "text=harmless")[0] == 1
    assert history_texts(logged_in, "text=first")[0] == 1
    assert newer != deleted


def test_the_history_fetches_only_rows_newer_than_the_newest_shown(logged_in, user):
    phone = make_phone(user)
    [first] = queue_outbound(phone, ["+33612345678"], "First")
    [second] = queue_outbound(phone, ["+33612345679"], "Second")
    response = logged_in.get(f"/history?fragment=after&after_id={first}")
    assert response.headers["X-Last-Id"] == str(second)
    assert "Second" in response.get_data(as_text=True) and "First" not in response.get_data(as_text=True)
    assert "X-Last-Id" not in logged_in.get(f"/history?fragment=after&after_id={second}").headers


def test_live_statuses_answer_only_for_the_ids_asked(logged_in, user):
    phone = make_phone(user)
    ids = queue_outbound(phone, ["+33612345678", "+33612345679"], "Hi")
    message = db.session.get(Message, ids[0])
    message.status = statuses.DELIVERED
    db.session.commit()
    answer = logged_in.get(f"/messages/statuses?ids={ids[0]}").get_json()
    assert answer == {str(ids[0]): {"status": "delivered", "label": "delivered", "glyph": "✓✓", "final": True,
                                     "reason": None}}


def test_a_conversation_shows_both_directions_in_order_and_replies_from_it(logged_in, user):
    phone = make_phone(user)
    [sent] = queue_outbound(phone, ["+33612345678"], "Are you coming?")
    record_inbound(phone, InboundSms("IN1", "06 12 34 56 78", "Yes, at 6"))
    page = logged_in.get("/conversations/+33612345678").get_data(as_text=True)
    assert page.index("Are you coming?") < page.index("Yes, at 6")
    assert 'class="bubble out"' in page and 'class="bubble in"' in page

    response = post_form(logged_in, "/conversations/+33612345678", {"phone_id": phone.id, "body": "Great"})
    assert response.status_code == 302
    reply = db.session.scalar(select(Message).order_by(Message.id.desc()))
    assert (reply.remote_number, reply.body, reply.direction) == ("+33612345678", "Great", Message.OUTBOUND)
    assert "+33612345678" in logged_in.get("/conversations").get_data(as_text=True)


def test_the_message_page_shows_its_timeline_and_cancels_a_queued_sms(logged_in, user):
    phone = make_phone(user)
    [message_id] = queue_outbound(phone, ["+33612345678"], "Oops")
    page = logged_in.get(f"/messages/{message_id}").get_data(as_text=True)
    assert "Timeline" in page and "Cancel this SMS" in page
    post_form(logged_in, f"/messages/{message_id}", {}, action=f"/messages/{message_id}/cancel")
    message = db.session.get(Message, message_id)
    assert message.status == statuses.CANCELED
    assert [event.status for event in message.events] == [statuses.QUEUED, statuses.CANCELED]


def test_healthz_reports_database_broker_and_workers(client, app, worker):
    answer = client.get("/healthz")
    assert answer.status_code == 200
    assert answer.get_json() == {"database": "ok", "broker": "ok", "workers": 1, "status": "ok"}
    app.config["REDIS_URL"] = "redis://127.0.0.1:1"
    app.extensions.pop("smsdesk_redis", None)
    answer = client.get("/healthz")
    assert answer.status_code == 503 and answer.get_json()["broker"].startswith("error")


def test_a_pooled_connection_that_died_while_idle_is_replaced_unnoticed(client, app, monkeypatch):
    import webapp
    monkeypatch.setattr(webapp, "IDLE_SECONDS_BEFORE_PING", 0.0)
    db.session.remove()
    db.engine.dispose()
    with db.engine.connect() as connection:  # the pool's only connection
        pooled = connection.connection.dbapi_connection
    pooled.close()  # as when the database server restarts
    assert client.get("/healthz").get_json()["database"] == "ok"


def test_a_refused_reply_says_why_above_the_reply_box(logged_in, user):
    from webapp.providers.base import OptOutNotice
    from webapp.services.opt_outs import record_notice
    phone = make_phone(user)
    record_inbound(phone, InboundSms("IN1", "+33612345678", "STOP"))
    record_notice(phone, OptOutNotice("+33612345678"))
    response = post_form(logged_in, "/conversations/+33612345678", {"phone_id": phone.id, "body": "Sorry"})
    assert "replied STOP" in response.get_data(as_text=True)


def test_a_conversation_with_a_sender_name_offers_no_reply(logged_in, user):
    phone = make_phone(user)
    record_inbound(phone, InboundSms("IN1", "INFO-BANK", "Your code is 1234"))
    page = logged_in.get("/conversations/INFO-BANK").get_data(as_text=True)
    assert "is a name, not a number" in page and 'class="reply"' not in page
