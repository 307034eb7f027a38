"""Every page of SMS Desk on a phone, in Debian's chromium: with a phone, messages both ways, a
contact, a group, a campaign and a webhook present, each page the app serves (enumerated from its
url_map, so a new page is checked too) fits 360, 390, 768 and 1366 px without scrolling sideways, in
English and French, and axe-core finds nothing wrong with it at 390 and 1366 px, under the app's own
Content-Security-Policy (which refuses nothing on any page). Screenshots at 390 and 1366 px go to
tests/screenshots/, named layout-….
"""
import re
from pathlib import Path

import pytest
import requests

from .browser_support import CHROMIUM

if not CHROMIUM.exists():
    pytest.skip("Debian's chromium is not installed (apt-get install chromium)", allow_module_level=True)

from playwright.sync_api import expect  # noqa: E402

from .browser_support import (  # noqa: E402
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    SCREENSHOTS,
    browser,  # noqa: F401 (a fixture)
    confirm_the_sending,
    create_administrator,
    open_page,  # noqa: F401 (a fixture)
    record_page_errors,
    record_policy_violations,
    running_sms_desk,
)

pytestmark = pytest.mark.browser

WIDTHS = (1366, 768, 390, 360)  # widest first: a page laid out wide, then narrowed
SCREENSHOT_WIDTHS = (1366, 390)
ANSWERING = "+33612345678"

# GET routes that are no page a person reads: data for scripts, files, other people's links
NOT_PAGES = {
    "static", "auth.setup", "auth.reset_password", "auth.choose_password", "messages.text_rules",
    "messages.inbox_news", "messages.live_statuses", "main.healthz", "main.ping", "callbacks.receive",
    "callbacks.answer_address_check",
    "campaigns.progress", "campaigns.preview", "campaigns.review", "phones.previewed_callbacks",
    "phones.checked_numbers", "phones.health", "phones.first_callback", "contacts.import_show", "contacts.delete",
    "contacts.delete_group", "api-docs.openapi_json",
}
SIGNED_OUT_PAGES = {"auth.login", "auth.forgot_password"}


def page_rules():
    """(endpoint, rule) of each GET route that renders an HTML page."""
    from webapp import create_app
    app = create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://", "REDIS_URL": "redis://127.0.0.1:1"})
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.endpoint in NOT_PAGES:
            continue
        if rule.endpoint.startswith("api.") or rule.rule.endswith((".csv", ".json")):
            continue
        yield rule.endpoint, rule.rule


def fill(rule: str, ids: dict) -> str:
    def value(match):
        name = match.group(1).split(":")[-1]
        assert name in ids, f"no value for <{name}> in {rule}: create one in the test"
        return str(ids[name])
    return re.sub(r"<([^>]+)>", value, rule)


def last_id(page, link_pattern: str) -> int:
    hrefs = page.locator("main a[href]").evaluate_all("links => links.map(link => link.getAttribute('href'))")
    found = [int(m.group(1)) for href in hrefs if (m := re.search(link_pattern, href))]
    assert found, f"no link matching {link_pattern} on {page.url}"
    return found[0]


def fill_the_desk(page) -> dict:
    """A phone, an SMS out to two numbers (a campaign), one in, a contact, a group, a webhook, a
    pool, a second user; returns the ids the pages' urls take."""
    create_administrator(page)
    page.locator("a.card.provider", has=page.get_by_role("heading", name="Simulator", exact=True)).click()
    page.get_by_role("button", name="Save").click()
    inbound_url = page.locator("#url-inbound").input_value()
    phone_id = int(re.search(r"/phones/(\d+)", page.url).group(1))

    page.goto("/compose")
    page.get_by_label("To").fill("06 12 34 56 79, 06 12 34 56 78")
    page.get_by_label("Message").fill("Rappel : réunion des parents jeudi à 18 h, salle polyvalente.")
    page.get_by_role("button", name="Send", exact=True).click()
    confirm_the_sending(page)
    answer = requests.post(inbound_url, data={"message_id": "SIMIN-1", "from": ANSWERING,
                                              "text": "Bien reçu, je serai là avec les enfants."}, timeout=10)
    assert answer.status_code == 200

    page.goto("/contacts/new")
    page.get_by_label("Name", exact=True).fill("Hélène Dupont-Lefebvre")
    page.get_by_label("Number", exact=True).fill(ANSWERING)
    page.get_by_role("button", name="Save").click()
    page.goto("/contacts/")
    contact_id = last_id(page, r"^/contacts/(\d+)$")
    page.get_by_role("link", name="Groups", exact=True).click()
    page.get_by_label("Group name").fill("Parents d'élèves")
    page.get_by_role("button", name="Create the group").click()
    page.goto("/contacts/groups/")
    group_id = last_id(page, r"^/contacts/groups/(\d+)$")

    page.goto("/account")
    page.get_by_role("link", name="Your webhooks").click()
    page.get_by_label("URL", exact=True).fill("http://127.0.0.1:9/hook")
    page.get_by_label(re.compile(r"^message\.received")).check()
    page.get_by_role("button", name="Add the endpoint").click()
    expect(page.locator(".flash.success")).to_be_visible()
    page.goto("/webhooks")
    endpoint_id = last_id(page, r"^/webhooks/(\d+)$")

    page.goto("/admin/users")
    page.get_by_label("E-mail").fill("colleague@example.org")
    page.get_by_label("Password").fill("another long enough password")
    page.get_by_role("button", name="Create the user").click()
    user_id = max(int(m) for m in re.findall(r"/admin/users/(\d+)/password", page.content()))

    page.goto("/phones/pools/new")
    page.get_by_label("Name", exact=True).fill("Tous les numéros de l'école")
    page.get_by_label("Place of Simulator").fill("1")
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".flash.success")).to_be_visible()
    pool_id = last_id(page, r"^/phones/pools/(\d+)$")

    page.goto("/campaigns")
    campaign_id = last_id(page, r"^/campaigns/(\d+)$")
    page.goto("/history")
    message_id = last_id(page, r"^/messages/(\d+)$")
    return {"phone_id": phone_id, "message_id": message_id, "contact_id": contact_id, "group_id": group_id,
            "campaign_id": campaign_id, "pool_id": pool_id, "endpoint_id": endpoint_id, "user_id": user_id,
            "number": ANSWERING, "provider_key": "simulator"}


WIDEST = """(width) => Array.from(document.querySelectorAll("body *"))
    .filter((element) => element.getBoundingClientRect().right > width + 0.5)
    .map((element) => `${element.tagName.toLowerCase()}.${element.classList.value} ${Math.round(element.getBoundingClientRect().right)}`)
    .slice(-3).join(", ")"""


def too_wide(page, url: str, width: int) -> list:
    scroll_width = page.evaluate("document.documentElement.scrollWidth")
    if scroll_width > width:
        return [f"{url} is {scroll_width} px wide at {width} px: {page.evaluate(WIDEST, width)}"]
    return []


# evaluated through the DevTools protocol, which the page's Content-Security-Policy does not govern
# (a <script> tag carrying it would be refused); axe-core itself needs no eval nor inline code
AXE = "() => {\n" + (Path(__file__).resolve().parent / "vendor" / "axe.min.js").read_text() + "\n}"


def accessibility_violations(page, url: str) -> list:
    """What axe-core finds wrong on the page, one line per rule with the elements it names."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(AXE)
    results = page.evaluate("""async () => (await axe.run(document, {resultTypes: ["violations"]})).violations
        .map((v) => `${v.id} (${v.impact}): ${v.help}; ` + v.nodes.slice(0, 4).map((n) => n.target.join(" ")).join(" | ")
                    + (v.nodes.length > 4 ? ` … ${v.nodes.length} in all` : ""))""")
    return [f"{url}: {line}" for line in results]


def check_page(page, url: str, screenshot_name: str) -> tuple[list, list]:
    """The page at each width, widest first: its overflow, what axe says at 1366 and 390 px (the
    menu is laid out differently), a full-page screenshot at those two widths."""
    problems, violations = [], []
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 800})
        problems += too_wide(page, url, width)
        if width in SCREENSHOT_WIDTHS:
            violations += accessibility_violations(page, f"{url} at {width} px")
            SCREENSHOTS.mkdir(exist_ok=True)
            # a long page (the API documentation) takes a while on the loaded machine
            page.screenshot(path=SCREENSHOTS / f"layout-{screenshot_name}-{width}.png", full_page=True, timeout=60_000)
    return problems, violations


def sign_in(page) -> None:
    page.goto("/login")
    page.locator("input[name=email]").fill(ADMIN_EMAIL)
    page.locator("input[name=password]").fill(ADMIN_PASSWORD)
    page.locator("main form [type=submit]").first.click()
    expect(page).not_to_have_url(re.compile(r"/login"))


def test_every_page_fits_a_phone_and_passes_axe_in_english_and_french(tmp_path, browser):  # noqa: F811
    rules = sorted(page_rules())
    with running_sms_desk(tmp_path, WEBHOOK_ALLOW_PRIVATE_ADDRESSES="1", SMTP_URL="smtp://127.0.0.1:9") as base_url:
        filling = browser.new_context(locale="en-US", base_url=base_url)
        filling.set_default_timeout(10_000)
        page = filling.new_page()
        errors = record_page_errors(page)
        ids = fill_the_desk(page)
        filling.close()
        visitor_errors = []
        problems, violations, refused_lists = [], [], []
        for language in ("en", "fr"):
            context = browser.new_context(locale=f"{language}-{language.upper()}", base_url=base_url)
            context.set_default_timeout(10_000)
            visitor = context.new_page()
            visitor_errors.append(record_page_errors(visitor))
            refused_lists.append(record_policy_violations(visitor))
            signed_out = [(endpoint, rule) for endpoint, rule in rules if endpoint in SIGNED_OUT_PAGES]
            signed_in = [(endpoint, rule) for endpoint, rule in rules if endpoint not in SIGNED_OUT_PAGES]
            for number, (endpoint, rule) in enumerate(signed_out + signed_in):
                if number == len(signed_out):
                    sign_in(visitor)
                url = fill(rule, ids)
                visitor.goto(url)
                found = check_page(visitor, f"{language} {url}", f"{language}-{endpoint}")
                problems, violations = problems + found[0], violations + found[1]
            context.close()
        assert not problems, "\n".join(problems)
        assert not violations, "\n".join(violations)
        refused = [line for lines in refused_lists for line in lines]
        assert not refused, "\n".join(refused)
        errors += [error for visitor_error in visitor_errors for error in visitor_error]
        assert not errors, errors


def test_a_narrow_screen_folds_the_menu_behind_a_button_and_marks_the_current_page(tmp_path, open_page):  # noqa: F811
    with running_sms_desk(tmp_path) as base_url:
        page = open_page(base_url)
        errors = record_page_errors(page)
        create_administrator(page)
        page.goto("/history")
        nav = page.get_by_role("navigation", name="Main menu")
        expect(nav.get_by_role("link", name="History")).to_have_attribute("aria-current", "page")
        expect(nav.get_by_role("link", name="Dashboard")).not_to_have_attribute("aria-current", re.compile("."))
        expect(page.get_by_role("button", name="Menu")).to_be_hidden()  # a wide screen shows the menu itself

        page.set_viewport_size({"width": 390, "height": 844})
        menu = page.get_by_role("button", name="Menu")
        expect(menu).to_have_attribute("aria-expanded", "false")
        expect(nav).to_be_hidden()
        header = page.get_by_role("banner").bounding_box()
        assert header["height"] < 80, header
        page.keyboard.press("Tab")
        expect(page.get_by_role("link", name="Skip to the content")).to_be_focused()
        page.keyboard.press("Enter")
        expect(page.locator("main")).to_be_focused()

        menu.click()
        expect(menu).to_have_attribute("aria-expanded", "true")
        expect(nav.get_by_role("link", name="Phones")).to_be_visible()
        page.screenshot(path=SCREENSHOTS / "layout-menu-open-390.png", full_page=True)
        page.keyboard.press("Escape")
        expect(nav).to_be_hidden()
        expect(menu).to_be_focused()
        menu.click()
        nav.get_by_role("link", name="Phones").click()
        expect(page).to_have_url(re.compile(r"/phones/"))
        expect(page.get_by_role("button", name="Menu")).to_have_attribute("aria-expanded", "false")
        assert not errors, errors
