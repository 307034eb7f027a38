"""worker.py, counting the SQL statements it sends to the database: the count goes to the file
named by the first argument, rewritten every half second. For the polling-cost scenario. With
BENCH_PROFILE set, the worker runs under cProfile and its statistics go to that path followed by
the worker's pid, when it stops."""
import cProfile
import os
import runpy
import sys
import threading
from pathlib import Path

from sqlalchemy import event
from sqlalchemy.engine import Engine

statements = 0
lock = threading.Lock()


@event.listens_for(Engine, "before_cursor_execute")
def count_statement(*_):
    global statements
    with lock:
        statements += 1


def write_counts(path: Path) -> None:
    """In place, padded to a fixed width: a file opened once costs the measured worker one system
    call each time, not an open, a write and a close."""
    descriptor, written, tick = os.open(path, os.O_WRONLY | os.O_CREAT), None, threading.Event()
    while True:
        if statements != written:
            written = statements
            os.pwrite(descriptor, f"{written:<20}".encode(), 0)
        tick.wait(0.5)


def run_worker() -> None:
    runpy.run_path(str(Path(__file__).resolve().parent.parent / "worker.py"), run_name="__main__")


if __name__ == "__main__":
    counts = Path(sys.argv.pop(1))
    threading.Thread(target=write_counts, args=(counts,), daemon=True).start()
    if os.environ.get("BENCH_PROFILE"):
        cProfile.run("run_worker()", f"{os.environ['BENCH_PROFILE']}.{os.getpid()}")
    else:
        run_worker()
