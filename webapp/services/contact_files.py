"""Contacts to and from files: a CSV (or a spreadsheet's CSV export) imported, the contacts exported.

An upload is stored first (contact_imports.content) and read here: its encoding detected, its
delimiter, header and columns guessed for the preview; once the user has said what each column
holds, the worker imports it in chunks of bulk statements, each chunk committed with the import's
progress, so the page showing it only reads that row. Every write of contact_imports and of its
rejected rows is made here.
"""
import codecs
import csv
import io
import logging
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from itertools import islice

from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from redis.exceptions import RedisError
from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError

from .. import tasks
from ..extensions import db
from ..folding import folded
from ..models import Contact, ContactGroupMember, ContactImport, ContactImportRejection, User, utcnow
from ..numbers import InvalidNumber, e164_of, parsed_number
from ..reasons import N_, Reason, plural, stored
from . import contacts
from .contacts import ContactQuery

log = logging.getLogger(__name__)

PREVIEW_ROWS = 8
SAMPLE_BYTES = 64 * 1024  # what the preview and the guesses read
CHUNK_ROWS = 2000  # rows per transaction: the progress moves, and other writers wait one chunk at most
MAX_COLUMNS = 50
MAX_NAME, MAX_FIELD_NAME, MAX_VALUE, MAX_NOTES = 200, 50, 200, 5000  # as the contact form takes them
MAX_REJECTIONS_SHOWN = 100
EXPORT_BATCH = 2000

DELIMITERS = {",": _l("Comma"), ";": _l("Semicolon"), "\t": _l("Tab")}
ENCODING_NAMES = {"utf-8-sig": "UTF-8", "utf-16": "UTF-16", "cp1252": "Latin-1 / Windows-1252", "latin-1": "Latin-1"}
USES = ("number", "name", "notes", "field", "ignore")

# the headers a column is recognised by, folded
NUMBER_HEADERS = {"number", "numero", "phone", "phone number", "telephone", "tel", "mobile", "portable", "cell",
                  "gsm", "mobile phone", "numero de telephone", "num", "msisdn"}
NAME_HEADERS = {"name", "nom", "full name", "nom complet", "contact", "display name", "nom et prenom"}
NOTES_HEADERS = {"notes", "note", "remarques", "remarque", "commentaire", "commentaires", "comments"}

# why a row was not stored, translated when the report is shown
NO_NUMBER = N_("no number in the number column")
NOT_A_VALID_NUMBER = N_("not a valid number: %(reason)s")
SAME_NUMBER_AS_LINE = N_("the same number as line %(line)d")
NAME_TOO_LONG = N_("the name is longer than %(max)d characters")
VALUE_TOO_LONG = N_("the value of “%(field)s” is longer than %(max)d characters")
NOTES_TOO_LONG = N_("the notes are longer than %(max)d characters")
UNREADABLE_LINE = N_("Line %(line)d cannot be read (%(error)s); the rows before it were stored.")


class UnreadableFile(ValueError):
    """An upload that is not a CSV SMS Desk can read; reason is in the current language."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def max_bytes() -> int:
    return current_app.config["CONTACT_IMPORT_MAX_BYTES"]


def size_in_mb(size: int) -> str:
    return f"{size / (1024 * 1024):.0f}" if size >= 1024 * 1024 else f"{size / (1024 * 1024):.1f}"


# ---- reading an upload ----

def codec_of(content: bytes) -> str:
    """The codec an upload is read with. UTF-8 (with or without its BOM) first, strictly; what is
    not UTF-8 is Windows-1252, with Latin-1 for the five bytes Windows-1252 leaves undefined. The
    two agree on every letter: the difference is only in bytes 0x80–0x9F, control characters in
    Latin-1 that no text holds, and "€ ’ œ" in Windows-1252. charset-normalizer was tried and left:
    on short French files it read Latin-1 and Windows-1252 as Big5 or cp1250 ("Hélène" became
    "H幨鋝e"), and even UTF-8 without a BOM as Big5."""
    if content.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"  # a spreadsheet's "Unicode text" export
    try:
        content.decode("utf-8")
        return "utf-8-sig"  # which also takes off a BOM
    except UnicodeDecodeError:
        pass
    try:
        content.decode("cp1252")
        return "cp1252"
    except UnicodeDecodeError:
        return "latin-1"


def checked_text(content: bytes) -> tuple[str, str]:
    """The text of an upload and its codec; raises UnreadableFile for what is not a CSV."""
    if len(content) > max_bytes():
        raise UnreadableFile(_("The file is larger than %(max)s MB. Split it into smaller files, or ask your "
                               "administrator to raise CONTACT_IMPORT_MAX_BYTES.", max=size_in_mb(max_bytes())))
    if not content.strip():
        raise UnreadableFile(_("The file is empty."))
    if content.startswith((b"PK\x03\x04", b"\xd0\xcf\x11\xe0")):
        raise UnreadableFile(_("This is a spreadsheet file (Excel or LibreOffice), not a CSV. In your spreadsheet, "
                               "choose “Save as” or “Download as” and the CSV format, then import that file."))
    codec = codec_of(content)
    if codec != "utf-16" and b"\x00" in content:
        raise UnreadableFile(_("This file is not text (it may be an image, a PDF or a program). Import a CSV file."))
    text = content.decode(codec)
    sample = text[:SAMPLE_BYTES]
    controls = sum(1 for char in sample if char not in "\t\r\n" and unicodedata.category(char) == "Cc")
    if controls > len(sample) / 100:
        raise UnreadableFile(_("This file is not text (it may be an image, a PDF or a program). Import a CSV file."))
    if not any(any(cell.strip() for cell in row) for row in sample_rows(sample, ",")):
        raise UnreadableFile(_("The file is empty."))
    return text, codec


def sample_text(upload: ContactImport) -> str:
    """The beginning of the upload, as text (a character cut in half at the end is left out)."""
    return codecs.getincrementaldecoder(upload.encoding)(errors="replace").decode(upload.content[:SAMPLE_BYTES])


def sample_rows(text: str, delimiter: str, count: int = 50) -> list[list[str]]:
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    try:
        return [row[:MAX_COLUMNS] for row in islice(reader, count)]
    except csv.Error:
        return []


def guessed_delimiter(text: str) -> str:
    """The delimiter that splits the first rows into the same number (more than one) of columns most often."""
    best, best_score = ",", (0.0, 0)
    for delimiter in DELIMITERS:
        counts = [len(row) for row in sample_rows(text, delimiter) if row]
        if not counts:
            continue
        columns, times = Counter(counts).most_common(1)[0]
        score = (times / len(counts), columns)
        if columns > 1 and score > best_score:
            best, best_score = delimiter, score
    return best


def looks_like_a_number(cell: str) -> bool:
    cell = cell.strip()
    return bool(re.fullmatch(r"[\d\s.+()/-]+", cell)) and sum(char.isdigit() for char in cell) >= 6


def guessed_header(rows: list[list[str]]) -> bool:
    """A first row without a number, above rows with one or naming a known column, is a header."""
    rows = [row for row in rows if any(cell.strip() for cell in row)]
    if not rows or any(looks_like_a_number(cell) for cell in rows[0]):
        return False
    known = NUMBER_HEADERS | NAME_HEADERS | NOTES_HEADERS
    return len(rows) == 1 or any(header_key(cell) in known for cell in rows[0]) \
        or any(looks_like_a_number(cell) for row in rows[1:] for cell in row)


def header_key(text: str) -> str:
    return " ".join(re.sub(r"[^\w]+", " ", folded(text)).split())


def guessed_mapping(rows: list[list[str]], has_header: bool) -> list[dict]:
    """What each column holds, as the headers (else the cells) suggest."""
    width = max((len(row) for row in rows), default=0)
    header = rows[0] if has_header and rows else []
    body = rows[1:] if has_header else rows
    mapping = []
    for index in range(width):
        title = header[index].strip() if index < len(header) else ""
        key = header_key(title)
        use = ("number" if key in NUMBER_HEADERS else "name" if key in NAME_HEADERS
               else "notes" if key in NOTES_HEADERS else "field" if title else "ignore")
        mapping.append({"use": use, "field": title[:MAX_FIELD_NAME] if use == "field" else ""})
    if not any(column["use"] == "number" for column in mapping):
        for index, column in enumerate(mapping):
            cells = [row[index] for row in body if index < len(row) and row[index].strip()]
            if cells and sum(map(looks_like_a_number, cells)) * 2 > len(cells):
                column.update(use="number", field="")
                break
    if not has_header and not any(column["use"] == "name" for column in mapping):
        for index, column in enumerate(mapping):
            cells = [row[index] for row in body if index < len(row) and row[index].strip()]
            if column["use"] == "ignore" and cells and not any(map(looks_like_a_number, cells)):
                column["use"] = "name"
                break
    return mapping


@dataclass
class Preview:
    header: list[str]
    rows: list[list[str]]
    width: int


def preview_of(upload: ContactImport) -> Preview:
    rows = [row for row in sample_rows(sample_text(upload), upload.delimiter, PREVIEW_ROWS + 1)]
    header = rows[0] if upload.has_header and rows else []
    body = rows[1:] if upload.has_header else rows[:PREVIEW_ROWS]
    width = max([len(upload.mapping or [])] + [len(row) for row in rows])
    return Preview(header, body[:PREVIEW_ROWS], width)


def store_upload(user, filename: str, content: bytes) -> ContactImport:
    """The upload, stored with its guessed reading, before anything is imported; raises UnreadableFile."""
    text, codec = checked_text(content)
    sample = text[:SAMPLE_BYTES]
    delimiter = guessed_delimiter(sample)
    rows = sample_rows(sample, delimiter)
    has_header = guessed_header(rows)
    upload = ContactImport(user_id=user.id, filename=(filename or "")[:255], content=content, size=len(content),
                           encoding=codec, delimiter=delimiter, has_header=has_header,
                           mapping=guessed_mapping(rows, has_header), status=ContactImport.UPLOADED)
    db.session.add(upload)
    db.session.commit()
    return upload


def read_again(upload: ContactImport, delimiter: str, has_header: bool) -> None:
    """The preview and the columns guessed anew with another delimiter or header choice."""
    if upload.status != ContactImport.UPLOADED or delimiter not in DELIMITERS:
        return
    rows = sample_rows(sample_text(upload), delimiter)
    upload.delimiter, upload.has_header = delimiter, has_header
    upload.mapping = guessed_mapping(rows, has_header)
    db.session.commit()


def encoding_name(upload: ContactImport) -> str:
    return ENCODING_NAMES.get(upload.encoding, upload.encoding)


def user_import(user, import_id: int) -> ContactImport | None:
    return db.session.scalar(select(ContactImport).where(ContactImport.id == import_id,
                                                         ContactImport.user_id == user.id))


def recent_imports(user, limit: int = 10) -> list[ContactImport]:
    return db.session.scalars(select(ContactImport).where(ContactImport.user_id == user.id)
                              .order_by(ContactImport.id.desc()).limit(limit)).all()


# ---- what the user chose, and the start ----

@dataclass
class ImportChoices:
    mapping: list[dict]
    on_existing: str = ContactImport.SKIP
    group_id: int | None = None
    new_group_name: str = ""


def mapping_problems(mapping: list[dict]) -> list[str]:
    uses = [column["use"] for column in mapping]
    problems = []
    if "number" not in uses:
        problems.append(_("Choose the column that holds the numbers."))
    for use, label in (("number", _("the numbers")), ("name", _("the names")), ("notes", _("the notes"))):
        if uses.count(use) > 1:
            problems.append(_("Only one column can hold %(what)s.", what=label))
    names = {}
    for index, column in enumerate(mapping, start=1):
        if column["use"] != "field":
            continue
        name = column["field"].strip()
        if not name:
            problems.append(_("Give the field of column %(column)d a name.", column=index))
        elif folded(name) in contacts.BUILT_IN_FIELDS:
            problems.append(_("“%(name)s” is a contact's own column: choose another field name.", name=name))
        elif folded(name) in names:
            problems.append(_("Each field name can be used once: “%(name)s”.", name=name))
        names[folded(name)] = name
    return problems


def start_import(user, upload: ContactImport, choices: ImportChoices) -> dict:
    """Saves the choices and hands the import to the worker (committed first, then enqueued);
    returns {form field: [problems]}, empty when it started or had started already."""
    if upload.status != ContactImport.UPLOADED:
        return {}
    problems = {}
    if mapping_problems(choices.mapping):
        problems["columns"] = mapping_problems(choices.mapping)
    group = None
    if choices.new_group_name.strip():
        if not problems:
            group, group_problems = contacts.save_group(user, choices.new_group_name)
            if group_problems:
                problems["new_group"] = group_problems["name"]
    elif choices.group_id:
        group = contacts.user_group(user, choices.group_id)
        if group is None or group.is_smart:
            problems["group_id"] = [_("Choose one of your groups (a smart group gathers its members itself).")]
    if problems:
        return problems
    job_id = tasks.new_import_job_id()
    started = db.session.execute(update(ContactImport).where(
        ContactImport.id == upload.id, ContactImport.status == ContactImport.UPLOADED).values(
        status=ContactImport.QUEUED, mapping=[{"use": column["use"], "field": column["field"].strip()}
                                              for column in choices.mapping],
        on_existing=choices.on_existing if choices.on_existing in (ContactImport.SKIP, ContactImport.UPDATE)
        else ContactImport.SKIP, group_id=group.id if group else None, job_id=job_id)).rowcount
    db.session.commit()
    if not started:  # sent twice: the first one started it
        return {}
    try:
        tasks.import_contacts(upload.id, job_id)
    except RedisError:
        log.exception("could not enqueue the import of contacts %s", upload.id)
        db.session.execute(update(ContactImport).where(ContactImport.id == upload.id).values(
            status=ContactImport.UPLOADED, job_id=None))
        db.session.commit()
        return {"columns": [_("The background worker cannot be reached. Nothing was imported; try again in a "
                              "moment.")]}
    return {}


# ---- the import, in the worker ----

@dataclass
class Columns:
    number: int
    name: int | None = None
    notes: int | None = None
    fields: list[tuple[int, str]] = field(default_factory=list)

    @classmethod
    def of(cls, mapping: list[dict]) -> "Columns":
        at = {column["use"]: index for index, column in reversed(list(enumerate(mapping)))}
        return cls(at["number"], at.get("name"), at.get("notes"),
                   [(index, column["field"]) for index, column in enumerate(mapping) if column["use"] == "field"])


def cell(cells: list[str], index: int | None) -> str:
    return cells[index].strip() if index is not None and index < len(cells) else ""


@dataclass
class Tally:
    rows_done: int = 0
    added: int = 0
    updated: int = 0
    skipped: int = 0
    rejected: int = 0


def records(text: str, delimiter: str, has_header: bool):
    """(line, cells) of each row to import: the line as a spreadsheet numbers its rows (the header
    is line 1); empty rows are left out."""
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    for line, cells in enumerate(reader, start=1):
        if (line == 1 and has_header) or not any(value.strip() for value in cells):
            continue
        yield line, cells


def run_import(import_id: int) -> None:
    """The worker's job. Runs once: an import no longer queued (run already, or sent twice) is left alone."""
    claimed = db.session.execute(update(ContactImport).where(
        ContactImport.id == import_id, ContactImport.status == ContactImport.QUEUED).values(
        status=ContactImport.RUNNING, started_at=utcnow())).rowcount
    db.session.commit()
    if not claimed:
        return
    upload = db.session.get(ContactImport, import_id)
    tally = Tally()
    try:
        import_rows(upload, tally)
    except csv.Error as error:
        db.session.rollback()
        finish(import_id, tally, ContactImport.FAILED,
               Reason(UNREADABLE_LINE, line=tally.rows_done + int(upload.has_header) + 1, error=str(error)))
    except Exception:
        log.exception("the import of contacts %s failed", import_id)
        db.session.rollback()
        finish(import_id, tally, ContactImport.FAILED, plural("The import stopped on an unexpected error after %(num)d row; the rows before were stored.",
                                                         "The import stopped on an unexpected error after %(num)d rows; the rows before were stored.",
                                                         tally.rows_done))


def import_rows(upload: ContactImport, tally: Tally) -> None:
    user = db.session.get(User, upload.user_id)
    region = contacts.default_region(user)
    text = upload.content.decode(upload.encoding)
    total = sum(1 for _record in records(text, upload.delimiter, upload.has_header))
    db.session.execute(update(ContactImport).where(ContactImport.id == upload.id).values(total_rows=total))
    db.session.commit()
    columns = Columns.of(upload.mapping)
    chunk_writer = ChunkWriter(upload.id, user.id, columns.number, upload.on_existing == ContactImport.UPDATE,
                               upload.group_id)
    rows = records(text, upload.delimiter, upload.has_header)
    chunks = iter(lambda: list(islice(rows, CHUNK_ROWS)), [])
    for chunk, prepared in prepared_chunks(chunks, columns, region, parallel=total > PARALLEL_FROM_ROWS):
        try:
            chunk_writer.write(chunk, prepared, tally)
        except IntegrityError:  # one of these numbers was saved meanwhile, by the form: read them again
            db.session.rollback()
            chunk_writer.write(chunk, prepared, tally)
    finish(upload.id, tally, ContactImport.DONE)


def finish(import_id: int, tally: Tally, status: str, error: Reason | None = None) -> None:
    db.session.execute(update(ContactImport).where(ContactImport.id == import_id).values(
        status=status, error=stored(error), finished_at=utcnow(), content=None, **tally.__dict__))
    db.session.commit()


# Reading numbers is most of an import's work (README, Performance): a big file's chunks are read
# by processes of their own, a few chunks ahead of the one being written.
PARALLEL_FROM_ROWS = 10_000
READERS = 2
CHUNKS_AHEAD = 4


def prepared_chunks(chunks, columns: "Columns", region: str, parallel: bool):
    """(chunk, prepare_rows(chunk)) for each chunk, in order."""
    if not parallel:
        for chunk in chunks:
            yield chunk, prepare_rows(chunk, columns, region)
        return
    import multiprocessing
    from collections import deque
    from concurrent.futures import ProcessPoolExecutor
    # spawned, not forked: the worker holds threads, connections and the broker's socket
    with ProcessPoolExecutor(READERS, mp_context=multiprocessing.get_context("spawn")) as readers:
        waiting = deque()
        for chunk in chunks:
            waiting.append((chunk, readers.submit(prepare_rows, chunk, columns, region)))
            if len(waiting) > CHUNKS_AHEAD:
                chunk, future = waiting.popleft()
                yield chunk, future.result()
        while waiting:
            chunk, future = waiting.popleft()
            yield chunk, future.result()


def prepare_rows(chunk, columns: "Columns", region: str) -> list:
    """What each row of the chunk holds, read without the database (it may run in another process):
    a dict of the contact's values, or the Reason the row is rejected."""
    return [read_row(cells, columns, region) for _line, cells in chunk]


def read_row(cells: list[str], columns: "Columns", region: str):
    typed = cell(cells, columns.number)
    if not typed:
        return Reason(NO_NUMBER)
    try:
        parsed = parsed_number(typed, region)
    except InvalidNumber as error:
        return Reason(NOT_A_VALID_NUMBER, reason=Reason(error.reason_id))
    name, notes = cell(cells, columns.name), cell(cells, columns.notes)
    if len(name) > MAX_NAME:
        return Reason(NAME_TOO_LONG, max=MAX_NAME)
    if len(notes) > MAX_NOTES:
        return Reason(NOTES_TOO_LONG, max=MAX_NOTES)
    fields = {}
    for index, field_name in columns.fields:
        value = cell(cells, index)
        if len(value) > MAX_VALUE:
            return Reason(VALUE_TOO_LONG, field=field_name, max=MAX_VALUE)
        if value:
            fields[field_name] = value
    number = e164_of(parsed)
    national = contacts.national_digits_of(parsed)
    listed_as = name or number  # a contact is listed by its name: the number stands in for none
    return {"number": number, "national": national, "name": name, "notes": notes, "fields": fields,
            "search_text": contacts.search_text_of(listed_as, number, national, fields),
            "sort_name": folded(listed_as)[:200]}


class ChunkWriter:
    """Writes a chunk's prepared rows in bulk statements, one transaction with the progress."""

    def __init__(self, import_id, user_id, number_column: int, update_existing: bool, group_id):
        self.import_id, self.user_id, self.number_column = import_id, user_id, number_column
        self.update_existing, self.group_id = update_existing, group_id
        self.seen = {}  # number: the line it was first read on

    def write(self, chunk, prepared: list, tally: Tally) -> None:
        rejections, accepted = [], {}
        for (line, cells), row in zip(chunk, prepared):
            if not isinstance(row, Reason):
                first_line = self.seen.get(row["number"]) or accepted.get(row["number"], {}).get("line")
                if first_line:
                    row = Reason(SAME_NUMBER_AS_LINE, line=first_line)
            if isinstance(row, Reason):
                rejections.append({"import_id": self.import_id, "line": line,
                                   "value": cell(cells, self.number_column)[:200], "reason": stored(row)})
            else:
                accepted[row["number"]] = dict(row, line=line)
        now = utcnow()
        existing = {row.number: row for row in db.session.execute(
            select(Contact.id, Contact.number, Contact.name, Contact.fields, Contact.notes)
            .where(Contact.user_id == self.user_id, Contact.number.in_(list(accepted))))} if accepted else {}
        new = [self.contact_values(row, now) for number, row in accepted.items() if number not in existing]
        changed = [self.changed_values(existing[number], row, now) for number, row in accepted.items()
                   if number in existing and self.update_existing]
        if new:
            db.session.execute(insert(Contact.__table__), new)
        if changed:
            table = Contact.__table__
            db.session.execute(update(table).where(table.c.id == bindparam("contact_id")).values(
                name=bindparam("name"), fields=bindparam("fields"), notes=bindparam("notes"),
                search_text=bindparam("search_text"), sort_name=bindparam("sort_name"),
                updated_at=bindparam("updated_at")), changed)
        if self.group_id and accepted:
            self.add_to_group(list(accepted))
        if rejections:
            db.session.execute(insert(ContactImportRejection.__table__), rejections)
        counts = Tally(tally.rows_done + len(chunk), tally.added + len(new), tally.updated + len(changed),
                       tally.skipped + len(accepted) - len(new) - len(changed), tally.rejected + len(rejections))
        db.session.execute(update(ContactImport).where(ContactImport.id == self.import_id).values(**counts.__dict__))
        db.session.commit()
        tally.__dict__.update(counts.__dict__)
        self.seen.update((number, row["line"]) for number, row in accepted.items())

    def contact_values(self, row: dict, now) -> dict:
        return {"user_id": self.user_id, "name": row["name"] or row["number"], "number": row["number"],
                "fields": row["fields"], "notes": row["notes"], "created_at": now, "updated_at": now,
                "search_text": row["search_text"], "sort_name": row["sort_name"]}

    def changed_values(self, contact, row: dict, now) -> dict:
        """The file's values over the contact's; an empty cell keeps what the contact has."""
        name = row["name"] or contact.name
        fields = {**(contact.fields or {}), **row["fields"]}
        return {"contact_id": contact.id, "name": name, "fields": fields, "notes": row["notes"] or contact.notes,
                "updated_at": now, "sort_name": folded(name)[:200],
                "search_text": contacts.search_text_of(name, row["number"], row["national"], fields)}

    def add_to_group(self, numbers: list[str]) -> None:
        """Every contact of the rows read goes into the group, those left as they were too. In three
        plain statements: as one INSERT … SELECT … WHERE NOT EXISTS, PostgreSQL took 17 s a chunk."""
        ids = set(db.session.scalars(select(Contact.id).where(Contact.user_id == self.user_id,
                                                              Contact.number.in_(numbers))))
        ids -= set(db.session.scalars(select(ContactGroupMember.contact_id).where(
            ContactGroupMember.group_id == self.group_id, ContactGroupMember.contact_id.in_(ids))))
        if ids:
            db.session.execute(insert(ContactGroupMember.__table__),
                               [{"group_id": self.group_id, "contact_id": contact_id} for contact_id in ids])


# ---- what the import page shows ----

def progress_percent(upload: ContactImport) -> int:
    if upload.status == ContactImport.DONE:
        return 100
    if not upload.total_rows:
        return 0
    return min(100, upload.rows_done * 100 // upload.total_rows)


def rejections(upload: ContactImport, limit: int | None = MAX_REJECTIONS_SHOWN):
    query = select(ContactImportRejection).where(ContactImportRejection.import_id == upload.id) \
        .order_by(ContactImportRejection.line)
    return db.session.scalars(query.limit(limit) if limit else query).all()


REJECTION_COLUMNS = (N_("line"), N_("value"), N_("reason"))


def rejection_lines(upload: ContactImport):
    """The rejected rows as CSV lines, the reasons in the reader's language."""
    from .. import reasons
    from .history import spreadsheet_safe
    from .opt_outs import csv_line
    yield csv_line([_(column) for column in REJECTION_COLUMNS])
    after = 0
    while True:
        batch = db.session.scalars(select(ContactImportRejection).where(
            ContactImportRejection.import_id == upload.id, ContactImportRejection.line > after)
            .order_by(ContactImportRejection.line).limit(EXPORT_BATCH)).all()
        for rejection in batch:
            value = rejection.value if looks_like_a_number(rejection.value) else spreadsheet_safe(rejection.value)
            yield csv_line((rejection.line, value,
                            spreadsheet_safe(reasons.shown(rejection.reason))))
        db.session.rollback()
        if len(batch) < EXPORT_BATCH:
            return
        after = batch[-1].line


# ---- export ----

def export_lines(user, query: ContactQuery | None = None, group=None):
    """The contacts (all, a search's, or a group's, a smart one evaluated now) as CSV lines: name,
    number, each extra field in a column of its own, notes; read in batches so that a hundred
    thousand contacts never sit in memory, each batch in its own short read."""
    from .history import spreadsheet_safe
    from .opt_outs import csv_line
    if group is not None and group.is_smart:
        rows = contacts.smart_group_rows(user, group)
        field_names = contacts.distinct_field_names(row.fields for row in rows)
        ids = [row.id for row in rows]
        batches = (contacts.contacts_by_id(user, ids[start:start + EXPORT_BATCH])
                   for start in range(0, len(ids), EXPORT_BATCH))
    else:
        query = query or ContactQuery(group=group)
        field_names = contacts.field_names(user, query)
        batches = keyset_batches(user, query)
    yield csv_line([_("name"), _("number"), *field_names, _("notes")])
    for batch in batches:
        for contact in batch:
            values = {folded(key): value for key, value in (contact.fields or {}).items()}
            yield csv_line([spreadsheet_safe(contact.name), contact.number,
                            *(spreadsheet_safe(str(values.get(folded(name), ""))) for name in field_names),
                            spreadsheet_safe(contact.notes or "")])
        db.session.rollback()


def keyset_batches(user, query: ContactQuery):
    after = None
    while True:
        batch, after = contacts.contact_page(user, query, after_id=after, limit=EXPORT_BATCH)
        yield batch
        if after is None:
            return
