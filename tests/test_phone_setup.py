"""Setting a phone up: finding it in lists, its callback URLs, and the way to its compose page."""
import re

from .conftest import make_phone

TWILIO = {"account_sid": "AC" + "a" * 32, "auth_token": "b" * 32}


def selected_phone(page: str) -> str:
    return re.search(r'<option selected value="(\d+)"|<option value="(\d+)" selected', page).group(0)


def test_send_an_sms_from_a_phones_page_opens_compose_with_that_phone_chosen(logged_in, user):
    make_phone(user, name="Alpha")
    second = make_phone(user, name="Beta")
    page = logged_in.get(f"/phones/{second.id}").get_data(as_text=True)
    assert f'href="/compose?phone={second.id}"' in page
    compose = logged_in.get(f"/compose?phone={second.id}").get_data(as_text=True)
    assert f'value="{second.id}"' in selected_phone(compose)


def test_compose_ignores_a_phone_that_is_not_the_users(logged_in, user, other_user):
    mine = make_phone(user, name="Mine")
    theirs = make_phone(other_user, name="Theirs")
    compose = logged_in.get(f"/compose?phone={theirs.id}").get_data(as_text=True)
    assert "Theirs" not in compose and f'value="{mine.id}"' in compose
    assert not re.search(r"<option[^>]*selected", compose.split('id="phone_id"')[1].split("</select>")[0])


def test_phones_are_listed_by_name_whatever_its_case_with_their_number_or_sender(logged_in, user):
    make_phone(user, provider_key="twilio", name="zebra line", number="+15005550006", **TWILIO)
    make_phone(user, provider_key="odyssey", name="Alerts", login="12345.user", password="p", sender="ACME")
    make_phone(user, name="middle")
    listing = logged_in.get("/phones/").get_data(as_text=True)
    assert listing.index("Alerts") < listing.index("middle") < listing.index("zebra line")
    assert "+15005550006" in listing and "ACME" in listing
    compose = logged_in.get("/compose").get_data(as_text=True)
    options = re.findall(r"<option[^>]*>([^<]*)</option>", compose.split('id="phone_id"')[1].split("</select>")[0])
    assert options == ["Alerts — ACME", "middle", "zebra line — +15005550006"]


def test_the_two_callback_urls_show_their_endings_and_which_needs_nothing_pasted(logged_in, user):
    twilio = make_phone(user, provider_key="twilio", number="+15005550006", **TWILIO)
    page = logged_in.get(f"/phones/{twilio.id}").get_data(as_text=True)
    assert "…/status" in page and "…/inbound" in page
    status_row = page.split('data-callback-url="status"')[1].split('data-callback-url="inbound"')[0]
    assert "nothing to paste" in status_row and "with every SMS it sends" in status_row
    inbound_row = page.split('data-callback-url="inbound"')[1].split("</div>\n</div>")[0]
    assert "nothing to paste" not in inbound_row


def test_a_provider_that_needs_the_status_url_pasted_says_nothing_of_the_kind(logged_in, user):
    odyssey = make_phone(user, provider_key="odyssey", login="12345.user", password="p", sender="ACME")
    page = logged_in.get(f"/phones/{odyssey.id}").get_data(as_text=True)
    assert "…/status" in page and "nothing to paste" not in page



def test_the_phone_page_waits_for_the_first_callback_then_says_what_came(live_server, logged_in, user):
    from webapp.services.phones import callback_url
    from .fakes.twilio import FakeTwilio
    with FakeTwilio() as twilio:
        phone = make_phone(user, provider_key="twilio", account_sid=twilio.account_sid,
                           auth_token=twilio.auth_token, number=twilio.numbers[0])
        page = logged_in.get(f"/phones/{phone.id}").get_data(as_text=True)
        assert "Waiting for your provider’s first callback…" in page
        assert f'data-refresh="/phones/{phone.id}/first-callback"' in page
        assert "data-refresh-done" not in logged_in.get(f"/phones/{phone.id}/first-callback").get_data(as_text=True)
        answer = twilio.send_inbound(callback_url(phone, "inbound"), "+33612345678", twilio.numbers[0], "Hi")
        assert answer.status_code == 200
        twilio.send_inbound(callback_url(phone, "inbound"), "+33699999999", twilio.numbers[0], "Later")
    panel = logged_in.get(f"/phones/{phone.id}/first-callback").get_data(as_text=True)
    assert "data-refresh-done" in panel
    assert "The first one was an incoming SMS from +33612345678" in panel


def test_a_delivery_report_as_first_callback_is_named_so(live_server, logged_in, user):
    from webapp.services.phones import callback_url
    from .fakes.twilio import FakeTwilio
    with FakeTwilio() as twilio:
        phone = make_phone(user, provider_key="twilio", account_sid=twilio.account_sid,
                           auth_token=twilio.auth_token, number=twilio.numbers[0])
        answer = twilio.send_status("SM" + "0" * 32, "delivered", url=callback_url(phone, "status"))
        assert answer.status_code < 300
    panel = logged_in.get(f"/phones/{phone.id}/first-callback").get_data(as_text=True)
    assert "The first one was a delivery report" in panel


def test_another_users_callback_panel_is_not_found(logged_in, other_user):
    theirs = make_phone(other_user)
    assert logged_in.get(f"/phones/{theirs.id}/first-callback").status_code == 404
