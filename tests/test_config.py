"""Settings: each adapter's declared server options, a create_app that writes nothing, in-memory SQLite."""
import pytest

from webapp import create_app
from webapp.config import settings_from_environment
from webapp.extensions import db
from webapp.providers import PROVIDERS
from webapp.providers.netoxygen import NetOxygenProvider
from webapp.providers.twilio import TwilioProvider
from webapp.services import phones as phone_service
from webapp.services.accounts import create_user, find_user_by_email

SECRET_KEY = "test-secret-key-that-is-long-enough"
DECLARED = [option for provider in PROVIDERS.values() for option in provider.server_options]


@pytest.fixture
def empty_environment(monkeypatch, tmp_path):
    """No server option, no secret key in the environment; the instance folder an empty tmp dir."""
    for option in DECLARED:
        monkeypatch.delenv(option.name, raising=False)
    for name in ("SECRET_KEY", "DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("INSTANCE_PATH", str(tmp_path))
    return tmp_path


def in_memory_app(folder):
    return create_app({"SECRET_KEY": SECRET_KEY, "INSTANCE_PATH": str(folder), "SQLALCHEMY_DATABASE_URI": "sqlite://",
                       "REDIS_URL": "redis://127.0.0.1:1"})


def test_every_adapter_declares_the_options_it_always_had():
    names = {option.name for option in DECLARED}
    assert names == {"TWILIO_API_BASE_URL", "TWILIO_STATUS_POLL_AFTER_SECONDS", "OVH_API_BASE_URL",
                     "OVH_STATUS_POLL_AFTER_SECONDS", "OCTOPUSH_API_BASE_URL", "ODYSSEY_API_BASE_URL",
                     "NETOXYGEN_API_URL", "NETOXYGEN_STATUS_POLL_FIRST_SECONDS", "SIMULATOR_STATUS_POLL_AFTER_SECONDS"}
    assert len(names) == len(DECLARED)  # no two adapters claim the same variable


def test_declared_defaults_reach_the_adapter_when_the_environment_is_empty(empty_environment):
    settings = settings_from_environment({"SECRET_KEY": SECRET_KEY})
    assert settings["TWILIO_API_BASE_URL"] == "https://api.twilio.com"
    assert settings["TWILIO_STATUS_POLL_AFTER_SECONDS"] == 600.0
    assert settings["NETOXYGEN_API_URL"] == "https://sms.netoxygen.ch/api2/"
    assert settings["OVH_API_BASE_URL"] == ""
    assert settings["OVH_STATUS_POLL_AFTER_SECONDS"] == 900.0

    app = in_memory_app(empty_environment)
    with app.app_context():
        twilio = TwilioProvider({"account_sid": "AC1"}, None, phone_service.provider_options(TwilioProvider))
        assert twilio.api_url("/Messages.json") == "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages.json"
        assert twilio.status_poll_delays == (600.0, 1800.0, 7200.0, 43200.0)
        netoxygen = NetOxygenProvider({}, None, phone_service.provider_options(NetOxygenProvider))
        assert netoxygen.status_poll_delays[:3] == (30.0, 60.0, 120.0)
    # an adapter built without any options has its declared defaults too
    assert TwilioProvider({"account_sid": "AC1"}, None).status_poll_delays[0] == 600.0


def test_the_environment_overrides_a_declared_default(empty_environment, monkeypatch):
    monkeypatch.setenv("TWILIO_API_BASE_URL", "http://127.0.0.1:9/twilio/")
    monkeypatch.setenv("TWILIO_STATUS_POLL_AFTER_SECONDS", "2.5")
    monkeypatch.setenv("NETOXYGEN_STATUS_POLL_FIRST_SECONDS", "4")
    settings = settings_from_environment({"SECRET_KEY": SECRET_KEY})
    assert settings["TWILIO_STATUS_POLL_AFTER_SECONDS"] == 2.5  # typed by the declaration
    assert settings["NETOXYGEN_STATUS_POLL_FIRST_SECONDS"] == 4.0

    app = in_memory_app(empty_environment)
    with app.app_context():
        twilio = TwilioProvider({"account_sid": "AC1"}, None, phone_service.provider_options(TwilioProvider))
        assert twilio.api_url("/Messages.json") == "http://127.0.0.1:9/twilio/2010-04-01/Accounts/AC1/Messages.json"
        assert twilio.status_poll_delays == (2.5, 7.5, 30.0, 180.0)
        netoxygen = NetOxygenProvider({}, None, phone_service.provider_options(NetOxygenProvider))
        assert netoxygen.status_poll_delays[:2] == (4.0, 8.0)
        # an adapter is handed its own options and the timeouts, nobody else's, nor the secret key
        assert set(phone_service.provider_options(TwilioProvider)) == {
            "TWILIO_API_BASE_URL", "TWILIO_STATUS_POLL_AFTER_SECONDS", "PROVIDER_CONNECT_TIMEOUT",
            "PROVIDER_READ_TIMEOUT"}


def test_a_secret_key_file_is_made_only_when_no_key_is_given(empty_environment, monkeypatch):
    assert settings_from_environment({"SECRET_KEY": SECRET_KEY})["SECRET_KEY"] == SECRET_KEY
    monkeypatch.setenv("SECRET_KEY", "from-the-environment")
    assert settings_from_environment()["SECRET_KEY"] == "from-the-environment"
    assert list(empty_environment.iterdir()) == []

    monkeypatch.delenv("SECRET_KEY")
    made = settings_from_environment()["SECRET_KEY"]
    assert (empty_environment / "secret_key").read_text() == made
    assert settings_from_environment()["SECRET_KEY"] == made  # kept across restarts


def test_create_app_with_a_secret_key_writes_nothing_to_the_instance_folder(empty_environment):
    app = in_memory_app(empty_environment)
    assert list(empty_environment.iterdir()) == []
    with app.app_context():
        db.create_all()
        create_user("someone@example.org", "correct horse battery")
        db.session.remove()
    assert list(empty_environment.iterdir()) == []


def test_in_memory_sqlite_is_one_database_for_the_process(empty_environment):
    app = in_memory_app(empty_environment)
    with app.app_context():
        db.create_all()
        user = create_user("Someone@Example.org", "correct horse battery", is_admin=True)
        user_id = user.id
    with app.app_context():  # another app context, so another session and connection checkout
        found = find_user_by_email("someone@example.org")
        assert found is not None and found.id == user_id and found.is_admin
        assert found.check_password("correct horse battery")
