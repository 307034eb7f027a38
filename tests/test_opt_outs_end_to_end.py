"""A recipient's STOP and START, through each provider's fake and the real worker: the number
leaves and joins the user's list, each change is confirmed once through the phone that got it,
and what is already queued for a number that opted out is canceled rather than sent."""
from dataclasses import dataclass
from datetime import timedelta
from typing import Callable

import pytest
from sqlalchemy import select

from webapp import statuses, tasks
from webapp.extensions import db
from webapp.models import Message, OptOut, OutboxEvent, utcnow
from webapp.reasons import shown
from webapp.services import opt_outs
from webapp.services.messages import queue_outbound
from webapp.services.phones import callback_url, record_callback_installation

from .conftest import make_phone, reload_message, run_queued_jobs, send_now, wait_for
from .fakes.octopush import reply_problem
from .test_provider_netoxygen import gateway, gateway_phone  # noqa: F401
from .test_provider_octopush import octopush, octopush_phone  # noqa: F401  (fixtures)
from .test_provider_odyssey import odyssey, odyssey_phone  # noqa: F401
from .test_provider_ovh import ovh, ovh_phone  # noqa: F401
from .conftest import TWILIO_NUMBER, twilio_phone
from .test_provider_twilio import SERVICE_SID

RECIPIENT = "+33698765432"


def ovh_push_phone(user, fake):
    phone = ovh_phone(user, fake)
    record_callback_installation(phone)  # the service's smsResponse now calls this phone's URL
    return phone


@dataclass
class Provider:
    fixture: str | None  # its fake's fixture; None for the simulator, which is its own provider
    phone: Callable
    worker_env: Callable
    reply: Callable  # (fake, phone, number, text): the recipient's SMS, as the provider posts it
    stop: Callable | None = None  # (fake, number): the provider's own STOP notice, where it sends one


# NetOxygen is not here: its gateway has no incoming SMS and no callbacks of any kind (spec 5.1), so
# no STOP can come through it; what its phones send is held back by the user's list like any other
PROVIDERS = {
    "simulator": Provider(None, lambda user, fake: make_phone(user), lambda fake: {},
                          lambda fake, phone, number, text: tasks.simulate_inbound(phone.id, number, text)),
    "twilio": Provider("twilio", twilio_phone, lambda fake: {"TWILIO_API_BASE_URL": fake.base_url},
                       lambda fake, phone, number, text: fake.send_inbound(callback_url(phone, "inbound"), number,
                                                                           TWILIO_NUMBER, text)),
    "ovh": Provider("ovh", ovh_push_phone, lambda fake: {"OVH_API_BASE_URL": fake.base_url},
                    lambda fake, phone, number, text: fake.push_incoming(number, text)),
    "octopush": Provider("octopush", octopush_phone, lambda fake: {"OCTOPUSH_API_BASE_URL": fake.base_url},
                         lambda fake, phone, number, text: fake.send_inbound(number, text),
                         stop=lambda fake, number: fake.send_stop(number)),
    "odyssey": Provider("odyssey", odyssey_phone, lambda fake: {"ODYSSEY_API_BASE_URL": fake.base_url},
                        lambda fake, phone, number, text: fake.send_inbound("00" + number[1:], text),
                        stop=lambda fake, number: fake.send_opt_out("00" + number[1:])),
}
PROVIDERS["ovh"].stop = lambda fake, number: fake.send_stop(number)
WITH_NOTICES = [key for key, provider in PROVIDERS.items() if provider.stop]


def opt_out_of(number):
    db.session.expire_all()
    return db.session.scalar(select(OptOut).where(OptOut.number == number))


def sent_to(number) -> list[str]:
    """The bodies of the messages to `number` that the worker handed to the provider."""
    db.session.expire_all()
    return db.session.scalars(select(Message.body).where(
        Message.direction == Message.OUTBOUND, Message.remote_number == number,
        Message.status.in_((statuses.SENT, statuses.DELIVERED))).order_by(Message.id)).all()


def optout_events():
    return db.session.scalars(select(OutboxEvent.kind).where(OutboxEvent.kind.like("optout.%"))
                              .order_by(OutboxEvent.id)).all()


@pytest.mark.parametrize("key", PROVIDERS)
def test_a_recipients_stop_and_start_through_each_provider_are_recorded_and_confirmed_once(
        key, request, live_server, start_worker, user):
    provider = PROVIDERS[key]
    fake = request.getfixturevalue(provider.fixture) if provider.fixture else None
    phone = provider.phone(user, fake)
    opt_outs.save_settings(user, opt_outs.OptOutSettings(confirm=True, stop_reply="Bien noté, plus de SMS.",
                                                         start_reply="Re-bienvenue !"))
    start_worker(**provider.worker_env(fake))

    provider.reply(fake, phone, RECIPIENT, "  Stop ! ")
    opt_out = wait_for(lambda: opt_out_of(RECIPIENT), message="the opt-out")
    assert opt_out.source == OptOut.KEYWORD and opt_out.original_text == "  Stop ! "
    assert opt_out.phone_id == phone.id
    wait_for(lambda: sent_to(RECIPIENT) == ["Bien noté, plus de SMS."], message="the STOP confirmation")

    provider.reply(fake, phone, RECIPIENT, "START")
    wait_for(lambda: opt_out_of(RECIPIENT) is None, message="the opt-out removed")
    wait_for(lambda: sent_to(RECIPIENT)[-1:] == ["Re-bienvenue !"], message="the START confirmation")
    provider.reply(fake, phone, RECIPIENT, "start")  # said again: nothing changes, nothing is sent
    wait_for(lambda: db.session.scalar(select(db.func.count(Message.id)).where(
        Message.direction == Message.INBOUND, Message.body == "start")), message="the second START")
    assert len(sent_to(RECIPIENT)) == 2
    assert optout_events() == [OutboxEvent.OPT_OUT_CREATED, OutboxEvent.OPT_OUT_REMOVED]


@pytest.mark.parametrize("key", WITH_NOTICES)
def test_a_providers_own_stop_notice_cancels_what_was_queued_for_the_number_and_start_lifts_it(
        key, request, live_server, start_worker, user):
    provider = PROVIDERS[key]
    fake = request.getfixturevalue(provider.fixture)
    phone = provider.phone(user, fake)
    opt_outs.save_settings(user, opt_outs.OptOutSettings(confirm=True, start_reply="Re-bienvenue !"))
    [queued_id] = queue_outbound(phone, [RECIPIENT], "Composed before the STOP")  # no worker yet

    assert provider.stop(fake, RECIPIENT).status_code == 200
    opt_out = opt_out_of(RECIPIENT)
    assert opt_out.source == OptOut.PROVIDER and opt_out.phone_id == phone.id
    assert opt_out.original_text == "STOP"
    assert provider.stop(fake, RECIPIENT).status_code == 200  # told twice: kept once
    start_worker(**provider.worker_env(fake))
    message = wait_for(lambda: (m := reload_message(queued_id)).status == statuses.CANCELED and m,
                       message="the queued SMS canceled")
    assert shown(message.error_reason) == f"Opted out on {opt_out.opted_out_at:%Y-%m-%d}."
    assert sent_to(RECIPIENT) == []  # a provider's own notice is confirmed by the provider, if at all

    provider.reply(fake, phone, RECIPIENT, "Start")
    wait_for(lambda: opt_out_of(RECIPIENT) is None, message="the opt-out removed")
    wait_for(lambda: sent_to(RECIPIENT) == ["Re-bienvenue !"], message="the START confirmation")
    assert optout_events() == [OutboxEvent.OPT_OUT_CREATED, OutboxEvent.OPT_OUT_REMOVED]


def test_a_stop_received_on_one_phone_cancels_a_queued_sms_of_a_netoxygen_phone(gateway, twilio, live_server,
                                                                              start_worker, user):
    netoxygen = gateway_phone(user, gateway)
    [message_id] = queue_outbound(netoxygen, [RECIPIENT], "Composed before the STOP")  # no worker yet
    twilio.send_inbound(callback_url(twilio_phone(user, twilio), "inbound"), RECIPIENT, TWILIO_NUMBER, "stop")
    day = opt_out_of(RECIPIENT).opted_out_at.strftime("%Y-%m-%d")
    start_worker(NETOXYGEN_API_URL=gateway.base_url, TWILIO_API_BASE_URL=twilio.base_url)
    message = wait_for(lambda: (m := reload_message(message_id)).status == statuses.CANCELED and m,
                       message="canceled")
    assert shown(message.error_reason) == f"Opted out on {day}."
    assert gateway.messages == {}  # nothing reached the gateway


def test_a_queued_message_to_a_number_that_then_replied_stop_is_canceled_not_sent(twilio, live_server,
                                                                                   start_worker, user):
    phone = twilio_phone(user, twilio)
    [message_id] = queue_outbound(phone, [RECIPIENT], "Composed before the STOP")  # no worker yet
    twilio.send_inbound(callback_url(phone, "inbound"), RECIPIENT, TWILIO_NUMBER, "ARRÊT")
    day = opt_out_of(RECIPIENT).opted_out_at.strftime("%Y-%m-%d")
    start_worker(TWILIO_API_BASE_URL=twilio.base_url)
    message = wait_for(lambda: (m := reload_message(message_id)).status == statuses.CANCELED and m,
                       message="canceled")
    assert shown(message.error_reason) == f"Opted out on {day}."
    assert shown(message.events[-1].reason) == f"Opted out on {day}."
    assert twilio.last_message is None  # nothing reached Twilio


def test_a_message_twilio_holds_for_later_is_canceled_there_when_its_number_replies_stop(twilio, live_server,
                                                                                         user):
    twilio.messaging_services = (SERVICE_SID,)
    phone = twilio_phone(user, twilio, number=SERVICE_SID)
    [message_id] = queue_outbound(phone, [RECIPIENT], "Later", scheduled_at=utcnow() + timedelta(hours=2))
    assert send_now(message_id).status == statuses.SCHEDULED
    twilio.send_inbound(callback_url(phone, "inbound"), RECIPIENT, TWILIO_NUMBER, "stop")
    run_queued_jobs(tasks.CANCEL_AT_PROVIDER)
    message = reload_message(message_id)
    assert message.status == statuses.CANCELED
    assert twilio.messages[message.provider_message_id].status == "canceled"
    assert any(shown(event.reason).startswith("Opted out on ") for event in message.events)


def test_an_opt_out_imported_with_an_old_date_cancels_what_was_queued_before_the_import(twilio, logged_in, user):
    phone = twilio_phone(user, twilio)
    [message_id] = queue_outbound(phone, [RECIPIENT], "Queued before the import")
    opt_outs.import_csv(user.id, f"{RECIPIENT},2025-06-30\n", "FR")
    message = send_now(message_id)
    assert message.status == statuses.CANCELED and shown(message.error_reason) == "Opted out on 2025-06-30."
    assert twilio.last_message is None


def test_a_message_confirmed_after_the_opt_out_is_sent(twilio, live_server, user):
    phone = twilio_phone(user, twilio)
    opt_outs.record(user.id, RECIPIENT, OptOut.MANUAL)
    [message_id] = queue_outbound(phone, [RECIPIENT], "The one-off reply")  # as compose queues it once confirmed
    assert send_now(message_id).status == statuses.SENT


def test_twilios_21610_refusal_records_an_opt_out(twilio, live_server, start_worker, user):
    phone = twilio_phone(user, twilio)
    twilio.fail_next(400, 21610, "Attempt to send to unsubscribed recipient")
    start_worker(TWILIO_API_BASE_URL=twilio.base_url)
    [message_id] = queue_outbound(phone, [RECIPIENT], "Hello")
    opt_out = wait_for(lambda: opt_out_of(RECIPIENT), message="the opt-out")
    assert reload_message(message_id).status == statuses.FAILED
    assert opt_out.source == OptOut.PROVIDER and "replied STOP" in shown(opt_out.original_text)
    assert optout_events() == [OutboxEvent.OPT_OUT_CREATED]


def test_octopushs_blacklisted_number_report_records_an_opt_out(octopush, user):
    phone = octopush_phone(user, octopush)
    [message_id] = queue_outbound(phone, [RECIPIENT], "Hi")
    message = send_now(message_id)
    assert reply_problem(octopush.send_dlr(message.provider_message_id, RECIPIENT, "BLACKLISTED_NUMBER")) is None
    assert reload_message(message_id).status == statuses.FAILED
    assert opt_out_of(RECIPIENT).source == OptOut.PROVIDER
