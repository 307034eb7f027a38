"""Status reports from callbacks, written many per transaction (a group commit).

Written by each request thread in its own transaction, a report cost three statements and a
commit, and on SQLite the request threads queued for the write lock. Now a callback puts its
reports in a shared list. If no callback is writing, it leads: it writes every report waiting,
its own and those of the callbacks that arrived meanwhile, until its own are written, then hands
the lead to the oldest callback still waiting. The others sleep until theirs are written (each is
woken on its own) or the lead comes to them. No thread of its own, so no handing over to one and
back. A callback still answers only once its reports are committed, so a 2xx still means stored.
"""
import contextlib
import fcntl
import logging
import threading
from concurrent.futures import Future

from flask import current_app

from ..extensions import db
from ..providers.base import StatusEvent
from . import messages as message_service

log = logging.getLogger(__name__)

BATCH_LIMIT = 200
WAIT_SECONDS = 30  # a callback waiting longer answers 500, and the provider tries again


class WaitingReports:
    """One callback's reports, and what wakes it: their answer, or the lead passed to it."""

    def __init__(self, phone_id: int, events: list[StatusEvent]):
        self.phone_id, self.events = phone_id, events
        self.done = Future()
        self.leads = False
        self.wake = threading.Event()
        self.done.add_done_callback(lambda _done: self.wake.set())


class ReportWriter:
    def __init__(self):
        self._lock = threading.Lock()
        self._waiting: list[WaitingReports] = []
        self._led = False
        self._connection = None  # PostgreSQL: kept from batch to batch while the lead passes on

    def write(self, phone_id: int, events: list[StatusEvent]) -> None:
        """Returns once the events are committed; raises what writing them raised."""
        mine = WaitingReports(phone_id, events)
        with self._lock:
            self._waiting.append(mine)
            mine.leads, self._led = not self._led, True
        if not mine.leads:
            self._wait_for_answer_or_lead(mine)
        if mine.leads:
            self._lead_until_written(mine)
        mine.done.result(timeout=0)

    def _wait_for_answer_or_lead(self, mine: WaitingReports) -> None:
        if mine.wake.wait(WAIT_SECONDS):
            return
        with self._lock:
            if mine in self._waiting and not mine.leads:  # untouched: give up, and the provider tries again
                self._waiting.remove(mine)
                raise TimeoutError("status reports waited too long to be written")
        mine.wake.wait()  # taken into a batch (which answers each) or just given the lead

    def _lead_until_written(self, mine: WaitingReports) -> None:
        try:
            while not mine.done.done():
                with self._lock:
                    batch, self._waiting = self._waiting[:BATCH_LIMIT], self._waiting[BATCH_LIMIT:]
                write_answering_each([(waiting.phone_id, waiting.events, waiting.done) for waiting in batch],
                                     self._batches_connection)
                if not batch:  # its own went with a batch that answered it nothing: should not happen
                    mine.done.set_exception(RuntimeError("status reports lost before they were written"))
        finally:
            with self._lock:
                if self._waiting:
                    self._waiting[0].leads = True
                    self._waiting[0].wake.set()
                else:
                    self._led = False
                    self._release_connection()

    def _batches_connection(self):
        """On PostgreSQL, one connection for batches that follow one another: taking one from the
        pool and setting it to commit each statement cost a sixth of a batch's time. Only the
        leading callback uses it; it goes back to the pool when no callback is left waiting."""
        if self._connection is not None and self._connection.invalidated:
            self._release_connection()
        if self._connection is None and each_statement_commits():
            self._connection = reports_connection()
        return self._connection

    def _release_connection(self):
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.close()


@contextlib.contextmanager
def sqlite_writers_take_turns():
    """On SQLite, the web processes' writers wait for each other on a lock file, which wakes the
    next one as soon as it is free. SQLite's own busy wait sleeps 1, 2, 5, 10... ms between tries,
    long after the other's commit: a batch's UPDATE took 4.7 ms (median) under load instead of 0.6."""
    database = db.engine.url.database if db.engine.dialect.name == "sqlite" else None
    if not database or database == ":memory:":
        yield
        return
    turn_file = current_app.extensions.get("smsdesk_sqlite_write_turn")
    if turn_file is None:
        current_app.extensions["smsdesk_sqlite_write_turn"] = turn_file = open(database + ".write-turn", "a")
    fcntl.flock(turn_file, fcntl.LOCK_EX)
    try:
        yield
    finally:
        fcntl.flock(turn_file, fcntl.LOCK_UN)


def each_statement_commits() -> bool:
    """On PostgreSQL each statement commits on its own (a move and its timeline rows are one
    statement there): BEGIN and COMMIT were two more round trips, and after each one the writing
    callback waited for its turn at Python's lock behind the other request threads."""
    return db.engine.dialect.name == "postgresql"


def reports_connection():
    """A Core connection: the ORM session cost a third of the writer's time."""
    if each_statement_commits():
        return db.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
    return db.engine.begin()


def kept_or_new(kept_connection):
    return contextlib.nullcontext(kept_connection) if kept_connection is not None else reports_connection()


def write_answering_each(batch: list[tuple[int, list[StatusEvent], Future]], kept_connection=lambda: None) -> None:
    """Whatever happens, each callback in the batch gets an answer: one left without would sleep
    for ever, or, leading, write empty batches for ever."""
    try:
        write_batch(batch, kept_connection)
    finally:
        for _phone_id, _events, done in batch:
            if not done.done():
                done.set_exception(RuntimeError("status reports could not be written"))


def write_batch(batch: list[tuple[int, list[StatusEvent], Future]], kept_connection=lambda: None) -> None:
    """In the connection the writer keeps between batches if `kept_connection()` gives one
    (PostgreSQL's), else in a new one."""
    reports = [(phone_id, event) for phone_id, events, _done in batch for event in events]
    moved = [None] * len(reports)
    kept = None
    try:
        kept = kept_connection()
        with sqlite_writers_take_turns(), kept_or_new(kept) as connection:
            message_service.move_reported_messages(reports, connection, moved)
    except Exception:
        log.exception("could not write %d status reports together; writing them one by one", len(reports))
        if kept is not None:
            kept.invalidate()  # it may be broken: the next batch takes another
        if not each_statement_commits():  # rolled back with its transaction
            moved = [None] * len(reports)
    position = 0
    for phone_id, events, done in batch:
        try:
            for event, message_id in zip(events, moved[position:position + len(events)]):
                if message_id is None:
                    message_service.judge_status_event(phone_id, event)
            done.set_result(None)
        except Exception as error:
            db.session.rollback()
            done.set_exception(error)
        position += len(events)


def report_writer() -> ReportWriter:
    writer = current_app.extensions.get("smsdesk_report_writer")
    if writer is None:  # setdefault: two threads may get here at once, one writer is kept
        writer = current_app.extensions.setdefault("smsdesk_report_writer", ReportWriter())
    return writer
