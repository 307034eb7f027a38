"""What the browser tests share: SMS Desk started by its real run command, Debian's chromium
driven by Playwright, and full-page screenshots in tests/screenshots/ (git-ignored).

Test modules skip themselves when /usr/bin/chromium is missing before importing this one.
"""
import os
import re
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests

CHROMIUM = Path("/usr/bin/chromium")
PROJECT_ROOT = Path(__file__).resolve().parent.parent
SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"

ADMIN_EMAIL = "admin@example.org"
ADMIN_PASSWORD = "correct horse battery staple"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def running_sms_desk(folder: Path, all_processes: bool = False, **extra_env: str):
    """SMS Desk started by `python -m webapp.launcher` on a fresh instance folder inside `folder`,
    with `extra_env` added to its environment (e.g. TWILIO_API_BASE_URL); yields its base URL.
    One web process and one worker, which serve one browser, unless `all_processes`: then as many
    as `make run` starts (two web processes, a worker per core), each costing a second or more of
    CPU to start on the shared 2-core machine."""
    port = free_port()
    env = dict(os.environ)
    for name in ("DATABASE_URL", "REDIS_URL", "PUBLIC_BASE_URL", "SECRET_KEY", "WEB_CONCURRENCY", "WORKERS"):
        env.pop(name, None)  # a developer's own settings must not leak into the test instance
    env.update(INSTANCE_PATH=str(folder / "instance"), PORT=str(port), SWEEP_INTERVAL_SECONDS="1",
               PYTHONUNBUFFERED="1")
    if not all_processes:
        env.update(WEB_CONCURRENCY="1", WORKERS="1")
    env.update(extra_env)
    log_path = folder / "launcher.log"
    log = open(log_path, "wb")
    launcher = subprocess.Popen([sys.executable, "-m", "webapp.launcher"], cwd=PROJECT_ROOT, env=env,
                                stdout=log, stderr=subprocess.STDOUT)
    base_url = f"http://127.0.0.1:{port}"

    def output() -> str:
        return log_path.read_text(errors="replace")[-5000:]

    try:
        deadline = time.monotonic() + 60
        while True:
            assert launcher.poll() is None, "the launcher stopped:\n" + output()
            try:
                if requests.get(f"{base_url}/healthz", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            assert time.monotonic() < deadline, "SMS Desk was not healthy within 60 s:\n" + output()
            time.sleep(0.25)
        yield base_url
    finally:
        if launcher.poll() is None:
            launcher.send_signal(signal.SIGINT)
            try:
                launcher.wait(timeout=30)
            except subprocess.TimeoutExpired:
                launcher.kill()
                launcher.wait()
        log.close()
        print("---- the launcher's output (its last 5000 characters) ----\n" + output())


@pytest.fixture(scope="session")
def shared_browser():
    """One chromium for the whole run (launching one took seconds on the loaded machine); each test
    works in browser contexts of its own, which share no cookie, storage or cache."""
    from playwright.sync_api import sync_playwright
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        yield browser
        browser.close()


@pytest.fixture
def browser(shared_browser):
    """The shared chromium, with no context of an earlier test left open; the test's contexts are
    closed after it, even those a failure left open."""
    for context in shared_browser.contexts:
        context.close()
    yield shared_browser
    for context in shared_browser.contexts:
        context.close()


def record_page_errors(page) -> list:
    """JavaScript errors and HTTP errors the page meets, to assert there were none at the end."""
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("response", lambda response: response.status >= 400 and errors.append(
        f"HTTP {response.status} for {response.request.method} {response.url}"))
    return errors


def record_policy_violations(page) -> list:
    """What the Content-Security-Policy refused on the page: chromium says "Refused to …" on the
    console, and the page hears a securitypolicyviolation event, told here on the console too."""
    page.add_init_script("""document.addEventListener("securitypolicyviolation", (event) =>
        console.error(`CSP violation: ${event.effectiveDirective} refused ${event.blockedURI}`));""")
    violations = []
    page.on("console", lambda message: message.text.startswith(("Refused to", "CSP violation"))
            and violations.append(f"{page.url}: {message.text}"))
    return violations


class Screenshots:
    """Numbered full-page screenshots: 01-setup.png, or twilio-01-setup.png with a prefix."""

    def __init__(self, page, prefix: str = ""):
        self.page = page
        self.prefix = prefix
        self.number = 0
        SCREENSHOTS.mkdir(exist_ok=True)

    def take(self, name: str) -> Path:
        self.number += 1
        path = SCREENSHOTS / f"{self.prefix}{self.number:02d}-{name}.png"
        self.page.screenshot(path=path, full_page=True)
        return path


@pytest.fixture
def open_page(browser):  # noqa: F811 (browser is the fixture above)
    """Returns a function that opens a page on a given SMS Desk, closed at the end of the test."""
    contexts = []

    def open_page(base_url):
        context = browser.new_context(locale="en-US", base_url=base_url, viewport={"width": 1280, "height": 900})
        context.set_default_timeout(10_000)
        contexts.append(context)
        return context.new_page()
    yield open_page
    for context in contexts:
        context.close()


def create_administrator(page, shot=None) -> None:
    """A newcomer's first step: the first visit asks for the administrator."""
    from playwright.sync_api import expect
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/setup$"))
    page.get_by_label("E-mail").fill(ADMIN_EMAIL)
    page.get_by_label("Password", exact=True).fill(ADMIN_PASSWORD)
    page.get_by_label("Password again").fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Create the administrator").click()
    expect(page.get_by_role("heading", name="Add a phone")).to_be_visible()
    if shot is not None:
        shot.take("choose-provider")


def choose_provider(page, name: str) -> None:
    from playwright.sync_api import expect
    page.locator("a.card.provider", has=page.get_by_role("heading", name=name, exact=True)).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(name)  # "New phone: …"
    expect(page.get_by_label("Name", exact=True)).to_have_value(name)


def choose_sending_phone(page, name: str) -> None:
    """Picks a phone in compose's "Send from", whose options read "name — its number or sender"."""
    select = page.get_by_label("Send from")
    label = next(text for text in select.locator("option").all_inner_texts()
                 if text == name or text.startswith(name + " — "))
    select.select_option(label=label)


def confirm_the_sending(page) -> None:
    """A send to several recipients stops on its confirmation page: its "Send N SMS" button sends."""
    page.get_by_role("button", name=re.compile(r"^Send \d+ SMS$")).click()


def follow_menu_link(page, name):
    """Clicks a link of the main menu, unfolding the menu first on a narrow screen."""
    menu_button = page.get_by_role("button", name="Menu")
    if menu_button.is_visible() and menu_button.get_attribute("aria-expanded") != "true":
        menu_button.click()  # not when already unfolded: a click would fold it
    page.get_by_role("navigation").get_by_role("link", name=name).click()
