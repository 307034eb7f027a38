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


def _fernet() -> Fernet:
    return _fernet_for(current_app.config["SECRET_KEY"])


@functools.lru_cache(maxsize=4)
def _fernet_for(secret_key: str) -> Fernet:
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"smsdesk-phone-secrets",
                   info=b"fernet").derive(secret_key.encode())
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
