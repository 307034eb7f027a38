"""Adding and managing phones through the forms."""
import re
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from webapp import providers
from webapp.models import Phone
from webapp.extensions import db
from webapp.providers.base import Capability, Provider, SettingField

from .conftest import login, make_phone, make_user, post_form


def test_adding_a_simulator_phone_through_the_form(logged_in):
    page = logged_in.get("/phones/new").get_data(as_text=True)
    assert "Simulator" in page
    response = post_form(logged_in, "/phones/new/simulator", {
        "name": "Front desk", "setting_delivery_delay_seconds": "1", "setting_answer_delay_seconds": "0",
        "setting_busy_attempts": "0", "setting_fail_numbers_ending_with": ""})
    assert response.status_code == 302
    phone = db.session.scalar(select(Phone))
    assert (phone.name, phone.provider_key, phone.settings["delivery_delay_seconds"]) == ("Front desk", "simulator", "1")


def test_the_form_says_what_is_wrong_and_saves_nothing(logged_in):
    response = post_form(logged_in, "/phones/new/simulator", {
        "name": "", "setting_delivery_delay_seconds": "soon", "setting_fail_numbers_ending_with": "12"})
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Enter a number of seconds" in page and "Enter a single digit, or nothing" in page
    assert db.session.scalar(select(Phone)) is None


def test_the_simulator_answers_within_a_few_seconds_at_most(logged_in):
    response = post_form(logged_in, "/phones/new/simulator", {
        "name": "Slow", "setting_delivery_delay_seconds": "1", "setting_answer_delay_seconds": "999"})
    assert response.status_code == 200
    assert "At most 5 seconds." in response.get_data(as_text=True)
    assert db.session.scalar(select(Phone)) is None


def test_the_phone_page_shows_callback_urls_steps_capabilities_and_a_loopback_warning(logged_in, user):
    phone = make_phone(user)
    page = logged_in.get(f"/phones/{phone.id}").get_data(as_text=True)
    assert f"/callbacks/{phone.public_id}/{phone.callback_token}/status" in page
    assert f"/callbacks/{phone.public_id}/{phone.callback_token}/inbound" in page
    assert "Copy" in page and "How to set up this phone" in page
    assert "Simulate an incoming SMS" in page
    # the simulator calls from this machine, so its local address needs no warning


def test_a_local_address_is_flagged_on_a_real_providers_phone(logged_in, user):
    phone = make_phone(user, provider_key="twilio", account_sid="AC" + "a" * 32, auth_token="b" * 32,
                       number="+15005550006")
    page = logged_in.get(f"/phones/{phone.id}").get_data(as_text=True)
    assert "only this computer can reach" in page
    assert "Ask your administrator to set the address at which the internet reaches SMS Desk." in page
    assert "/admin/settings" not in page and "PUBLIC_BASE_URL" not in page


def test_the_local_address_warning_sends_an_administrator_to_the_settings(client, app):
    admin = make_user("root@example.org", admin=True)
    login(client, admin)
    phone = make_phone(admin, provider_key="twilio", account_sid="AC" + "a" * 32, auth_token="b" * 32,
                       number="+15005550006")
    page = client.get(f"/phones/{phone.id}").get_data(as_text=True)
    assert re.search(r'<a href="/admin/settings">Set the address at which the internet reaches SMS Desk in the '
                     r'settings\.</a>', page)
    assert "Ask your administrator" not in page


def test_no_loopback_warning_with_a_public_address(app, logged_in, user):
    app.config["PUBLIC_BASE_URL"] = "https://sms.example.org"
    phone = make_phone(user, provider_key="twilio", account_sid="AC" + "a" * 32, auth_token="b" * 32,
                       number="+15005550006")
    page = logged_in.get(f"/phones/{phone.id}").get_data(as_text=True)
    assert "https://sms.example.org/callbacks/" in page
    assert "only this computer can reach" not in page


def test_rotating_the_token_changes_the_urls(logged_in, user):
    phone = make_phone(user)
    old_token = phone.callback_token
    response = post_form(logged_in, f"/phones/{phone.id}", {}, action=f"/phones/{phone.id}/rotate-token")
    assert response.status_code == 302
    db.session.refresh(phone)
    assert phone.callback_token != old_token and len(phone.callback_token) >= 32


def test_deleting_a_phone_hides_it_and_silences_its_urls(client, logged_in, user):
    phone = make_phone(user)
    status_path = urlsplit(f"http://x/callbacks/{phone.public_id}/{phone.callback_token}/status").path
    post_form(logged_in, f"/phones/{phone.id}", {}, action=f"/phones/{phone.id}/delete")
    assert logged_in.get(f"/phones/{phone.id}").status_code == 404
    assert client.post(status_path, data={"message_id": "x", "status": "DELIVERED"}).status_code == 404


class SecretiveProvider(Provider):
    """A provider with a secret setting, to check how secrets are kept."""
    key = "secretive"
    name = "Secretive"
    fields = (SettingField("login", "Login"), SettingField("api_key", "API key", secret=True))
    capabilities = frozenset({Capability.SEND})


@pytest.fixture
def secretive_provider(monkeypatch):
    monkeypatch.setitem(providers.PROVIDERS, SecretiveProvider.key, SecretiveProvider)


def test_secrets_are_encrypted_at_rest_and_never_shown_again(logged_in, secretive_provider):
    post_form(logged_in, "/phones/new/secretive", {"name": "Vault", "setting_login": "me",
                                                   "setting_api_key": "s3cr3t-key-123"})
    phone = db.session.scalar(select(Phone))
    assert "s3cr3t-key-123" not in (phone.encrypted_secrets or "")
    assert "s3cr3t-key-123" not in str(phone.settings)
    raw_row = db.session.execute(select(Phone.__table__)).one()
    assert "s3cr3t-key-123" not in repr(raw_row)
    edit_page = logged_in.get(f"/phones/{phone.id}/edit").get_data(as_text=True)
    assert "s3cr3t-key-123" not in edit_page and "Leave blank to keep" in edit_page

    # saving with the secret left blank keeps it
    post_form(logged_in, f"/phones/{phone.id}/edit", {"name": "Vault 2", "setting_login": "me",
                                                              "setting_api_key": ""})
    from webapp.services.phones import adapter_for
    db.session.refresh(phone)
    assert phone.name == "Vault 2"
    assert adapter_for(phone).settings["api_key"] == "s3cr3t-key-123"


def test_testing_the_connection_runs_in_the_worker_and_shows_the_result(live_server, worker, logged_in, user):
    from .conftest import wait_for
    phone = make_phone(user)
    post_form(logged_in, f"/phones/{phone.id}", {}, action=f"/phones/{phone.id}/test")
    def health_once_checked():
        health = logged_in.get(f"/phones/{phone.id}/health").get_json()
        return health if health["checked"] else None
    health = wait_for(health_once_checked)
    assert health == {"checked": True, "ok": True, "message": "The simulator is always reachable.", "facts": {}}
