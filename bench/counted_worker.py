"""worker.py, counting the SQL statements it sends to the database: the count goes to the file
named by the first argument, rewritten every half second. For the polling-cost scenario."""
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
    while True:
        path.write_text(str(statements))
        threading.Event().wait(0.5)


if __name__ == "__main__":
    counts = Path(sys.argv.pop(1))
    threading.Thread(target=write_counts, args=(counts,), daemon=True).start()
    runpy.run_path(str(Path(__file__).resolve().parent.parent / "worker.py"), run_name="__main__")
