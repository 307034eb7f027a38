"""Password resets: the administrator's temporary password, and the user's own reset by an e-mailed
link, through the real worker and a real (local) SMTP server."""
import re
import smtplib
from datetime import timedelta

import pytest

from webapp.extensions import db
from webapp.models import User, utcnow

from .conftest import PASSWORD, login, make_user, post_form, run_queued_jobs, wait_for
from .mail_support import reset_link_in, smtp_server  # noqa: F401 (a fixture)

NEW_PASSWORD = "purple elephant trombone"


@pytest.fixture
def mail_configured(app, smtp_server):
    app.config["SMTP_URL"] = smtp_server.url
    app.config["MAIL_FROM"] = "SMS Desk <desk@example.org>"
    return smtp_server


def path_of(link: str) -> str:
    return link[link.index("/reset-password/"):]


def ask_for_a_link(client, address):
    return post_form(client, "/forgot-password", {"email": address}, follow_redirects=True)


def sign_in_refused(client, address, password) -> bool:
    answer = post_form(client, "/login", {"email": address, "password": password})
    return "Wrong e-mail or password" in answer.get_data(as_text=True)


def signed_out(client) -> bool:
    return "/login" in client.get("/account").headers.get("Location", "")


def choose(client, url, password=NEW_PASSWORD, **kwargs):
    return post_form(client, url, {"password": password, "confirm": password}, **kwargs)


# ---- the administrator's reset ----

def test_the_administrators_reset_gives_a_temporary_password_that_must_be_changed(app, client, caplog):
    admin = make_user("admin@example.org", admin=True)
    ada = make_user()
    adas_other_browser = login(app.test_client(), ada)
    login(client, admin)

    page = post_form(client, "/admin/users", {}, action=f"/admin/users/{ada.id}/reset-password")
    html = page.get_data(as_text=True)
    temporary = re.search(r'<code class="temporary-password">([^<]+)</code>', html).group(1)
    assert page.headers["Cache-Control"] == "no-store"
    assert temporary not in db.session.get(User, ada.id).password_hash and temporary not in caplog.text
    assert signed_out(adas_other_browser)

    ada_now = app.test_client()
    assert sign_in_refused(ada_now, ada.email, PASSWORD)
    login(ada_now, ada, password=temporary)
    for page_url in ("/", "/phones/", "/conversations", "/account"):
        assert ada_now.get(page_url).headers["Location"].endswith("/account/choose-password")
    refused = choose(ada_now, "/account/choose-password", password=temporary)
    assert "not the temporary one" in refused.get_data(as_text=True)
    assert choose(ada_now, "/account/choose-password").headers["Location"].endswith("/")
    assert ada_now.get("/phones/").status_code == 200

    # the temporary password worked once: now it is the new one that signs in
    assert sign_in_refused(app.test_client(), ada.email, temporary)
    login(app.test_client(), ada, password=NEW_PASSWORD)


def test_a_user_who_is_not_an_administrator_cannot_reset_anothers_password(app, logged_in):
    bob = make_user("bob@example.org")
    bobs_hash = bob.password_hash
    response = post_form(logged_in, "/account", {}, action=f"/admin/users/{bob.id}/reset-password")
    assert response.status_code == 404
    db.session.expire_all()
    assert db.session.get(User, bob.id).password_hash == bobs_hash
    assert not db.session.get(User, bob.id).must_change_password


# ---- the user's own reset, by e-mail ----

def test_without_smtp_the_sign_in_page_offers_no_reset(client, user):
    assert "Forgot your password?" not in client.get("/login").get_data(as_text=True)
    assert client.get("/forgot-password").status_code == 404


def test_a_reset_by_email_through_the_worker(app, client, user, mail_configured, start_worker):
    worker = start_worker(SMTP_URL=mail_configured.url, MAIL_FROM="SMS Desk <desk@example.org>")
    adas_other_browser = login(app.test_client(), user)
    assert "Forgot your password?" in client.get("/login").get_data(as_text=True)

    answer = ask_for_a_link(client, "Ada@Example.org")
    assert "an e-mail with a link" in answer.get_data(as_text=True)
    message = wait_for(lambda: mail_configured.received(), message="the e-mail")[0]
    assert message["To"] == user.email and message["From"] == "SMS Desk <desk@example.org>"
    link = reset_link_in(message)
    assert link.startswith(app.config["PUBLIC_BASE_URL"])
    token = path_of(link).rsplit("/", 1)[1]
    assert token not in (db.session.get(User, user.id).password_reset_hash or "") and token not in worker.output()

    assert "Choose a new password" in client.get(path_of(link)).get_data(as_text=True)
    assert choose(client, path_of(link)).headers["Location"].endswith("/login")
    assert signed_out(adas_other_browser)
    login(app.test_client(), user, password=NEW_PASSWORD)

    used = client.get(path_of(link))
    assert used.status_code == 400
    assert "already used" in used.get_data(as_text=True)
    posted_again = post_form(client, "/login", {"password": NEW_PASSWORD, "confirm": NEW_PASSWORD}, action=path_of(link))
    assert posted_again.status_code == 400


def test_a_link_expires_after_an_hour(app, client, user, mail_configured):
    ask_for_a_link(client, user.email)
    run_queued_jobs()
    link = reset_link_in(mail_configured.received()[0])
    db.session.get(User, user.id).password_reset_expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    expired = client.get(path_of(link))
    assert expired.status_code == 400
    assert "This link has expired" in expired.get_data(as_text=True)


def test_a_newer_link_replaces_the_older_one(client, user, mail_configured):
    for _ in range(2):
        ask_for_a_link(client, user.email)
        run_queued_jobs()
    older, newer = (reset_link_in(message) for message in mail_configured.received())
    assert client.get(path_of(older)).status_code == 400
    assert client.get(path_of(newer)).status_code == 200


def test_a_wrong_link_is_refused_clearly(client, user, mail_configured):
    wrong = client.get("/reset-password/not-a-token-we-sent")
    assert wrong.status_code == 400
    assert "This link is not valid" in wrong.get_data(as_text=True)


def test_unknown_and_known_addresses_get_the_same_answer(client, user, mail_configured):
    known = ask_for_a_link(client, user.email).get_data(as_text=True)
    unknown = ask_for_a_link(client, "nobody@example.org").get_data(as_text=True)
    def without_tokens(page):  # a CSRF token holds the second it was made
        return re.sub(r'name="csrf_token" type="hidden" value="[^"]*"', "", page)
    assert without_tokens(known.replace(user.email, "nobody@example.org")) == without_tokens(unknown)
    run_queued_jobs()
    assert [message["To"] for message in mail_configured.received()] == [user.email]


def test_a_disabled_account_gets_no_link(client, user, mail_configured):
    user.disabled = True
    db.session.commit()
    ask_for_a_link(client, user.email)
    run_queued_jobs()
    assert mail_configured.received() == []


def test_requests_for_a_link_are_rate_limited(app_config, smtp_server):
    from webapp import create_app
    app = create_app(dict(app_config, SMTP_URL=smtp_server.url, PASSWORD_RESET_RATE_LIMIT="2 per hour"))
    client = app.test_client()
    with app.app_context():
        make_user()
        codes = [post_form(client, "/forgot-password", {"email": "ada@example.org"}).status_code for _ in range(3)]
        db.session.remove()
    assert codes == [302, 302, 429]


def test_the_pages_and_the_email_speak_french(client, user, mail_configured):
    assert "Mot de passe oublié ?" in client.get("/login", headers={"Accept-Language": "fr"}).get_data(as_text=True)
    post_form(client, "/forgot-password", {"email": user.email}, headers={"Accept-Language": "fr"})
    run_queued_jobs()
    message = mail_configured.received()[0]
    assert "mot de passe" in message["Subject"]
    assert "Ce lien ne fonctionne qu’une fois" in message.get_body(("plain",)).get_content()


def test_a_password_for_the_smtp_server_is_never_sent_without_tls(app, client, user, mail_configured):
    app.config["SMTP_URL"] = mail_configured.url.replace("smtp://", "smtp://desk:secret@")
    ask_for_a_link(client, user.email)
    with pytest.raises(smtplib.SMTPException, match="no STARTTLS"):
        run_queued_jobs()
    assert mail_configured.received() == []
