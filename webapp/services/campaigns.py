"""Campaigns: a compose action to several recipients, from its confirmation to its results.

Composing resolves the recipients once (contacts, groups, smart groups evaluated now, pasted
numbers, a CSV of numbers), removes the duplicates, leaves out those who opted out, and stores
the result as a draft with what the confirmation page says of it: how many, the invalid numbers
and why, the landlines, the recipients missing a field the text uses. Confirming writes the
campaign, one message per recipient with its own text (placeholders filled) and their jobs, in
one transaction with the form's one-time token, through messages.queue_outbound.

A campaign's page reads its messages through the (campaign, status, id) index; canceling what
has not left and sending the failed ones again go through the status store and the one send path.
Every query starts from the user's id: another user's campaign is never found.
"""
import csv
import io
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

from flask import current_app
from flask_babel import gettext as _
from flask_babel import ngettext
from redis.exceptions import RedisError
from sqlalchemy import delete, func, select

from .. import reasons, statuses, tasks
from ..extensions import db
from ..models import Campaign, CampaignDraft, Message, utcnow
from ..numbers import InvalidNumber, split_typed_numbers, to_e164, unlikely_to_receive_sms
from ..personalization import Template
from ..providers import provider_class
from ..providers.base import Capability
from ..reasons import Reason
from . import contact_files, contacts, opt_outs, quotas, status_store
from .messages import (Composed, SubmittedMeanwhile, earlier_submission, queue_outbound,
                       refuse_what_a_phone_cannot_send, sending_phones)
from .status_store import Line

log = logging.getLogger(__name__)

LISTED = 20  # invalid numbers, landlines and recipients missing a field shown on the confirmation
KEPT_IN_DRAFT = 200
DRAFTS_KEPT = timedelta(days=1)
PAGE_SIZE = 50
EXPORT_BATCH = 2000
LEAVE_OUT, FALLBACK = "leave_out", "fallback"


# ---- composing: who the SMS go to ----

@dataclass
class ComposeInput:
    phone_id: int | None
    body: str
    pasted: str = ""
    csv_bytes: bytes | None = None
    contact_ids: list[int] = field(default_factory=list)
    group_ids: list[int] = field(default_factory=list)
    flash: bool = False
    scheduled_at: datetime | None = None  # naive UTC
    pool_id: int | None = None  # one of the user's pools, sending instead of the phone


def csv_numbers(content: bytes) -> list[tuple[str, str]]:
    """(typed number, where) of each row of a CSV of numbers: comma, semicolon or tab separated,
    with or without a header; the column is the one whose header names a number, else the first."""
    text = content.decode(contact_files.codec_of(content))
    rows = list(csv.reader(io.StringIO(text), delimiter=contact_files.guessed_delimiter(text)))
    column, start = 0, 0
    if rows and not any(char.isdigit() for char in "".join(rows[0])):
        start = 1
        headers = [contact_files.header_key(cell) for cell in rows[0]]
        column = next((index for index, name in enumerate(headers) if name in contact_files.NUMBER_HEADERS), 0)
    return [(row[column].strip(), _("CSV line %(line)d", line=line))
            for line, row in enumerate(rows[start:], start=start + 1) if len(row) > column and row[column].strip()]


def _resolved(user, typed: ComposeInput, template: Template):
    """{number: contact row or None}, in the order given, and what was found on the way."""
    found: dict[str, object] = {}
    invalid, duplicates = [], 0

    def take(number, row):
        nonlocal duplicates
        if number in found:
            duplicates += 1
            if found[number] is None and row is not None:  # a pasted number that is a contact's: its fields
                found[number] = row
        else:
            found[number] = row

    for row in contacts.contact_rows(user, contact_ids=typed.contact_ids) if typed.contact_ids else ():
        take(row.number, row)
    for group_id in typed.group_ids:
        group = contacts.user_group(user, group_id)
        for row in contacts.group_member_rows(user, group) if group is not None else ():
            take(row.number, row)
    region = current_app.config["DEFAULT_PHONE_REGION"]
    typed_numbers = [(number, _("pasted")) for number in split_typed_numbers(typed.pasted or "")]
    if typed.csv_bytes:
        typed_numbers += csv_numbers(typed.csv_bytes)
    plain = []
    for number, where in typed_numbers:
        try:
            plain.append(to_e164(number, region))
        except InvalidNumber as error:
            invalid.append([number, error.reason, where])
    known = {row.number: row for row in contacts.contact_rows(user, numbers=set(plain) - set(found))} if plain else {}
    for number in plain:
        take(number, known.get(number))
    return found, invalid, duplicates


def prepare(user, typed: ComposeInput) -> tuple[CampaignDraft | None, Composed]:
    """The draft a confirmation page shows, or the problems that stop it (Composed.problems)."""
    composed = Composed()
    phone, pool_phones = sending_phones(user, typed.phone_id, typed.pool_id)
    if phone is None:
        composed.refuse("phone", _("Choose one of your phones."))
        return None, composed
    refuse_what_a_phone_cannot_send(composed, pool_phones, typed.body, typed.flash, typed.scheduled_at)
    template = Template.of(typed.body)
    found, invalid, duplicates = _resolved(user, typed, template)
    opted_out = opt_outs.opted_out_numbers_among(user.id, list(found))
    numbers = [number for number in found if number not in opted_out]
    if not numbers:
        composed.refuse("numbers", _("Every one of these numbers opted out: nothing to send.") if found and not invalid
                        else _("Choose at least one recipient with a valid number."))
    if composed.problems:
        return None, composed
    fields = template.used_fields
    recipients, landlines = [], []
    for number in numbers:
        row = found[number] or SimpleNamespace(name=None, number=number, fields={})
        recipients.append([number, row.name or "", [contacts.field_value(row, name) or None for name in fields]])
        if unlikely_to_receive_sms(number):
            landlines.append([number, row.name or ""])
    db.session.execute(delete(CampaignDraft).where(CampaignDraft.user_id == user.id,
                                                   CampaignDraft.created_at < utcnow() - DRAFTS_KEPT))
    draft = CampaignDraft(user_id=user.id, data=dict(
        phone_id=phone.id, pool_id=typed.pool_id, body=typed.body, flash=typed.flash,
        scheduled_at=typed.scheduled_at.isoformat() if typed.scheduled_at else None, fields=fields,
        recipients=recipients, duplicates=duplicates, opted_out=len(opted_out),
        invalid=invalid[:KEPT_IN_DRAFT], invalid_count=len(invalid),
        landlines=landlines[:KEPT_IN_DRAFT], landline_count=len(landlines)))
    db.session.add(draft)
    db.session.commit()
    return draft, composed


def user_draft(user, draft_id: int) -> CampaignDraft | None:
    return db.session.scalar(select(CampaignDraft).where(CampaignDraft.id == draft_id,
                                                         CampaignDraft.user_id == user.id))


# ---- the confirmation ----

@dataclass
class Choices:
    """What the confirmation page asks: send to the valid numbers although some are invalid,
    and, for recipients missing a field the text uses, a value to put instead or leave them out."""
    send_to_valid: bool = False
    missing: str | None = None  # LEAVE_OUT or FALLBACK
    fallbacks: dict[str, str] = field(default_factory=dict)


@dataclass
class Review:
    draft: CampaignDraft
    fields: list[str]
    recipient_count: int  # who will get an SMS with these choices
    sms_total: int
    sms_least: int
    sms_most: int
    duplicates: int
    opted_out: int
    invalid: list
    invalid_count: int
    landlines: list
    landline_count: int
    missing: dict[str, list]  # {field: [(number, name)…]}, the first LISTED of each
    missing_counts: dict[str, int]
    missing_total: int  # recipients missing at least one field
    left_out_missing: int

    @property
    def data(self) -> dict:
        return self.draft.data


def _values(fields, values, fallbacks) -> dict[str, str]:
    return {name: value if value else fallbacks.get(name, "") for name, value in zip(fields, values)}


def _texts(draft: CampaignDraft, choices: Choices):
    """(number, text, cost) of each recipient sent to with these choices, and how many are left out
    for a missing field."""
    data = draft.data
    template, fields = Template.of(data["body"]), data["fields"]
    fallbacks = choices.fallbacks if choices.missing == FALLBACK else {}
    leave_out = choices.missing == LEAVE_OUT
    texts, left_out = [], 0
    for number, _name, values in data["recipients"]:
        if leave_out and not all(values):
            left_out += 1
            continue
        filled = _values(fields, values, fallbacks)
        text = template.render(filled)
        texts.append((number, text, template.cost(filled, text)))
    return texts, left_out


def review(draft: CampaignDraft, choices: Choices) -> Review:
    data = draft.data
    fields = data["fields"]
    missing = {name: [] for name in fields}
    counts = {name: 0 for name in fields}
    missing_total = 0
    for number, name, values in data["recipients"]:
        if all(values):
            continue
        missing_total += 1
        for field_name, value in zip(fields, values):
            if not value:
                counts[field_name] += 1
                if len(missing[field_name]) < LISTED:
                    missing[field_name].append((number, name))
    texts, left_out = _texts(draft, choices)
    segments = [cost.segments for _number, _text, cost in texts]
    return Review(draft=draft, fields=fields, recipient_count=len(texts), sms_total=sum(segments),
                  sms_least=min(segments, default=0), sms_most=max(segments, default=0),
                  duplicates=data["duplicates"], opted_out=data["opted_out"], invalid=data["invalid"][:LISTED],
                  invalid_count=data["invalid_count"], landlines=data["landlines"][:LISTED],
                  landline_count=data["landline_count"],
                  missing={name: rows for name, rows in missing.items() if counts[name]},
                  missing_counts={name: count for name, count in counts.items() if count},
                  missing_total=missing_total, left_out_missing=left_out)


def preview(draft: CampaignDraft, number: str | None, choices: Choices) -> dict | None:
    """The text one recipient would get (the first one when none is named), and what it costs."""
    data = draft.data
    recipients = data["recipients"]
    if not recipients:
        return None
    chosen = next((recipient for recipient in recipients if recipient[0] == number), None) if number else recipients[0]
    if chosen is None:
        return None
    template, fields = Template.of(data["body"]), data["fields"]
    recipient_number, name, values = chosen
    left_out = choices.missing == LEAVE_OUT and not all(values)
    filled = _values(fields, values, choices.fallbacks if choices.missing == FALLBACK else {})
    text = template.render(filled)
    cost = template.cost(filled, text)
    return {"number": recipient_number, "name": name, "text": text, "characters": cost.length,
            "encoding": cost.encoding, "segments": cost.segments,
            "missing": [field_name for field_name, value in zip(fields, values) if not value], "left_out": left_out}


@dataclass
class Confirmed:
    campaign_id: int | None = None
    message_ids: list[int] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    repeated: bool = False
    opted_out_since: int = 0
    scheduled_at: datetime | None = None  # naive UTC: when they are to be sent, if later


def confirm(user, draft_id: int, choices: Choices, submission_token: str | None) -> Confirmed:
    """Writes the campaign and its messages, or says what the user must choose first."""
    earlier = earlier_submission(user.id, submission_token)
    if earlier is not None:
        return _confirmed_earlier(earlier)
    draft = user_draft(user, draft_id)
    if draft is None:
        return Confirmed(problems=[_("This confirmation has expired: compose the SMS again.")])
    data = draft.data
    confirmed = Confirmed()
    phone, _pool_phones = sending_phones(user, data["phone_id"], data.get("pool_id"))
    if phone is None:
        confirmed.problems.append(_("Choose one of your phones."))
    if data["invalid_count"] and not choices.send_to_valid:
        confirmed.problems.append(_("Some numbers are invalid: tick “send to the valid ones” or go back and correct them."))
    needing = review_missing_fields(data)
    if needing and choices.missing not in (LEAVE_OUT, FALLBACK):
        confirmed.problems.append(_("Some recipients lack a field the text uses: give a value to put instead, "
                                    "or leave them out."))
    elif needing and choices.missing == FALLBACK:
        for name in needing:
            if not (choices.fallbacks.get(name) or "").strip():
                confirmed.problems.append(_("Give the value to put instead of {%(field)s}.", field=name))
    if confirmed.problems:
        return confirmed
    texts, left_out_missing = _texts(draft, choices)
    # opted out since the draft was made: never sent to
    opted_out = opt_outs.opted_out_numbers_among(user.id, [number for number, _text, _cost in texts])
    texts = [text for text in texts if text[0] not in opted_out]
    if not texts:
        confirmed.problems.append(_("Nobody is left to send to."))
        return confirmed
    scheduled_at = datetime.fromisoformat(data["scheduled_at"]) if data["scheduled_at"] else None
    if scheduled_at is not None and scheduled_at <= utcnow():
        confirmed.problems.append(_("The time to send it has passed: go back and choose a time in the future."))
        return confirmed
    campaign = None
    if len(texts) > 1:
        campaign = Campaign(user_id=user.id, phone_id=phone.id, body=data["body"], recipient_count=len(texts),
                            fallbacks={name: value for name, value in choices.fallbacks.items() if value}
                            if choices.missing == FALLBACK else {},
                            left_out={"opted_out": data["opted_out"] + len(opted_out), "invalid": data["invalid_count"],
                                      "missing_field": left_out_missing, "duplicates": data["duplicates"]})
        db.session.add(campaign)
        db.session.flush()
    db.session.execute(delete(CampaignDraft).where(CampaignDraft.id == draft.id))
    try:
        confirmed.message_ids = queue_outbound(
            phone, [number for number, _text, _cost in texts], data["body"], flash=data["flash"],
            scheduled_at=scheduled_at, submission_token=submission_token,
            texts=[(text, cost) for _number, text, cost in texts], campaign_id=campaign.id if campaign else None,
            pool_id=data.get("pool_id"))
    except SubmittedMeanwhile:
        return _confirmed_earlier(earlier_submission(user.id, submission_token))
    except quotas.QuotaExceeded as exceeded:  # rolled back: the draft is kept
        confirmed.problems.append(exceeded.reason())
        return confirmed
    confirmed.campaign_id = campaign.id if campaign else None
    confirmed.opted_out_since = len(opted_out)
    confirmed.scheduled_at = scheduled_at
    return confirmed


def review_missing_fields(data: dict) -> list[str]:
    """The fields some recipient of the draft has no value for."""
    fields = data["fields"]
    lacking = set()
    for _number, _name, values in data["recipients"]:
        if not all(values):
            lacking.update(name for name, value in zip(fields, values) if not value)
            if len(lacking) == len(fields):
                break
    return [name for name in fields if name in lacking]


def _confirmed_earlier(earlier: Composed) -> Confirmed:
    campaign_id = db.session.scalar(select(Message.campaign_id).where(Message.id == earlier.message_ids[0])) \
        if earlier.message_ids else None
    return Confirmed(campaign_id=campaign_id, message_ids=earlier.message_ids, repeated=True)


# ---- a campaign's page ----

def user_campaign(user, campaign_id: int) -> Campaign | None:
    return db.session.scalar(select(Campaign).where(Campaign.id == campaign_id, Campaign.user_id == user.id))


def campaigns_page(user, before_id: int | None = None, limit: int = PAGE_SIZE):
    """The user's campaigns, newest first, with the id to continue before (None on the last page)."""
    query = select(Campaign).where(Campaign.user_id == user.id)
    if before_id:
        query = query.where(Campaign.id < before_id)
    rows = db.session.scalars(query.order_by(Campaign.id.desc()).limit(limit + 1)).all()
    return rows[:limit], rows[limit - 1].id if len(rows) > limit else None


def status_counts(campaign: Campaign) -> dict[str, int]:
    """{status: messages}: the (campaign, status, id) index alone."""
    return dict(db.session.execute(select(Message.status, func.count()).where(
        Message.campaign_id == campaign.id).group_by(Message.status)).all())


def campaigns_counts(campaigns: list[Campaign]) -> dict[int, dict[str, int]]:
    counts = {campaign.id: {} for campaign in campaigns}
    if campaigns:
        for campaign_id, status, count in db.session.execute(
                select(Message.campaign_id, Message.status, func.count())
                .where(Message.campaign_id.in_(list(counts))).group_by(Message.campaign_id, Message.status)):
            counts[campaign_id][status] = count
    return counts


@dataclass
class Progress:
    counts: dict[str, int]
    total: int

    @property
    def done(self) -> int:
        return sum(count for status, count in self.counts.items() if statuses.is_final(status))

    @property
    def percent(self) -> int:
        return round(100 * self.done / self.total) if self.total else 100

    @property
    def finished(self) -> bool:
        return self.done == self.total

    def of(self, status: str) -> int:
        return self.counts.get(status, 0)

    def as_json(self) -> dict:
        return {"counts": {status: self.of(status) for status in statuses.OUTBOUND_STATUSES},
                "done": self.done, "total": self.total, "percent": self.percent, "finished": self.finished}


def progress(campaign: Campaign) -> Progress:
    counts = status_counts(campaign)
    return Progress(counts, sum(counts.values()))


FAILURES_SHOWN = 20


def failure_reasons(campaign: Campaign) -> list[dict]:
    """The failed and unknown messages grouped by their reason, the commonest first, translated."""
    rows = db.session.execute(
        select(Message.status, Message.error_reason, Message.error_code, func.count())
        .where(Message.campaign_id == campaign.id, Message.status.in_([statuses.FAILED, statuses.UNKNOWN]))
        .group_by(Message.status, Message.error_reason, Message.error_code)
        .order_by(func.count().desc()).limit(FAILURES_SHOWN)).all()
    return [{"status": status, "reason": reasons.shown(reason) or _("No reason given"), "code": code, "count": count}
            for status, reason, code, count in rows]


def recipients_page(campaign: Campaign, status: str | None = None, after_id: int | None = None,
                    limit: int = PAGE_SIZE):
    """Its messages in the order written, by keyset on their id, of one status if asked."""
    query = select(Message).where(Message.campaign_id == campaign.id)
    if status:
        query = query.where(Message.status == status)
    if after_id:
        query = query.where(Message.id > after_id)
    rows = db.session.scalars(query.order_by(Message.id).limit(limit + 1)).all()
    return rows[:limit], rows[limit - 1].id if len(rows) > limit else None


# ---- acting on a campaign ----

def cancel_rest(campaign: Campaign) -> tuple[int, int]:
    """Cancels what has not left yet, and asks the provider to cancel what it holds for later.
    Returns (canceled here, asked of the provider). Raises RedisError when the worker cannot be asked."""
    canceled = status_store.cancel_unsent_of_campaign(campaign.id, Reason("Canceled with the rest of its campaign."))
    db.session.commit()
    asked = 0
    phone = campaign.phone
    if provider_class(phone.provider_key).has(Capability.CANCEL, phone.settings or {}):
        held = db.session.scalars(select(Message.id).where(
            Message.campaign_id == campaign.id, Message.status.in_(
                [status for status in statuses.OUTBOUND_STATUSES if statuses.cancelable_at_provider(status)]),
            Message.scheduled_at > utcnow())).all()
        for message_id in held:
            tasks.cancel_at_provider(message_id)
        asked = len(held)
    return canceled, asked


@dataclass
class Resent:
    message_ids: list[int] = field(default_factory=list)
    opted_out: int = 0  # not sent again: their number opted out
    waiting_for_broker: bool = False


RESENT_LINE = Reason("Sent again at the user's request.")


def resend(user, message_ids: list[int], confirmed_unknown: bool = False) -> Resent:
    """Sends the user's failed messages among these again (and the unknown ones, which may have been
    sent, only when confirmed_unknown): a new attempt on each one's timeline, through the one send
    path. Numbers that opted out meanwhile are not sent to."""
    resent = Resent()
    allowed = [status for status in (statuses.FAILED, statuses.UNKNOWN) if statuses.may_resend(status, confirmed_unknown)]
    jobs = {}
    size = tasks.SEND_JOB_SIZE
    for start in range(0, len(message_ids), 500):
        rows = db.session.execute(select(Message.id, Message.remote_number).where(
            Message.user_id == user.id, Message.id.in_(message_ids[start:start + 500]),
            Message.direction == Message.OUTBOUND, Message.status.in_(allowed))).all()
        opted_out = opt_outs.opted_out_numbers_among(user.id, [row.remote_number for row in rows])
        resent.opted_out += sum(1 for row in rows if row.remote_number in opted_out)
        rows = [row for row in rows if row.remote_number not in opted_out]
        for chunk_start in range(0, len(rows), size):
            chunk = rows[chunk_start:chunk_start + size]
            job_id = tasks.new_send_job_id()
            moved = status_store.queue_again(user.id, [row.id for row in chunk], job_id, allowed, Line(RESENT_LINE))
            if moved:
                jobs[job_id] = sorted(moved)
                resent.message_ids += moved
    db.session.commit()
    if jobs:
        try:
            tasks.enqueue_sends(jobs)
        except RedisError as error:  # the sweep enqueues them once the broker is back
            log.warning("broker unavailable, %d messages sent again wait for the sweep: %s", len(resent.message_ids), error)
            resent.waiting_for_broker = True
    return resent


def resend_failed(user, campaign: Campaign, confirmed_unknown: bool = False) -> Resent:
    wanted = [statuses.FAILED] + ([statuses.UNKNOWN] if confirmed_unknown else [])
    ids = db.session.scalars(select(Message.id).where(Message.campaign_id == campaign.id,
                                                      Message.status.in_(wanted)).order_by(Message.id)).all()
    return resend(user, list(ids), confirmed_unknown)


def resend_summary(resent: Resent) -> list[tuple[str, str]]:
    """The flash messages that tell what a resend did."""
    said = []
    if resent.message_ids:
        said.append((ngettext("%(num)d SMS is being sent again.", "%(num)d SMS are being sent again.",
                              len(resent.message_ids)), "success"))
    else:
        said.append((_("Nothing to send again."), "info"))
    if resent.opted_out:
        said.append((ngettext("%(num)d number was not sent to again: it opted out.",
                              "%(num)d numbers were not sent to again: they opted out.", resent.opted_out), "info"))
    return said


# ---- its results, as CSV ----

EXPORT_COLUMNS = ("number", "name", "status", "text", "reason", "status_changed_at")


def export_csv_lines(user, campaign: Campaign):
    """Its messages in keyset batches, streamed: number, contact name, status, text, reason of a
    failure (in the reader's language), when the status last changed (the user's time zone)."""
    from ..templating import user_zone
    from .history import spreadsheet_safe
    from .opt_outs import csv_line
    zone = user_zone()
    yield csv_line(EXPORT_COLUMNS)
    after = 0
    while True:
        rows = db.session.execute(
            select(Message.id, Message.remote_number, Message.status, Message.body, Message.error_reason,
                   Message.status_changed_at)
            .where(Message.campaign_id == campaign.id, Message.user_id == user.id, Message.id > after)
            .order_by(Message.id).limit(EXPORT_BATCH)).all()
        if not rows:
            return
        names = contacts.names_by_number(user.id, [row.remote_number for row in rows])
        for row in rows:
            local = row.status_changed_at.replace(tzinfo=timezone.utc).astimezone(zone)
            yield csv_line((row.remote_number, spreadsheet_safe(names.get(row.remote_number, "")), row.status,
                            spreadsheet_safe(row.body), spreadsheet_safe(reasons.shown(row.error_reason)),
                            local.strftime("%Y-%m-%d %H:%M:%S")))
        after = rows[-1].id
        db.session.expunge_all()
