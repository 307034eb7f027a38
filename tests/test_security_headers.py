"""What the browser is told on every page, what a provider is told on a callback, how much either
may post, and who may read SMS Desk's files."""
import io
import re
import stat
from pathlib import Path

import pytest
from sqlalchemy import func, select

from webapp import create_app
from webapp.config import settings_from_environment
from webapp.extensions import db
from webapp.launcher import start_embedded_broker
from webapp.models import Message
from webapp.services.phones import callback_url

from .conftest import PASSWORD, PROJECT_ROOT, SECRET_KEY, login, make_phone, make_user, post_form

CSP_DIRECTIVES = {"script-src 'self'", "style-src 'self'", "object-src 'none'", "base-uri 'none'",
                  "form-action 'self'", "frame-ancestors 'none'"}
MEGABYTE = 1024 * 1024


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def assert_browser_headers(response):
    assert CSP_DIRECTIVES <= {part.strip() for part in response.headers["Content-Security-Policy"].split(";")}
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert response.headers["X-Frame-Options"] == "DENY"


# ---- headers ----

def test_every_page_forbids_inline_scripts_framing_and_sniffing(client, user):
    for path in ("/login", "/static/js/app.js", "/no-such-page"):
        assert_browser_headers(client.get(path))
    login(client, user)
    phone = make_phone(user)
    for path in ("/", "/history", "/compose", "/phones/", f"/phones/{phone.id}", "/account"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert_browser_headers(response)
        assert "Strict-Transport-Security" not in response.headers  # reached over plain http


def test_pages_showing_callback_urls_or_secrets_are_never_stored_by_the_browser(client, user):
    login(client, user)
    phone = make_phone(user)
    assert phone.callback_token in client.get(f"/phones/{phone.id}").get_data(as_text=True)
    for path in (f"/phones/{phone.id}", f"/phones/{phone.id}/edit", "/phones/new/twilio", "/account"):
        assert client.get(path).headers["Cache-Control"] == "no-store", path
    # a form sent back with its errors shows what was typed
    response = post_form(client, "/phones/new/twilio", {"name": ""})
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    for path in ("/", "/history", "/phones/"):
        assert "no-store" not in client.get(path).headers.get("Cache-Control", ""), path


def test_pages_taking_typed_passwords_are_never_stored_by_the_browser(client):
    assert client.get("/setup").headers["Cache-Control"] == "no-store"
    response = post_form(client, "/setup", {"email": "boss@example.org", "password": "x", "confirm": "x"})
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    administrator = make_user("boss@example.org", admin=True)
    bob = make_user("bob@example.org")
    assert client.get("/login").headers["Cache-Control"] == "no-store"
    response = post_form(client, "/login", {"email": "boss@example.org", "password": "wrong"})
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    login(client, administrator)
    for path in ("/admin/users", f"/admin/users/{bob.id}/password"):
        assert client.get(path).headers["Cache-Control"] == "no-store", path


def test_strict_transport_security_only_when_the_public_address_is_https(app_config):
    https_app = create_app(dict(app_config, PUBLIC_BASE_URL="https://sms.example.org"))
    response = https_app.test_client().get("/login")
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")
    assert "includeSubDomains" not in response.headers["Strict-Transport-Security"]
    with https_app.app_context():
        db.engine.dispose()


def test_callbacks_answer_providers_with_nosniff_and_no_store(client, user):
    phone = make_phone(user)
    inbound = callback_url(phone, "inbound")
    for response in (client.post(inbound, data={"message_id": "SIMIN1", "from": "0612345678", "text": "Hi"}),
                     client.post(inbound.replace(phone.callback_token, "wrong"))):
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Cache-Control"] == "no-store"
    assert response.status_code == 404


def test_no_template_holds_inline_script_handlers_or_styles():
    """The policy refuses them: a browser would silently ignore the script or the style."""
    inline = re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")|\son[a-z]+=|\sstyle=|javascript:",
                        re.IGNORECASE)
    found = {str(path.relative_to(PROJECT_ROOT)): inline.findall(path.read_text())
             for path in (PROJECT_ROOT / "templates").rglob("*.html")}
    assert {path: hits for path, hits in found.items() if hits} == {}


# ---- body size ----

class ProviderBody(io.RawIOBase):
    """A request body of `size` bytes that counts how much of it the app reads."""

    def __init__(self, head: bytes, size: int):
        self.head, self.size, self.position, self.bytes_read = head, size, 0, 0

    def readable(self):
        return True

    def seekable(self):  # the test client measures the body to set its Content-Length
        return True

    def seek(self, offset, whence=io.SEEK_SET):
        self.position = self.size + offset if whence == io.SEEK_END else offset
        return self.position

    def tell(self):
        return self.position

    def readinto(self, buffer):
        count = min(len(buffer), self.size - self.position)
        chunk = self.head[self.position:self.position + count]
        buffer[:count] = chunk + b"a" * (count - len(chunk))
        self.position += count
        self.bytes_read += count
        return count


def post_body(client, url, body, chunked=False):
    """Posted with its length, or streamed in chunks by a server that ends the stream itself (gunicorn)."""
    return client.post(url, input_stream=body, content_type="application/x-www-form-urlencoded",
                       headers={"Transfer-Encoding": "chunked"} if chunked else {},
                       environ_overrides={"wsgi.input_terminated": True} if chunked else {})


def inbound_sms_of(size: int) -> ProviderBody:
    return ProviderBody(b"message_id=SIMIN1&from=0612345678&text=", size)


def test_a_20_mb_callback_is_refused_unread_and_stores_nothing(client, user):
    phone = make_phone(user)
    body = inbound_sms_of(20 * MEGABYTE)
    response = post_body(client, callback_url(phone, "inbound"), body)
    assert response.status_code == 413
    assert response.content_type.startswith("text/plain") and "256 KB" in response.get_data(as_text=True)
    assert body.bytes_read == 0
    assert db.session.scalar(select(func.count()).select_from(Message)) == 0


def test_a_callback_body_sent_without_a_length_is_read_only_up_to_the_limit(client, user):
    phone = make_phone(user)
    body = inbound_sms_of(20 * MEGABYTE)
    response = post_body(client, callback_url(phone, "inbound"), body, chunked=True)
    assert response.status_code == 413 and response.content_type.startswith("text/plain")
    assert body.bytes_read <= 256 * 1024 + 64 * 1024
    assert db.session.scalar(select(func.count()).select_from(Message)) == 0


def test_a_callback_under_the_limit_is_stored(client, user):
    phone = make_phone(user)
    response = post_body(client, callback_url(phone, "inbound"), inbound_sms_of(200 * 1024))
    assert response.status_code == 200
    assert db.session.scalar(select(func.count()).select_from(Message)) == 1


def test_a_form_larger_than_the_setting_answers_a_page_saying_so(client):
    response = post_body(client, "/login", ProviderBody(b"email=a&password=", 3 * MEGABYTE))
    assert response.status_code == 413
    assert "This is too much at once" in response.get_data(as_text=True)


def test_the_form_size_limit_is_a_setting(monkeypatch):
    assert settings_from_environment({"SECRET_KEY": SECRET_KEY})["MAX_CONTENT_LENGTH"] == 2 * MEGABYTE
    monkeypatch.setenv("MAX_CONTENT_LENGTH", str(50 * MEGABYTE))
    assert settings_from_environment({"SECRET_KEY": SECRET_KEY})["MAX_CONTENT_LENGTH"] == 50 * MEGABYTE


# ---- files ----

@pytest.fixture
def loose_umask():
    import os
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def app_on(folder: Path, database: Path, **settings):
    return create_app({"INSTANCE_PATH": str(folder), "SQLALCHEMY_DATABASE_URI": f"sqlite:///{database}",
                       "REDIS_URL": "redis://127.0.0.1:1", **settings})


def test_a_new_instance_folder_and_database_are_private(tmp_path, monkeypatch, loose_umask):
    folder = tmp_path / "instance"
    monkeypatch.setenv("INSTANCE_PATH", str(folder))
    monkeypatch.delenv("SECRET_KEY", raising=False)
    app = app_on(folder, folder / "smsdesk.sqlite")  # no key given: it is made in a new instance folder
    with app.app_context():
        db.create_all()  # the pool keeps its connection open, and so the -wal and -shm files
        assert mode_of(folder) == 0o700
        assert {path.name: mode_of(path) for path in folder.iterdir()} == {
            "secret_key": 0o600, "smsdesk.sqlite": 0o600, "smsdesk.sqlite-wal": 0o600, "smsdesk.sqlite-shm": 0o600}
        db.engine.dispose()


def test_an_older_install_is_made_private_at_start_up(tmp_path, loose_umask):
    folder = tmp_path / "instance"
    folder.mkdir(mode=0o755)
    elsewhere = tmp_path / "data"  # DATABASE_URL may put the database outside the instance folder
    elsewhere.mkdir()
    database = elsewhere / "smsdesk.sqlite"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{database}{suffix}").touch(mode=0o644)
    app = app_on(folder, database, SECRET_KEY=SECRET_KEY)
    with app.app_context():
        db.session.execute(select(1))
        assert mode_of(folder) == 0o700
        assert [mode_of(Path(f"{database}{suffix}")) for suffix in ("", "-wal", "-shm")] == [0o600] * 3
        db.session.remove()
        db.engine.dispose()


def test_the_embedded_brokers_data_folder_is_private(tmp_path, monkeypatch, loose_umask):
    monkeypatch.setenv("INSTANCE_PATH", str(tmp_path))
    broker = start_embedded_broker()
    try:
        assert mode_of(tmp_path / "broker") == 0o700
    finally:
        broker.stop()


def test_a_shared_folder_named_as_the_instance_folder_keeps_its_mode(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)
    app_on(shared, tmp_path / "smsdesk.sqlite", SECRET_KEY=SECRET_KEY)
    assert mode_of(shared) == 0o1777


def test_an_https_address_saved_in_the_settings_turns_on_hsts_at_its_host_only_and_leaves_cookies_alone(
        app, client, user):
    from webapp.services import public_address
    app.config["PUBLIC_BASE_URL_FIXED"] = False  # as when the environment does not set PUBLIC_BASE_URL
    public_address.save_public_base_url("https://sms.example.org")
    at_its_host = client.get("/login", base_url="https://sms.example.org")
    assert at_its_host.headers["Strict-Transport-Security"] == "max-age=31536000"
    for elsewhere in ("http://127.0.0.1:5000", "https://192.168.1.20"):  # the local network, a certificate of its own
        assert "Strict-Transport-Security" not in client.get("/login", base_url=elsewhere).headers, elsewhere
    signed_in = post_form(client, "/login", {"email": user.email, "password": PASSWORD})  # over plain http
    cookies = signed_in.headers.getlist("Set-Cookie")
    assert signed_in.status_code == 302 and cookies and not any("Secure" in cookie for cookie in cookies)
