"""What a user's SMS did over a range of days: sent per day by status and received per day, each
phone's delivery rate, failure reasons and segments.

Days are the user's local days. A message's day is date(created_at + the zone's UTC offset), grouped
by the database; the range is cut where the offset changes (summer time), one statement per part,
so every count is a range of the index on (user, created_at, status).
"""
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone

from flask_babel import lazy_gettext as _l
from sqlalchemy import Date, cast, func, select

from .. import reasons, statuses
from ..reasons import N_
from ..extensions import db
from ..models import Message, Phone
from ..templating import user_zone

DEFAULT_DAYS = 30
MAX_DAYS = 366

# the chart's stack, bottom up: how far the SMS got first
DAILY_STATUSES = (statuses.DELIVERED, statuses.SENT, statuses.FAILED, statuses.UNKNOWN, statuses.CANCELED,
                  statuses.SCHEDULED, statuses.SENDING, statuses.QUEUED)
# SMS a provider took: what a delivery rate is out of (scheduled ones are not sent yet)
TAKEN = (statuses.SENT, statuses.DELIVERED, statuses.FAILED, statuses.UNKNOWN)
# SMS a provider took or holds for later: the segments it bills
BILLED = TAKEN + (statuses.SCHEDULED,)


class RangeError(ValueError):
    pass


@dataclass(frozen=True)
class DayRange:
    first: date
    last: date

    @property
    def days(self) -> list[date]:
        return [self.first + timedelta(days=offset) for offset in range((self.last - self.first).days + 1)]


@dataclass
class Day:
    day: date
    sent: dict[str, int]  # {status: count} of the SMS sent that day
    received: int

    @property
    def sent_total(self) -> int:
        return sum(self.sent.values())


@dataclass
class FailureReason:
    code: str | None
    reason: str | None  # as stored: shown through reasons.shown
    count: int


@dataclass
class PhoneFigures:
    phone_id: int
    name: str
    counts: dict[str, int] = field(default_factory=dict)  # {status: count}, received included
    segments: int = 0  # of the SMS billed (see BILLED)
    failures: list[FailureReason] = field(default_factory=list)

    @property
    def sent(self) -> int:
        return sum(self.counts.get(status, 0) for status in statuses.OUTBOUND_STATUSES)

    @property
    def taken(self) -> int:
        return sum(self.counts.get(status, 0) for status in TAKEN)

    @property
    def delivery_rate(self) -> float | None:
        """Delivered out of the SMS a provider took, None when it took none."""
        return self.counts.get(statuses.DELIVERED, 0) / self.taken if self.taken else None


@dataclass
class Statistics:
    range: DayRange
    days: list[Day]
    phones: list[PhoneFigures]

    @property
    def segments(self) -> int:
        return sum(phone.segments for phone in self.phones)

    @property
    def sent(self) -> int:
        return sum(day.sent_total for day in self.days)

    @property
    def received(self) -> int:
        return sum(day.received for day in self.days)

    @property
    def daily_statuses(self) -> list[str]:
        """The statuses of DAILY_STATUSES some SMS of the range has, in that order."""
        seen = {status for day in self.days for status in day.sent}
        return [status for status in DAILY_STATUSES if status in seen]

    def total(self, status: str) -> int:
        return sum(phone.counts.get(status, 0) for phone in self.phones)


# ---- the range a user asks for ----

def today() -> date:
    return datetime.now(user_zone()).date()


def default_range() -> DayRange:
    last = today()
    return DayRange(last - timedelta(days=DEFAULT_DAYS - 1), last)


def parse_day(typed: str | None, problem: str) -> date | None:
    typed = (typed or "").strip()
    if not typed:
        return None
    try:
        return date.fromisoformat(typed)
    except ValueError:
        raise RangeError(_l(problem, typed=typed[:40])) from None


def parse_range(first_typed: str | None, last_typed: str | None) -> DayRange:
    """The range typed (ISO dates, either may be left out), or the last 30 days. Raises RangeError."""
    first = parse_day(first_typed, N_("The start date “%(typed)s” is not a date: write it as 2026-12-31."))
    last = parse_day(last_typed, N_("The end date “%(typed)s” is not a date: write it as 2026-12-31."))
    if first is None and last is None:
        return default_range()
    last = last or min(first + timedelta(days=DEFAULT_DAYS - 1), today())
    first = first or last - timedelta(days=DEFAULT_DAYS - 1)
    if last < first:
        raise RangeError(_l("The end date comes before the start date."))
    if (last - first).days + 1 > MAX_DAYS:
        raise RangeError(_l("Choose at most %(num)d days.", num=MAX_DAYS))
    return DayRange(first, last)


# ---- local days as UTC spans of one offset ----

def as_utc(moment: datetime) -> datetime:
    """A naive UTC datetime, as the database holds them."""
    return moment.astimezone(timezone.utc).replace(tzinfo=None)


def offset_at(utc_moment: datetime, zone) -> timedelta:
    return utc_moment.replace(tzinfo=timezone.utc).astimezone(zone).utcoffset()


def offset_spans(day_range: DayRange, zone) -> list[tuple[datetime, datetime, timedelta]]:
    """[(utc start, utc end, offset)]: the range's local days cut where the zone's offset changes."""
    start = as_utc(datetime.combine(day_range.first, time.min, zone))
    end = as_utc(datetime.combine(day_range.last + timedelta(days=1), time.min, zone))
    spans, span_start, moment = [], start, start
    while moment < end:
        following = min(moment + timedelta(days=1), end)
        if offset_at(following - timedelta(seconds=1), zone) != offset_at(span_start, zone):
            change = first_moment_of_new_offset(moment, following, zone)
            spans.append((span_start, change, offset_at(span_start, zone)))
            span_start = change
        moment = following
    spans.append((span_start, end, offset_at(span_start, zone)))
    return spans


def first_moment_of_new_offset(low: datetime, high: datetime, zone) -> datetime:
    """The first second in (low, high] whose offset differs from low's: zones change on whole seconds."""
    before = offset_at(low, zone)
    while high - low > timedelta(seconds=1):
        middle = low + (high - low) / 2
        middle = middle.replace(microsecond=0)
        if offset_at(middle, zone) == before:
            low = middle
        else:
            high = middle
    return high


def local_day(offset: timedelta):
    """The SQL expression of a message's local day, for a zone at that UTC offset."""
    if db.session.get_bind().dialect.name == "sqlite":
        return func.date(Message.created_at, f"{int(offset.total_seconds()) // 60:+d} minutes")
    return cast(Message.created_at + offset, Date)


def as_date(value) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


# ---- the figures ----

def daily_counts(user, day_range: DayRange) -> list[Day]:
    """Every day of the range, in order, the empty ones too."""
    days = {day: Day(day, {}, 0) for day in day_range.days}
    for start, end, offset in offset_spans(day_range, user_zone()):
        day_of = local_day(offset)
        rows = db.session.execute(select(day_of, Message.status, func.count()).where(
            Message.user_id == user.id, Message.created_at >= start, Message.created_at < end)
            .group_by(day_of, Message.status)).all()
        for day_value, status, count in rows:
            day = days.get(as_date(day_value))
            if day is None:
                continue
            if status == statuses.RECEIVED:
                day.received += count
            else:
                day.sent[status] = day.sent.get(status, 0) + count
    return list(days.values())


def utc_bounds(day_range: DayRange) -> tuple[datetime, datetime]:
    zone = user_zone()
    return (as_utc(datetime.combine(day_range.first, time.min, zone)),
            as_utc(datetime.combine(day_range.last + timedelta(days=1), time.min, zone)))


def phone_figures(user, day_range: DayRange) -> list[PhoneFigures]:
    """The phones that sent or received in the range (deleted ones too), by name."""
    start, end = utc_bounds(day_range)
    in_range = (Message.user_id == user.id, Message.created_at >= start, Message.created_at < end)
    billed = func.sum(Message.segment_count).filter(Message.status.in_(BILLED))
    rows = db.session.execute(select(Message.phone_id, Message.status, func.count(), billed)
                              .where(*in_range).group_by(Message.phone_id, Message.status)).all()
    names = dict(db.session.execute(select(Phone.id, Phone.name).where(Phone.user_id == user.id)).all())
    phones: dict[int, PhoneFigures] = {}
    for phone_id, status, count, segments in rows:
        phone = phones.setdefault(phone_id, PhoneFigures(phone_id, names.get(phone_id, "")))
        phone.counts[status] = count
        phone.segments += segments or 0
    failures = db.session.execute(
        select(Message.phone_id, Message.error_code, Message.error_reason, func.count())
        .where(*in_range, Message.status == statuses.FAILED)
        .group_by(Message.phone_id, Message.error_code, Message.error_reason)
        .order_by(func.count().desc())).all()
    for phone_id, code, reason, count in failures:
        phones[phone_id].failures.append(FailureReason(code, reason, count))
    return sorted(phones.values(), key=lambda phone: (phone.name.lower(), phone.phone_id))


def statistics(user, day_range: DayRange) -> Statistics:
    return Statistics(day_range, daily_counts(user, day_range), phone_figures(user, day_range))


# ---- the numbers of each chart, as CSV ----

def daily_csv_rows(figures: Statistics):
    yield ["day", *DAILY_STATUSES, "sent_total", "received"]
    for day in figures.days:
        yield [day.day.isoformat(), *(day.sent.get(status, 0) for status in DAILY_STATUSES), day.sent_total,
               day.received]


def phones_csv_rows(figures: Statistics):
    from .history import spreadsheet_safe
    yield ["phone", "sent", "taken_by_provider", "delivered", "failed", "delivery_rate", "segments", "received"]
    for phone in figures.phones:
        rate = "" if phone.delivery_rate is None else f"{phone.delivery_rate:.4f}"
        yield [spreadsheet_safe(phone.name), phone.sent, phone.taken, phone.counts.get(statuses.DELIVERED, 0),
               phone.counts.get(statuses.FAILED, 0), rate, phone.segments, phone.counts.get(statuses.RECEIVED, 0)]
    yield ["total", figures.sent, sum(phone.taken for phone in figures.phones), figures.total(statuses.DELIVERED),
           figures.total(statuses.FAILED), "", figures.segments, figures.total(statuses.RECEIVED)]


def failures_csv_rows(figures: Statistics):
    from .history import spreadsheet_safe
    yield ["phone", "error_code", "reason", "count"]
    for phone in figures.phones:
        for failure in phone.failures:
            yield [spreadsheet_safe(phone.name), spreadsheet_safe(failure.code or ""),
                   spreadsheet_safe(reasons.shown(failure.reason) if failure.reason else ""), failure.count]
