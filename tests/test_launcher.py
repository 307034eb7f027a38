"""`make run`'s launcher, run as `make run` runs it: a worker killed is started again, and one that
keeps dying makes the launcher give up with an error."""
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from .conftest import PROJECT_ROOT, SECRET_KEY, free_port, wait_for


class Launcher:
    def __init__(self, instance_path, **environment):
        env = {name: value for name, value in os.environ.items()
               if name not in ("REDIS_URL", "DATABASE_URL", "LOG_LEVEL")}
        env.update(PORT=str(free_port()), INSTANCE_PATH=str(instance_path), SECRET_KEY=SECRET_KEY, WORKERS="1",
                   WEB_CONCURRENCY="1", **environment)
        self.process = subprocess.Popen([sys.executable, "-m", "webapp.launcher"], cwd=PROJECT_ROOT, env=env,
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines = []
        self.seen_workers = []  # the pids of its worker children, in the order they appeared
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.process.stdout:
            self.lines.append(line.rstrip())

    def said(self, pattern) -> list:
        return [match for line in list(self.lines) if (match := re.search(pattern, line))]

    def worker_pids(self) -> list[int]:
        for pid in children_of(self.process.pid):
            if pid not in self.seen_workers and "worker.py" in command_line(pid):
                self.seen_workers.append(pid)
        return self.seen_workers

    def wait_for_worker(self, count: int) -> int:
        wait_for(lambda: len(self.worker_pids()) >= count, timeout=60,
                 message=f"worker start #{count}:\n" + "\n".join(self.lines[-20:]))
        return self.worker_pids()[count - 1]

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()


def children_of(pid: int) -> list[int]:
    try:
        return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except FileNotFoundError:
        return []


def command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except FileNotFoundError:
        return ""


@pytest.fixture
def launcher(tmp_path):
    started = Launcher(tmp_path)
    yield started
    started.stop()


def test_a_killed_worker_is_started_again_and_one_that_keeps_dying_stops_it_with_an_error(launcher):
    first = launcher.wait_for_worker(1)
    wait_for(lambda: launcher.said("SMS Desk is running"), timeout=60, message="running")
    os.kill(first, signal.SIGKILL)
    second = launcher.wait_for_worker(2)
    assert second != first and launcher.process.poll() is None
    assert launcher.said(rf"the worker 1 \(pid {first}\) stopped with code -9; starting it again in 1 s")
    for deaths in range(2, 6):
        os.kill(launcher.wait_for_worker(deaths), signal.SIGKILL)
    assert launcher.process.wait(timeout=60) == 1
    assert launcher.said(r"the worker 1 \(pid \d+\) stopped with code -9, its 5th death within 60 s: giving up")
    assert launcher.said("SMS Desk stopped after an error.")


def test_an_idle_launcher_prints_only_what_a_user_needs(launcher):
    launcher.wait_for_worker(1)
    wait_for(lambda: launcher.said("INFO worker .* started"), timeout=60, message="worker started")
    time.sleep(3)  # six rounds of the worker's background loops
    assert not launcher.said("scheduler lock") and not launcher.said("Listening on"), "\n".join(launcher.lines)
    assert not launcher.said(" DEBUG "), "\n".join(launcher.lines)
    stamp = r"^\d\d:\d\d:\d\d "
    assert launcher.said(stamp + r"broker started the embedded broker \(its log: .*valkey.log\)")
    assert launcher.said(stamp + r"web started the web server \(pid \d+\)")
    assert launcher.said(stamp + r"worker 1 started the worker 1 \(pid \d+\)")
    assert launcher.said(stamp + r"worker 1 INFO worker \S+ started, \d+ senders")
    assert launcher.said(stamp + r"launcher +SMS Desk is running on http://127.0.0.1:\d+")


def test_log_level_debug_shows_the_housekeeping_too_each_line_naming_its_process(tmp_path):
    launcher = Launcher(tmp_path, LOG_LEVEL="debug")
    try:
        # RQ's own INFO line, which SMS Desk shows at DEBUG only
        wait_for(lambda: launcher.said(r"^\S+ worker 1 DEBUG \*\*\* Listening on smsdesk"), timeout=60,
                 message="the worker's queue at DEBUG:\n" + "\n".join(launcher.lines[-20:]))
        wait_for(lambda: launcher.said(r"^\S+ web DEBUG "), timeout=60,
                 message="the web server at DEBUG:\n" + "\n".join(launcher.lines[-20:]))
    finally:
        launcher.stop()


class StoppingSlowly:
    """A worker's process that takes `seconds` to stop once asked (its sends in flight)."""

    def __init__(self, seconds: float):
        self.seconds, self.killed, self.pid, self.returncode = seconds, False, 4242, None

    def wait(self, timeout=None):
        if timeout is not None and timeout < self.seconds:
            raise subprocess.TimeoutExpired("worker.py", timeout)
        self.returncode = 0
        return 0

    def kill(self):
        self.killed = True


@pytest.mark.parametrize("read_timeout", [None, "100"])
def test_a_worker_finishing_sends_as_long_as_the_providers_deadline_is_not_killed(monkeypatch, read_timeout):
    from webapp.launcher import Child
    if read_timeout:
        monkeypatch.setenv("PROVIDER_READ_TIMEOUT", read_timeout)
    else:
        monkeypatch.delenv("PROVIDER_READ_TIMEOUT", raising=False)
    monkeypatch.delenv("PROVIDER_CONNECT_TIMEOUT", raising=False)
    deadline = 5 + float(read_timeout or 30)  # connect + read: a send's longest request
    worker = Child("worker 1", "worker 1", ["worker.py"])
    worker.process = StoppingSlowly(deadline + 1)  # plus recording its answer
    worker.wait()
    assert not worker.process.killed and worker.process.returncode == 0
