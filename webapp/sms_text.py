"""How many SMS a text costs: encoding and segment count (static/js/text_counter.js counts with the
same rules, served by counter_rules), and its plain-character version."""
import unicodedata
from dataclasses import dataclass

GSM7_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = set("\f^{}\\[~]|€")

GSM7 = "GSM-7"
UCS2 = "UCS-2"

SINGLE_LIMIT = {GSM7: 160, UCS2: 70}
MULTIPART_LIMIT = {GSM7: 153, UCS2: 67}


@dataclass(frozen=True)
class TextCost:
    encoding: str
    length: int  # in septets for GSM-7, in UTF-16 code units for UCS-2
    segments: int


def text_cost(text: str) -> TextCost:
    if all(ch in GSM7_BASIC or ch in GSM7_EXTENSION for ch in text):
        encoding = GSM7
        length = sum(2 if ch in GSM7_EXTENSION else 1 for ch in text)
    else:
        encoding = UCS2
        length = sum(2 if ord(ch) > 0xFFFF else 1 for ch in text)
    if length == 0:
        segments = 0
    elif length <= SINGLE_LIMIT[encoding]:
        segments = 1
    else:
        segments = -(-length // MULTIPART_LIMIT[encoding])
    return TextCost(encoding, length, segments)


# ---- plain characters: what "replace these characters with plain ones" does ----

# Characters outside GSM-7 that people type or paste without meaning them (a word processor's
# quotes and dashes, a no-break space) and what they become. The letters are derived below.
PLAIN_PUNCTUATION = {
    "‘": "'", "’": "'", "‚": "'", "‛": "'", "′": "'", "´": "'", "`": "'", "‹": "'", "›": "'",
    "“": '"', "”": '"', "„": '"', "‟": '"', "″": '"', "«": '"', "»": '"',
    "‐": "-", "‑": "-", "‒": "-", "–": "-", "—": "-", "―": "-", "−": "-", "•": "-",
    "…": "...", "×": "x", "©": "(c)", "®": "(R)", "™": "TM", "\t": " ",
    "\u00a0": " ", "\u2007": " ", "\u202f": " ", "\u2002": " ", "\u2003": " ", "\u2009": " ", "\u200a": " ",
    "\u200b": "", "\u2060": "", "\ufeff": "", "\u00ad": "",  # zero-width spaces, word joiner, soft hyphen
    "œ": "oe", "Œ": "OE", "ð": "d", "Ð": "D", "þ": "th", "Þ": "Th", "ł": "l", "Ł": "L", "đ": "d", "Đ": "D",
    "ı": "i", "ŉ": "'n", "ẞ": "SS",
}
# Latin letters with a diacritic GSM-7 lacks (ç ê â ô û ë ï ÿ á í ó ú ő ž…) lose it; those GSM-7 has
# (é è à ù ì ò Ç É Ä Ö Ñ Ü ß…) are left as they are. Latin-1, Latin Extended-A and -B, Latin
# Extended Additional (Vietnamese), and the ligatures ﬁ ﬂ.
LATIN_RANGES = (range(0xC0, 0x250), range(0x1E00, 0x1F00), range(0xFB00, 0xFB07))


def _without_diacritics(character: str) -> str:
    decomposed = unicodedata.normalize("NFKD", character)
    return "".join(part for part in decomposed if not unicodedata.combining(part))


def _plain_table() -> dict[str, str]:
    table = dict(PLAIN_PUNCTUATION)
    for block in LATIN_RANGES:
        for code in block:
            character = chr(code)
            if character in GSM7_BASIC or character in table:
                continue
            plain = _without_diacritics(character)
            if plain and plain != character and all(part in GSM7_BASIC for part in plain):
                table[character] = plain
    assert all(ch not in GSM7_BASIC and ch not in GSM7_EXTENSION for ch in table)  # only what GSM-7 lacks
    return table


PLAIN_REPLACEMENTS = _plain_table()


def plain_text(text: str) -> str:
    """The text with each character outside GSM-7 that has a plain equivalent replaced by it
    (“ ” → ", ç → c, ê → e, œ → oe); what has none (emoji, Cyrillic) stays. The counter's
    preview uses the same table (counter_rules)."""
    return "".join(PLAIN_REPLACEMENTS.get(character, character) for character in text)


def outside_gsm7(text: str) -> list[str]:
    """The characters that make the text UCS-2, each once, in the order they first appear."""
    return list(dict.fromkeys(ch for ch in text if ch not in GSM7_BASIC and ch not in GSM7_EXTENSION))


def counter_rules() -> dict:
    """Everything the counter under a text area needs to count as text_cost does and to offer
    plain_text's replacement: served to static/js/text_counter.js as JSON, so there is one table."""
    return {"basic": "".join(sorted(GSM7_BASIC)), "extension": "".join(sorted(GSM7_EXTENSION)),
            "single": SINGLE_LIMIT, "multipart": MULTIPART_LIMIT, "plain": PLAIN_REPLACEMENTS}
