"""A phone's health on the phone list and the dashboard: its recent failures for the provider's own
reasons, its last error, its credits where the provider tells them."""
from webapp import statuses
from webapp.extensions import db
from webapp.models import Phone, PhonePool
from webapp.services.messages import queue_outbound
from webapp.services.phones import record_connection_check
from webapp.services.pools import MemberChoice, save_pool

from .conftest import make_phone, send_now
from .test_provider_netoxygen import gateway, gateway_phone  # noqa: F401 (a fixture)
from .test_pools_end_to_end import twilio, twilio_phone  # noqa: F401 (a fixture)


def fail_sends(fake, phone, count):
    fake.fail_next(401, 20003, "Authenticate", times=count)
    for index in range(count):
        [message_id] = queue_outbound(phone, [f"+3365555555{index}"], "Hi")
        assert send_now(message_id).status == statuses.FAILED


def test_the_phone_list_and_the_dashboard_tell_of_an_unhealthy_phone_that_pools_skip(twilio, logged_in, user):
    failing, fine = twilio_phone(user, twilio), make_phone(user, name="Fine")
    save_pool(PhonePool(user_id=user.id), "Main", "first_available", [MemberChoice(failing.id, 1),
                                                                     MemberChoice(fine.id, 2)])
    fail_sends(twilio, failing, 4)
    page = logged_in.get("/phones/").get_data(as_text=True)
    assert "4 of its last 4 sends failed in the last hour" in page and "unhealthy" not in page
    assert "Twilio refused the Account SID" in page  # its last error
    assert "is unhealthy" not in logged_in.get("/").get_data(as_text=True)
    fail_sends(twilio, failing, 1)
    page = logged_in.get("/phones/").get_data(as_text=True)
    assert 'data-phone-health="unhealthy"' in page and "Your pools skip it until it recovers." in page
    assert "no send in the last hour" in page  # the phone that sent nothing
    [message_id] = queue_outbound(fine, ["+33655555560"], "Hi")
    send_now(message_id)
    assert "its last send of the hour went through" in logged_in.get("/phones/").get_data(as_text=True)
    dashboard = logged_in.get("/").get_data(as_text=True)
    assert "Twilio is unhealthy" in dashboard and "5 of its last 5 sends failed in the last hour" in dashboard
    french = logged_in.get("/", headers={"Accept-Language": "fr"}).get_data(as_text=True)
    assert "Twilio est défaillant" in french


def test_the_phone_list_shows_the_credits_the_last_connection_test_found(gateway, logged_in, user):
    phone = gateway_phone(user, gateway)
    record_connection_check(db.session.get(Phone, phone.id))
    page = logged_in.get("/phones/").get_data(as_text=True)
    assert '<td data-label="Credits" data-credits>250</td>' in page
