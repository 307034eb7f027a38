"""Working without a public address: SMS Desk asks the provider for delivery reports and incoming SMS,
against fakes that never call back."""
import re
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from webapp import broker, statuses, tasks
from webapp.extensions import db
from webapp.models import Message, Phone, utcnow
from webapp.providers.base import ASKING_STATUS_DELAYS
from webapp.services import polling
from webapp.services.messages import queue_outbound
from webapp.services.phones import adapter_for, asks_provider
from webapp.services.public_address import is_local_address

from .conftest import TWILIO_NUMBER, make_phone, post_form, reload_message, run_queued_jobs, send_now, twilio_phone



def make_due(message_id):
    db.session.execute(Message.__table__.update().where(Message.id == message_id).values(
        next_status_poll_at=datetime.now(timezone.utc).replace(tzinfo=None) - timedelta(seconds=1)))
    db.session.commit()


def make_phones_due():
    db.session.execute(Phone.__table__.update().values(next_inbound_poll_at=None))
    db.session.commit()


@pytest.mark.parametrize("url, local", [
    ("http://127.0.0.1:5000", True), ("http://localhost:8000", True), ("http://192.168.1.20", True),
    ("http://10.0.0.5:8080", True), ("http://172.16.3.4", True), ("http://raspberrypi.local", True),
    ("http://[::1]:5000", True), ("http://raspberrypi:8000", True), ("https://sms.example.org", False),
    ("https://93.184.216.34", False), ("", True),
])
def test_an_address_is_local_when_no_provider_on_the_internet_can_reach_it(url, local):
    assert is_local_address(url) is local


def test_at_a_local_address_the_phone_asks_unless_told_never(app, twilio, user):
    assert asks_provider(twilio_phone(user, twilio))  # the test server is on 127.0.0.1
    assert asks_provider(twilio_phone(user, twilio, polling_mode="always"))
    assert not asks_provider(twilio_phone(user, twilio, polling_mode="never"))
    app.config["PUBLIC_BASE_URL"] = "https://sms.example.org"
    assert not asks_provider(twilio_phone(user, twilio))
    assert asks_provider(twilio_phone(user, twilio, polling_mode="always"))


def test_asking_starts_a_minute_after_the_send_backs_off_and_stops_after_a_day():
    steps = [later - earlier for earlier, later in zip((0,) + ASKING_STATUS_DELAYS, ASKING_STATUS_DELAYS)]
    assert steps[:6] == [60, 120, 300, 900, 1800, 3600] and set(steps[5:]) == {3600}
    assert ASKING_STATUS_DELAYS[-1] <= 86400 < ASKING_STATUS_DELAYS[-1] + 3600


def test_with_no_callback_ever_a_sent_message_ends_delivered(twilio, user):
    phone = twilio_phone(user, twilio)
    [message_id] = queue_outbound(phone, ["+33698765432"], "Hello")
    message = send_now(message_id)
    assert (message.next_status_poll_at - message.created_at).total_seconds() == pytest.approx(60, abs=2)
    sid = message.provider_message_id
    for twilio_status in ("sent", "delivered"):
        twilio.set_status(sid, twilio_status)
        make_due(message_id)
        assert polling.enqueue_due_status_polls() == 1
        assert run_queued_jobs(only=tasks.POLL_STATUSES) == 1
    message = reload_message(message_id)
    assert message.status == statuses.DELIVERED and message.next_status_poll_at is None
    assert twilio.callbacks == []  # nothing was ever posted to SMS Desk
    assert message.phone.poll_found["statuses"]["found"] == 1 and message.phone.polled_at is not None


def test_an_incoming_sms_is_stored_once_across_many_polls_and_never_deleted_at_twilio(app, twilio, user):
    phone = twilio_phone(user, twilio)
    twilio.receive("+33698765432", TWILIO_NUMBER, "Je viens !")
    twilio.receive("+33611111111", "+15005550099", "Not for this number")
    for _ in range(3):
        make_phones_due()
        assert polling.enqueue_inbound_polls(30) == 1
        run_queued_jobs(only=tasks.POLL_INBOUND)
    twilio.receive("+33611111111", TWILIO_NUMBER, "Moi aussi")
    make_phones_due()
    polling.enqueue_inbound_polls(30)
    run_queued_jobs(only=tasks.POLL_INBOUND)
    received = db.session.scalars(select(Message).where(Message.direction == Message.INBOUND)
                                  .order_by(Message.id)).all()
    assert [(message.remote_number, message.body) for message in received] == [
        ("+33698765432", "Je viens !"), ("+33611111111", "Moi aussi")]
    assert twilio.deletes == []
    listing = [request for request in twilio.requests if request.method == "GET"][-1]
    assert listing.query["To"] == TWILIO_NUMBER and "DateSent>" in listing.query
    assert db.session.get(Phone, phone.id).poll_found["inbound"]["found"] == 1


def test_phones_due_together_are_asked_in_one_job_and_each_page_tells_its_own_ask(twilio, user):
    phones = [twilio_phone(user, twilio) for _ in range(3)]
    deleted = twilio_phone(user, twilio)
    twilio.receive("+33698765432", TWILIO_NUMBER, "Bonjour")
    assert polling.enqueue_inbound_polls(30) == 4
    db.session.execute(Phone.__table__.update().where(Phone.id == deleted.id).values(deleted_at=utcnow()))
    db.session.commit()
    assert run_queued_jobs(only=tasks.POLL_INBOUND) == 1
    assert sum(1 for request in twilio.requests if "Messages.json" in request.path) == 3  # not the deleted one
    db.session.expire_all()
    for phone in phones:
        phone = db.session.get(Phone, phone.id)
        assert phone.polled_at is not None and phone.poll_found["inbound"]["found"] == 1
        assert phone.poll_found["inbound"]["answered_at"] == phone.polled_at.isoformat()
    assert db.session.get(Phone, deleted.id).polled_at is None


def test_a_phone_whose_ask_breaks_does_not_keep_the_others_of_its_job_from_being_asked(twilio, user):
    first, broken, last = (twilio_phone(user, twilio) for _ in range(3))
    db.session.execute(Phone.__table__.update().where(Phone.id == broken.id).values(encrypted_secrets="not Fernet"))
    db.session.commit()
    assert polling.enqueue_inbound_polls(30) == 3
    assert run_queued_jobs(only=tasks.POLL_INBOUND) == 1
    db.session.expire_all()
    assert [db.session.get(Phone, phone.id).polled_at is not None for phone in (first, broken, last)] == [
        True, False, True]


def test_a_poll_job_queued_before_the_upgrade_still_asks_its_phone(twilio, user):
    phone = twilio_phone(user, twilio)
    twilio.receive("+33698765432", TWILIO_NUMBER, "Bonjour")
    broker.enqueue_job(tasks.POLL_INBOUND, phone.id)  # one phone's id, as jobs were before they came in batches
    assert run_queued_jobs(only=tasks.POLL_INBOUND) == 1
    assert db.session.get(Phone, phone.id).poll_found["inbound"]["found"] == 1


def test_every_page_of_the_list_is_read(twilio, user):
    phone = twilio_phone(user, twilio)
    for number in range(230):
        twilio.receive(f"+336000{number:05d}", TWILIO_NUMBER, f"SMS {number}")
    assert polling.poll_inbound(phone) == 230
    assert sum(1 for request in twilio.requests if "Messages.json" in request.path) == 3  # 100 a page
    assert polling.poll_inbound(phone) == 0


def test_sms_received_long_before_the_last_ask_are_not_listed_again(twilio, user):
    phone = twilio_phone(user, twilio)
    twilio.receive("+33698765432", TWILIO_NUMBER, "Old", received_at=datetime.now(timezone.utc) - timedelta(days=3))
    assert polling.poll_inbound(phone) == 0  # a first ask looks back one day


def test_a_phone_that_is_told_is_never_asked_and_costs_no_job(app, twilio, user):
    twilio_phone(user, twilio, polling_mode="never")
    app.config["PUBLIC_BASE_URL"] = "https://sms.example.org"
    twilio_phone(user, twilio)
    assert polling.enqueue_inbound_polls(30) == 0
    assert not [job for job in broker.job_queue().jobs if job.func_name == tasks.POLL_INBOUND]


def test_a_phone_is_asked_at_most_once_per_interval(twilio, user):
    twilio_phone(user, twilio)
    assert polling.enqueue_inbound_polls(30) == 1
    assert polling.enqueue_inbound_polls(30) == 0


def test_a_messaging_services_incoming_sms_are_listed_on_any_of_its_numbers(twilio, user):
    service = "MG" + "a" * 32
    twilio.messaging_services = (service,)
    phone = twilio_phone(user, twilio, number=service)
    twilio.receive("+33698765432", "+15005550010", "Via the pool", messaging_service_sid=service)
    twilio.receive("+33698765432", TWILIO_NUMBER, "To another phone of the account")
    assert polling.poll_inbound(phone) == 1
    [message] = db.session.scalars(select(Message).where(Message.direction == Message.INBOUND)).all()
    assert message.body == "Via the pool"


def test_a_sender_id_cannot_be_listed(twilio, user):
    phone = twilio_phone(user, twilio, number="SMSDesk")
    assert polling.poll_inbound(phone) == 0
    assert not any("Messages.json" in request.path for request in twilio.requests)


def page_of(client, phone) -> str:
    return client.get(f"/phones/{phone.id}").get_data(as_text=True)


def what_works_panel(page: str) -> str:
    start = page.index('id="what-works"')
    return " ".join(page[start:page.index("</section>", start)].split())


def test_the_phone_page_says_sms_desk_asks_twilio_at_a_local_address(logged_in, twilio, user):
    panel = what_works_panel(page_of(logged_in, twilio_phone(user, twilio)))
    assert "SMS Desk asks Twilio about each SMS a minute after it is sent" in panel
    assert "SMS Desk asks Twilio every 30 s (works now)" in panel
    assert "With a public address, they arrive at once." in panel and 'data-works="no"' not in panel


def test_with_a_public_address_twilio_tells_at_once(app, logged_in, twilio, user):
    app.config["PUBLIC_BASE_URL"] = "https://sms.example.org"
    panel = what_works_panel(page_of(logged_in, twilio_phone(user, twilio)))
    assert "Twilio tells SMS Desk as soon as it knows" in panel and "passes them on at once" in panel
    assert "With a public address" not in panel


@pytest.mark.parametrize("provider_key, settings, says", [
    ("octopush", dict(api_login="me@example.org", api_key="k", virtual_number="+33644000000", sender=""),
     "Octopush can only tell SMS Desk through callbacks: you need a public address."),
    ("odyssey", dict(login="123", password="p", sender="Desk"),
     "Odyssey can only tell SMS Desk through callbacks: you need a public address."),
    ("netoxygen", dict(user="me", password="p", sender="Desk"),
     "SMS Desk asks NetOxygen about each SMS it sends (works at any address)."),
    ("simulator", {}, "They come from this server itself (works at any address)."),
])
def test_each_provider_says_in_words_what_works_at_a_local_address(logged_in, user, provider_key, settings, says):
    panel = what_works_panel(page_of(logged_in, make_phone(user, provider_key=provider_key, **settings)))
    assert says in panel


def test_never_asking_is_chosen_on_the_edit_form_and_shown(logged_in, twilio, user):
    phone = twilio_phone(user, twilio)
    form = {"name": "Twilio", "setting_account_sid": twilio.account_sid, "setting_auth_token": "",
            "setting_number": TWILIO_NUMBER, "polling_mode": "never"}
    assert post_form(logged_in, f"/phones/{phone.id}/edit", form).status_code == 302
    assert db.session.get(Phone, phone.id).polling_mode == "never"
    panel = what_works_panel(page_of(logged_in, phone))
    assert "you chose never" in panel and "Only through a callback, and Twilio cannot reach this address." in panel
    edit_page = logged_in.get(f"/phones/{phone.id}/edit").get_data(as_text=True)
    assert re.search(r'<option[^>]*selected[^>]*value="never"|<option[^>]*value="never"[^>]*selected', edit_page)


def test_the_phone_page_shows_when_sms_desk_last_asked_and_what_it_found(logged_in, twilio, user):
    phone = twilio_phone(user, twilio)
    twilio.receive("+33698765432", TWILIO_NUMBER, "Je viens !")
    polling.poll_inbound(phone)
    panel = what_works_panel(page_of(logged_in, phone))
    assert "Last asked Twilio:" in panel and "1 new incoming SMS." in panel


def test_the_french_panel(logged_in, twilio, user):
    logged_in.set_cookie("locale", "fr")
    panel = what_works_panel(logged_in.get(f"/phones/{twilio_phone(user, twilio).id}",
                                           headers={"Accept-Language": "fr"}).get_data(as_text=True))
    assert "Ce qui fonctionne à cette adresse" in panel


def test_another_users_phone_page_and_its_polls_stay_hidden(client, twilio, user, other_user):
    from .conftest import login
    phone = twilio_phone(other_user, twilio)
    login(client, user)
    assert client.get(f"/phones/{phone.id}").status_code == 404
    assert client.get(f"/phones/{phone.id}/edit").status_code == 404


def test_polls_share_the_phones_rate_limit_with_its_sends(twilio, user):
    phone = twilio_phone(user, twilio)
    phone.rate_limit_per_second = 0.01  # one request every 100 s
    db.session.commit()
    twilio.receive("+33698765432", TWILIO_NUMBER, "Je viens !")
    [message_id] = queue_outbound(phone, ["+33698765432"], "Hello")
    send_now(message_id)  # takes the phone's slot: the next one is 100 s away
    assert polling.poll_inbound(phone) == 0
    assert not any(request.method == "GET" for request in twilio.requests)  # asked later, not now


def test_at_a_local_address_an_ovh_number_set_to_push_is_asked_for_its_sms_and_reports(app, user):
    from .fakes.ovh import FakeOvh
    keys = dict(app_key="TDPKJdwZwAQPwKX2", app_secret="9ufkBmLaTQ9nz5yMUlg79taH0GNnzDjk",
                consumer_key="5mBuy6SUQcRw2ZUxg0cG68BoDKpED4KY")
    with FakeOvh(virtual_numbers=("0033612345600",), senders=("SMSDesk",), **keys) as ovh:
        app.config["OVH_API_BASE_URL"] = ovh.base_url
        phone = make_phone(user, provider_key="ovh", name="OVH", endpoint="ovh-eu", application_key=keys["app_key"],
                           application_secret=keys["app_secret"], consumer_key=keys["consumer_key"],
                           service_name=ovh.service_name, virtual_number="+33612345600", sender="",
                           inbound_mode="push")
        ovh.queue_incoming("+33698765432", "Oui, je viens", virtual_number="0033612345600")
        assert polling.poll_inbound(phone) == 1
        assert adapter_for(phone).status_poll_delay(0) == 60  # asked a minute after the send
