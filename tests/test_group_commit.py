"""The group commit on its own, with no database: a writer that records its batches."""
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from webapp.group_commit import GroupCommit


class RecordingWriter:
    def __init__(self, pause=0.0, refuse=()):
        self.batches, self.pause, self.refuse = [], pause, set(refuse)

    def __call__(self, batch):
        time.sleep(self.pause)  # a write takes a while, so items pile up behind it
        self.batches.append([pending.item for pending in batch])
        for pending in batch:
            if pending.item in self.refuse:
                pending.done.set_exception(ValueError(f"cannot write {pending.item}"))
            else:
                pending.done.set_result(f"wrote {pending.item}")


def test_items_from_many_threads_are_written_together_and_each_answered_once_written():
    writer = RecordingWriter(pause=0.01)
    group = GroupCommit(writer)
    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(group.submit, range(200)))
    assert answers == [f"wrote {item}" for item in range(200)]
    written = [item for batch in writer.batches for item in batch]
    assert sorted(written) == list(range(200))  # each once
    assert len(writer.batches) < 100  # shared: far fewer batches than items


def test_an_item_that_cannot_be_written_fails_alone():
    group = GroupCommit(RecordingWriter(pause=0.01, refuse={3}))
    with ThreadPoolExecutor(8) as pool:
        futures = {item: pool.submit(group.submit, item) for item in range(8)}
    with pytest.raises(ValueError, match="cannot write 3"):
        futures[3].result()
    assert [futures[item].result() for item in range(8) if item != 3] == [f"wrote {i}" for i in range(8) if i != 3]


def test_a_write_that_raises_fails_its_batch_and_the_next_items_are_written():
    calls = []

    def write(batch):
        calls.append(len(batch))
        if len(calls) == 1:
            raise ConnectionError("the database went away")
        for pending in batch:
            pending.done.set_result("written")

    group = GroupCommit(write)
    with pytest.raises(ConnectionError):
        group.submit("first")
    assert group.submit("second") == "written"


def test_an_item_the_writer_leaves_unanswered_gets_an_error_rather_than_a_wait_for_ever():
    group = GroupCommit(lambda batch: None)
    with pytest.raises(RuntimeError, match="not answered"):
        group.submit("forgotten")
    assert GroupCommit(RecordingWriter()).submit("next") == "wrote next"


def test_an_item_kept_waiting_too_long_gives_up_while_the_leader_finishes():
    release = threading.Event()

    def write(batch):
        release.wait(10)  # the database is locked
        for pending in batch:
            pending.done.set_result("written")

    group = GroupCommit(write, wait_seconds=0.2)
    with ThreadPoolExecutor(4) as pool:
        leader = pool.submit(group.submit, "leader")
        time.sleep(0.05)
        behind = [pool.submit(group.submit, f"behind {index}") for index in range(3)]
        outcomes = [future.exception(timeout=5) for future in behind]
        release.set()
        assert leader.result(timeout=5) == "written"
    assert [type(outcome) for outcome in outcomes] == [TimeoutError] * 3
    assert group.submit("later") == "written"


def test_idle_runs_when_the_lead_ends_with_nobody_waiting():
    idle = []
    group = GroupCommit(RecordingWriter(), idle=lambda: idle.append(True))
    group.submit("one")
    group.submit("two")
    assert idle == [True, True]
