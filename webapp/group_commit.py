"""A group commit: many threads' items written in a few batches, each thread answered once its own
item is written.

A thread that submits an item while no one is writing leads: it writes every item waiting, its
own and those submitted meanwhile, until its own is written, then hands the lead to the oldest
thread still waiting. The others sleep until their item is written (each is woken on its own) or
the lead comes to them. No thread of its own, so nothing is handed to one and back.
"""
import threading
from concurrent.futures import Future
from typing import Callable


class Pending:
    """One submitted item, and what wakes its thread: the item's answer, or the lead passed to it."""

    def __init__(self, item):
        self.item = item
        self.done = Future()
        self.leads = False
        self.wake = threading.Event()
        self.done.add_done_callback(lambda _done: self.wake.set())


class GroupCommit:
    """write(batch) writes a list of Pending and answers each one's `done` (set_result or
    set_exception); one it leaves unanswered gets an error. idle() runs when the lead ends with
    nobody waiting (to give back a connection kept from batch to batch, say)."""

    def __init__(self, write: Callable[[list[Pending]], None], idle: Callable[[], None] = lambda: None,
                 batch_limit: int = 200, wait_seconds: float = 30.0):
        self._write, self._idle = write, idle
        self.batch_limit, self.wait_seconds = batch_limit, wait_seconds
        self._lock = threading.Lock()
        self._waiting: list[Pending] = []
        self._led = False

    def submit(self, item):
        """Returns the item's answer once written; raises what writing it raised, or TimeoutError
        when it waited wait_seconds without being taken into a batch."""
        mine = Pending(item)
        with self._lock:
            self._waiting.append(mine)
            mine.leads, self._led = not self._led, True
        if not mine.leads:
            self._wait_for_answer_or_lead(mine)
        if mine.leads:
            self._lead_until_written(mine)
        return mine.done.result(timeout=0)

    def _wait_for_answer_or_lead(self, mine: Pending) -> None:
        if mine.wake.wait(self.wait_seconds):
            return
        with self._lock:
            if mine in self._waiting and not mine.leads:  # untouched: give up
                self._waiting.remove(mine)
                raise TimeoutError("waited too long to be written")
        mine.wake.wait()  # taken into a batch (which answers each) or just given the lead

    def _lead_until_written(self, mine: Pending) -> None:
        try:
            while not mine.done.done():
                with self._lock:
                    batch, self._waiting = self._waiting[:self.batch_limit], self._waiting[self.batch_limit:]
                if not batch:  # its own went with a batch that answered it nothing: should not happen
                    mine.done.set_exception(RuntimeError("lost before it was written"))
                    break
                self._write_answering_each(batch)
        finally:
            with self._lock:
                if self._waiting:
                    self._waiting[0].leads = True
                    self._waiting[0].wake.set()
                else:
                    self._led = False
                    self._idle()

    def _write_answering_each(self, batch: list[Pending]) -> None:
        """Whatever happens, each item in the batch gets an answer: one left without would sleep
        for ever, or, leading, write empty batches for ever."""
        try:
            self._write(batch)
        except Exception as error:
            for pending in batch:
                if not pending.done.done():
                    pending.done.set_exception(error)
        for pending in batch:
            if not pending.done.done():
                pending.done.set_exception(RuntimeError("not answered by the writer"))
