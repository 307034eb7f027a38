"""Status reports from callbacks, written many per transaction (a group commit).

Written by each request thread in its own transaction, a report cost three statements and a
commit, and on SQLite the request threads queued for the write lock. Now a callback puts its
reports in a shared list and takes the web process's write turn: whoever gets the turn writes
every report waiting, its own and those of the callbacks that arrived meanwhile; they in turn find
theirs written. No thread of its own, so no handing over to one and back (a third of a callback's
time went to that). A callback still answers only once its reports are committed, so a 2xx still
means stored.
"""
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


class ReportWriter:
    def __init__(self):
        self._waiting = []
        self._waiting_lock = threading.Lock()
        self._write_turn = threading.Lock()

    def write(self, phone_id: int, events: list[StatusEvent]) -> None:
        """Returns once the events are committed; raises what writing them raised."""
        done = Future()
        with self._waiting_lock:
            self._waiting.append((phone_id, events, done))
        if not self._write_turn.acquire(timeout=WAIT_SECONDS):
            if not done.done():
                raise TimeoutError("status reports waited too long for their turn to be written")
            return done.result(timeout=0)
        try:
            while not done.done():  # else another callback wrote it while this one waited
                with self._waiting_lock:
                    batch, self._waiting = self._waiting[:BATCH_LIMIT], self._waiting[BATCH_LIMIT:]
                write_answering_each(batch)
                if not batch:  # its own went with a batch that answered it nothing: should not happen
                    done.set_exception(RuntimeError("status reports lost before they were written"))
        finally:
            self._write_turn.release()
        done.result(timeout=0)


def write_answering_each(batch: list[tuple[int, list[StatusEvent], Future]]) -> None:
    """Whatever happens, each callback in the batch gets an answer: one left without would wait
    for its turn, find nothing to write, and hold the turn for ever."""
    try:
        write_batch(batch)
    finally:
        for _phone_id, _events, done in batch:
            if not done.done():
                done.set_exception(RuntimeError("status reports could not be written"))


def write_batch(batch: list[tuple[int, list[StatusEvent], Future]]) -> None:
    reports = [(phone_id, event) for phone_id, events, _done in batch for event in events]
    try:
        with db.engine.begin() as connection:  # a Core connection: the ORM session cost a third of the writer's time
            moved = message_service.move_reported_messages(reports, connection)
    except Exception:
        log.exception("could not write %d status reports together; writing them one by one", len(reports))
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
