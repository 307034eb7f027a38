"""“Set the URLs on my Twilio number”: the incoming SMS URL is set through Twilio's IncomingPhoneNumbers
resource, after a page shows what it replaces."""
import re
from datetime import timedelta

import pytest
from rq import SimpleWorker
from rq.serializers import JSONSerializer

from webapp import broker
from webapp.reasons import shown
from webapp.services.phones import callback_url

from .conftest import TWILIO_NUMBER, csrf_token_from, twilio_phone
from .fakes.twilio import FakeTwilio

OLD_URL = "https://old.example.com/sms"


@pytest.fixture
def twilio(app):
    with FakeTwilio(numbers=(TWILIO_NUMBER, "+15005550007")) as fake:
        app.config["TWILIO_API_BASE_URL"] = fake.base_url
        yield fake


def run_queued_jobs():
    """Runs the queued jobs in this process, the way the worker does, keeping their answers."""
    SimpleWorker([broker.job_queue()], connection=broker.redis_connection(), serializer=JSONSerializer).work(
        burst=True, logging_level="WARNING")


def open_preview(client, phone):
    """Clicks the phone page's button; returns the preview's address."""
    page = client.get(f"/phones/{phone.id}").get_data(as_text=True)
    assert "Set the URLs on my Twilio number" in page
    response = client.post(f"/phones/{phone.id}/install-callbacks/preview",
                           data={"csrf_token": csrf_token_from(page)})
    assert response.status_code == 302
    return response.headers["Location"]


def test_a_preview_no_worker_takes_says_so_and_still_shows_the_answer_once_one_does(twilio, user, logged_in):
    phone = twilio_phone(user, twilio)
    preview = open_preview(logged_in, phone)
    assert "is the background worker running?" not in logged_in.get(preview + "?fragment=1").get_data(as_text=True)
    [job] = broker.job_queue().jobs
    job.enqueued_at -= timedelta(seconds=21)  # as if it had waited that long for a worker
    job.save()
    waiting = logged_in.get(preview + "?fragment=1").get_data(as_text=True)
    assert "No answer yet: is the background worker running? Try again in a moment." in waiting
    assert "data-refresh-done" not in waiting  # the page keeps asking
    run_queued_jobs()
    page = logged_in.get(preview + "?fragment=1").get_data(as_text=True)
    assert "Replace it" in page and "is the background worker running?" not in page


def test_the_preview_shows_the_numbers_current_url_and_ours_and_changes_nothing(twilio, user, logged_in):
    twilio.add_incoming_number("+15005550008")  # another number of the account, left alone
    phone = twilio_phone(user, twilio)
    [resource] = [r for r in twilio.incoming_numbers.values() if r["phone_number"] == TWILIO_NUMBER]
    resource["sms_url"] = OLD_URL
    preview = open_preview(logged_in, phone)
    waiting = logged_in.get(preview).get_data(as_text=True)
    assert "Asking Twilio which URLs your number has now" in waiting
    run_queued_jobs()
    page = logged_in.get(preview).get_data(as_text=True)
    current = page.split("data-current-url")[1].split("</dd>")[0]
    new = page.split("data-new-url")[1].split("</dd>")[0]
    assert OLD_URL in current and callback_url(phone, "inbound") in new
    assert "Delivery reports need nothing set" in page and "Replace it" in page
    assert twilio.incoming_number(TWILIO_NUMBER)["sms_url"] == OLD_URL
    listed = [r for r in twilio.requests if r.path.endswith("/IncomingPhoneNumbers.json")]
    assert listed[-1].method == "GET" and listed[-1].query == {"PhoneNumber": TWILIO_NUMBER}
    fragment = logged_in.get(preview + "?fragment=1").get_data(as_text=True)
    assert "data-refresh-done" in fragment and "<html" not in fragment


def test_replacing_it_sets_the_numbers_incoming_url_through_the_api(twilio, user, logged_in):
    phone = twilio_phone(user, twilio)
    preview = open_preview(logged_in, phone)
    run_queued_jobs()
    page = logged_in.get(preview).get_data(as_text=True)
    action = re.search(r'action="([^"]*/install-callbacks)"', page).group(1)
    response = logged_in.post(action, data={"csrf_token": csrf_token_from(page)})
    assert response.status_code == 302
    run_queued_jobs()
    number = twilio.incoming_number(TWILIO_NUMBER)
    assert (number["sms_url"], number["sms_method"]) == (callback_url(phone, "inbound"), "POST")
    update = twilio.requests[-1]
    assert (update.method, update.path) == (
        "POST", f"/2010-04-01/Accounts/{twilio.account_sid}/IncomingPhoneNumbers/{number['sid']}.json")
    assert update.form == {"SmsUrl": callback_url(phone, "inbound"), "SmsMethod": "POST"}
    assert twilio.incoming_number("+15005550007")["sms_url"] != callback_url(phone, "inbound")
    shown_page = logged_in.get(f"/phones/{phone.id}").get_data(as_text=True)
    assert "Twilio now sends the SMS that +15005550006 receives to SMS Desk" in shown_page


def test_a_number_not_on_the_account_is_reported_in_words_and_nothing_is_set(twilio, user, logged_in):
    phone = twilio_phone(user, twilio, number="+15005550009")
    preview = open_preview(logged_in, phone)
    run_queued_jobs()
    page = logged_in.get(preview).get_data(as_text=True)
    assert "The number +15005550009 is not one of the Twilio account" in page
    assert "Nothing was changed at Twilio" in page and "Replace it" not in page
    assert all(request.method == "GET" for request in twilio.requests)


def test_installing_for_a_number_not_on_the_account_says_so_on_the_phone_page(twilio, user):
    from webapp.services.phones import record_callback_installation
    phone = twilio_phone(user, twilio, number="+15005550009")
    record_callback_installation(phone)
    assert phone.last_check_ok is False and "is not one of the Twilio account" in shown(phone.last_check_message)


def test_a_messaging_service_or_sender_id_has_no_such_button(twilio, user, logged_in):
    service = twilio_phone(user, twilio, number="MG" + "c" * 32)
    page = logged_in.get(f"/phones/{service.id}").get_data(as_text=True)
    assert "Set the URLs on my Twilio number" not in page
    assert logged_in.get(f"/phones/{service.id}/install-callbacks/preview/x").status_code == 404


def test_another_users_preview_is_not_found(twilio, user, other_user, logged_in):
    theirs = twilio_phone(other_user, twilio)
    page = logged_in.get("/phones/").get_data(as_text=True)
    response = logged_in.post(f"/phones/{theirs.id}/install-callbacks/preview",
                              data={"csrf_token": csrf_token_from(page)})
    assert response.status_code == 404
    mine = twilio_phone(user, twilio)
    preview = open_preview(logged_in, mine)
    job_id = preview.rsplit("/", 1)[1]
    assert logged_in.get(f"/phones/{theirs.id}/install-callbacks/preview/{job_id}").status_code == 404


def test_a_test_sms_goes_through_the_queue_and_its_page_shows_the_delivery_report(twilio, user, logged_in,
                                                                                  live_server):
    from webapp import statuses
    from webapp.models import Message
    from webapp.extensions import db
    phone = twilio_phone(user, twilio)
    page = logged_in.get(f"/phones/{phone.id}").get_data(as_text=True)
    assert "Send me a test SMS" in page
    response = logged_in.post(f"/phones/{phone.id}/test-sms", data={
        "number": "06 12 34 56 78", "csrf_token": csrf_token_from(page)})
    [message] = db.session.query(Message).all()
    assert response.headers["Location"] == f"/messages/{message.id}"
    assert (message.status, message.remote_number, message.phone_id) == (statuses.QUEUED, "+33612345678", phone.id)
    run_queued_jobs()
    assert twilio.last_message.params["To"] == "+33612345678"
    assert "test SMS from SMS Desk" in twilio.last_message.params["Body"]
    assert twilio.deliver(twilio.last_message.sid).status_code < 300
    db.session.expire_all()
    assert db.session.get(Message, message.id).status == statuses.DELIVERED
    assert ">delivered<" in logged_in.get(f"/messages/{message.id}").get_data(as_text=True)


def test_a_test_sms_to_a_wrong_number_says_why_and_sends_nothing(twilio, user, logged_in):
    from webapp.models import Message
    from webapp.extensions import db
    phone = twilio_phone(user, twilio)
    page = logged_in.get(f"/phones/{phone.id}").get_data(as_text=True)
    response = logged_in.post(f"/phones/{phone.id}/test-sms", data={"number": "12", "csrf_token": csrf_token_from(page)},
                              follow_redirects=True)
    assert "12 is not a valid number" in response.get_data(as_text=True)
    assert db.session.query(Message).count() == 0


def test_a_test_sms_from_another_users_phone_is_not_found(twilio, user, other_user, logged_in):
    theirs = twilio_phone(other_user, twilio)
    page = logged_in.get("/phones/").get_data(as_text=True)
    response = logged_in.post(f"/phones/{theirs.id}/test-sms", data={"number": "+33612345678",
                                                                      "csrf_token": csrf_token_from(page)})
    assert response.status_code == 404
