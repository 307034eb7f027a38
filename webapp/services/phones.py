"""Phones: their adapters, settings, secrets and callback URLs."""
import threading
import time
from dataclasses import dataclass
from datetime import timedelta

from flask import current_app
from sqlalchemy import select, update

from ..crypto import SecretsUnreadable, decrypt_secrets, encrypt_secrets
from ..extensions import db
from ..models import Phone, new_callback_token, utcnow
from ..providers import provider_class
from ..providers.base import Provider, ProviderError
from ..providers.http import ProviderHttp
from ..reasons import Reason, stored
from . import public_address


def provider_http() -> ProviderHttp:
    extensions = current_app.extensions
    if "smsdesk_provider_http" not in extensions:
        extensions["smsdesk_provider_http"] = ProviderHttp(current_app.config["PROVIDER_CONNECT_TIMEOUT"],
                                                           current_app.config["PROVIDER_READ_TIMEOUT"])
    return extensions["smsdesk_provider_http"]


def adapter_for(phone: Phone) -> Provider:
    settings = dict(phone.settings or {})
    settings.update(decrypt_secrets(phone.encrypted_secrets))
    provider = provider_class(phone.provider_key)
    adapter = provider(settings=settings, http=provider_http(), options=provider_options(provider))
    adapter.asks = asks_provider(phone)
    return adapter


AUTOMATIC, ALWAYS, NEVER = "automatic", "always", "never"
POLLING_MODES = (AUTOMATIC, ALWAYS, NEVER)


def public_address_is_local() -> bool:
    return public_address.is_local()


def asking_modes() -> tuple[str, ...]:
    """The polling modes in which a phone asks its provider, at this server's public address."""
    return (ALWAYS, AUTOMATIC) if public_address_is_local() else (ALWAYS,)


def asks_provider(phone: Phone) -> bool:
    """Whether SMS Desk asks the phone's provider for delivery reports and incoming SMS rather than
    waiting to be told: a provider on the internet cannot tell a server at a local address."""
    if not provider_class(phone.provider_key).can_be_asked():  # e.g. no callbacks: asked anyway
        return False
    return (phone.polling_mode or AUTOMATIC) in asking_modes()


def provider_options(provider) -> dict:
    """The settings an adapter may read: the server options it declares and the timeouts, not SECRET_KEY."""
    declared = {option.name for option in provider.server_options}
    return {name: value for name, value in current_app.config.items()
            if name in declared or name.startswith("PROVIDER_")}


def user_phones(user) -> list[Phone]:
    """Sorted by name, whatever its case, as people read a list."""
    phones = db.session.scalars(select(Phone).where(Phone.user_id == user.id, Phone.deleted_at.is_(None))).all()
    return sorted(phones, key=lambda phone: (phone.name.casefold(), phone.id))


def sender_in_brief(phone: Phone) -> str:
    """The phone's number or sender name, shown beside its name; "" when its settings hold none."""
    return provider_class(phone.provider_key).sender_in_brief(phone.settings or {})


def phone_label(phone: Phone) -> str:
    sender = sender_in_brief(phone)
    return f"{phone.name} — {sender}" if sender and sender != phone.name else phone.name


def user_phone_or_none(user, phone_id: int) -> Phone | None:
    return db.session.scalar(select(Phone).where(Phone.id == phone_id, Phone.user_id == user.id,
                                                 Phone.deleted_at.is_(None)))


def phone_by_public_id(public_id: str) -> Phone | None:
    return db.session.scalar(select(Phone).where(Phone.public_id == public_id, Phone.deleted_at.is_(None)))


def callback_siblings(phone: Phone) -> list[Phone]:
    """The user's other phones whose provider sends their callbacks to the same URLs as this
    one's (the phones of one OVH service), so that whichever URLs are set, each phone's own
    reports and incoming SMS reach it."""
    provider = provider_class(phone.provider_key)
    scope = provider.callback_scope(phone.settings or {})
    if scope is None:
        return []
    others = db.session.scalars(select(Phone).where(
        Phone.user_id == phone.user_id, Phone.provider_key == phone.provider_key, Phone.id != phone.id,
        Phone.deleted_at.is_(None)).order_by(Phone.name)).all()
    return [other for other in others if provider.callback_scope(other.settings or {}) == scope]


def scope_ids_of(phone: Phone) -> tuple[int, ...]:
    """The phone's id, then its callback siblings'."""
    return (phone.id, *(sibling.id for sibling in callback_siblings(phone)))


def callback_scope_ids(phone_id: int, adapter: Provider) -> tuple[int, ...]:
    """scope_ids_of, without a look-up for providers whose phones each have their own callbacks."""
    if adapter.callback_scope(adapter.settings) is None:
        return (phone_id,)
    return scope_ids_of(db.session.get(Phone, phone_id))


@dataclass(frozen=True)
class ReceivingPhone:
    """The phone an incoming SMS is stored under (what record_inbound reads of it)."""
    id: int
    user_id: int


@dataclass(frozen=True)
class CallbackPhone:
    """What a callback needs of its phone, kept a moment per web process: a busy provider
    posts hundreds of reports a second to the same URL."""
    id: int
    user_id: int
    callback_token: str
    adapter: Provider
    scope_ids: tuple  # its id, then its callback siblings': reports are matched against all their messages
    receiving_numbers: tuple  # (normalized number, phone id) of the phones in scope that have one

    def receiving(self, inbound) -> ReceivingPhone:
        """The phone in scope whose number the SMS was sent to, if the provider says it; else this one."""
        if inbound.receiving_number:
            from .messages import normalized_sender
            number = normalized_sender(inbound.receiving_number)
            for candidate, phone_id in self.receiving_numbers:
                if candidate == number:
                    return ReceivingPhone(phone_id, self.user_id)
        return ReceivingPhone(self.id, self.user_id)


def callback_phone_of(phone: Phone) -> CallbackPhone:
    from .messages import normalized_sender
    provider = provider_class(phone.provider_key)
    scope = [phone, *callback_siblings(phone)]
    numbers = tuple((normalized_sender(number), member.id) for member in scope
                    if (number := provider.receiving_number(member.settings or {})))
    return CallbackPhone(phone.id, phone.user_id, phone.callback_token, adapter_for(phone),
                         tuple(member.id for member in scope), numbers)


CALLBACK_PHONE_SECONDS = 2.0  # how long another web process may take to see a new token or setting


def callback_phone(public_id: str) -> CallbackPhone | None:
    cache = current_app.extensions.setdefault("smsdesk_callback_phones", {})
    cached = cache.get(public_id)
    if still_fresh(cached):
        return cached[0]
    # One look-up at a time per process: when the copy expired under load, every request thread
    # looked the phone up at once. Meanwhile the others use the copy of a moment ago.
    looking_up = current_app.extensions.setdefault("smsdesk_callback_phone_lookup", threading.Lock())
    if not looking_up.acquire(blocking=cached is None):
        return cached[0]
    try:
        cached = cache.get(public_id)
        if still_fresh(cached):
            return cached[0]  # looked up by the thread this one waited for
        phone = phone_by_public_id(public_id)
        found = phone and callback_phone_of(phone)
        if len(cache) > 1000:
            cache.clear()
        cache[public_id] = (found, time.monotonic())
        return found
    finally:
        looking_up.release()


def still_fresh(cached: tuple[CallbackPhone | None, float] | None) -> bool:
    return cached is not None and time.monotonic() - cached[1] < CALLBACK_PHONE_SECONDS


def forget_callback_phone(phone: Phone) -> None:
    """This process sees the change at once; the others within CALLBACK_PHONE_SECONDS."""
    current_app.extensions.get("smsdesk_callback_phones", {}).pop(phone.public_id, None)


def forget_callback_phones() -> None:
    """After a phone's settings change: its siblings' copies hold it too."""
    current_app.extensions.get("smsdesk_callback_phones", {}).clear()


CALLBACK_KINDS = ("status", "inbound")


def callback_url(phone: Phone, kind: str) -> str:
    # built by hand rather than with url_for, because workers have no request to build from
    return (f"{public_address.current_public_base_url()}/callbacks/"
            f"{phone.public_id}/{phone.callback_token}/{kind}")


def public_base_url_is_loopback() -> bool:
    from urllib.parse import urlsplit
    host = urlsplit(public_address.current_public_base_url()).hostname or ""
    return host in ("localhost", "::1") or host.startswith("127.") or host.endswith(".localhost")


def saved_secret_names(phone: Phone) -> set[str]:
    """The names of the secrets saved for the phone (never their values); none when unreadable."""
    try:
        return set(decrypt_secrets(phone.encrypted_secrets))
    except SecretsUnreadable:
        return set()


def save_phone(phone: Phone, name: str, rate_limit_per_second, values: dict, polling_mode: str | None = None) -> Phone:
    """Stores the form's values; a secret left blank keeps the one already stored."""
    fields = provider_class(phone.provider_key).fields
    secrets = decrypt_secrets(phone.encrypted_secrets)
    settings = {}
    for field in fields:
        value = values.get(field.name)
        if field.secret:
            if value:
                secrets[field.name] = value
        else:
            settings[field.name] = value or ""
    phone.name = name
    phone.rate_limit_per_second = rate_limit_per_second or None
    if polling_mode in POLLING_MODES:
        phone.polling_mode = polling_mode
        phone.next_inbound_poll_at = None  # a mode just chosen applies at the next sweep
    phone.settings = settings
    phone.encrypted_secrets = encrypt_secrets(secrets) if secrets else None
    if phone.id is None:
        db.session.add(phone)
    db.session.commit()
    forget_callback_phones()
    return phone


def rotate_callback_token(phone: Phone) -> None:
    phone.callback_token = new_callback_token()
    db.session.commit()
    forget_callback_phone(phone)


def delete_phone(phone: Phone) -> None:
    """Hides the phone, silences its callback URLs and cancels what it has not sent yet; its
    messages stay in the history."""
    from ..models import Message
    from .status_store import cancel_unsent_of_phone
    from .pools import move_off_deleted_phone
    phone.deleted_at = utcnow()
    phone.callback_token = new_callback_token()
    db.session.flush()
    move_off_deleted_phone(phone.id)
    cancel_unsent_of_phone(phone.id, Reason("Its phone was deleted."))
    db.session.execute(update(Message).where(Message.phone_id == phone.id).values(next_status_poll_at=None)
                       .execution_options(synchronize_session=False))
    db.session.commit()
    forget_callback_phones()


LAST_CALLBACK_PRECISION = timedelta(seconds=30)


def note_callback_received(phone_ids: tuple[int, ...], kind: str, sender: str | None = None) -> None:
    """For the called phone and those whose callbacks land with its own (they came for all of
    them). To the half minute, and at most that often per web process: writing it on every
    callback would double the writes of a busy phone. The first callback a phone gets is kept
    (its kind, "status" or "inbound", and an SMS's sender): the first one a process sees is always
    written. Commits."""
    written = current_app.extensions.setdefault("smsdesk_last_callback_written", {})
    now = utcnow()
    if phone_ids in written and now - written[phone_ids] < LAST_CALLBACK_PRECISION:
        return
    written[phone_ids] = now
    db.session.execute(update(Phone).where(Phone.id.in_(phone_ids)).values(last_callback_at=now)
                       .execution_options(synchronize_session=False))
    db.session.execute(update(Phone).where(Phone.id.in_(phone_ids), Phone.first_callback_at.is_(None))
                       .values(first_callback_at=now, first_callback_kind=kind, first_callback_from=sender)
                       .execution_options(synchronize_session=False))
    db.session.commit()


def record_provider_check(phone: Phone, ask) -> None:
    """Runs in the worker: `ask(adapter)` talks to the provider and returns a sentence for the
    phone's page; a ProviderError's reason is shown instead."""
    try:
        phone.last_check_message = stored(ask(adapter_for(phone)))
        phone.last_check_ok = True
    except ProviderError as error:
        phone.last_check_message = stored(error.reason)
        phone.last_check_ok = False
    except SecretsUnreadable as error:
        db.session.rollback()
        phone.last_check_message, phone.last_check_ok = stored(error.reason), False
    except Exception:  # the page waits for an answer: never leave it waiting
        db.session.rollback()
        current_app.logger.exception("checking phone %s failed", phone.id)
        phone.last_check_message, phone.last_check_ok = stored(Reason("internal error")), False
    phone.last_check_at = utcnow()
    db.session.commit()


def record_connection_check(phone: Phone) -> None:
    def check(adapter):
        sentence = adapter.check_connection()
        phone.last_check_facts = {stored(label): value for label, value in adapter.account_facts().items()} or None
        return sentence
    record_provider_check(phone, check)


def record_callback_installation(phone: Phone) -> None:
    def install(adapter):
        installed = adapter.install_callbacks(callback_url(phone, "status"), callback_url(phone, "inbound"))
        siblings = callback_siblings(phone)
        if not siblings:
            return installed
        return Reason("%(installed)s These addresses also carry the delivery reports and incoming SMS of "
                      "%(phones)s, on the same service: SMS Desk gives each phone its own, so all of them keep "
                      "working.",
                      installed=installed, phones=", ".join(f"“{sibling.name}”" for sibling in siblings))
    record_provider_check(phone, install)


def callbacks_at_provider(phone: Phone) -> dict:
    """Runs in the worker, for the page that confirms a callback installation: what the provider holds
    now, {"callbacks": [[stored label, current URL, kind of ours]]}, or {"error": stored reason}. Our
    URLs are not in it: the answer waits in the broker, and they are made from the phone when shown."""
    try:
        held = adapter_for(phone).installed_callbacks()
    except (ProviderError, SecretsUnreadable) as error:
        return {"error": stored(error.reason)}
    return {"callbacks": [[stored(label), current, kind] for label, current, kind in held]}


def request_provider_check(phone: Phone, ask_worker) -> None:
    """Clears the last result, so that the page waits for the new one, and asks the worker:
    ask_worker(phone id) is one of webapp.tasks'."""
    phone.last_check_at = None
    phone.last_check_ok = None
    phone.last_check_message = None
    phone.last_check_facts = None
    db.session.commit()
    ask_worker(phone.id)


def check_numbers_at_provider(phone: Phone, typed_numbers: list[str]) -> list:
    """[[typed, cleaned or None, stored reason or None]]"""
    adapter = adapter_for(phone)
    checked = []
    for typed in typed_numbers[:50]:
        try:
            checked.append([typed, adapter.clean_number(typed), None])
        except ProviderError as error:
            checked.append([typed, None, stored(error.reason)])
    return checked
