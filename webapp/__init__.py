"""SMS Desk: a self-hosted SMS dashboard."""
import time
from pathlib import Path

from flask import Flask, has_request_context, request
from flask_login import current_user
from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.pool import Pool, StaticPool

from . import log_masking, private_files
from .config import PROJECT_ROOT, settings_from_environment
from .extensions import babel, csrf, db, limiter, login_manager, migrate


def select_locale():
    if not has_request_context():
        return None  # workers and commands speak the default language
    from .api.auth import api_locale, is_api
    if is_api():
        return api_locale()
    if current_user and current_user.is_authenticated and current_user.locale:
        return current_user.locale
    from flask import current_app
    return request.accept_languages.best_match(current_app.config["LANGUAGES"])


def select_timezone():
    if not has_request_context():
        return None
    if current_user and current_user.is_authenticated and current_user.timezone:
        return current_user.timezone
    return None


def create_app(config: dict | None = None) -> Flask:
    log_masking.install()
    settings = settings_from_environment(config)
    if _in_memory_sqlite(settings["SQLALCHEMY_DATABASE_URI"]):
        # each connection to sqlite:// is a new, empty database: one shared connection makes it the process's
        settings["SQLALCHEMY_ENGINE_OPTIONS"] = {"poolclass": StaticPool,
                                                 "connect_args": {"check_same_thread": False}}
    app = Flask(__name__, instance_path=settings["INSTANCE_PATH"],
                template_folder=str(PROJECT_ROOT / "templates"), static_folder=str(PROJECT_ROOT / "static"))
    app.config.update(settings)
    private_files.tighten(Path(app.instance_path), private_files.PRIVATE_FOLDER)  # installs made before it was
    from .ids import RowIdConverter
    app.url_map.converters["int"] = RowIdConverter  # before any route is added
    from . import broker
    app.config.setdefault("RATELIMIT_STORAGE_URI", broker.limiter_storage_uri(app.config["REDIS_URL"]))
    app.config.setdefault("RATELIMIT_IN_MEMORY_FALLBACK_ENABLED", True)
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", str(PROJECT_ROOT / "webapp" / "translations"))
    app.config.setdefault("BABEL_DEFAULT_TIMEZONE", "Europe/Paris")

    db.init_app(app)
    migrate.init_app(app, db, directory=str(PROJECT_ROOT / "migrations"), render_as_batch=True)
    login_manager.init_app(app)
    csrf.init_app(app)
    babel.init_app(app, locale_selector=select_locale, timezone_selector=select_timezone)
    limiter.init_app(app)

    from . import models  # noqa: F401  (tables known to migrations)
    from .auth.routes import bp as auth_bp
    from .admin.routes import bp as admin_bp
    from .phones.routes import bp as phones_bp
    from .messages.routes import bp as messages_bp
    from .callbacks.routes import bp as callbacks_bp
    from .main.routes import bp as main_bp
    from .contacts.routes import bp as contacts_bp
    from .optouts.routes import bp as optouts_bp
    from .webhooks.routes import bp as webhooks_bp
    from .campaigns.routes import bp as campaigns_bp
    from .statistics.routes import bp as statistics_bp
    for blueprint in (auth_bp, admin_bp, phones_bp, messages_bp, callbacks_bp, main_bp, contacts_bp, optouts_bp,
                      webhooks_bp, campaigns_bp, statistics_bp):
        app.register_blueprint(blueprint)
    csrf.exempt(callbacks_bp)
    from . import api
    api.init_app(app)
    from .callbacks.routes import SessionlessCallbacks
    app.session_interface = SessionlessCallbacks()
    from .proxies import TrustedProxies, trusted_networks
    app.wsgi_app = TrustedProxies(app.wsgi_app, trusted_networks(app.config["TRUSTED_PROXIES"]))

    from . import cli, errors, security, templating
    from .services import status_store
    status_store.init_app(app)
    cli.init_app(app)
    errors.init_app(app)
    security.init_app(app)
    templating.init_app(app)
    return app


def _in_memory_sqlite(url) -> bool:
    url = make_url(url)
    return url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:")


IDLE_SECONDS_BEFORE_PING = 10.0


@event.listens_for(Pool, "checkin")
def _note_idle_since(_dbapi_connection, record):
    record.info["idle_since"] = time.monotonic()


@event.listens_for(Pool, "checkout")
def _ping_after_idle(dbapi_connection, record, _proxy):
    """SQLAlchemy's pool_pre_ping asks the server at every checkout: a round trip per request
    and per callback batch, which cost PostgreSQL callbacks a third of their rate. A connection
    in use a moment ago is alive; one idle for a while (the server may have restarted) is asked."""
    idle_since = record.info.get("idle_since")
    if idle_since is None or time.monotonic() - idle_since < IDLE_SECONDS_BEFORE_PING:
        return
    try:
        cursor = dbapi_connection.cursor()
        cursor.execute("SELECT 1")
        cursor.close()
        dbapi_connection.rollback()
    except Exception as error:
        raise DisconnectionError("the pooled connection is gone") from error  # the pool connects anew


@event.listens_for(Engine, "connect")
def _tune_sqlite(dbapi_connection, _record):
    if type(dbapi_connection).__module__.startswith("sqlite3"):
        cursor = dbapi_connection.cursor()
        # before WAL: SQLite gives the -wal and -shm files it creates the database file's mode
        private_files.tighten_sqlite_files(cursor.execute("PRAGMA database_list").fetchone()[2])
        # WAL lets the web app read while workers write; busy_timeout makes writers wait their turn
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()
