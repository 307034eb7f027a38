"""Pools end to end: an SMS sent to a pool from the compose form, sent by the real worker against
the fake providers, fails over to the pool's next phone when the first phone's provider cannot be
reached, and does not when the provider refuses the number."""
import pytest
from sqlalchemy import select

from webapp import statuses
from webapp.extensions import db
from webapp.models import Message, PhonePool
from webapp.reasons import shown
from webapp.services.pools import MemberChoice, save_pool

from .conftest import free_port, make_phone, post_form, reload_message, wait_for
from .fakes.twilio import FakeTwilio

TWILIO_NUMBER = "+15005550006"
RECIPIENT = "+33698765432"


def twilio_phone(user, fake, name="Twilio"):
    return make_phone(user, provider_key="twilio", name=name, account_sid=fake.account_sid,
                      auth_token=fake.auth_token, number=TWILIO_NUMBER)


def pool_of(user, *phones, strategy=PhonePool.FIRST_AVAILABLE, name="Main"):
    return save_pool(PhonePool(user_id=user.id), name, strategy,
                     [MemberChoice(phone.id, position) for position, phone in enumerate(phones, start=1)])


def sent_to_pool(client, pool, phone, number=RECIPIENT, body="Hello from the pool"):
    response = post_form(client, "/compose", {"phone_id": phone.id, "pool_id": pool.id, "numbers": number,
                                              "body": body})
    assert response.status_code == 302, response.get_data(as_text=True)
    return db.session.scalars(select(Message).order_by(Message.id.desc())).first().id


def timeline_text(message) -> str:
    return " | ".join(shown(event.reason) for event in message.events if event.reason)


@pytest.fixture
def twilio(app):
    with FakeTwilio(numbers=(TWILIO_NUMBER,)) as fake:
        app.config["TWILIO_API_BASE_URL"] = fake.base_url
        yield fake


def test_an_unreachable_first_phone_hands_the_sms_to_the_second_which_delivers_it(
        app, twilio, live_server, start_worker, logged_in, user):
    closed = f"http://127.0.0.1:{free_port()}"  # nothing listens: the connection is refused
    app.config["TWILIO_API_BASE_URL"] = closed
    first, second = twilio_phone(user, twilio), make_phone(user, name="Simulator")
    pool = pool_of(user, first, second)
    start_worker(TWILIO_API_BASE_URL=closed)
    message_id = sent_to_pool(logged_in, pool, first)
    message = wait_for(lambda: (found := reload_message(message_id)).status == statuses.DELIVERED and found,
                       message="delivered by the second phone")
    assert message.phone_id == second.id and message.pool_id == pool.id
    timeline = timeline_text(message)
    assert "Twilio could not send it" in timeline and "Simulator sends it instead" in timeline
    assert "gave up after 5 attempts" in timeline  # the first phone's attempts, then the failover
    moves = [event.status for event in message.events]
    assert moves.count(statuses.SENDING) == 6 and moves[-2:] == [statuses.SENT, statuses.DELIVERED]
    page = logged_in.get(f"/messages/{message_id}").get_data(as_text=True)
    assert "Simulator sends it instead" in page and "(pool Main)" in page
    assert twilio.messages == {}  # and nothing reached Twilio


def test_a_number_the_first_phones_provider_refuses_is_not_sent_from_the_second(
        twilio, live_server, start_worker, logged_in, user):
    first, second = twilio_phone(user, twilio), make_phone(user, name="Simulator")
    pool = pool_of(user, first, second)
    twilio.fail_next(400, 21211, f"The 'To' number {RECIPIENT} is not a valid phone number.")
    start_worker(TWILIO_API_BASE_URL=twilio.base_url)
    message_id = sent_to_pool(logged_in, pool, first)
    message = wait_for(lambda: (found := reload_message(message_id)).status == statuses.FAILED and found,
                       message="failed")
    assert message.phone_id == first.id
    assert "not valid" in shown(message.error_reason)
    assert "sends it instead" not in timeline_text(message)
    assert db.session.scalars(select(Message).where(Message.phone_id == second.id)).all() == []


# ---- which refusals fail over, and which phone a pool chooses (the worker's steps, run here) ----

def queued_to_pool(pool, phone, numbers):
    from webapp.services.messages import queue_outbound
    return queue_outbound(phone, numbers, "Hi", pool_id=pool.id)


def queued_to_pool_free(phone):
    from webapp.services.messages import queue_outbound
    return queue_outbound(phone, ["+33611111111"], "Hi")


def test_credentials_the_provider_refuses_fail_over_at_once(twilio, live_server, user):
    from .conftest import send_now
    first, second = twilio_phone(user, twilio), make_phone(user, name="Simulator")
    pool = pool_of(user, first, second)
    twilio.fail_next(401, 20003, "Authenticate")
    [message_id] = queued_to_pool(pool, first, [RECIPIENT])
    message = send_now(message_id)
    assert message.status == statuses.QUEUED and message.phone_id == second.id
    assert "Twilio could not send it: Twilio refused the Account SID" in timeline_text(message)
    message = send_now(message_id)
    assert message.status == statuses.SENT and message.phone_id == second.id


def test_an_answer_that_may_have_sent_it_never_fails_over(twilio, user):
    from .conftest import send_now
    first, second = twilio_phone(user, twilio), make_phone(user, name="Simulator")
    pool = pool_of(user, first, second)
    twilio.fail_next(500)  # after the provider may have done the work
    [message_id] = queued_to_pool(pool, first, [RECIPIENT])
    message = send_now(message_id)
    assert message.status == statuses.UNKNOWN and message.phone_id == first.id


def test_the_last_phone_of_the_pool_fails_like_a_lone_phone(twilio, user):
    from .conftest import send_now
    first, second = twilio_phone(user, twilio, "Twilio 1"), twilio_phone(user, twilio, "Twilio 2")
    pool = pool_of(user, first, second)
    twilio.fail_next(401, 20003, "Authenticate", times=2)
    [message_id] = queued_to_pool(pool, first, [RECIPIENT])
    assert send_now(message_id).phone_id == second.id
    message = send_now(message_id)
    assert message.status == statuses.FAILED and message.phone_id == second.id
    assert timeline_text(message).count("sends it instead") == 1


def test_a_spread_pool_shares_the_sends_by_weight(user):
    from webapp.services.pools import choose_phones
    heavy, light = make_phone(user, name="Heavy"), make_phone(user, name="Light")
    pool = save_pool(PhonePool(user_id=user.id), "Shared", PhonePool.SPREAD,
                     [MemberChoice(heavy.id, 1, weight=3), MemberChoice(light.id, 2, weight=1)])
    message_ids = queued_to_pool(pool, heavy, [f"+3369876540{digit}" for digit in range(8)])
    choose_phones(message_ids)
    db.session.commit()
    chosen = [reload_message(message_id).phone.name for message_id in message_ids]
    assert chosen.count("Heavy") == 6 and chosen.count("Light") == 2
    assert chosen[:4].count("Light") == 1  # in turns, not all of one phone first


def test_a_reply_goes_out_on_the_phone_that_last_talked_with_the_number(user):
    from webapp.providers.base import InboundSms
    from webapp.services.messages import record_inbound
    from webapp.services.pools import choose_phones
    first, second = make_phone(user, name="First"), make_phone(user, name="Second")
    pool = pool_of(user, first, second)
    record_inbound(second, InboundSms(provider_message_id="in-1", sender=RECIPIENT, text="Hello?"))
    [reply, other] = queued_to_pool(pool, first, [RECIPIENT, "+33611111111"])
    choose_phones([reply, other])
    db.session.commit()
    assert reload_message(reply).phone_id == second.id
    assert reload_message(other).phone_id == first.id  # a number nobody talked with: the first phone


def test_a_pool_message_waiting_on_a_deleted_phone_goes_to_another_of_the_pool(user):
    from webapp.services.phones import delete_phone
    first, second = make_phone(user, name="First"), make_phone(user, name="Second")
    pool = pool_of(user, first, second)
    [message_id, lone_id] = queued_to_pool(pool, first, [RECIPIENT]) + queued_to_pool_free(first)
    delete_phone(first)
    message = reload_message(message_id)
    assert message.status == statuses.QUEUED and message.phone_id == second.id
    assert reload_message(lone_id).status == statuses.CANCELED  # a message of the phone alone is canceled with it


def test_a_pool_skips_a_phone_whose_provider_failed_5_of_its_last_10_sends(twilio, user):
    from webapp.services.messages import queue_outbound
    from webapp.services.phone_health import health_of
    from webapp.services.pools import choose_phones
    from .conftest import send_now
    first, second = twilio_phone(user, twilio), make_phone(user, name="Simulator")
    for number in ("+33611111111", "+33622222222", "+33633333333"):
        [sent] = queue_outbound(first, [number], "Hi")
        assert send_now(sent).status == statuses.SENT
    twilio.fail_next(400, 21211, "The 'To' number is not a valid phone number.")  # the recipient's: not counted
    [refused] = queue_outbound(first, ["+33644444444"], "Hi")
    send_now(refused)
    twilio.fail_next(401, 20003, "Authenticate", times=5)
    for index in range(5):
        [failed] = queue_outbound(first, [f"+3365555555{index}"], "Hi")
        assert send_now(failed).status == statuses.FAILED
    db.session.expire_all()
    health = health_of(db.session.get(type(first), first.id))
    assert (health.sends, health.failures, health.healthy) == (9, 5, False)
    pool = pool_of(user, first, second)
    [message_id] = queued_to_pool(pool, first, [RECIPIENT])
    choose_phones([message_id])
    db.session.commit()
    assert reload_message(message_id).phone_id == second.id


def test_a_pool_skips_a_phone_that_reached_its_daily_limit(live_server, user):
    from webapp.models import PhoneLimit
    from webapp.services.limits import save_limits
    from webapp.services.messages import queue_outbound
    from webapp.services.pools import choose_phones
    from .conftest import send_now
    first, second = make_phone(user, name="First"), make_phone(user, name="Second")
    save_limits(first, 1, None, PhoneLimit.MESSAGES)
    [sent] = queue_outbound(first, ["+33611111111"], "Hi")
    assert send_now(sent).status == statuses.SENT  # its one SMS of the day
    pool = pool_of(user, first, second)
    [message_id] = queued_to_pool(pool, first, [RECIPIENT])
    choose_phones([message_id])
    db.session.commit()
    assert reload_message(message_id).phone_id == second.id
    assert send_now(message_id).status == statuses.SENT
