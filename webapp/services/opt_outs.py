"""Opt-outs: the numbers that no longer want the user's SMS, however they said so (a STOP keyword
on any phone, a provider's notice or error, the user's own list or an import), and the numbers'
START that removes them. Each one created or removed writes its outbox event in its transaction.

Enforced twice: compose leaves opted-out numbers out, and the worker cancels a message whose number's
opt-out was recorded after it was composed (a message composed after the opt-out was confirmed by
the user, or is a confirmation reply, and goes).
"""
import csv
import io
import logging
import re
from dataclasses import dataclass, field
from datetime import datetime

import phonenumbers
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, func, or_, select
from sqlalchemy.exc import IntegrityError

from redis.exceptions import RedisError

from .. import statuses, tasks
from ..extensions import db
from ..folding import folded
from ..models import Message, OptOut, OutboxEvent, User, utcnow
from ..numbers import InvalidNumber, to_e164
from ..providers.base import OptOutNotice
from ..reasons import N_, Reason, stored
from . import contacts, messages, quotas, status_store
from .reports import find_by_provider_id
from .status_store import Line, payload_text

DEFAULT_STOP_KEYWORDS = ("STOP", "STOP SMS", "ARRET", "ARRÊT", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT",
                         "DESABONNER")
DEFAULT_START_KEYWORDS = ("START", "UNSTOP", "YES")
DEFAULT_STOP_REPLY = N_("You will no longer receive our SMS. Reply START to subscribe again.")
DEFAULT_START_REPLY = N_("You will receive our SMS again. Reply STOP to unsubscribe.")
OPTED_OUT_ON = N_("Opted out on %(date)s.")
SOURCES = {OptOut.KEYWORD: _l("STOP keyword"), OptOut.PROVIDER: _l("provider notice"),
           OptOut.MANUAL: _l("added by hand"), OptOut.IMPORT: _l("import")}
PAGE_SIZE = 50
log = logging.getLogger(__name__)
MAX_IMPORT_ERRORS_SHOWN = 20
IMPORT_CHUNK = 500  # numbers looked up at once


def keyword_form(text: str) -> str:
    """STOP, « Stop ! », stop sms and ARRÊT as the same words: trimmed, accents and case gone,
    punctuation ignored."""
    return " ".join(re.sub(r"[^\w\s]|_", " ", folded(text or "")).split())


# ---- the user's settings ----

@dataclass
class OptOutSettings:
    stop_keywords: list[str] = field(default_factory=lambda: list(DEFAULT_STOP_KEYWORDS))
    start_keywords: list[str] = field(default_factory=lambda: list(DEFAULT_START_KEYWORDS))
    confirm: bool = False  # answer each change with a reply, through the phone that received it
    stop_reply: str = ""  # blank: the default, in the user's language when saved
    start_reply: str = ""

    def action_of(self, text: str) -> str | None:
        """'stop', 'start' or None for an incoming SMS's text."""
        said = keyword_form(text)
        if not said:
            return None
        if said in {keyword_form(keyword) for keyword in self.stop_keywords}:
            return "stop"
        if said in {keyword_form(keyword) for keyword in self.start_keywords}:
            return "start"
        return None


def settings_of(user_id: int) -> OptOutSettings:
    stored = db.session.scalar(select(User.opt_out_settings).where(User.id == user_id)) or {}
    known = OptOutSettings.__dataclass_fields__
    return OptOutSettings(**{name: value for name, value in stored.items() if name in known})


def save_settings(user: User, settings: OptOutSettings) -> None:
    user.opt_out_settings = dict(stop_keywords=settings.stop_keywords, start_keywords=settings.start_keywords,
                                 confirm=settings.confirm, stop_reply=settings.stop_reply,
                                 start_reply=settings.start_reply)
    db.session.commit()


def keyword_list(typed: str) -> list[str]:
    """Keywords typed one per line or separated by commas, each kept once."""
    kept = {}
    for keyword in re.split(r"[,\n]", typed or ""):
        if keyword_form(keyword):
            kept.setdefault(keyword_form(keyword), " ".join(keyword.split()))
    return list(kept.values())


# ---- recording and removing ----

def record(user_id: int, number: str, source: str, phone_id: int | None = None, at: datetime | None = None,
           original_text: str | None = None, payload=None) -> OptOut | None:
    """Kept once per user, with the first date it was seen; commits. Returns the opt-out written,
    None when the number had opted out already."""
    if opt_out_of(user_id, number) is not None:
        return None
    opt_out = add(user_id, number, source, phone_id, at, original_text, payload)
    try:
        db.session.commit()
    except IntegrityError:  # the same STOP reported twice at once
        db.session.rollback()
        return None
    cancel_held_by_providers(opt_out)
    return opt_out


def cancel_held_by_providers(opt_out: OptOut) -> None:
    """Messages composed before the opt-out that a provider holds for a later date: it is asked to
    cancel them (those still queued here are canceled when the worker comes to them)."""
    held = db.session.scalars(select(Message).where(
        Message.user_id == opt_out.user_id, Message.remote_number == opt_out.number,
        Message.direction == Message.OUTBOUND, Message.status == statuses.SCHEDULED,
        Message.created_at < opt_out.recorded_at)).all()
    for message in held:
        if not messages.held_for_later_by_provider(message):
            continue
        status_store.note(message.id, Line(opted_out_on(opt_out.opted_out_at)))
        db.session.commit()
        try:
            tasks.cancel_at_provider(message.id)
        except RedisError as error:
            log.warning("could not ask to cancel message %d, whose number opted out: %s", message.id, error)


def add(user_id, number, source, phone_id=None, at=None, original_text=None, payload=None) -> OptOut:
    """Writes the opt-out and its outbox event; does not commit."""
    now = utcnow()
    opt_out = OptOut(user_id=user_id, phone_id=phone_id, number=number, opted_out_at=at or now, recorded_at=now,
                     source=source,
                     original_text=status_store.cut_to_size(original_text) if original_text else None,
                     payload=payload_text(payload))
    db.session.add(opt_out)
    status_store.record_event(OutboxEvent.OPT_OUT_CREATED, user_id, at=opt_out.opted_out_at,
                              data={"number": number, "phone_id": phone_id, "source": source})
    return opt_out


def remove(user_id: int, number: str) -> bool:
    """The number may receive the user's SMS again; commits. False when it had not opted out."""
    removed = delete_opt_out(user_id, number)
    db.session.commit()
    return removed


def delete_opt_out(user_id: int, number: str) -> bool:
    """With its outbox event; does not commit."""
    removed = db.session.execute(delete(OptOut).where(OptOut.user_id == user_id, OptOut.number == number)
                                 .execution_options(synchronize_session=False)).rowcount
    if removed:
        status_store.record_event(OutboxEvent.OPT_OUT_REMOVED, user_id, data={"number": number})
    return bool(removed)


def opt_out_of(user_id: int, number: str) -> OptOut | None:
    return db.session.scalar(select(OptOut).where(OptOut.user_id == user_id, OptOut.number == number))


def opted_out_numbers(user_id: int, numbers: list[str]) -> dict[str, OptOut]:
    return {opt_out.number: opt_out for opt_out in db.session.scalars(select(OptOut).where(
        OptOut.user_id == user_id, OptOut.number.in_(numbers)))}


def opted_out_numbers_among(user_id: int, numbers: list[str]) -> set[str]:
    """The numbers among these that opted out, for a campaign's thousands: a long list is compared
    with the user's whole opt-out list, read once, rather than sent to the database."""
    if not numbers:
        return set()
    if len(numbers) > 1000:
        return set(db.session.scalars(select(OptOut.number).where(OptOut.user_id == user_id))) & set(numbers)
    return set(db.session.scalars(select(OptOut.number).where(OptOut.user_id == user_id,
                                                               OptOut.number.in_(numbers))))


def record_notice(phone, notice: OptOutNotice) -> None:
    """A provider told us the number replied STOP. `phone`: a Phone or a callback's phone (its id
    and user_id are read)."""
    record(phone.user_id, messages.normalized_sender(notice.number), OptOut.PROVIDER, phone.id,
           at=notice.opted_out_at, original_text=notice.text, payload=notice.payload)


def record_refusal(user_id: int, phone_id: int, number: str, error_code: str | None, reason) -> None:
    """A provider refused or failed a message because its recipient opted out with the provider
    (Twilio's 21610, Octopush's BLACKLISTED_NUMBER)."""
    record(user_id, number, OptOut.PROVIDER, phone_id, original_text=stored(reason) or error_code)


def record_reported_refusals(phone, events: list) -> None:
    """Reports that failed a message because its recipient opted out with the provider
    (Octopush's BLACKLISTED_NUMBER). `phone`: a callback's phone."""
    for event in events:
        if event.error_code not in phone.adapter.opted_out_error_codes:
            continue
        number = messages.normalized_sender(event.recipient) if event.recipient else None
        if number is None:
            message = find_by_provider_id(phone.id, Message.OUTBOUND, event.provider_message_id)
            number = message.remote_number if message is not None else None
        if number is not None:
            record_refusal(phone.user_id, phone.id, number, event.error_code, event.reason)


@dataclass(frozen=True)
class KeywordChange:
    """What an incoming SMS's keyword changed, to finish once its transaction is committed."""
    action: str  # "stop" or "start"
    opt_out: OptOut | None  # the one it wrote, for a stop
    settings: OptOutSettings


def apply_keyword(phone, message: Message) -> KeywordChange | None:
    """An incoming SMS that says one of the user's STOP or START keywords records or removes its
    number's opt-out, in the SMS's transaction (a provider that posts the SMS again finds both
    or neither). Does not commit; None when it changed nothing."""
    settings = settings_of(phone.user_id)
    action = settings.action_of(message.body)
    if action == "stop" and opt_out_of(phone.user_id, message.remote_number) is None:
        return KeywordChange(action, add(phone.user_id, message.remote_number, OptOut.KEYWORD, phone.id,
                                         original_text=message.body), settings)
    if action == "start" and delete_opt_out(phone.user_id, message.remote_number):
        return KeywordChange(action, None, settings)
    return None


def finish_keyword_change(phone, message: Message, change: KeywordChange) -> None:
    """Once committed: what a provider holds for the number is canceled, and the change is
    confirmed with a reply through the phone that got it, if the user asked for one."""
    if change.opt_out is not None:
        cancel_held_by_providers(change.opt_out)
    if change.settings.confirm and is_a_number(message.remote_number):
        stop = change.action == "stop"
        text = change.settings.stop_reply if stop else change.settings.start_reply
        try:
            messages.queue_outbound(phone, [message.remote_number],
                                    text or _(DEFAULT_STOP_REPLY if stop else DEFAULT_START_REPLY))
        except quotas.QuotaExceeded:
            log.info("no %s reply to %s: the quota is used up", change.action, message.remote_number)


def is_a_number(remote: str) -> bool:
    return remote.startswith("+")


# ---- at send time ----

def opted_out_on(at: datetime) -> Reason:
    return Reason(OPTED_OUT_ON, date=at.strftime("%Y-%m-%d"))


def cancel_opted_out_since_composed(message_ids: list[int]) -> list[int]:
    """Queued messages whose number's opt-out was learnt after they were composed (compose could
    not leave them out) are canceled, saying when it opted out; returns the ids left to send.
    Does not commit."""
    rows = db.session.execute(select(Message, OptOut.opted_out_at).join(OptOut, (OptOut.user_id == Message.user_id) & (
        OptOut.number == Message.remote_number)).where(
        Message.id.in_(message_ids), Message.status == statuses.QUEUED,
        OptOut.recorded_at > Message.created_at)).all()
    canceled = set()
    for message, opted_out_at in rows:
        reason = opted_out_on(opted_out_at)
        if status_store.move(message, statuses.CANCELED, by=statuses.PIPELINE, expected=statuses.QUEUED,
                             line=Line(reason), error_reason=reason):
            canceled.add(message.id)
    return [message_id for message_id in message_ids if message_id not in canceled]


# ---- the list page ----

def contact_names(user_id: int, numbers: list[str]) -> dict[str, str]:
    """{number: contact name} of the user's contacts among these numbers."""
    return contacts.names_by_number(user_id, numbers)


def numbers_like(search: str, region: str) -> list:
    """A search typed as the start of a number finds the numbers that start so, in E.164: 0612 (national,
    read in `region`), 0033612 or +33 6 12 find +33612…, not +33630612…. Any text is also looked for
    in the number and in the original message."""
    typed = search.strip()
    in_text = func.lower(OptOut.original_text).contains(typed.lower(), autoescape=True)
    digits = re.sub(r"[\s.\-()]", "", typed)
    if digits.startswith("00"):
        digits = "+" + digits[2:]
    elif digits.startswith("0") and len(digits) > 1:
        digits = f"+{phonenumbers.country_code_for_region(region)}{digits[1:]}"
    if digits.startswith("+") and digits[1:].isdigit():
        return [OptOut.number.startswith(digits, autoescape=True), in_text]
    return [OptOut.number.contains(typed, autoescape=True), in_text]


def matching(user_id: int, search: str, region: str):
    query = select(OptOut).where(OptOut.user_id == user_id)
    return query.where(or_(*numbers_like(search, region))) if search.strip() else query


def page_of(user_id: int, search: str = "", before_id: int | None = None, region: str = "FR"):
    """The newest opt-outs first, PAGE_SIZE at a time (keyset: those after the opt-out before_id in
    that order). Returns (opt-outs, the before_id of the next page or None)."""
    query = matching(user_id, search, region)
    after = user_opt_out(user_id, before_id) if before_id is not None else None
    if after is not None:
        query = query.where(or_(OptOut.opted_out_at < after.opted_out_at,
                                (OptOut.opted_out_at == after.opted_out_at) & (OptOut.id < after.id)))
    rows = db.session.scalars(query.order_by(OptOut.opted_out_at.desc(), OptOut.id.desc()).limit(PAGE_SIZE + 1)).all()
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    return rows, (rows[-1].id if more else None)


def added_after(user_id: int, after_id: int, search: str = "", region: str = "FR") -> list[OptOut]:
    """Recorded since the opt-out after_id (the newest a live page shows), newest first."""
    return db.session.scalars(matching(user_id, search, region).where(OptOut.id > after_id)
                              .order_by(OptOut.id.desc()).limit(PAGE_SIZE)).all()


def newest_id(user_id: int) -> int:
    return db.session.scalar(select(func.max(OptOut.id)).where(OptOut.user_id == user_id)) or 0


def user_opt_out(user_id: int, opt_out_id: int) -> OptOut | None:
    return db.session.scalar(select(OptOut).where(OptOut.id == opt_out_id, OptOut.user_id == user_id))


CSV_COLUMNS = ("number", "opted_out_at", "source", "original_text")


def export_lines(user_id: int):
    """The user's opt-outs as CSV lines, read a batch at a time: a long list never sits in memory."""
    yield csv_line(CSV_COLUMNS)
    query = (select(OptOut.number, OptOut.opted_out_at, OptOut.source, OptOut.original_text)
             .where(OptOut.user_id == user_id).order_by(OptOut.opted_out_at, OptOut.id)
             .execution_options(yield_per=1000))
    for number, at, source, text in db.session.execute(query):
        yield csv_line((number, at.strftime("%Y-%m-%d %H:%M:%S"), source, text or ""))


def csv_line(values) -> str:
    out = io.StringIO()
    csv.writer(out).writerow(values)
    return out.getvalue()


@dataclass
class Imported:
    added: int = 0
    already: int = 0
    problems: list[str] = field(default_factory=list)


def import_csv(user_id: int, content: str, region: str) -> Imported:
    """One number per row, in the first column (a header row is allowed), optionally a date
    (YYYY-MM-DD) in the second. Rows that cannot be read are reported by line and the rest kept."""
    imported = Imported()
    dates = {}  # number -> its date, in the order read
    for line_number, row in enumerate(csv.reader(io.StringIO(content)), start=1):
        if not row or not row[0].strip() or (line_number == 1 and not any(char.isdigit() for char in row[0])):
            continue
        try:
            number = to_e164(row[0], region)
            at = datetime.strptime(row[1].strip()[:10], "%Y-%m-%d") if len(row) > 1 and row[1].strip() else None
        except InvalidNumber as error:
            imported.problems.append(_("Line %(line)d: %(number)s is not a valid number: %(reason)s.",
                                       line=line_number, number=row[0], reason=error.reason))
            continue
        except ValueError:
            imported.problems.append(_("Line %(line)d: %(date)s is not a date (YYYY-MM-DD).",
                                       line=line_number, date=row[1]))
            continue
        if number in dates:
            imported.already += 1
        dates.setdefault(number, at)
    numbers = list(dates)
    for start in range(0, len(numbers), IMPORT_CHUNK):
        chunk = numbers[start:start + IMPORT_CHUNK]
        listed = set(opted_out_numbers(user_id, chunk))
        imported.already += len(listed)
        for number in chunk:
            if number not in listed:
                add(user_id, number, OptOut.IMPORT, at=dates[number])
                imported.added += 1
    db.session.commit()
    return imported
