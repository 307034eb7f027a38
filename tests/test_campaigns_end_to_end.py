"""Campaigns with the real worker, the simulator calling back over HTTP: from a group to delivered,
the rest canceled, the failed ones sent again."""
from sqlalchemy import select

from webapp import statuses
from webapp.extensions import db
from webapp.models import Campaign, Message, Phone
from webapp.services import contacts as contact_service
from webapp.services import phones as phone_service

from .conftest import confirm_sending, make_phone, post_form, wait_for
from .test_contacts import make_contact, make_group


def statuses_now() -> dict[str, str]:
    db.session.expire_all()
    return dict(db.session.execute(select(Message.remote_number, Message.status)).all())


def campaign_to_group(client, user, phone, size, body="Bonjour {first_name}"):
    group = make_group(user, "Members")
    people = [make_contact(user, f"Person {index}", f"+336120000{index:02d}", first_name=f"P{index}")
              for index in range(size)]
    contact_service.add_members(user, group, [person.id for person in people])
    response = post_form(client, "/compose", {"phone_id": phone.id, "body": body, "group_ids": [str(group.id)]})
    location = confirm_sending(client, response).headers["Location"]
    return db.session.scalar(select(Campaign)), location


def test_a_campaign_to_a_group_is_delivered_and_its_page_says_so(live_server, worker, logged_in, user):
    phone = make_phone(user)
    campaign, location = campaign_to_group(logged_in, user, phone, 5)
    wait_for(lambda: set(statuses_now().values()) == {statuses.DELIVERED}, message="all delivered")
    progress = logged_in.get(location + "/progress").get_json()
    assert progress["counts"]["delivered"] == 5 and progress["percent"] == 100 and progress["finished"]
    bodies = set(db.session.scalars(select(Message.body).where(Message.campaign_id == campaign.id)))
    assert bodies == {f"Bonjour P{index}" for index in range(5)}


def test_canceling_the_rest_stops_what_has_not_left(live_server, worker, logged_in, user):
    phone = make_phone(user, rate_limit=1)
    _campaign, location = campaign_to_group(logged_in, user, phone, 8, body="Hi")
    wait_for(lambda: statuses.DELIVERED in statuses_now().values() or statuses.SENT in statuses_now().values(),
             message="the first sent")
    post_form(logged_in, location, {}, action=location + "/cancel")
    canceled = [number for number, status in statuses_now().items() if status == statuses.CANCELED]
    assert len(canceled) >= 4
    wait_for(lambda: all(status in (statuses.DELIVERED, statuses.CANCELED) for status in statuses_now().values()),
             timeout=20, message="the ones sent delivered")
    assert [number for number, status in statuses_now().items() if status == statuses.CANCELED] == canceled


def test_the_failed_ones_are_sent_again_and_delivered(live_server, worker, logged_in, user):
    phone = make_phone(user, fail_numbers_ending_with="3")
    _campaign, location = campaign_to_group(logged_in, user, phone, 5, body="Hi")
    wait_for(lambda: sorted(statuses_now().values()) == [statuses.DELIVERED] * 4 + [statuses.FAILED],
             message="one failed")
    failed = db.session.scalar(select(Message).where(Message.status == statuses.FAILED))
    phone = db.session.get(Phone, phone.id)  # the number is reachable now
    phone_service.save_phone(phone, phone.name, phone.rate_limit_per_second,
                             {"delivery_delay_seconds": "0.2", "answer_delay_seconds": "0", "fail_numbers_ending_with": ""})
    page = logged_in.get(location).get_data(as_text=True)
    assert "Send again to the 1 failed one" in page
    post_form(logged_in, location, {}, action=location + "/resend")
    wait_for(lambda: set(statuses_now().values()) == {statuses.DELIVERED}, message="delivered once sent again")
    db.session.expire_all()
    message = db.session.get(Message, failed.id)
    timeline = [event.status for event in message.events]
    assert timeline == [statuses.QUEUED, statuses.SENDING, statuses.SENT, statuses.FAILED,  # the simulator's report
                        statuses.QUEUED, statuses.SENDING, statuses.SENT, statuses.DELIVERED]
    assert message.attempt_count == 2 and message.attempts_before_resend == 1
    assert len(statuses_now()) == 5  # no new message: the same one, sent again
