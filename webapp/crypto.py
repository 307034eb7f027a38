"""Phone secrets encrypted at rest with a key derived from SECRET_KEY."""
import base64
import functools
import json

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app

from .reasons import Reason


class SecretsUnreadable(RuntimeError):
    reason = Reason("The phone's saved credentials cannot be read: SECRET_KEY changed since they were "
                    "saved. Enter them again in the phone's settings.")

    def __init__(self):
        super().__init__("phone secrets cannot be decrypted: SECRET_KEY changed since they were saved")


PHONE_SECRETS = b"smsdesk-phone-secrets"
KEPT_SECRETS = b"smsdesk-kept-secrets"  # a key of its own: a kept secret's token is never a stored one
KEPT_SECRETS_SECONDS = 15 * 60


def _fernet(purpose: bytes = PHONE_SECRETS) -> Fernet:
    return _fernet_for(current_app.config["SECRET_KEY"], purpose)


@functools.lru_cache(maxsize=8)
def _fernet_for(secret_key: str, purpose: bytes) -> Fernet:
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=purpose, info=b"fernet").derive(secret_key.encode())
    return Fernet(base64.urlsafe_b64encode(derived))


def encrypt_secrets(values: dict) -> str:
    return _fernet().encrypt(json.dumps(values).encode()).decode()


def decrypt_secrets(token: str | None) -> dict:
    if not token:
        return {}
    try:
        return json.loads(_fernet().decrypt(token.encode()))
    except InvalidToken:
        raise SecretsUnreadable() from None


def seal_kept_secrets(values: dict, bound_to: str, at_time: int | None = None) -> str:
    """The secrets a user typed in a form that had an error, for the page to carry to the next try
    without showing them: readable only by open_kept_secrets with the same bound_to (user, provider,
    phone), for KEPT_SECRETS_SECONDS. at_time: when it is sealed, in Unix seconds (now by default)."""
    payload = json.dumps({"for": bound_to, "secrets": values}).encode()
    fernet = _fernet(KEPT_SECRETS)
    token = fernet.encrypt(payload) if at_time is None else fernet.encrypt_at_time(payload, at_time)
    return token.decode()


def open_kept_secrets(token: str | None, bound_to: str) -> dict:
    """The secrets seal_kept_secrets kept; nothing when the token is missing, altered, expired or
    sealed for another user, provider or phone."""
    if not token:
        return {}
    try:
        kept = json.loads(_fernet(KEPT_SECRETS).decrypt(token.encode(), ttl=KEPT_SECRETS_SECONDS))
    except (InvalidToken, ValueError):
        return {}
    if not isinstance(kept, dict) or kept.get("for") != bound_to or not isinstance(kept.get("secrets"), dict):
        return {}
    return {name: value for name, value in kept["secrets"].items() if isinstance(value, str)}
