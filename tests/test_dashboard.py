"""The dashboard, the place to act: unread conversations first, then recent failures, then the
counts, each a link to the history that shows those messages; a new user is told the next step."""
import re
from datetime import timedelta
from html import unescape

from webapp import statuses
from webapp.extensions import db
from webapp.models import Message
from webapp.providers.base import InboundSms
from webapp.services.contacts import ContactInput, save_contact
from webapp.services.messages import queue_outbound, record_inbound

from .conftest import make_phone, wait_for
from .test_send_pipeline import status_of


def dashboard(client, language="en"):
    return client.get("/", headers={"Accept-Language": language}).get_data(as_text=True)


def count_link(page, key):
    """The count shown under data-count=key, and the address it links to."""
    match = re.search(rf'<a data-count="{key}" href="([^"]+)">(\d+)</a>', page)
    assert match, key
    return int(match.group(2)), unescape(match.group(1))


def history_ids(client, address):
    return [int(found) for found in re.findall(r'href="/messages/(\d+)"', client.get(address).get_data(as_text=True))]


def test_a_new_user_is_told_to_add_a_phone_and_shown_the_simulator(logged_in):
    page = dashboard(logged_in)
    assert 'data-next-step="add_phone"' in page and "Add your first phone" in page
    assert 'href="/phones/new/simulator"' in page
    assert "data-count=" not in page  # no table of zeros


def test_a_user_with_a_phone_who_never_sent_is_told_to_send_a_first_sms(logged_in, user):
    make_phone(user)
    page = dashboard(logged_in)
    assert 'data-next-step="send_first_sms"' in page and "Send your first SMS" in page
    assert 'href="/compose"' in page


def test_once_an_sms_was_sent_the_dashboard_shows_the_counts_and_no_next_step(logged_in, user):
    phone = make_phone(user)
    queue_outbound(phone, ["+33612345678"], "Hi")
    page = dashboard(logged_in)
    assert "data-next-step" not in page
    assert count_link(page, "today-queued")[0] == 1


def test_the_first_steps_are_in_french(logged_in, user):
    assert "Ajoutez votre premier téléphone" in dashboard(logged_in, "fr")
    make_phone(user)
    assert "Envoyez votre premier SMS" in dashboard(logged_in, "fr")


def test_unread_conversations_come_first_with_the_contacts_name(logged_in, user):
    phone = make_phone(user)
    queue_outbound(phone, ["+33612345678"], "Are you coming?")
    save_contact(user, ContactInput("Camille Durand", "+33612345678"))
    record_inbound(phone, InboundSms("IN1", "+33612345678", "Yes, at 6"))
    record_inbound(phone, InboundSms("IN2", "+33698765431", "Who is this?"))
    page = dashboard(logged_in)
    unread = page[page.index("Unread conversations"):]
    assert page.index("Unread conversations") < page.index("data-count=")
    assert unread.index("+33698765431") < unread.index("Camille Durand")  # newest first
    assert 'href="/conversations/+33612345678"' in unread and "Yes, at 6" in unread

    logged_in.get("/conversations/+33612345678")
    logged_in.get("/conversations/+33698765431")
    assert "Unread conversations" not in dashboard(logged_in)


def test_recent_failures_show_their_reason_and_link_to_the_message(live_server, worker, logged_in, user):
    phone = make_phone(user, fail_numbers_ending_with="9")
    [failing, fine] = queue_outbound(phone, ["+33612345679", "+33612345678"], "Rehearsal moved")
    wait_for(lambda: status_of(failing) == statuses.FAILED and status_of(fine) == statuses.DELIVERED)
    page = dashboard(logged_in)
    failures = page[page.index("Recent failures"):page.index("data-count=")]
    assert f'href="/messages/{failing}"' in failures and f"/messages/{fine}" not in failures
    assert "could not be reached" in failures and "SIM-UNREACHABLE" in failures
    assert "injoignable" in dashboard(logged_in, "fr")  # the reason is read in the reader's language


def test_an_old_failure_is_not_recent(logged_in, user):
    phone = make_phone(user)
    [message_id] = queue_outbound(phone, ["+33612345679"], "Hi")
    message = db.session.get(Message, message_id)
    message.status, message.created_at = statuses.FAILED, message.created_at - timedelta(days=30)
    db.session.commit()
    assert "Recent failures" not in dashboard(logged_in)


def test_each_count_links_to_the_history_of_those_messages(logged_in, user):
    phone = make_phone(user)
    today_ids = queue_outbound(phone, ["+33612345678", "+33612345670"], "Hi")
    [older] = queue_outbound(phone, ["+33612345671"], "Earlier")
    message = db.session.get(Message, older)
    message.created_at = message.created_at - timedelta(days=3)
    received = record_inbound(phone, InboundSms("IN1", "+33612345678", "Thanks")).id
    db.session.commit()
    page = dashboard(logged_in)

    count, address = count_link(page, "today-queued")
    assert count == 2 and "status=queued" in address
    assert sorted(history_ids(logged_in, address)) == sorted(today_ids)
    count, address = count_link(page, "week-queued")
    assert count == 3 and sorted(history_ids(logged_in, address)) == sorted(today_ids + [older])
    count, address = count_link(page, "today-received")
    assert count == 1 and history_ids(logged_in, address) == [received]
    count, address = count_link(page, "today-delivered")
    assert count == 0 and history_ids(logged_in, address) == []


def test_a_seven_day_count_holds_the_messages_of_the_seventh_day_back_as_its_link_does(logged_in, user):
    phone = make_phone(user)
    [message_id] = queue_outbound(phone, ["+33612345678"], "A week ago")
    message = db.session.get(Message, message_id)
    message.created_at = message.created_at - timedelta(days=6)
    db.session.commit()
    count, address = count_link(dashboard(logged_in), "week-queued")
    assert count == len(history_ids(logged_in, address))



def test_the_counts_by_status_are_those_of_a_plain_group_by(user):
    from webapp.models import utcnow
    from webapp.services import history
    phone = make_phone(user)
    ids = queue_outbound(phone, ["+33612345678", "+33612345679", "+33612345670"], "Counted")
    old = queue_outbound(phone, ["+33612345671"], "Too old")
    db.session.execute(db.update(Message).where(Message.id == ids[0]).values(status=statuses.DELIVERED))
    db.session.execute(db.update(Message).where(Message.id == old[0]).values(created_at=utcnow() - timedelta(days=9)))
    record_inbound(phone, InboundSms(provider_message_id="in-1", sender="+33612345678", text="Merci"))
    db.session.commit()
    since = utcnow() - timedelta(days=7)
    assert history.status_counts(user, since) == history.status_counts_plainly(user, since) == {
        statuses.DELIVERED: 1, statuses.QUEUED: 2, statuses.RECEIVED: 1}
