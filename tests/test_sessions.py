"""Sign-ins: cookies that name a revocable sign-in, ids never handed out twice, the last
administrator, the setup that opens once, sign-in limits and passwords hard to guess."""
import hashlib
import threading
from datetime import timedelta

import flask_babel
import pytest
from flask.testing import FlaskClient
from sqlalchemy import delete, func, select, update

from webapp.extensions import db
from webapp.models import Message, Phone, User, UserSession, utcnow
from webapp.services import accounts
from webapp.services.accounts import find_user_by_email

from .conftest import PASSWORD, SeparateUserClient, csrf_token_from, login, make_phone, make_user, post_form

FIREFOX_ON_LINUX = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"
CHROME_ON_ANDROID = ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
                     "Chrome/131.0.0.0 Mobile Safari/537.36")


def signed_in(client) -> bool:
    return client.get("/account").status_code == 200


def copied_cookies(client, *names):
    return {name: client.get_cookie(name).value for name in names if client.get_cookie(name)}


def client_with_cookies(app, cookies):
    other = app.test_client()
    for name, value in cookies.items():
        other.set_cookie(name, value)
    return other


# ---- ids never reused ----

def test_a_deleted_users_cookies_do_not_sign_in_the_next_new_user(app, client):
    make_user("admin@example.org", admin=True)
    bob = make_user("bob@example.org")
    login(client, bob)
    bob_id = bob.id
    db.session.delete(bob)
    db.session.commit()

    carol = make_user("carol@example.org")
    assert carol.id != bob_id
    assert not signed_in(client)


def test_phone_and_message_ids_are_never_handed_out_again(user):
    phone = make_phone(user)
    message = Message(user_id=user.id, phone_id=phone.id, direction="inbound", remote_number="+33612345678",
                      body="hello", encoding="GSM-7", segment_count=1, status="received")
    db.session.add(message)
    db.session.commit()
    phone_id, message_id = phone.id, message.id
    db.session.execute(delete(Message))
    db.session.execute(delete(Phone))
    db.session.commit()

    again = make_phone(user)
    assert again.id > phone_id
    message = Message(user_id=user.id, phone_id=again.id, direction="inbound", remote_number="+33612345678",
                      body="hello", encoding="GSM-7", segment_count=1, status="received")
    db.session.add(message)
    db.session.commit()
    assert message.id > message_id


# ---- revocable sign-ins ----

def test_signing_out_ends_the_sign_in_on_the_server(app, client, user):
    login(client, user, remember=True)
    cookies = copied_cookies(client, "session", "remember_token")
    assert set(cookies) == {"session", "remember_token"}
    post_form(client, "/account", {}, action="/logout")
    assert not signed_in(client)
    # a copy of the cookies taken before signing out (a stolen one) no longer signs in
    assert not signed_in(client_with_cookies(app, cookies))
    assert not signed_in(client_with_cookies(app, {"remember_token": cookies["remember_token"]}))


def test_the_account_page_lists_the_sign_ins_and_signs_another_browser_out(app, client, user):
    login(client, user, headers={"User-Agent": FIREFOX_ON_LINUX}, environ_base={"REMOTE_ADDR": "192.0.2.10"})
    phone = login(app.test_client(), user, headers={"User-Agent": CHROME_ON_ANDROID},
                  environ_base={"REMOTE_ADDR": "198.51.100.20"})

    page = client.get("/account", headers={"User-Agent": FIREFOX_ON_LINUX}).get_data(as_text=True)
    assert "Firefox on Linux" in page and "192.0.2.10" in page
    assert "Chrome on Android" in page and "198.51.100.20" in page
    assert page.count("this browser") == 1
    assert page.index("this browser") > page.index("Firefox on Linux")  # on its own row
    assert "Sign out everywhere" in page

    the_phones = db.session.scalar(select(UserSession).where(UserSession.remote_address == "198.51.100.20"))
    post_form(client, "/account", {}, action=f"/account/sessions/{the_phones.id}/end")
    assert not signed_in(phone)
    assert signed_in(client)
    assert "Chrome on Android" not in client.get("/account").get_data(as_text=True)


def test_one_cannot_sign_out_someone_elses_browser(app, client, user):
    bob = make_user("bob@example.org")
    bobs_browser = login(app.test_client(), bob)
    bobs_sign_in = db.session.scalar(select(UserSession).where(UserSession.user_id == bob.id))
    login(client, user)
    post_form(client, "/account", {}, action=f"/account/sessions/{bobs_sign_in.id}/end")
    assert signed_in(bobs_browser)


def test_sign_out_everywhere(app, client, user):
    other = login(app.test_client(), user, remember=True)
    login(client, user)
    response = post_form(client, "/account", {}, action="/account/sessions/end-all")
    assert response.headers["Location"].endswith("/login")
    assert not signed_in(client) and not signed_in(other)


def test_a_password_change_signs_the_other_browsers_out(app, client, user):
    other = login(app.test_client(), user, remember=True)
    remembered = copied_cookies(other, "remember_token")
    login(client, user)
    response = post_form(client, "/account", {
        "password-current_password": PASSWORD, "password-password": "a brand new password",
        "password-confirm": "a brand new password", "password-submit": "1"}, csrf_field="password-csrf_token")
    assert response.status_code == 302
    assert signed_in(client)
    assert not signed_in(other) and not signed_in(client_with_cookies(app, remembered))


@pytest.fixture
def admin_client(client):
    return login(client, make_user("admin@example.org", admin=True))


def test_disabling_a_user_ends_their_sign_ins_for_good(app, admin_client, user):
    browser = login(app.test_client(), user)
    post_form(admin_client, "/admin/users", {}, action=f"/admin/users/{user.id}/toggle")
    post_form(admin_client, "/admin/users", {}, action=f"/admin/users/{user.id}/toggle")
    db.session.refresh(user)
    assert not user.disabled
    assert not signed_in(browser)  # enabled again, they sign in again


def test_the_administrator_sets_a_new_password_and_signs_the_user_out(app, admin_client, user):
    browser = login(app.test_client(), user, remember=True)
    page = admin_client.get("/admin/users").get_data(as_text=True)
    assert f"/admin/users/{user.id}/password" in page and "Set a new password" in page

    response = post_form(admin_client, f"/admin/users/{user.id}/password",
                         {"password": "a fresh start for ada", "confirm": "a fresh start for ada"})
    assert response.status_code == 302
    assert not signed_in(browser)
    login(app.test_client(), user, password="a fresh start for ada")


def test_last_seen_is_written_at_most_once_a_minute(client, user):
    login(client, user)
    sign_in = db.session.scalar(select(UserSession))
    long_ago = utcnow() - timedelta(minutes=10)
    a_moment_ago = utcnow() - timedelta(seconds=20)

    db.session.execute(update(UserSession).values(last_seen_at=long_ago))
    db.session.commit()
    client.get("/")
    db.session.refresh(sign_in)
    assert sign_in.last_seen_at > long_ago + timedelta(minutes=9)

    db.session.execute(update(UserSession).values(last_seen_at=a_moment_ago))
    db.session.commit()
    client.get("/")
    db.session.refresh(sign_in)
    assert sign_in.last_seen_at == a_moment_ago


def test_a_sign_in_unseen_for_30_days_is_over(client, user):
    login(client, user, remember=True)
    db.session.execute(update(UserSession).values(last_seen_at=utcnow() - timedelta(days=30, minutes=1)))
    db.session.commit()
    assert not signed_in(client)


# ---- cookies ----

def cookie_headers(response) -> dict:
    return {header.split("=", 1)[0]: header for header in response.headers.getlist("Set-Cookie")}


def test_cookies_are_secure_over_https_and_remembered_for_30_days(app_config):
    from webapp import create_app
    app = create_app(dict(app_config, PUBLIC_BASE_URL="https://sms.example.org"))
    with app.app_context():
        user = make_user()
        client = app.test_client()
        page = client.get("/login").get_data(as_text=True)
        response = client.post("/login", data={"email": user.email, "password": PASSWORD, "remember": "y",
                                               "csrf_token": csrf_token_from(page)})
        db.session.remove()
    cookies = cookie_headers(response)
    for name in ("session", "remember_token"):
        assert "; Secure" in cookies[name] and "; HttpOnly" in cookies[name] and "SameSite=Lax" in cookies[name]
    assert "Max-Age=2592000" in cookies["remember_token"] or "Expires=" in cookies["remember_token"]
    assert app.config["REMEMBER_COOKIE_DURATION"] == timedelta(days=30)


def test_a_remember_cookie_is_replaced_when_used(app, client, user):
    login(client, user, remember=True)
    first = copied_cookies(client, "remember_token")
    client.delete_cookie("session")  # the browser was closed

    response = client.get("/account")
    assert response.status_code == 200
    renewed = cookie_headers(response)["remember_token"]
    assert first["remember_token"] not in renewed
    assert signed_in(client)
    # the old cookie, wherever a copy of it is, no longer signs in once the renewal's moment is over
    db.session.execute(update(UserSession).where(UserSession.revoked_at.is_not(None))
                       .values(revoked_at=utcnow() - timedelta(seconds=31)))
    db.session.commit()
    assert not signed_in(client_with_cookies(app, first))


def test_requests_sent_at_once_with_a_remember_cookie_all_stay_signed_in(app, client, user):
    """Tabs restored after a browser restart: each request brings the remember cookie, none a session."""
    login(client, user, remember=True)
    remembered = copied_cookies(client, "remember_token")
    first_tab, second_tab = client_with_cookies(app, remembered), client_with_cookies(app, remembered)

    assert signed_in(first_tab) and signed_in(second_tab)
    assert first_tab.get_cookie("remember_token").value == second_tab.get_cookie("remember_token").value
    live = db.session.scalars(select(UserSession).where(UserSession.revoked_at.is_(None))).all()
    assert len(live) == 1 and db.session.scalar(select(func.count(UserSession.id))) == 2
    assert signed_in(first_tab) and signed_in(second_tab)

    # signed out meanwhile, the old cookie does not bring the browser back
    post_form(first_tab, "/account", {}, action="/logout")
    assert not signed_in(client_with_cookies(app, remembered)) and not signed_in(second_tab)


def test_tabs_renewing_one_remember_cookie_at_the_same_moment_share_one_new_sign_in(app, client, user):
    login(client, user, remember=True)
    remembered = copied_cookies(client, "remember_token")
    all_ready = threading.Barrier(4)
    answers, new_cookies = [], set()

    def restore_a_tab():
        tab = FlaskClient(app)  # a thread of its own, with its own app context per request
        tab.set_cookie("remember_token", remembered["remember_token"])
        all_ready.wait()
        answers.append(tab.get("/account").status_code)
        new_cookies.add(tab.get_cookie("remember_token").value)

    threads = [threading.Thread(target=restore_a_tab) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    db.session.expire_all()
    assert answers == [200] * 4
    assert len(new_cookies) == 1 and remembered["remember_token"] not in new_cookies
    assert db.session.scalar(select(func.count(UserSession.id)).where(UserSession.revoked_at.is_(None))) == 1


def test_a_renewed_remember_cookie_stops_working_after_a_moment(app, client, user):
    login(client, user, remember=True)
    remembered = copied_cookies(client, "remember_token")
    assert signed_in(client_with_cookies(app, remembered))
    assert signed_in(client_with_cookies(app, remembered))  # a moment later: the renewal's successor
    db.session.execute(update(UserSession).where(UserSession.revoked_at.is_not(None))
                       .values(revoked_at=utcnow() - timedelta(seconds=31)))
    db.session.commit()
    assert not signed_in(client_with_cookies(app, remembered))


def test_loading_the_signed_in_user_commits_nothing_of_the_request(app, client, user):
    """A view that changes the database, then reads current_user for the first time: loading it
    notes when the sign-in was last seen, and must not commit the view's change with it."""
    from flask import g
    from flask_login import current_user
    login(client, user)
    db.session.execute(update(UserSession).values(last_seen_at=utcnow() - timedelta(minutes=10)))
    db.session.commit()
    session_cookie = client.get_cookie("session").value
    with app.test_request_context("/", headers={"Cookie": f"session={session_cookie}"}):
        g.pop("_login_user", None)  # the tests' requests share one `g`: this one loads its user anew
        db.session.add(Phone(user_id=user.id, name="Half made", provider_key="simulator"))
        assert current_user.is_authenticated
        db.session.rollback()  # the view gives up
    assert db.session.scalar(select(func.count(Phone.id))) == 0


# ---- the last administrator, the setup ----

def test_two_administrators_deleting_each_other_at_once_leave_one(app, client):
    ada = make_user("ada@example.org", admin=True)
    bob = make_user("bob@example.org", admin=True)
    both_ready = threading.Barrier(2)
    answers = []

    def delete_the_other(me, other_id):
        browser = FlaskClient(app)  # a thread of its own, with its own app context per request
        login_in_thread(browser, me)
        both_ready.wait()
        response = post_form(browser, "/admin/users", {}, action=f"/admin/users/{other_id}/delete")
        answers.append(response.status_code)

    threads = [threading.Thread(target=delete_the_other, args=(ada.email, bob.id)),
               threading.Thread(target=delete_the_other, args=(bob.email, ada.id))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    db.session.expire_all()
    assert answers == [302, 302]
    assert db.session.scalar(select(func.count(User.id)).where(User.is_admin, User.disabled.is_(False))) == 1


def login_in_thread(browser, email):
    page = browser.get("/login").get_data(as_text=True)
    response = browser.post("/login", data={"email": email, "password": PASSWORD, "csrf_token": csrf_token_from(page)})
    assert response.status_code == 302


def test_the_last_active_administrator_cannot_be_deleted_or_disabled(app):
    ada = make_user("ada@example.org", admin=True)
    make_user("bob@example.org", admin=True)
    accounts.set_disabled(find_user_by_email("bob@example.org").id, True)
    with pytest.raises(accounts.LastAdministrator):
        accounts.delete_user(ada.id)
    with pytest.raises(accounts.LastAdministrator):
        accounts.set_disabled(ada.id, True)
    assert not find_user_by_email("ada@example.org").disabled


def test_setup_stays_closed_once_a_user_existed_even_with_none_left(client):
    make_user("admin@example.org", admin=True)
    db.session.execute(delete(User))
    db.session.commit()
    assert "/login" in client.get("/").headers["Location"]
    response = client.get("/setup")
    assert response.status_code == 302 and response.headers["Location"].endswith("/login")


# ---- signing in ----

def scrypt_calls(monkeypatch) -> list:
    calls = []
    real_scrypt = hashlib.scrypt

    def counted_scrypt(*args, **kwargs):
        calls.append(1)
        return real_scrypt(*args, **kwargs)
    monkeypatch.setattr(hashlib, "scrypt", counted_scrypt)
    return calls


def test_unknown_and_disabled_accounts_cost_a_password_check_like_a_wrong_password(monkeypatch, client, user):
    disabled = make_user("gone@example.org")
    disabled.disabled = True
    db.session.commit()
    accounts.authenticate("nobody@example.org", "warm up")  # the unknown accounts' hash is made once
    calls = scrypt_calls(monkeypatch)
    for email in ("ada@example.org", "nobody@example.org", "gone@example.org"):
        calls.clear()
        response = post_form(client, "/login", {"email": email, "password": "not the password"})
        assert "Wrong e-mail or password" in response.get_data(as_text=True)
        assert len(calls) == 1, email


def limited_app(app_config, **settings):
    from webapp import create_app
    app = create_app(dict(app_config, **settings))
    app.test_client_class = SeparateUserClient
    return app


def attempt(client, email, address, password="wrong"):
    options = {"environ_base": {"REMOTE_ADDR": address}}
    page = client.get("/login", **options).get_data(as_text=True)
    return client.post("/login", data={"email": email, "password": password, "csrf_token": csrf_token_from(page)},
                       **options).status_code


def test_one_address_guessing_one_account_does_not_lock_out_the_others(app_config):
    app = limited_app(app_config, LOGIN_RATE_LIMIT="3 per minute")
    with app.app_context():
        make_user("ada@example.org")
        make_user("bob@example.org")
        client = app.test_client()
        guesses = [attempt(client, "ada@example.org", "10.0.0.1") for _ in range(4)]
        bob = attempt(client, "bob@example.org", "10.0.0.1", password=PASSWORD)
        db.session.remove()
    assert guesses == [200, 200, 200, 429]
    assert bob == 302


def test_guesses_at_one_account_from_many_addresses_meet_a_ceiling(app_config):
    app = limited_app(app_config, LOGIN_RATE_LIMIT="3 per minute", LOGIN_ACCOUNT_RATE_LIMIT="5 per minute")
    with app.app_context():
        make_user("ada@example.org")
        client = app.test_client()
        codes = [attempt(client, "ada@example.org", f"10.0.0.{number}") for number in range(1, 8)]
        db.session.remove()
    assert codes == [200] * 5 + [429] * 2


def test_forwarded_addresses_are_believed_only_from_trusted_proxies(app_config):
    app = limited_app(app_config, TRUSTED_PROXIES="127.0.0.1, 10.1.0.0/16")
    with app.app_context():
        user = make_user()
        behind_the_proxy = login(app.test_client(), user, environ_base={"REMOTE_ADDR": "10.1.2.3"},
                                 headers={"X-Forwarded-For": "203.0.113.5, 127.0.0.1"})
        direct = login(app.test_client(), user, environ_base={"REMOTE_ADDR": "198.51.100.7"},
                       headers={"X-Forwarded-For": "203.0.113.99"})
        page = behind_the_proxy.get("/account").get_data(as_text=True)
        direct.get("/account")
        db.session.remove()
    assert "203.0.113.5" in page and "198.51.100.7" in page
    assert "10.1.2.3" not in page and "203.0.113.99" not in page


# ---- passwords ----

@pytest.mark.parametrize("password, said", [
    ("password123", "This is a very common password."),
    ("aaaaaaaaaaaa", 'Repeats like "aaa" are easy to guess.'),
    ("x" * 257, "Use at most 256 characters."),
])
def test_setup_refuses_a_password_easy_to_guess_or_too_long_and_says_why(client, password, said):
    response = post_form(client, "/setup", {"email": "boss@example.org", "password": password, "confirm": password})
    page = response.get_data(as_text=True)
    assert said in page.replace("&#34;", '"').replace("&#39;", "'")
    assert db.session.scalar(select(User)) is None


def test_a_password_made_of_the_email_is_refused(logged_in, user):
    response = post_form(logged_in, "/account", {
        "password-current_password": PASSWORD, "password-password": "ada@example.org",
        "password-confirm": "ada@example.org", "password-submit": "1"}, csrf_field="password-csrf_token")
    assert "This password is too easy to guess." in response.get_data(as_text=True)
    db.session.refresh(user)
    assert user.check_password(PASSWORD)


def test_the_administrator_cannot_give_a_weak_password(admin_client, user):
    for page, data in ((f"/admin/users/{user.id}/password", {"password": "letmein1", "confirm": "letmein1"}),
                       ("/admin/users", {"email": "bob@example.org", "password": "letmein1"})):
        response = post_form(admin_client, page, data)
        assert "This password is too easy to guess." in response.get_data(as_text=True)
    assert find_user_by_email("bob@example.org") is None
    db.session.refresh(user)
    assert user.check_password(PASSWORD)


def test_the_password_rules_speak_french(client):
    response = post_form(client, "/setup", {"email": "boss@example.org", "password": "password123",
                                            "confirm": "password123"}, headers={"Accept-Language": "fr"})
    page = response.get_data(as_text=True)
    assert "Ce mot de passe est trop facile à deviner." in page and "mot de passe très courant" in page



def test_a_refused_password_is_said_in_the_language_of_whoever_reads_it(app):
    """`flask users create`, or any caller of the service: the refusal is worded when shown."""
    with pytest.raises(accounts.AccountError) as refused:
        accounts.create_user("boss@example.org", "password123")
    for language, said in (("fr", "Ce mot de passe est trop facile à deviner. C’est un mot de passe très courant."),
                           ("en", "This password is too easy to guess. This is a very common password.")):
        with app.test_request_context(headers={"Accept-Language": language}):
            flask_babel.refresh()  # the tests' app context keeps the language it found first
            assert str(refused.value).startswith(said)
    assert find_user_by_email("boss@example.org") is None


# ---- the upgrade ----

OLD_ROWS = [
    "INSERT INTO users (id, email, password_hash, is_admin, disabled, created_at) VALUES "
    "(1, 'admin@example.org', 'x', 1, 0, '2026-01-01'), (2, 'bob@example.org', 'x', 0, 0, '2026-01-01')",
    "INSERT INTO phones (id, user_id, public_id, name, provider_key, settings, callback_token, created_at) "
    "VALUES (1, 2, 'p1', 'Bob''s', 'simulator', '{}', 't', '2026-01-01')",
    "INSERT INTO messages (id, user_id, phone_id, direction, remote_number, body, encoding, segment_count, status, "
    "attempt_count, created_at, status_changed_at, flash, status_poll_count) VALUES (7, 2, 1, 'inbound', "
    "'+33612345678', 'see you at the swimming pool', 'GSM-7', 1, 'received', 0, '2026-01-01', '2026-01-01', 0, 0)",
]


def test_upgrading_keeps_every_row_and_the_text_search_and_closes_the_setup(tmp_path):
    """The upgrade rebuilds users, phones and messages on SQLite (AUTOINCREMENT): dropping the old
    users table must not cascade into phones and messages, nor lose the text index's triggers."""
    from flask_migrate import upgrade
    from sqlalchemy import text

    from webapp import create_app

    from .conftest import SECRET_KEY
    app = create_app({"INSTANCE_PATH": str(tmp_path), "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/old.sqlite",
                      "SECRET_KEY": SECRET_KEY, "REDIS_URL": "redis://127.0.0.1:1"})
    with app.app_context():
        upgrade(revision="0008")
        for statement in OLD_ROWS:
            db.session.execute(text(statement))
        db.session.commit()

        upgrade()
        assert db.session.scalar(select(func.count(Phone.id))) == 1
        assert db.session.scalar(select(Message.body)) == "see you at the swimming pool"
        db.session.execute(text(OLD_ROWS[2].replace("(7,", "(8,").replace("swimming pool", "cinema")))
        db.session.execute(text("UPDATE messages SET body_folded = 'cinema' WHERE id = 8"))  # as the model writes it
        db.session.commit()
        found = db.session.execute(text("SELECT rowid FROM messages_text WHERE messages_text MATCH 'cinema'"))
        assert found.scalars().all() == [8]
        assert accounts.has_been_set_up()
        db.session.execute(delete(User).where(User.id == 2))
        db.session.commit()
        assert make_user("carol@example.org").id == 3
        db.session.remove()
        db.engine.dispose()
