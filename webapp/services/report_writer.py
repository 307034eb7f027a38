"""Status reports from callbacks, written by one thread per web process, many per transaction.

Written by each request thread in its own transaction, a report cost three statements and a
commit, and on SQLite the request threads queued for the write lock. A callback still answers
only once its reports are committed, so a 2xx still means stored.
"""
import logging
import queue
import threading
from concurrent.futures import Future

from flask import current_app

from ..extensions import db
from ..providers.base import StatusEvent
from . import messages as message_service

log = logging.getLogger(__name__)

BATCH_LIMIT = 200
IDLE_SECONDS = 30  # the thread ends after this long without a report, and starts again with the next
WAIT_SECONDS = 30  # a callback waiting longer answers 500, and the provider tries again


class ReportWriter:
    def __init__(self, app):
        self.app = app
        self._pending = queue.Queue()
        self._lock = threading.Lock()
        self._thread = None

    def write(self, phone_id: int, events: list[StatusEvent]) -> None:
        """Returns once the events are committed; raises what writing them raised."""
        done = Future()
        with self._lock:
            self._pending.put((phone_id, events, done))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="report-writer", daemon=True)
                self._thread.start()
        done.result(timeout=WAIT_SECONDS)

    def _run(self) -> None:
        while True:
            try:
                batch = [self._pending.get(timeout=IDLE_SECONDS)]
            except queue.Empty:
                with self._lock:  # write() puts and checks under the same lock: nothing is left behind
                    if self._pending.empty():
                        self._thread = None
                        return
                continue
            while len(batch) < BATCH_LIMIT and not self._pending.empty():
                batch.append(self._pending.get_nowait())
            with self.app.app_context():
                write_batch(batch)


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
        writer = current_app.extensions.setdefault("smsdesk_report_writer",
                                                   ReportWriter(current_app._get_current_object()))
    return writer
