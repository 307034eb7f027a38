"""Every phone can schedule: a message for later from a phone whose provider cannot hold it is
held by SMS Desk, scheduled, and the worker's sweep queues it at its time, once, whatever
happens to the worker or the broker meanwhile; one found long after its time waits for the user."""
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select, update

from webapp import broker, statuses, tasks
from webapp.extensions import db
from webapp.models import Message, utcnow
from webapp.providers.simulator import MEMORY_PREFIX
from webapp.reasons import shown
from webapp.services import sweeps
from webapp.services.messages import queue_outbound

from .conftest import (SHORT_PROVIDER_DEADLINES, confirm_sending, csrf_token_from, make_phone, post_form,
                       reload_message, run_queued_jobs, wait_for)


def status_of(message_id):
    return reload_message(message_id).status


def timeline(message_id):
    return [event.status for event in reload_message(message_id).events]


def reasons_of(message_id):
    return [shown(event.reason) for event in reload_message(message_id).events if event.reason]


def in_minutes(minutes: float) -> datetime:
    return utcnow() + timedelta(minutes=minutes)


def make_due(message_id, minutes_ago: float = 0.1) -> None:
    """Its time came a moment ago (or `minutes_ago`), as the clock would have it."""
    db.session.execute(update(Message).where(Message.id == message_id).values(
        scheduled_at=utcnow() - timedelta(minutes=minutes_ago)))
    db.session.commit()


def test_a_phone_that_cannot_schedule_holds_the_sms_until_its_time(user, logged_in):
    user.timezone = "America/New_York"
    db.session.commit()
    phone = make_phone(user)  # the simulator cannot schedule
    local = (datetime.now(ZoneInfo("America/New_York")) + timedelta(days=1)).replace(second=0, microsecond=0)
    response = post_form(logged_in, "/compose", {"phone_id": phone.id, "numbers": "+33612345678", "body": "Later",
                                                 "send_at": local.strftime("%Y-%m-%dT%H:%M")})
    assert response.status_code == 302
    message = db.session.scalar(select(Message))
    assert message.status == statuses.SCHEDULED
    assert message.scheduled_at == local.astimezone(ZoneInfo("UTC")).replace(tzinfo=None)
    assert run_queued_jobs() == 0  # nothing for the worker before its time
    sweeps.queue_due_scheduled()
    assert status_of(message.id) == statuses.SCHEDULED
    page = logged_in.get(response.headers["Location"]).get_data(as_text=True)
    assert "Your SMS will be sent on" in page and "Cancel this SMS" in page and "Send now" in page


def test_its_time_come_the_sweep_queues_it_once_and_it_is_sent(app, user, live_server):
    phone = make_phone(user)
    [message_id] = queue_outbound(phone, ["+33612345678"], "On time", scheduled_at=in_minutes(10))
    make_due(message_id)
    assert sweeps.queue_due_scheduled() == 1
    assert sweeps.queue_due_scheduled() == 0  # the next sweep finds nothing more to queue
    assert status_of(message_id) == statuses.QUEUED
    assert "Its time came: queued to be sent." in reasons_of(message_id)
    run_queued_jobs()
    message = reload_message(message_id)
    assert message.status in (statuses.SENT, statuses.DELIVERED) and message.attempt_count == 1
    assert timeline(message_id)[:4] == [statuses.SCHEDULED, statuses.QUEUED, statuses.SENDING, statuses.SENT]


def test_a_message_found_long_after_its_time_is_held_for_the_user_who_sends_it_now(app, user, logged_in, live_server):
    phone = make_phone(user)
    [late, on_time] = queue_outbound(phone, ["+33612345678", "+33612345679"], "Late", scheduled_at=in_minutes(10))
    make_due(late, minutes_ago=app.config["SCHEDULED_HOLD_AFTER_SECONDS"] / 60 + 1)
    make_due(on_time)
    assert sweeps.queue_due_scheduled() == 1
    assert status_of(on_time) == statuses.QUEUED
    assert status_of(late) == statuses.SCHEDULED and reload_message(late).held_late_at is not None
    assert "Held: its time passed while SMS Desk was stopped. Send it now or cancel it." in reasons_of(late)
    sweeps.queue_due_scheduled()
    assert status_of(late) == statuses.SCHEDULED  # held: no later sweep sends it
    page = logged_in.get(f"/messages/{late}").get_data(as_text=True)
    assert "its time passed while SMS Desk was stopped" in page
    response = logged_in.post(f"/messages/{late}/send-now", data={"csrf_token": csrf_token_from(page)})
    assert response.status_code == 302
    assert status_of(late) == statuses.QUEUED
    run_queued_jobs()
    assert status_of(late) in (statuses.SENT, statuses.DELIVERED)
    assert "Sent at the user's request, after its time had passed." in reasons_of(late)
    again = logged_in.post(f"/messages/{late}/send-now", data={"csrf_token": csrf_token_from(page)},
                           follow_redirects=True).get_data(as_text=True)
    assert "no longer waiting for its time" in again
    assert reload_message(late).attempt_count == 1


def test_a_held_message_is_canceled_until_it_goes(user, logged_in):
    phone = make_phone(user)
    [message_id] = queue_outbound(phone, ["+33612345678"], "Never mind", scheduled_at=in_minutes(10))
    page = logged_in.get(f"/messages/{message_id}").get_data(as_text=True)
    logged_in.post(f"/messages/{message_id}/cancel", data={"csrf_token": csrf_token_from(page)})
    assert status_of(message_id) == statuses.CANCELED
    make_due(message_id)
    assert sweeps.queue_due_scheduled() == 0
    assert status_of(message_id) == statuses.CANCELED


def test_another_users_held_message_cannot_be_sent_now(user, other_user, logged_in):
    theirs = make_phone(other_user)
    [message_id] = queue_outbound(theirs, ["+33612345678"], "Theirs", scheduled_at=in_minutes(10))
    page = logged_in.get("/conversations").get_data(as_text=True)
    for action in ("send-now", "cancel"):
        response = logged_in.post(f"/messages/{message_id}/{action}", data={"csrf_token": csrf_token_from(page)})
        assert response.status_code == 404
    assert status_of(message_id) == statuses.SCHEDULED


def test_deleting_the_phone_cancels_its_held_messages(app, user):
    from webapp.services import status_store
    phone = make_phone(user)
    [message_id] = queue_outbound(phone, ["+33612345678"], "Gone", scheduled_at=in_minutes(10))
    status_store.cancel_unsent_of_phone(phone.id, "Its phone was deleted.")
    db.session.commit()
    assert status_of(message_id) == statuses.CANCELED


def test_a_phone_that_schedules_still_hands_the_time_to_its_provider(app, user):
    """NetOxygen schedules at the gateway: such a message is queued at once, to be sent with its date."""
    phone = make_phone(user, provider_key="netoxygen", name="Gateway", user="u", password="p", sender="")
    [message_id] = queue_outbound(phone, ["+41765363776"], "Later", scheduled_at=in_minutes(60))
    assert status_of(message_id) == statuses.QUEUED


def test_the_queued_job_lost_with_the_broker_is_sent_once_by_the_next_sweeps(app, user, live_server,
                                                                             broker_server):
    """The sweep queued it at its minute, then the broker was wiped before a worker ran the job,
    and the job was enqueued three times besides: it goes once."""
    phone = make_phone(user)
    [message_id] = queue_outbound(phone, ["+33612345678"], "Once", scheduled_at=in_minutes(10))
    make_due(message_id)
    sweeps.queue_due_scheduled()
    broker.redis_connection().flushall()
    for copy in range(3):
        broker.job_queue().enqueue(tasks.SEND_MESSAGES, [message_id], job_id=f"duplicate-{copy}")
    db.session.execute(update(Message).where(Message.id == message_id).values(
        enqueued_at=utcnow() - timedelta(minutes=1)))
    db.session.commit()
    for _sweep in range(3):
        sweeps.requeue_lost_messages()
    run_queued_jobs()
    message = reload_message(message_id)
    assert message.status in (statuses.SENT, statuses.DELIVERED) and message.attempt_count == 1
    assert timeline(message_id).count(statuses.SENDING) == 1


def wipe_broker_but_the_providers_memory() -> None:
    """FLUSHALL, but for the simulator's memory of what it was sent: that stands for the
    provider's own, which a wipe of SMS Desk's broker never touches."""
    connection = broker.redis_connection()
    kept = {key: connection.dump(key) for key in connection.keys(MEMORY_PREFIX + "*")}
    connection.flushall()
    for key, value in kept.items():
        connection.restore(key, 0, value)


def test_with_the_real_worker_a_scheduled_sms_survives_a_kill_and_a_broker_wipe_and_goes_once(
        live_server, user, start_worker, broker_server):
    """The broker is wiped while the message waits for its time: the worker sends it then. That
    worker is killed at that minute, as the provider answers, and the broker wiped again: the
    next worker finds it at the provider. Sent once, never twice."""
    phone = make_phone(user, answer_delay_seconds="30")  # the simulator's longest answer, 5 s
    [message_id] = queue_outbound(phone, ["+33612345678"], "At its minute", scheduled_at=utcnow() + timedelta(seconds=5))
    broker.redis_connection().flushall()
    second = start_worker()
    wait_for(lambda: broker.redis_connection().keys(MEMORY_PREFIX + "sent:*"), timeout=60,
             message="sent at its time, taken by the simulator")
    second.kill()  # as the simulator is about to answer
    wipe_broker_but_the_providers_memory()
    start_worker(**SHORT_PROVIDER_DEADLINES)
    wait_for(lambda: status_of(message_id) in (statuses.SENT, statuses.DELIVERED), timeout=60,
             message="found at the simulator")
    message = reload_message(message_id)
    assert message.attempt_count == 1
    assert timeline(message_id).count(statuses.SENDING) == 1
    assert timeline(message_id).count(statuses.QUEUED) == 1


# ---- the list of what is scheduled, edited and canceled until it goes ----

def test_the_scheduled_list_shows_single_sms_and_campaigns_soonest_first(user, logged_in):
    phone = make_phone(user)
    queue_outbound(phone, ["+33612345678"], "Single later", scheduled_at=in_minutes(120))
    response = post_form(logged_in, "/compose", {"phone_id": phone.id, "numbers": "+33612345671\n+33612345672",
                                                 "body": "Campaign sooner", "send_at": local_in_minutes(user, 60)})
    confirm_sending(logged_in, response)
    page = logged_in.get("/scheduled").get_data(as_text=True)
    assert page.index("Campaign sooner") < page.index("Single later")
    assert "Campaign, 2 recipients" in page and "+33612345678" in page
    campaign_page = logged_in.get(page_link(page, "/campaigns/")).get_data(as_text=True)
    assert "Send at" in campaign_page and "/scheduled/campaigns/" in campaign_page


def local_in_minutes(user, minutes: float) -> str:
    zone = ZoneInfo(user.timezone or "Europe/Paris")
    return (datetime.now(zone) + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M")


def page_link(page: str, prefix: str) -> str:
    import re
    return re.search(rf'href="({re.escape(prefix)}\d+)"', page).group(1)


def test_a_held_sms_has_its_text_and_time_edited_until_it_goes(app, user, logged_in, live_server):
    phone = make_phone(user)
    [message_id] = queue_outbound(phone, ["+33612345678"], "Frist draft", scheduled_at=in_minutes(60))
    response = post_form(logged_in, f"/scheduled/messages/{message_id}",
                         {"body": "First draft, corrected", "send_at": local_in_minutes(user, 90)})
    assert response.status_code == 302
    message = reload_message(message_id)
    assert message.body == "First draft, corrected" and message.status == statuses.SCHEDULED
    assert in_minutes(88) < message.scheduled_at < in_minutes(91)
    assert "Its text was changed before it was sent." in reasons_of(message_id)
    assert "Its time was changed before it was sent." in reasons_of(message_id)
    refused = post_form(logged_in, f"/scheduled/messages/{message_id}",
                        {"body": "x", "send_at": "2001-01-01T10:00"}).get_data(as_text=True)
    assert "Choose a time in the future." in refused
    make_due(message_id)
    sweeps.queue_due_scheduled()
    run_queued_jobs()
    assert status_of(message_id) in (statuses.SENT, statuses.DELIVERED)
    gone = logged_in.get(f"/scheduled/messages/{message_id}", follow_redirects=True).get_data(as_text=True)
    assert "no longer waiting for its time" in gone
    assert reload_message(message_id).body == "First draft, corrected"


def test_a_campaigns_time_is_edited_for_every_message_still_held(user, logged_in):
    phone = make_phone(user)
    response = post_form(logged_in, "/compose", {"phone_id": phone.id, "numbers": "+33612345671\n+33612345672",
                                                 "body": "Sale tomorrow", "send_at": local_in_minutes(user, 60)})
    confirm_sending(logged_in, response)
    first, second = db.session.scalars(select(Message.id).order_by(Message.id)).all()
    logged_in.post(f"/messages/{first}/cancel", data={"csrf_token": csrf_token_from(
        logged_in.get(f"/messages/{first}").get_data(as_text=True))})
    campaign_id = reload_message(second).campaign_id
    response = post_form(logged_in, f"/scheduled/campaigns/{campaign_id}",
                         {"body": "Sale tomorrow, 20% off", "send_at": local_in_minutes(user, 180)})
    assert response.status_code == 302
    assert in_minutes(178) < reload_message(second).scheduled_at < in_minutes(181)
    assert reload_message(second).body == "Sale tomorrow, 20% off"
    assert reload_message(first).body == "Sale tomorrow" and status_of(first) == statuses.CANCELED


def test_another_users_scheduled_sms_are_neither_listed_nor_editable(user, other_user, logged_in):
    theirs = make_phone(other_user)
    [message_id] = queue_outbound(theirs, ["+33612345678"], "Their secret plan", scheduled_at=in_minutes(60))
    assert "Their secret plan" not in logged_in.get("/scheduled").get_data(as_text=True)
    assert logged_in.get(f"/scheduled/messages/{message_id}").status_code == 404
    page = logged_in.get("/scheduled").get_data(as_text=True)
    response = logged_in.post(f"/scheduled/messages/{message_id}", data={
        "csrf_token": csrf_token_from(page), "body": "Hacked", "send_at": local_in_minutes(user, 90)})
    assert response.status_code == 404
    assert reload_message(message_id).body == "Their secret plan"


# ---- the time zone the user picks dates in ----

def test_the_time_zone_is_chosen_by_country_and_city_in_the_users_language(user, logged_in):
    page = logged_in.get("/account").get_data(as_text=True)
    assert '<optgroup label="Switzerland">' in page and '<option value="Europe/Zurich">Zurich</option>' in page
    assert 'value="Factory"' not in page and 'value="localtime"' not in page and 'value="Etc/GMT+3"' not in page
    response = post_form(logged_in, "/account", {"prefs-locale": "fr", "prefs-timezone": "America/New_York",
                                                 "prefs-submit": "1"})
    assert response.status_code == 302
    db.session.refresh(user)
    assert user.timezone == "America/New_York"
    page = logged_in.get("/account").get_data(as_text=True)
    assert '<optgroup label="Suisse">' in page
    assert '<option selected value="America/New_York">New York</option>' in page


def test_a_zone_chosen_from_the_old_list_stays_chosen(user, logged_in):
    user.timezone = "Etc/GMT+3"
    db.session.commit()
    page = logged_in.get("/account").get_data(as_text=True)
    assert '<option selected value="Etc/GMT+3">Etc/GMT+3</option>' in page
