"""The public address: the administrator sets it on the settings page, callback URLs and reset
links follow it, PUBLIC_BASE_URL wins when the environment sets it, and `make run` listens on HOST."""
import pytest

from webapp.services import phones as phone_service

from .conftest import login, make_phone, make_user, post_form


@pytest.fixture
def admin_client(client):
    return login(client, make_user("admin@example.org", admin=True))


@pytest.fixture
def unset_environment(app):
    """As when PUBLIC_BASE_URL is not in the environment (the tests' app is given one)."""
    app.config["PUBLIC_BASE_URL_FIXED"] = False
    return app


def test_the_administrator_sets_the_public_address_and_callback_urls_follow_it(admin_client, unset_environment):
    page = admin_client.get("/admin/settings").get_data(as_text=True)
    assert "127.0.0.1" in page and "local address" in page

    response = post_form(admin_client, "/admin/settings", {"public_base_url": " https://sms.example.org/ "},
                         follow_redirects=True)
    page = response.get_data(as_text=True)
    assert "Public address saved: https://sms.example.org." in page
    assert "<code>https://sms.example.org</code>" in page
    assert "local address" not in page

    phone = make_phone(make_user("ada@example.org"))
    assert phone_service.callback_url(phone, "status").startswith("https://sms.example.org/callbacks/")
    assert not phone_service.public_address_is_local()


def test_clearing_the_address_goes_back_to_the_local_default(admin_client, unset_environment):
    post_form(admin_client, "/admin/settings", {"public_base_url": "https://sms.example.org"})
    page = post_form(admin_client, "/admin/settings", {"public_base_url": ""},
                     follow_redirects=True).get_data(as_text=True)
    assert "Public address cleared" in page
    assert f"<code>{unset_environment.config['PUBLIC_BASE_URL']}</code>" in page


@pytest.mark.parametrize("address", ["sms.example.org", "ftp://sms.example.org", "https://sms.example.org/?a=1",
                                     "https://user:pw@sms.example.org", "https://sms.example.org:99999"])
def test_an_address_that_is_not_a_web_address_is_refused(admin_client, unset_environment, address):
    page = post_form(admin_client, "/admin/settings", {"public_base_url": address}).get_data(as_text=True)
    assert "Enter an address starting with https://" in page
    assert "Public address saved" not in page


def test_the_environment_variable_wins_and_the_page_says_so(admin_client, app):
    app.config["PUBLIC_BASE_URL"] = "https://env.example.org"
    page = post_form(admin_client, "/admin/settings", {"public_base_url": "https://saved.example.org"},
                     follow_redirects=True).get_data(as_text=True)
    assert "<code>https://env.example.org</code>" in page
    assert "The PUBLIC_BASE_URL environment variable sets this address" in page
    phone = make_phone(make_user("ada@example.org"))
    assert phone_service.callback_url(phone, "inbound").startswith("https://env.example.org/callbacks/")


def test_the_page_says_what_host_0_0_0_0_exposes(admin_client):
    page = admin_client.get("/admin/settings").get_data(as_text=True)
    assert "HOST=0.0.0.0 make run" in page


def test_the_page_speaks_french(admin_client, unset_environment):
    page = admin_client.get("/admin/settings", headers={"Accept-Language": "fr"}).get_data(as_text=True)
    assert "Adresse publique" in page


def test_an_ordinary_user_cannot_reach_the_settings(client, unset_environment):
    ordinary = login(client, make_user("ada@example.org"))
    assert ordinary.get("/admin/settings").status_code == 404
    response = post_form(ordinary, "/", {"public_base_url": "https://evil.example"}, action="/admin/settings")
    assert response.status_code == 404
    assert "/admin/settings" not in ordinary.get("/").get_data(as_text=True)
    from webapp.services.public_address import current_public_base_url
    assert current_public_base_url() == unset_environment.config["PUBLIC_BASE_URL"]


def test_signed_out_visitors_are_sent_to_sign_in(client):
    make_user("admin@example.org", admin=True)
    response = client.get("/admin/settings")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_password_reset_links_use_the_saved_address(admin_client, unset_environment):
    from webapp.services.password_resets import reset_link
    post_form(admin_client, "/admin/settings", {"public_base_url": "https://sms.example.org"})
    assert reset_link("token").startswith("https://sms.example.org/reset-password/")


def test_make_run_listens_on_host(monkeypatch):
    from webapp.launcher import children
    web = children("0.0.0.0", "5000")[0].command
    assert web[web.index("--bind") + 1] == "0.0.0.0:5000"
    web = children("127.0.0.1", "8000")[0].command
    assert web[web.index("--bind") + 1] == "127.0.0.1:8000"
