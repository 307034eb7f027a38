"""The counter under the text area, in Debian's chromium: for a table of texts typed in New SMS it
shows what webapp.sms_text.text_cost counts; it names the characters that switch a text to 70 per
SMS and those that count two, previews their plain replacement (sms_text.plain_text's, for every
character of its table) before it is applied; a text longer than the phone's provider accepts is
refused with the limit, in New SMS and in a conversation's reply. Screenshots at desktop width and
at 390 px, in English and French, in tests/screenshots/ (git-ignored), named text-counter-NN-…."""
import re

import pytest

from webapp.sms_text import PLAIN_REPLACEMENTS, plain_text, text_cost

from .browser_support import CHROMIUM

if not CHROMIUM.exists():
    pytest.skip("Debian's chromium is not installed (apt-get install chromium)", allow_module_level=True)

from playwright.sync_api import expect  # noqa: E402

from .browser_support import (  # noqa: E402
    Screenshots,
    browser,  # noqa: F401 (a fixture)
    choose_provider,
    create_administrator,
    open_page,  # noqa: F401 (a fixture)
    record_page_errors,
    record_policy_violations,
    running_sms_desk,
)
from .test_browser_providers import NUMBER, send_sms  # noqa: E402

pytestmark = pytest.mark.browser

TEXTS = [
    "", "Hello", "a" * 160, "a" * 161, "a" * 306, "a" * 307, "€" * 80, "€" * 81, "[]{}|^~\\ and €",
    "Line one\nline two", "Réunion à 18 h à l'école", "Ça va ?", "ç" * 70, "ç" * 71, "ж" * 134, "ж" * 135,
    "🙂", "Merci 🙂🙂 !", "C’est « parfait » — à jeudi…", "tab\there", "x" * 1601,
]
ALL_REPLACED = "".join(PLAIN_REPLACEMENTS) + " et 🙂 Привет"


def counter_says(cost, limit="1,600") -> str:
    return f"{cost.length:,} / {limit} characters · {cost.segments} SMS"


def test_the_counter_counts_as_the_server_and_offers_plain_characters(open_page, tmp_path):
    with running_sms_desk(tmp_path) as base_url:
        page = open_page(base_url)
        errors = record_page_errors(page)
        violations = record_policy_violations(page)
        shot = Screenshots(page, prefix="text-counter-")
        create_administrator(page)
        choose_provider(page, "Simulator")
        page.get_by_role("button", name="Save").click()
        expect(page).to_have_url(re.compile(r"/phones/\d+$"))

        page.get_by_role("navigation").get_by_role("link", name="New SMS").click()
        box = page.get_by_label("Message")
        counter = page.locator("[data-sms-counter]")
        for text in TEXTS:
            box.fill(text)
            expect(counter).to_have_text(counter_says(text_cost(text)))
        box.fill("")
        box.press_sequentially("Ça va ? ")  # typed key by key
        expect(counter).to_have_text(counter_says(text_cost("Ça va ? ")))

        # what switches the text to 70 per SMS, what counts two, and the plain version previewed
        text = "Bonjour ! Ça vous dit, la fête de l’école jeudi ? Apportez un gâteau 🙂 et 5 €."
        box.fill(text)
        expect(counter).to_have_text(counter_says(text_cost(text)))
        expect(page.get_by_text("ê, ’, â, and 🙂 switch the whole message to 70 characters per SMS "
                                "instead of 160.")).to_be_visible()  # not Ç: GSM-7 has it
        expect(page.get_by_text("🙂 counts as two characters.")).to_be_visible()
        page.get_by_role("button", name="Replace these characters with plain ones").click()
        preview = page.locator("[data-plain-preview]")
        expect(preview).to_be_visible()
        plain = plain_text(text)
        assert preview.locator("[data-plain-text]").evaluate("p => p.textContent") == plain
        expect(preview.locator("[data-plain-count]")).to_have_text(counter_says(text_cost(plain)))
        expect(preview.get_by_text("Replaced: ê → e · ’ → ' · â → a")).to_be_visible()
        expect(preview.get_by_text("🙂 has no plain equivalent and stays.")).to_be_visible()
        assert box.input_value() == text  # nothing changes before it is applied
        shot.take("preview")
        page.set_viewport_size({"width": 390, "height": 844})
        shot.take("preview-390")
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        page.set_viewport_size({"width": 1280, "height": 900})
        page.get_by_role("button", name="Keep my text").click()
        expect(preview).to_be_hidden()
        assert box.input_value() == text

        # the same table as the server's, character for character
        box.fill(ALL_REPLACED)
        page.get_by_role("button", name="Replace these characters with plain ones").click()
        assert preview.locator("[data-plain-text]").evaluate("p => p.textContent") == plain_text(ALL_REPLACED)
        page.get_by_role("button", name="Use this text").click()
        expect(preview).to_be_hidden()
        assert box.input_value() == plain_text(ALL_REPLACED)
        expect(counter).to_have_text(counter_says(text_cost(plain_text(ALL_REPLACED))))
        expect(page.get_by_role("button", name="Replace these characters with plain ones")).to_be_hidden()

        # too long: said under the text area, then refused with the limit when sent anyway
        page.get_by_label("To", exact=True).fill("06 12 34 56 78")
        too_long = "Réunion " + "x" * 1593
        box.fill(too_long)
        expect(page.get_by_text("Too long for the SMS Desk simulator, which accepts at most 1,600 characters: "
                                "remove 1. SMS Desk never cuts a text.")).to_be_visible()
        page.get_by_role("button", name="Send", exact=True).click()
        expect(page.locator(".field.has-error .error")).to_have_text(
            "This text counts 1,601 characters and the SMS Desk simulator accepts at most 1,600: shorten it by 1. "
            "SMS Desk never cuts a text.")
        assert box.input_value() == too_long
        expect(page.get_by_text("Too long for the SMS Desk simulator")).to_be_hidden()  # said once, by the server
        shot.take("too-long")
        box.press("End")
        box.press("Backspace")
        expect(page.locator(".field.has-error .error")).to_have_count(0)  # the text changed: the refusal goes
        box.press_sequentially("x")
        expect(page.get_by_text("Too long for the SMS Desk simulator, which accepts at most 1,600 characters: "
                                "remove 1. SMS Desk never cuts a text.")).to_be_visible()

        # the reply of a conversation
        send_sms(page, "Simulator", "Bonjour")
        page.goto(f"/conversations/{NUMBER}")
        page.set_viewport_size({"width": 390, "height": 844})
        reply = page.get_by_label("Reply")
        reply_counter = page.locator("[data-sms-counter]")
        reply.fill("Très bien, à demain : bonne fête !")
        expect(reply_counter).to_have_text(counter_says(text_cost("Très bien, à demain : bonne fête !")))
        expect(page.get_by_text("ê switches the whole message to 70 characters per SMS instead of 160.")).to_be_visible()
        reply.fill("ok " * 534)
        page.get_by_role("button", name="Send", exact=True).click()
        expect(page.locator(".field.has-error .error")).to_contain_text(
            "This text counts 1,602 characters and the SMS Desk simulator accepts at most 1,600")
        shot.take("reply-too-long-390")
        assert page.evaluate("document.documentElement.scrollWidth") <= 390

        # in French
        page.goto("/account")
        page.get_by_label("Language").select_option("fr")
        page.get_by_role("button", name="Save").click()
        page.goto("/compose")
        page.get_by_label("Message").fill("Ça, c’est « parfait » : 10 € 🙂")
        expect(page.locator("[data-sms-counter]")).to_have_text(re.compile(r"^31 / 1\s600 caractères · 1 SMS$"))
        expect(page.get_by_text("’, «, » et 🙂 font passer tout le message à 70 caractères par SMS au lieu "
                                "de 160.")).to_be_visible()
        page.get_by_role("button", name="Remplacer ces caractères par des caractères simples").click()
        expect(page.get_by_text("🙂 n’a pas d’équivalent simple et reste.")).to_be_visible()
        shot.take("preview-fr-390")
        assert page.evaluate("document.documentElement.scrollWidth") <= 390

        assert errors == [] and violations == []


RECORD_WHAT_IS_SAID = """window.said = [];
document.addEventListener("DOMContentLoaded", () => {
  const region = document.querySelector("[data-count-said]");
  if (!region) return;
  new MutationObserver(() => { if (region.textContent) window.said.push(region.textContent); })
    .observe(region, {childList: true, characterData: true, subtree: true});
});"""


def test_a_screen_reader_hears_the_count_when_the_number_of_sms_changes_not_at_every_key(open_page, tmp_path):
    with running_sms_desk(tmp_path) as base_url:
        page = open_page(base_url)
        page.add_init_script(RECORD_WHAT_IS_SAID)
        errors = record_page_errors(page)
        create_administrator(page)
        choose_provider(page, "Simulator")
        page.get_by_role("button", name="Save").click()
        expect(page).to_have_url(re.compile(r"/phones/\d+$"))
        page.goto("/compose")
        box = page.get_by_label("Message")
        said = page.get_by_role("status").and_(page.locator("[data-count-said]"))
        expect(page.locator("[data-sms-counter]")).not_to_have_attribute("aria-live", re.compile("."))

        box.press_sequentially("R")  # from 0 to 1 SMS: said
        expect(said).to_have_text("1 / 1,600 characters · 1 SMS")
        box.press_sequentially("endez-vous à 18 h devant la salle")  # still 1 SMS: nothing more said
        text = "Rendez-vous à 18 h devant la salle"
        expect(page.locator("[data-sms-counter]")).to_have_text(counter_says(text_cost(text)))
        assert page.evaluate("window.said") == ["1 / 1,600 characters · 1 SMS"]

        box.press_sequentially(" " + "x" * (160 - len(text) - 1))  # 160 characters: still 1 SMS
        assert page.evaluate("window.said") == ["1 / 1,600 characters · 1 SMS"]
        box.press_sequentially("!")  # the 161st: 2 SMS
        text = text + " " + "x" * (160 - len(text) - 1) + "!"
        expect(said).to_have_text(counter_says(text_cost(text)))
        assert len(page.evaluate("window.said")) == 2, page.evaluate("window.said")

        box.press_sequentially(" 🙂")  # 70 per SMS now: the count and why, once
        text += " 🙂"
        expect(said).to_have_text(counter_says(text_cost(text)) + ". 🙂 switches the whole message to 70 characters "
                                  "per SMS instead of 160.")

        box.fill("a" * 1579)
        box.press_sequentially("a")  # 20 left: near the limit, said with what is left
        expect(said).to_have_text("1,580 / 1,600 characters · 11 SMS. 20 characters left")
        box.fill("a" * 1600)  # still near: nothing said
        box.press_sequentially("a")  # over
        expect(said).to_have_text("Too long for the SMS Desk simulator, which accepts at most 1,600 characters: "
                                  "remove 1. SMS Desk never cuts a text.")
        assert len(page.evaluate("window.said")) < 10, page.evaluate("window.said")  # not one per key
        assert errors == []
