"""The server's public address, the one providers call: which one is in effect, where it comes
from, and what it tells about who can reach it."""
import ipaddress
from urllib.parse import urlsplit

from flask import current_app

from ..extensions import db
from ..models import Setting

SETTING_NAME = "public_base_url"


class InvalidAddress(ValueError):
    pass


def is_local_address(url: str | None) -> bool:
    """Whether a provider on the internet cannot reach this address: loopback, a private range,
    a link-local one, localhost or a .local/.localhost name."""
    host = (urlsplit(url or "").hostname or "").rstrip(".").lower()
    if not host or host == "localhost" or host.endswith((".localhost", ".local", ".lan", ".home.arpa")):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return "." not in host  # a bare machine name, e.g. http://raspberrypi:8000
    return address.is_private or address.is_loopback or address.is_link_local or address.is_unspecified


def set_by_environment() -> bool:
    return bool(current_app.config.get("PUBLIC_BASE_URL_FIXED"))


def saved_public_base_url() -> str | None:
    setting = db.session.get(Setting, SETTING_NAME)
    return setting.value if setting else None


def current_public_base_url() -> str:
    """The address in effect, without a trailing slash: PUBLIC_BASE_URL when the environment sets
    it, else the one the administrator saved, else the local default."""
    if not set_by_environment():
        saved = saved_public_base_url()
        if saved:
            return saved
    return current_app.config["PUBLIC_BASE_URL"].rstrip("/")


def is_local() -> bool:
    return is_local_address(current_public_base_url())


def is_https() -> bool:
    return current_public_base_url().startswith("https://")


def normalized(url: str) -> str:
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidAddress(url)
    if parts.query or parts.fragment or parts.username or parts.password:
        raise InvalidAddress(url)
    try:
        parts.port
    except ValueError:
        raise InvalidAddress(url) from None
    return url.rstrip("/")


def save_public_base_url(url: str | None) -> str | None:
    """Saves the address (an empty one forgets it, back to the default). Raises InvalidAddress."""
    setting = db.session.get(Setting, SETTING_NAME)
    if not (url or "").strip():
        if setting is not None:
            db.session.delete(setting)
        db.session.commit()
        return None
    value = normalized(url)
    if setting is None:
        db.session.add(Setting(name=SETTING_NAME, value=value))
    else:
        setting.value = value
    db.session.commit()
    return value
