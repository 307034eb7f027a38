"""The OVH SMS phone against a fake OVH API that checks signatures as the real one does."""
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from webapp import statuses
from webapp.extensions import db
from webapp.models import Message, Phone
from webapp.reasons import shown
from webapp.services import polling
from webapp.services.messages import queue_outbound, record_inbound
from webapp.services.phones import adapter_for, callback_url, record_callback_installation, record_connection_check

from .conftest import make_phone, send_now, post_form, reload_message, wait_for
from .fakes.ovh import FakeOvh

APP_KEY, APP_SECRET, CONSUMER_KEY = "TDPKJdwZwAQPwKX2", "9ufkBmLaTQ9nz5yMUlg79taH0GNnzDjk", "5mBuy6SUQcRw2ZUxg0cG68BoDKpED4KY"


@pytest.fixture
def ovh(app):
    with FakeOvh(app_key=APP_KEY, app_secret=APP_SECRET, consumer_key=CONSUMER_KEY,
                 virtual_numbers=("0033612345600",), senders=("SMSDesk",)) as fake:
        app.config["OVH_API_BASE_URL"] = fake.base_url
        yield fake


def ovh_phone(user, fake, name="OVH", polling_mode="never", **overrides):
    """A phone OVH tells (polling_mode "never"), as at a public address; its settings may ask for polls."""
    settings = dict(endpoint="ovh-eu", application_key=fake.app_key, application_secret=fake.app_secret,
                    consumer_key=fake.consumer_key, service_name=fake.service_name,
                    virtual_number="+33612345600", sender="", inbound_mode="push")
    settings.update(overrides)
    return make_phone(user, provider_key="ovh", name=name, polling_mode=polling_mode, **settings)



def test_sending_from_a_virtual_number_uses_its_jobs_path_and_stores_ovhs_id(ovh, user):
    phone = ovh_phone(user, ovh)
    [message_id] = queue_outbound(phone, ["+33698765432"], "Bonjour à tous")
    message = send_now(message_id)
    assert message.status == statuses.SENT
    request = ovh.sends()[-1]
    assert request.path == "/1.0/sms/sms-ab12345-1/virtualNumbers/0033612345600/jobs"
    assert request.json == {"message": "Bonjour à tous", "receivers": ["+33698765432"], "charset": "UTF-8"}
    assert message.provider_message_id == str(max(ovh.jobs))


def test_sending_with_a_sender_name_uses_the_accounts_jobs_without_stop_clause(ovh, user):
    phone = ovh_phone(user, ovh, virtual_number="", sender="SMSDesk")
    [message_id] = queue_outbound(phone, ["+33698765432"], "Hi")
    assert send_now(message_id).status == statuses.SENT
    request = ovh.sends()[-1]
    assert request.path == "/1.0/sms/sms-ab12345-1/jobs"
    assert request.json["sender"] == "SMSDesk" and request.json["noStopClause"] is True


def test_a_clock_far_from_ovhs_is_corrected_with_auth_time(app, user):
    with FakeOvh(app_key=APP_KEY, app_secret=APP_SECRET, consumer_key=CONSUMER_KEY, time_offset=900) as fake:
        app.config["OVH_API_BASE_URL"] = fake.base_url
        phone = ovh_phone(user, fake)
        record_connection_check(phone)
        assert phone.last_check_ok, shown(phone.last_check_message)
        assert "100" in shown(phone.last_check_message)  # the credits left


@pytest.mark.parametrize("field, value, says", [
    ("application_key", "WrongKey12345678", "OVH refused the API keys"),
    ("consumer_key", "WrongConsumerKey123", "OVH refused the API keys"),
    ("application_secret", "WrongSecret1234567", "OVH refused the request's signature"),
    ("service_name", "sms-zz99999-1", "check the service name"),
])
def test_wrong_settings_are_explained_by_the_connection_test(ovh, user, field, value, says):
    phone = ovh_phone(user, ovh, **{field: value})
    record_connection_check(phone)
    assert phone.last_check_ok is False
    assert says in shown(phone.last_check_message)


def test_a_destination_ovh_lists_as_invalid_fails_even_though_ovh_answered_200(ovh, user):
    phone = ovh_phone(user, ovh)
    [message_id] = queue_outbound(phone, ["+33698765432"], "Hi")
    message = db.session.get(Message, message_id)
    message.remote_number = "+12"  # a number OVH refuses, which our own validation would have stopped
    db.session.commit()
    message = send_now(message_id)
    assert message.status == statuses.FAILED
    assert "considers the number invalid" in shown(message.error_reason)


@pytest.mark.parametrize("status_code", [429, 503])
def test_an_unavailable_ovh_is_retried_later(ovh, user, status_code):
    phone = ovh_phone(user, ovh)
    ovh.fail_next(status_code, "Service unavailable")
    [message_id] = queue_outbound(phone, ["+33698765432"], "Hi")
    message = send_now(message_id)
    assert message.status == statuses.QUEUED and message.attempt_count == 1
    assert f"HTTP {status_code}" in shown(message.events[-1].reason)
    assert send_now(message_id).status == statuses.SENT


@pytest.mark.parametrize("dlr, expected", [
    ("1", statuses.DELIVERED), ("2", statuses.FAILED), ("16", statuses.FAILED),
    ("8", statuses.SENT), ("4", statuses.SENT), ("3", statuses.UNKNOWN),
])
def test_delivery_receipts_map_to_our_statuses(ovh, client, user, dlr, expected):
    phone = ovh_phone(user, ovh)
    [message_id] = queue_outbound(phone, ["+33698765432"], "Hi")
    message = send_now(message_id)
    status_path = urlsplit(callback_url(phone, "status")).path
    response = client.get(f"{status_path}?id={message.provider_message_id}&dlr={dlr}&receiver=%2B33698765432")
    assert response.status_code == 200
    message = reload_message(message_id)
    # a queued (4) report after sending changes nothing; an unknown code cannot undo "sent"
    assert message.status == (statuses.SENT if expected == statuses.UNKNOWN else expected)
    assert message.events[-1].provider_status == f"dlr {dlr}"


def test_the_button_sets_the_callback_urls_and_the_stop_url_on_the_ovh_account(ovh, user, logged_in):
    phone = ovh_phone(user, ovh)
    record_callback_installation(phone)
    assert phone.last_check_ok, shown(phone.last_check_message)
    assert ovh.account["callBack"] == callback_url(phone, "status")
    assert ovh.account["stopCallBack"] == callback_url(phone, "inbound") + "?notice=stop"
    assert ovh.account["smsResponse"]["cgiUrl"] == callback_url(phone, "inbound")
    assert ovh.account["smsResponse"]["responseType"] == "cgi"
    assert "Set the callback URLs at OVH SMS for me" in logged_in.get(f"/phones/{phone.id}").get_data(as_text=True)


def test_polling_stores_each_incoming_sms_once_then_deletes_it_at_ovh(ovh, user):
    phone = ovh_phone(user, ovh, inbound_mode="poll")
    ovh.queue_incoming("+33698765432", "Oui, je viens", virtual_number="0033612345600")
    # a crash after storing and before deleting: the SMS is still listed at OVH
    record_inbound(phone, adapter_for(phone).list_inbound()[0])
    ovh.queue_incoming("+33611111111", "Moi aussi", virtual_number="0033612345600")

    assert polling.poll_inbound(phone) == 1  # the new one
    texts = sorted(m.body for m in db.session.scalars(select(Message)))
    assert texts == ["Moi aussi", "Oui, je viens"]  # the first one once
    assert ovh.incoming == {}


def test_phones_set_to_push_are_not_polled(ovh, user):
    phone = ovh_phone(user, ovh, inbound_mode="push")
    ovh.queue_incoming("+33698765432", "Hi", virtual_number="0033612345600")
    assert polling.poll_inbound(phone) == 0


def test_the_settings_form_wants_a_number_or_a_sender_but_not_both(logged_in):
    base = {"name": "OVH", "setting_endpoint": "ovh-eu", "setting_application_key": APP_KEY,
            "setting_application_secret": APP_SECRET, "setting_consumer_key": CONSUMER_KEY,
            "setting_service_name": "sms-ab12345-1", "setting_inbound_mode": "push"}
    neither = post_form(logged_in, "/phones/new/ovh", base).get_data(as_text=True)
    assert "Fill in your virtual number, or a sender name below." in neither
    both = post_form(logged_in, "/phones/new/ovh", dict(base, setting_virtual_number="+33612345600",
                                                        setting_sender="SMSDesk")).get_data(as_text=True)
    assert "not both" in both
    response = post_form(logged_in, "/phones/new/ovh", dict(base, setting_virtual_number="+33612345600"))
    assert response.status_code == 302


def test_an_sms_sent_through_the_worker_is_delivered_by_ovhs_callback(ovh, app, live_server, start_worker, user):
    ovh.auto_dlr = True
    phone = ovh_phone(user, ovh)
    record_callback_installation(phone)
    start_worker(OVH_API_BASE_URL=ovh.base_url)
    [message_id] = queue_outbound(phone, ["+33698765432"], "Through the worker")
    wait_for(lambda: reload_message(message_id).status == statuses.DELIVERED, message="delivered")


def test_an_sms_pushed_by_ovh_arrives_in_the_conversation(ovh, live_server, user):
    phone = ovh_phone(user, ovh)
    record_callback_installation(phone)
    response = ovh.push_incoming("+33698765432", "Réponse par CGI")
    assert response.status_code == 200 and response.text == ""
    message = db.session.scalar(select(Message))
    assert (message.remote_number, message.body, message.direction) == ("+33698765432", "Réponse par CGI",
                                                                         Message.INBOUND)


def test_the_worker_polls_ovh_for_incoming_sms(ovh, live_server, start_worker, user):
    ovh_phone(user, ovh, inbound_mode="poll")
    ovh.queue_incoming("+33698765432", "Arrivé par relève", virtual_number="0033612345600")
    start_worker(OVH_API_BASE_URL=ovh.base_url, INBOUND_POLL_SECONDS="0.5")

    def stored():
        db.session.expire_all()
        return db.session.scalar(select(Message).where(Message.direction == Message.INBOUND))
    message = wait_for(stored, message="the incoming SMS")
    assert (message.remote_number, message.body) == ("+33698765432", "Arrivé par relève")
    wait_for(lambda: ovh.incoming == {}, message="deleted at OVH")


def test_an_overlong_provider_code_is_clipped_not_refused(ovh, client, user):
    phone = ovh_phone(user, ovh)
    [message_id] = queue_outbound(phone, ["+33698765432"], "Hi")
    message = send_now(message_id)
    status_path = urlsplit(callback_url(phone, "status")).path
    response = client.get(f"{status_path}?id={message.provider_message_id}&dlr={'9' * 200}")
    assert response.status_code == 200
    assert len(reload_message(message_id).events[-1].provider_status) == 64


# ---- several phones on one OVH service: one callBack and one smsResponse for all (spec §2.3, §2.4)

def two_phones_on_one_service(user, fake):
    """As a user adds them: a phone takes a virtual number or a sender name, not both."""
    numbered = ovh_phone(user, fake, name="OVH number")
    named = ovh_phone(user, fake, name="OVH sender", virtual_number="", sender="SMSDesk")
    return numbered, named


def test_two_phones_on_one_service_both_reach_delivered_and_both_receive(ovh, live_server, start_worker, user):
    ovh.auto_dlr = True
    numbered, named = two_phones_on_one_service(user, ovh)
    record_callback_installation(numbered)
    record_callback_installation(named)  # the service's URLs are now the second phone's only
    assert ovh.account["callBack"] == callback_url(named, "status")
    start_worker(OVH_API_BASE_URL=ovh.base_url)
    [from_number] = queue_outbound(numbered, ["+33698765432"], "From the number")
    [from_name] = queue_outbound(named, ["+33698765433"], "From the name")
    for message_id in (from_number, from_name):
        wait_for(lambda: reload_message(message_id).status == statuses.DELIVERED, message="delivered")

    assert ovh.push_incoming("+33698765432", "To the number", virtual_number="+33612345600").status_code == 200
    assert ovh.push_incoming("+33698765433", "To the short number").status_code == 200
    db.session.expire_all()
    received = {message.body: message.phone_id for message in db.session.scalars(
        select(Message).where(Message.direction == Message.INBOUND))}
    assert received == {"To the number": numbered.id, "To the short number": named.id}
    assert db.session.get(Phone, numbered.id).last_callback_at is not None  # its page does not say "never"


def test_a_report_that_outruns_the_send_at_the_other_phones_url_applies_once_the_id_is_stored(ovh, client, user):
    numbered, named = two_phones_on_one_service(user, ovh)
    [message_id] = queue_outbound(numbered, ["+33698765432"], "Hi")
    next_job_id = ovh._next_job_id
    response = client.get(f"{urlsplit(callback_url(named, 'status')).path}?id={next_job_id}&dlr=1")
    assert response.status_code == 200
    message = send_now(message_id)
    assert message.provider_message_id == str(next_job_id)
    assert reload_message(message_id).status == statuses.DELIVERED


def test_each_virtual_number_of_a_service_gets_its_own_incoming_sms(app, live_server, user):
    with FakeOvh(app_key=APP_KEY, app_secret=APP_SECRET, consumer_key=CONSUMER_KEY,
                 virtual_numbers=("0033612345600", "0033612345601")) as fake:
        app.config["OVH_API_BASE_URL"] = fake.base_url
        first = ovh_phone(user, fake, name="First number")
        second = ovh_phone(user, fake, name="Second number", virtual_number="+33612345601")
        record_callback_installation(second)
        fake.push_incoming("+33698765432", "For the first", virtual_number="+33612345600")
        fake.push_incoming("+33698765432", "For the second", virtual_number="+33612345601")
    db.session.expire_all()
    received = {message.body: message.phone_id for message in db.session.scalars(select(Message))}
    assert received == {"For the first": first.id, "For the second": second.id}


def test_another_users_phone_on_the_same_service_gets_none_of_the_reports(ovh, client, user):
    from .conftest import make_user
    other = ovh_phone(make_user("grace@example.org"), ovh, name="Grace's")
    mine = ovh_phone(user, ovh, name="Mine")
    [message_id] = queue_outbound(other, ["+33698765432"], "Hi")
    provider_id = send_now(message_id).provider_message_id
    client.get(f"{urlsplit(callback_url(mine, 'status')).path}?id={provider_id}&dlr=1")
    assert reload_message(message_id).status == statuses.SENT


def test_the_phone_page_names_the_other_phone_on_the_service_and_the_button_says_both_keep_working(
        ovh, user, logged_in):
    numbered, named = two_phones_on_one_service(user, ovh)
    ovh_phone(user, ovh, name="Elsewhere", service_name="sms-zz99999-1")
    page = logged_in.get(f"/phones/{named.id}").get_data(as_text=True)
    assert "Your phone “OVH number” uses the same OVH service as this one" in page
    assert "Elsewhere" not in page
    record_callback_installation(named)
    said = shown(named.last_check_message)
    assert said.startswith("Your OVH account now sends delivery reports, incoming SMS and STOP replies to SMS Desk.")
    assert "“OVH number”" in said and "keep working" in said


# ---- asking OVH about an SMS whose report never came (spec §2.3, GET /sms/{service}/outgoing/{id})

def sent_without_report(user, fake):
    phone = ovh_phone(user, fake)
    [message_id] = queue_outbound(phone, ["+33698765432"], "Hi")
    message = send_now(message_id)
    assert message.status == statuses.SENT
    return phone, message


@pytest.mark.parametrize("dlr, expected", [(1, statuses.DELIVERED), (2, statuses.FAILED), (None, statuses.SENT)])
def test_a_poll_reads_the_outgoing_record(app, ovh, user, dlr, expected):
    app.config["OVH_STATUS_POLL_AFTER_SECONDS"] = 60
    phone, message = sent_without_report(user, ovh)
    ovh.mark_sent(int(message.provider_message_id), dlr=dlr)  # OVH knows; its report was lost
    polling.poll_statuses(phone, [message.id])
    message = reload_message(message.id)
    assert message.status == expected
    assert ovh.requests[-1].path == f"/1.0/sms/sms-ab12345-1/outgoing/{message.provider_message_id}"


def test_polls_back_off_and_end_in_unknown(app, ovh, user):
    app.config["OVH_STATUS_POLL_AFTER_SECONDS"] = 60
    phone, message = sent_without_report(user, ovh)
    assert (message.next_status_poll_at - message.created_at).total_seconds() >= 60
    adapter = adapter_for(phone)
    assert [adapter.status_poll_delay(done) for done in range(5)] == [60, 240, 960, 11760, None]
    for _poll in range(4):  # still waiting in OVH's jobs: outgoing answers 404
        polling.poll_statuses(phone, [message.id])
    message = reload_message(message.id)
    assert message.status == statuses.UNKNOWN and message.next_status_poll_at is None
    assert "no delivery report after 4 checks" in shown(message.error_reason)


def test_a_lost_report_is_recovered_by_the_workers_poll(ovh, live_server, start_worker, user):
    phone = ovh_phone(user, ovh)
    record_callback_installation(phone)
    start_worker(OVH_API_BASE_URL=ovh.base_url, OVH_STATUS_POLL_AFTER_SECONDS="1")
    [message_id] = queue_outbound(phone, ["+33698765432"], "Its report gets lost")
    message = wait_for(lambda: reload_message(message_id).provider_message_id and reload_message(message_id),
                       message="sent")
    ovh.mark_sent(int(message.provider_message_id), dlr=1)  # delivered, and OVH never calls back
    wait_for(lambda: reload_message(message_id).status == statuses.DELIVERED, message="delivered by a poll")
    assert reload_message(message_id).events[-1].provider_status == "outgoing, deliveryReceipt 1"


# ---- senders: a validated name of up to 11 alphanumerics, or a number (spec §2.2, §2.6)

FORM = {"name": "OVH", "setting_endpoint": "ovh-eu", "setting_application_key": APP_KEY,
        "setting_application_secret": APP_SECRET, "setting_consumer_key": CONSUMER_KEY,
        "setting_service_name": "sms-ab12345-1", "setting_inbound_mode": "push"}


@pytest.mark.parametrize("sender, accepted", [
    ("SMSDesk", True), ("Desk2026", True), ("ABCDEFGHIJK", True), ("+33612345699", True),
    ("ABCDEFGHIJKL", False), ("SMS Desk", False), ("SMS-Desk", False), ("Désk", False), ("+0612", False),
])
def test_the_sender_field_takes_a_name_or_a_number(logged_in, sender, accepted):
    response = post_form(logged_in, "/phones/new/ovh", dict(FORM, setting_sender=sender))
    assert (response.status_code == 302) is accepted
    if not accepted:
        assert "Up to 11 letters and digits with no spaces, or a number" in response.get_data(as_text=True)


def test_a_number_as_sender_is_sent_as_the_sender(app, user):
    with FakeOvh(app_key=APP_KEY, app_secret=APP_SECRET, consumer_key=CONSUMER_KEY,
                 senders=("+33612345699",)) as fake:
        app.config["OVH_API_BASE_URL"] = fake.base_url
        phone = ovh_phone(user, fake, virtual_number="", sender="+33612345699")
        [message_id] = queue_outbound(phone, ["+33698765432"], "Hi")
        assert send_now(message_id).status == statuses.SENT
        assert fake.sends()[-1].json["sender"] == "+33612345699"
