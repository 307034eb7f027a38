"""Settings read from the environment, with defaults that need no configuration."""
import os
import secrets
from datetime import timedelta
from collections.abc import Mapping
from pathlib import Path

from .private_files import make_private_folder, write_private_file
from .providers import PROVIDERS

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_INSTANCE_PATH = PROJECT_ROOT / "instance"


def instance_path() -> Path:
    return Path(os.environ.get("INSTANCE_PATH", DEFAULT_INSTANCE_PATH)).resolve()


def load_or_create_secret_key(folder: Path) -> str:
    """The key is generated once and kept beside the database, so sessions and
    encrypted phone secrets survive restarts."""
    key_file = folder / "secret_key"
    if not key_file.exists():
        make_private_folder(folder)
        write_private_file(key_file, secrets.token_urlsafe(48))
    return key_file.read_text().strip()


def embedded_broker_socket(folder: Path) -> Path:
    return folder / "broker.sock"


def _float(name, default):
    return float(os.environ.get(name, default))


def _int(name, default):
    return int(os.environ.get(name, default))


def provider_timeouts() -> dict:
    """Connect and read: together, the overall deadline of a provider request (webapp/providers/http.py)."""
    return {"PROVIDER_CONNECT_TIMEOUT": _float("PROVIDER_CONNECT_TIMEOUT", 5.0),
            "PROVIDER_READ_TIMEOUT": _float("PROVIDER_READ_TIMEOUT", 30.0)}


def provider_server_options() -> dict:
    """Each adapter's declared server options (base URLs, poll delays): the environment's or the default."""
    return {option.name: option.value(os.environ)
            for provider in PROVIDERS.values() for option in provider.server_options}


def settings_from_environment(given: Mapping | None = None) -> dict:
    """The settings, `given` (create_app's mapping) winning over the environment. The secret key
    file is read, or made, only when neither gives a SECRET_KEY."""
    folder = instance_path()
    settings = {
        "INSTANCE_PATH": str(folder),
        "SECRET_KEY": os.environ.get("SECRET_KEY"),
        "SQLALCHEMY_DATABASE_URI": os.environ.get("DATABASE_URL")
        or f"sqlite:///{folder / 'smsdesk.sqlite'}",
        "REDIS_URL": os.environ.get("REDIS_URL")
        or f"unix://{embedded_broker_socket(folder)}",
        "PUBLIC_BASE_URL": os.environ.get("PUBLIC_BASE_URL")
        or f"http://127.0.0.1:{os.environ.get('PORT', '5000')}",
        "DEFAULT_PHONE_REGION": os.environ.get("DEFAULT_PHONE_REGION", "FR"),
        "SEND_CONCURRENCY": _int("SEND_CONCURRENCY", 256),
        "SEND_MAX_ATTEMPTS": _int("SEND_MAX_ATTEMPTS", 5),
        "SEND_RETRY_BASE_SECONDS": _float("SEND_RETRY_BASE_SECONDS", 2.0),
        **provider_timeouts(),
        "SWEEP_INTERVAL_SECONDS": _float("SWEEP_INTERVAL_SECONDS", 5.0),
        "WORKER_HEARTBEAT_TTL_SECONDS": _float("WORKER_HEARTBEAT_TTL_SECONDS", 15.0),
        "REQUEUE_AFTER_SECONDS": _float("REQUEUE_AFTER_SECONDS", 5.0),
        # a message held here for later that the sweep finds this late (SMS Desk was stopped at its
        # time) is held for the user to send or cancel, rather than sent hours late
        "SCHEDULED_HOLD_AFTER_SECONDS": _float("SCHEDULED_HOLD_AFTER_SECONDS", 3600.0),
        "INBOUND_POLL_SECONDS": _float("INBOUND_POLL_SECONDS", 30.0),
        # outbound webhooks (webapp/services/webhooks.py)
        "WEBHOOK_TIMEOUT_SECONDS": _float("WEBHOOK_TIMEOUT_SECONDS", 10.0),
        "WEBHOOK_RETRY_BASE_SECONDS": _float("WEBHOOK_RETRY_BASE_SECONDS", 5.0),
        "WEBHOOK_DISPATCH_SECONDS": _float("WEBHOOK_DISPATCH_SECONDS", 0.5),
        # 1: endpoints may be on loopback, private or reserved addresses (an install posting to its own network)
        "WEBHOOK_ALLOW_PRIVATE_ADDRESSES": os.environ.get("WEBHOOK_ALLOW_PRIVATE_ADDRESSES", ""),
        **provider_server_options(),
        # a page's forms; callbacks have their own, smaller limit (webapp/security.py)
        "MAX_CONTENT_LENGTH": _int("MAX_CONTENT_LENGTH", 2 * 1024 * 1024),
        # a CSV of contacts to import (about 400,000 rows of name, number and two fields)
        "CONTACT_IMPORT_MAX_BYTES": _int("CONTACT_IMPORT_MAX_BYTES", 20 * 1024 * 1024),
        "LOGIN_RATE_LIMIT": os.environ.get("LOGIN_RATE_LIMIT", "10 per minute"),
        "LOGIN_ACCOUNT_RATE_LIMIT": os.environ.get("LOGIN_ACCOUNT_RATE_LIMIT", "30 per minute"),
        # calls per API key (webapp/api)
        "API_RATE_LIMIT": os.environ.get("API_RATE_LIMIT", "600 per minute"),
        # requests for a password reset e-mail, per address and e-mail, and per e-mail from any address
        "PASSWORD_RESET_RATE_LIMIT": os.environ.get("PASSWORD_RESET_RATE_LIMIT", "5 per hour"),
        "PASSWORD_RESET_ACCOUNT_RATE_LIMIT": os.environ.get("PASSWORD_RESET_ACCOUNT_RATE_LIMIT", "10 per hour"),
        # smtp://user:pass@host:587 (STARTTLS), smtps://user:pass@host:465 (TLS); unset: no e-mail is sent
        "SMTP_URL": os.environ.get("SMTP_URL", ""),
        "MAIL_FROM": os.environ.get("MAIL_FROM", ""),
        # a file holding the time limits and quotas count by (webapp/clock.py): for end-to-end tests only
        "CLOCK_FILE": os.environ.get("CLOCK_FILE", ""),
        "TRUSTED_PROXIES": os.environ.get("TRUSTED_PROXIES", ""),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_DURATION": timedelta(days=30),
        # senders hold no connection while a provider answers; the pool serves the job loop, the
        # recorder, the sweeps and rate-limited sends
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_size": 10, "max_overflow": 20},
        "BABEL_DEFAULT_LOCALE": os.environ.get("DEFAULT_LOCALE", "en"),
        "LANGUAGES": ["en", "fr"],
        "WTF_CSRF_TIME_LIMIT": None,
        # Werkzeug's method string; not read from the environment: only the tests lower its cost
        "PASSWORD_HASH_METHOD": "scrypt",
    }
    settings.update(given or {})
    # set by the environment (or create_app's mapping), it wins over the one saved on the settings page
    settings.setdefault("PUBLIC_BASE_URL_FIXED",
                        bool(os.environ.get("PUBLIC_BASE_URL")) or "PUBLIC_BASE_URL" in (given or {}))
    reached_over_https = settings["PUBLIC_BASE_URL"].startswith("https://")
    for cookie_setting in ("SESSION_COOKIE_SECURE", "REMEMBER_COOKIE_SECURE"):
        settings.setdefault(cookie_setting, reached_over_https)
    if not settings["SECRET_KEY"]:
        settings["SECRET_KEY"] = load_or_create_secret_key(folder)
    return settings
