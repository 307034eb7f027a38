"""Accounts: the first administrator, signing in, passwords and the administrator's user management."""
import re
import subprocess
import sys

import pytest
from sqlalchemy import select

from webapp.extensions import db
from webapp.models import Phone, User
from webapp.services.accounts import find_user_by_email

from .conftest import PASSWORD, PROJECT_ROOT, csrf_token_from, login, make_phone, make_user, post_form


def test_the_first_visit_asks_for_the_administrator(client):
    response = client.get("/")
    assert response.status_code == 302 and response.headers["Location"].endswith("/setup")
    page = client.get("/setup").get_data(as_text=True)
    assert "create the administrator" in page.lower()


def test_creating_the_administrator_signs_in_and_offers_to_add_a_phone(client):
    response = post_form(client, "/setup", {"email": "Boss@Example.org", "password": PASSWORD,
                                            "confirm": PASSWORD})
    assert response.status_code == 302 and response.headers["Location"].endswith("/phones/new")
    admin = find_user_by_email("boss@example.org")
    assert admin.is_admin
    assert admin.password_hash.startswith("scrypt:")
    assert client.get("/").status_code == 200
    assert client.get("/setup").status_code == 302  # only once


def test_outside_the_tests_passwords_get_werkzeugs_full_cost_scrypt(app_config):
    """The tests' configuration hashes with a cheap scrypt; SMS Desk's own, with n=2^15, r=8, p=1."""
    from webapp import create_app
    settings = {name: value for name, value in app_config.items() if name != "PASSWORD_HASH_METHOD"}
    with create_app(settings).app_context():
        user = User(email="boss@example.org")
        user.set_password(PASSWORD)
        assert user.password_hash.startswith("scrypt:32768:8:1$")
        assert user.check_password(PASSWORD) and not user.check_password("not " + PASSWORD)


def test_setup_refuses_a_short_or_mismatched_password_and_keeps_the_form(client):
    response = post_form(client, "/setup", {"email": "boss@example.org", "password": "short", "confirm": "other"})
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "at least 8 characters" in page and "The two passwords differ" in page
    assert "boss@example.org" in page
    assert db.session.scalar(select(User)) is None


def test_a_field_in_error_says_so_and_names_its_error_for_a_screen_reader(client):
    page = post_form(client, "/setup", {"email": "boss@example.org", "password": "short",
                                        "confirm": "short"}).get_data(as_text=True)
    password = re.search(r'<input[^>]*id="password"[^>]*>', page).group(0)
    assert 'aria-invalid="true"' in password
    described_by = re.search(r'aria-describedby="([^"]+)"', password).group(1).split()
    told = " ".join(re.search(rf'id="{name}"[^>]*>(.*?)</(?:div|small)>', page, re.S).group(1) for name in described_by)
    assert "at least 8 characters" in told
    email = re.search(r'<input[^>]*id="email"[^>]*>', page).group(0)
    assert "aria-invalid" not in email


def test_a_form_without_its_csrf_token_is_refused(client, user):
    response = client.post("/login", data={"email": user.email, "password": PASSWORD})
    assert response.status_code == 400
    assert "This form has expired" in response.get_data(as_text=True)
    assert client.get("/").status_code == 302  # still signed out


def test_wrong_password_says_so(client, user):
    response = post_form(client, "/login", {"email": user.email, "password": "not the password"})
    assert "Wrong e-mail or password" in response.get_data(as_text=True)


def test_login_is_rate_limited(app_config, database_url):
    from webapp import create_app
    app = create_app(dict(app_config, LOGIN_RATE_LIMIT="3 per minute"))
    client = app.test_client()
    with app.app_context():
        make_user()
        codes = [post_form(client, "/login", {"email": "ada@example.org", "password": "wrong"}).status_code
                 for _ in range(4)]
        db.session.remove()
    assert codes == [200, 200, 200, 429]


def test_session_cookie_is_httponly_and_samesite(client, user):
    page = client.get("/login")
    response = client.post("/login", data={"email": user.email, "password": PASSWORD,
                                           "csrf_token": csrf_token_from(page.get_data(as_text=True))})
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_logout_needs_a_post_and_signs_out(logged_in):
    assert logged_in.get("/logout").status_code == 405
    post_form(logged_in, "/", {}, action="/logout")
    assert logged_in.get("/").status_code == 302


def test_change_password(logged_in, user):
    response = post_form(logged_in, "/account", {
        "password-current_password": PASSWORD, "password-password": "a brand new password",
        "password-confirm": "a brand new password", "password-submit": "1"},
        csrf_field="password-csrf_token")
    assert response.status_code == 302
    db.session.refresh(user)
    assert user.check_password("a brand new password")


def test_change_password_needs_the_current_one(logged_in, user):
    response = post_form(logged_in, "/account", {
        "password-current_password": "wrong", "password-password": "a brand new password",
        "password-confirm": "a brand new password", "password-submit": "1"},
        csrf_field="password-csrf_token")
    assert "This is not your current password" in response.get_data(as_text=True)
    db.session.refresh(user)
    assert user.check_password(PASSWORD)


def test_the_interface_follows_the_browser_language_and_the_users_choice(client, user):
    page = client.get("/login", headers={"Accept-Language": "fr-FR,fr;q=0.9"}).get_data(as_text=True)
    assert "Se connecter" in page or "Connexion" in page
    login(client, user)
    response = post_form(client, "/account", {"prefs-locale": "en", "prefs-timezone": "", "prefs-submit": "1"},
                         csrf_field="prefs-csrf_token")
    assert response.status_code == 302
    db.session.refresh(user)
    assert user.locale == "en"
    page = client.get("/account", headers={"Accept-Language": "fr"}).get_data(as_text=True)
    assert "Your account" in page


@pytest.fixture
def admin_client(client):
    admin = make_user("admin@example.org", admin=True)
    return login(client, admin)


def test_the_administrator_creates_disables_and_deletes_users(admin_client, app):
    post_form(admin_client, "/admin/users", {"email": "bob@example.org", "password": PASSWORD})
    bob = find_user_by_email("bob@example.org")
    assert bob is not None and not bob.is_admin
    make_phone(bob)

    post_form(admin_client, "/admin/users", {}, action=f"/admin/users/{bob.id}/toggle")
    db.session.refresh(bob)
    assert bob.disabled
    other = app.test_client()
    response = post_form(other, "/login", {"email": "bob@example.org", "password": PASSWORD})
    assert "Wrong e-mail or password, or the account is disabled" in response.get_data(as_text=True)

    post_form(admin_client, "/admin/users", {}, action=f"/admin/users/{bob.id}/delete")
    db.session.expire_all()
    assert find_user_by_email("bob@example.org") is None
    assert db.session.scalars(select(Phone)).all() == []


def test_a_disabled_user_is_signed_out_at_once(app, client, user):
    login(client, user)
    user.disabled = True
    db.session.commit()
    assert client.get("/").status_code == 302


def test_an_ordinary_user_cannot_reach_user_management(logged_in):
    assert logged_in.get("/admin/users").status_code == 404


def test_users_create_command_reads_the_password_from_stdin(app, app_config):
    env = {"INSTANCE_PATH": app_config["INSTANCE_PATH"], "DATABASE_URL": app_config["SQLALCHEMY_DATABASE_URI"],
           "SECRET_KEY": "x", "PATH": "/usr/bin:/bin"}
    result = subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", "users", "create",
                             "ops@example.org", "--admin"], input=PASSWORD + "\n", capture_output=True, text=True,
                            cwd=PROJECT_ROOT, env=env)
    assert result.returncode == 0, result.stderr
    assert "created administrator ops@example.org" in result.stdout
    db.session.expire_all()
    assert find_user_by_email("ops@example.org").check_password(PASSWORD)
