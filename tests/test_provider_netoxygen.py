"""The NetOxygen gateway phone against a fake XML-RPC gateway: every function of its interface."""
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from rq import SimpleWorker
from rq.serializers import JSONSerializer
from sqlalchemy import select

from webapp import broker, statuses
from webapp.extensions import db
from webapp.models import Message, Phone
from webapp.reasons import shown
from webapp.services import polling, sending
from webapp.services.messages import queue_outbound
from webapp.providers.netoxygen import NetOxygenProvider
from webapp.services.phones import record_connection_check

from .conftest import make_phone, post_form, reload_message, wait_for
from .fakes.netoxygen import FakeNetOxygen

ZURICH = ZoneInfo("Europe/Zurich")


@pytest.fixture
def gateway(app):
    with FakeNetOxygen(credits=250, account_status="regular") as fake:
        app.config["NETOXYGEN_STATUS_POLL_FIRST_SECONDS"] = 0
        app.config["NETOXYGEN_API_URL"] = fake.base_url
        yield fake


def gateway_phone(user, fake, **overrides):
    settings = dict(user=fake.user, password=fake.password, sender="")
    settings.update(overrides)
    return make_phone(user, provider_key="netoxygen", name="NetOxygen", **settings)


def send_all(message_ids):
    for message_id in message_ids:
        sending.send_message(message_id, "test-worker")
    return [reload_message(message_id) for message_id in message_ids]


def run_jobs():
    """Runs the queued jobs in this process, the way the worker does."""
    SimpleWorker([broker.job_queue()], connection=broker.redis_connection(), serializer=JSONSerializer).work(
        burst=True, logging_level="WARNING")


def poll_now():
    db.session.execute(Message.__table__.update().values(next_status_poll_at=datetime(2000, 1, 1)))
    db.session.commit()
    polling.enqueue_due_status_polls()
    run_jobs()


def test_an_immediate_send_calls_send_message_with_the_documented_parameters(gateway, user):
    phone = gateway_phone(user, gateway, sender="SMSDesk")
    [message] = send_all(queue_outbound(phone, ["+41765363776"], "Grüezi €"))
    assert message.status == statuses.SENT
    [call] = gateway.calls_to("send_message")
    assert call.args == ("smsdesk", ["41765363776"], "Grüezi €", "SMSDesk", "", "text")
    assert message.provider_message_id == gateway.last_message.sms_id


def test_all_destinations_of_one_compose_go_in_one_call_and_each_gets_its_result(gateway, user):
    phone = gateway_phone(user, gateway)
    gateway.error_for["41791112233"] = 5  # the gateway refuses this destination
    ids = queue_outbound(phone, ["+41765363776", "+41791112233", "+41791234567"], "Hello all")
    messages = send_all(ids)
    assert [m.status for m in messages] == [statuses.SENT, statuses.FAILED, statuses.SENT]
    assert len(gateway.calls_to("send_message")) == 1
    assert messages[1].error_code == "5" and "Invalid destination number" in shown(messages[1].error_reason)
    assert len({m.provider_message_id for m in (messages[0], messages[2])}) == 2


def test_flash_is_offered_on_the_compose_form_and_sent_as_flash(gateway, user, logged_in):
    phone = gateway_phone(user, gateway)
    page = logged_in.get("/compose").get_data(as_text=True)
    assert "Flash SMS" in page and "Send later" in page and "Check these numbers" in page
    response = post_form(logged_in, "/compose", {"phone_id": phone.id, "numbers": "+41765363776",
                                                 "body": "Flash!", "flash": "y"})
    assert response.status_code == 302
    message = db.session.scalar(select(Message))
    assert message.flash
    send_all([message.id])
    assert gateway.calls_to("send_message")[-1].args[-1] == "flash"


def test_flash_is_refused_for_a_phone_without_it_and_later_is_held_by_sms_desk(user, logged_in):
    simulator = make_phone(user)
    response = post_form(logged_in, "/compose", {"phone_id": simulator.id, "numbers": "+41765363776",
                                                 "body": "x", "flash": "y"})
    assert "This phone cannot send flash SMS." in response.get_data(as_text=True)
    assert db.session.scalar(select(Message)) is None
    response = post_form(logged_in, "/compose", {"phone_id": simulator.id, "numbers": "+41765363776",
                                                 "body": "x", "send_at": "2099-01-01T10:00"})
    assert response.status_code == 302
    assert db.session.scalar(select(Message.status)) == statuses.SCHEDULED


def test_a_scheduled_sms_is_sent_with_its_swiss_date_then_canceled_from_its_page(gateway, user, logged_in):
    user.timezone = "America/New_York"
    db.session.commit()
    phone = gateway_phone(user, gateway)
    local = (datetime.now(ZoneInfo("America/New_York")) + timedelta(days=2)).replace(second=0, microsecond=0)
    response = post_form(logged_in, "/compose", {"phone_id": phone.id, "numbers": "+41765363776", "body": "Later",
                                                 "send_at": local.strftime("%Y-%m-%dT%H:%M")})
    assert response.status_code == 302
    [message] = send_all([db.session.scalar(select(Message.id))])
    assert message.status == statuses.SCHEDULED
    assert gateway.calls_to("send_message")[-1].args[4] == local.astimezone(ZURICH).strftime("%Y-%m-%d %H:%M:%S")
    page = logged_in.get(f"/messages/{message.id}").get_data(as_text=True)
    assert "scheduled" in page and "Cancel this SMS" in page

    post_form(logged_in, f"/messages/{message.id}", {}, action=f"/messages/{message.id}/cancel")
    run_jobs()
    message = reload_message(message.id)
    assert message.status == statuses.CANCELED
    assert gateway.last_message.error_code == 10


def test_a_cancel_that_comes_too_late_says_so(gateway, user):
    phone = gateway_phone(user, gateway)
    [message] = send_all(queue_outbound(phone, ["+41765363776"], "Now"))
    assert polling.cancel_at_provider(message) is False
    assert "probably been sent already" in shown(reload_message(message.id).events[-1].reason)


def test_statuses_are_polled_from_queue_to_submitted_to_delivered(gateway, user):
    phone = gateway_phone(user, gateway)
    [message] = send_all(queue_outbound(phone, ["+41765363776"], "Track me"))
    poll_now()
    assert reload_message(message.id).status == statuses.SENT  # 8: in the gateway's queue changes nothing
    gateway.advance()  # 8 -> 3
    poll_now()
    message = reload_message(message.id)
    assert message.status == statuses.SENT and message.events[-1].provider_status.startswith("3")
    gateway.advance()  # 3 -> 1
    poll_now()
    message = reload_message(message.id)
    assert message.status == statuses.DELIVERED and message.next_status_poll_at is None
    assert len(gateway.calls_to("get_status")) == 3


def test_many_ids_go_in_one_status_call(gateway, user):
    phone = gateway_phone(user, gateway)
    send_all(queue_outbound(phone, [f"+4176536377{digit}" for digit in range(5)], "Many"))
    poll_now()
    [call] = gateway.calls_to("get_status")
    assert len(call.args[1]) == 5


@pytest.mark.parametrize("final, expected, reason", [
    (4, statuses.FAILED, "Message error"), (6, statuses.FAILED, "expired"),
    ((42, "Carrier says no"), statuses.UNKNOWN, "Carrier says no"),
])
def test_final_codes_map_and_unknown_codes_show_the_gateways_text(gateway, user, final, expected, reason):
    phone = gateway_phone(user, gateway)
    gateway.outcome_for["41765363776"] = final
    [message] = send_all(queue_outbound(phone, ["+41765363776"], "Hi"))
    gateway.advance(to=final if isinstance(final, int) else final[0])
    poll_now()
    message = reload_message(message.id)
    assert message.status == (statuses.SENT if expected == statuses.UNKNOWN else expected)
    assert reason.lower() in (shown(message.error_reason) or shown(message.events[-1].reason) or "").lower()


def test_polling_backs_off_and_gives_up_as_unknown(app, gateway, user):
    phone = gateway_phone(user, gateway)
    [message] = send_all(queue_outbound(phone, ["+41765363776"], "Silent"))
    production = NetOxygenProvider({}, None, {"NETOXYGEN_STATUS_POLL_FIRST_SECONDS": 30}).status_poll_delays
    assert production[:3] == (30, 60, 120) and production[-1] > 2 * 86400  # backs off over days
    delays = production  # the same number of polls here, with no wait between them
    for _ in range(len(delays) + 1):
        poll_now()
    message = reload_message(message.id)
    assert message.status == statuses.UNKNOWN
    assert shown(message.error_reason) == f"no delivery report after {len(delays)} checks"


def test_a_fault_fails_the_message_with_the_faults_text(gateway, user):
    phone = gateway_phone(user, gateway, password="wrong")
    [message] = send_all(queue_outbound(phone, ["+41765363776"], "Hi"))
    assert message.status == statuses.FAILED
    assert "Authentification échouée" in shown(message.error_reason)


def test_an_http_503_is_retried(gateway, user):
    phone = gateway_phone(user, gateway)
    gateway.fail_next("http500", code=503, method="send_message")
    [message] = send_all(queue_outbound(phone, ["+41765363776"], "Hi"))
    assert message.status == statuses.QUEUED and "HTTP 503" in shown(message.events[-1].reason)
    assert send_all([message.id])[0].status == statuses.SENT


def test_an_http_500_may_have_sent_so_it_is_not_retried(gateway, user):
    phone = gateway_phone(user, gateway)
    gateway.fail_next("http500", code=500, method="send_message")
    [message] = send_all(queue_outbound(phone, ["+41765363776"], "Hi"))
    assert message.status == statuses.UNKNOWN and "HTTP 500" in shown(message.error_reason)


def test_an_answer_trickled_past_the_deadline_leaves_the_message_unknown(app, gateway, user):
    """Each piece comes well within the read timeout; the whole takes longer than connect + read."""
    app.config.update(PROVIDER_CONNECT_TIMEOUT=0.5, PROVIDER_READ_TIMEOUT=1.0)
    gateway.answer_trickle = 4.0
    phone = gateway_phone(user, gateway)
    [message] = send_all(queue_outbound(phone, ["+41765363776"], "Slowly"))
    assert message.status == statuses.UNKNOWN and message.provider_message_id is None
    assert "NetOxygen did not answer in time" in shown(message.error_reason)
    assert len(gateway.messages) == 1


def test_a_dropped_answer_is_never_sent_again(gateway, user):
    phone = gateway_phone(user, gateway)
    gateway.fail_next("drop", method="send_message", after_call=True)
    [message] = send_all(queue_outbound(phone, ["+41765363776"], "Once only"))
    assert message.status == statuses.UNKNOWN
    assert len(gateway.messages) == 1  # xmlrpc.client alone would have sent it a second time


def test_a_refused_connection_is_retried(app, user):
    app.config["NETOXYGEN_API_URL"] = "http://127.0.0.1:1/api2/"
    phone = make_phone(user, provider_key="netoxygen", user="x", password="y", sender="")
    [message] = send_all(queue_outbound(phone, ["+41765363776"], "Hi"))
    assert message.status == statuses.QUEUED and "cannot reach NetOxygen" in shown(message.events[-1].reason)


def test_the_connection_test_shows_credits_account_type_and_group_id(gateway, user, logged_in):
    phone = gateway_phone(user, gateway)
    assert "Callback URLs" not in logged_in.get(f"/phones/{phone.id}").get_data(as_text=True)  # it has none
    record_connection_check(phone)
    assert phone.last_check_ok
    assert {shown(label): value for label, value in phone.last_check_facts.items()} == {
        "Credits": "250", "Account type": "regular", "Group id": gateway.guid}
    page = logged_in.get(f"/phones/{phone.id}").get_data(as_text=True)
    assert gateway.guid in page and "250" in page
    wrong = gateway_phone(user, gateway, password="nope")
    record_connection_check(wrong)
    assert wrong.last_check_ok is False and "refused the user or the password" in shown(wrong.last_check_message)


def test_check_this_number_shows_what_the_gateway_makes_of_it(gateway, user, logged_in):
    phone = gateway_phone(user, gateway)
    page = logged_in.get("/compose")
    from .conftest import csrf_token_from
    answer = logged_in.post(f"/phones/{phone.id}/check-numbers", data={
        "numbers": "022/364 8000\n+41 76 536 37 76", "csrf_token": csrf_token_from(page.get_data(as_text=True))})
    result_url = answer.get_json()["result_url"]
    assert logged_in.get(result_url).get_json() == {"done": False, "failed": False}
    run_jobs()
    assert logged_in.get(result_url).get_json() == {"done": True, "numbers": [
        {"typed": "022/364 8000", "cleaned": "41223648000", "error": None, "sent_to": "+33223648000"},
        {"typed": "+41 76 536 37 76", "cleaned": "41765363776", "error": None, "sent_to": "+41765363776"}]}


def test_through_the_worker_several_destinations_are_sent_and_polled_to_delivered(gateway, live_server,
                                                                                  start_worker, user):
    gateway.auto_advance_seconds = 0.5
    phone = gateway_phone(user, gateway)
    start_worker(NETOXYGEN_STATUS_POLL_FIRST_SECONDS="0.5", NETOXYGEN_API_URL=gateway.base_url)
    ids = queue_outbound(phone, ["+41765363776", "+41791234567"], "Through the worker")
    wait_for(lambda: all(reload_message(i).status == statuses.DELIVERED for i in ids), message="delivered")
    assert len(gateway.calls_to("send_message")) == 1


# ---- the sender: the interface document's 5th parameter of send_message

@pytest.mark.parametrize("sender, gateway_default, shown_as", [
    ("textobox.ch", "SMSDesk", "textobox.ch"),  # the gateway's own default, dot included
    ("Mon Ecole", "SMSDesk", "Mon Ecole"),  # a name with a space
    ("", "SMSDesk", "SMSDesk"),  # empty: the account's default
    ("", None, "textobox.ch"),  # and the gateway's when the account has none
])
def test_through_the_worker_each_sender_is_sent_as_the_fifth_parameter(gateway, live_server, start_worker, user,
                                                                       sender, gateway_default, shown_as):
    gateway.default_sender = gateway_default
    gateway.auto_advance_seconds = 0.5
    phone = gateway_phone(user, gateway, sender=sender)
    start_worker(NETOXYGEN_STATUS_POLL_FIRST_SECONDS="0.5", NETOXYGEN_API_URL=gateway.base_url)
    [message_id] = queue_outbound(phone, ["+41765363776"], "Qui écrit ?")
    wait_for(lambda: reload_message(message_id).status == statuses.DELIVERED, message="delivered")
    [call] = gateway.calls_to("send_message")
    assert call.args[3] == sender  # "Pour ... utiliser l'expéditeur par défaut, ... une chaîne vide"
    assert gateway.last_message.sender == shown_as


def test_a_sender_the_account_may_not_force_is_replaced_by_the_default(gateway, user):
    gateway.can_force_sender = False
    phone = gateway_phone(user, gateway, sender="Mon Ecole")
    [message] = send_all(queue_outbound(phone, ["+41765363776"], "Hello"))
    assert message.status == statuses.SENT and gateway.last_message.sender == gateway.default_sender


def test_the_phone_page_says_which_sender_is_used(gateway, user, logged_in):
    default = gateway_phone(user, gateway, sender="")
    page = logged_in.get(f"/phones/{default.id}").get_data(as_text=True)
    assert "The default sender of your NetOxygen account (textobox.ch when the account has none)." in page
    named = gateway_phone(user, gateway, sender="Mon Ecole")
    page = logged_in.get(f"/phones/{named.id}").get_data(as_text=True)
    assert "“Mon Ecole”, if your NetOxygen account may choose its sender" in page


def add_form(sender):
    return {"name": "NetOxygen", "setting_user": "smsdesk", "setting_password": "secret", "setting_sender": sender}


@pytest.mark.parametrize("sender", ["textobox.ch", "Mon Ecole", "", "École+2", "+41791234567", "0041791234567"])
def test_the_add_form_takes_what_the_gateway_takes_as_a_sender(logged_in, sender):
    assert post_form(logged_in, "/phones/new/netoxygen", add_form(sender)).status_code == 302
    assert db.session.scalar(select(Phone)).settings["sender"] == sender


@pytest.mark.parametrize("sender", ["Twelve chars", "Zoë 😀", "two\nlines", "+41791234567890123"])
def test_the_add_form_refuses_a_sender_no_handset_can_show(logged_in, sender):
    response = post_form(logged_in, "/phones/new/netoxygen", add_form(sender))
    assert response.status_code == 200 and "Up to 11 characters an SMS can show" in response.get_data(as_text=True)
    assert db.session.scalar(select(Phone)) is None
