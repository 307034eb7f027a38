"""What a user sends goes once, to whom they meant: a form posted twice sends once, a conversation's
reply goes to that conversation's one number."""
import re
import threading

from sqlalchemy import select

from webapp.extensions import db
from webapp.models import Message

from .conftest import csrf_token_from, login, make_phone, post_form


def outbound_numbers():
    db.session.expire_all()
    return db.session.scalars(select(Message.remote_number).where(Message.direction == Message.OUTBOUND)
                              .order_by(Message.id)).all()


def test_a_conversation_url_naming_several_numbers_answers_404_and_a_reply_to_it_sends_nothing(logged_in, user):
    phone = make_phone(user)
    several = "/conversations/+33612345671,+33612345672;+33612345673"
    assert logged_in.get(several).status_code == 404
    assert logged_in.get("/conversations/+33612345671%00").status_code == 404  # PostgreSQL: a 500
    response = post_form(logged_in, "/conversations/+33612345671", {"phone_id": phone.id, "body": "Hi"},
                         action=several)
    assert response.status_code == 404
    assert outbound_numbers() == []


def test_a_reply_goes_to_the_conversations_number_only(logged_in, user):
    phone = make_phone(user)
    response = post_form(logged_in, "/conversations/+33612345671",
                         {"phone_id": phone.id, "body": "Hi", "numbers": "+33612345671,+33612345672"})
    assert response.status_code == 302
    assert outbound_numbers() == ["+33612345671"]


def filled_compose_form(client, phone, numbers):
    page = client.get("/compose").get_data(as_text=True)
    form = {"csrf_token": csrf_token_from(page), "phone_id": phone.id, "numbers": numbers, "body": "Hello"}
    form.update(re.findall(r'name="(submission_token)" type="hidden" value="([^"]+)"', page))
    return form


def test_the_same_compose_form_posted_again_sends_nothing_more_and_shows_the_first_result(logged_in, user):
    phone = make_phone(user)
    form = filled_compose_form(logged_in, phone, "+33612345671")
    first = logged_in.post("/compose", data=form)
    again = logged_in.post("/compose", data=form)
    assert first.status_code == again.status_code == 302
    assert again.headers["Location"] == first.headers["Location"] and "/messages/" in first.headers["Location"]
    assert "had been sent already" in logged_in.get(again.headers["Location"]).get_data(as_text=True)
    # to several: the confirmation's form is the one that sends
    review = logged_in.post("/compose", data=filled_compose_form(logged_in, phone, "+33612345672, +33612345673"))
    confirmation = confirmation_form(logged_in, review.headers["Location"])
    first = logged_in.post(review.headers["Location"], data=confirmation)
    again = logged_in.post(review.headers["Location"], data=confirmation)
    assert first.status_code == again.status_code == 302
    assert again.headers["Location"] == first.headers["Location"] and "/campaigns/" in first.headers["Location"]
    assert "had been sent already" in logged_in.get(again.headers["Location"]).get_data(as_text=True)
    assert outbound_numbers() == ["+33612345671", "+33612345672", "+33612345673"]
    another_form = filled_compose_form(logged_in, phone, "+33612345671")
    assert logged_in.post("/compose", data=another_form).status_code == 302
    assert len(outbound_numbers()) == 4


def confirmation_form(client, location):
    page = client.get(location).get_data(as_text=True)
    form = {"csrf_token": csrf_token_from(page), "submit": "Send"}
    form.update(re.findall(r'name="(submission_token)" type="hidden" value="([^"]+)"', page))
    return form


def test_the_same_confirmation_posted_twice_at_once_sends_once(app, user):
    phone = make_phone(user)
    clients = [login(app.test_client(), user), app.test_client()]
    review = clients[0].post("/compose", data=filled_compose_form(clients[0], phone, "+33612345671, +33612345672"))
    location = review.headers["Location"]
    form = confirmation_form(clients[0], location)
    session = clients[0].get_cookie("session")
    clients[1].set_cookie("session", session.value, domain=session.domain)  # two tabs of one browser
    both_ready = threading.Barrier(2)
    answers = [None, None]

    def submit(index):
        with app.app_context():
            both_ready.wait()
            answers[index] = clients[index].post(location, data=form)

    threads = [threading.Thread(target=submit, args=(index,)) for index in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [answer.status_code for answer in answers] == [302, 302]
    assert answers[0].headers["Location"] == answers[1].headers["Location"]
    assert sorted(outbound_numbers()) == ["+33612345671", "+33612345672"]


def test_an_idempotency_key_given_to_the_service_queues_once(user):
    from webapp.services.messages import compose
    phone = make_phone(user)
    first = compose(user, phone.id, ["+33612345671"], "Hello", submission_token="key-" + "x" * 300)
    again = compose(user, phone.id, ["+33612345671"], "Hello", submission_token="key-" + "x" * 300)
    assert (first.repeated, again.repeated) == (False, True) and again.message_ids == first.message_ids
    assert outbound_numbers() == ["+33612345671"]
