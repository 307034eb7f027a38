import pytest

from webapp.sms_text import (GSM7, GSM7_BASIC, GSM7_EXTENSION, PLAIN_REPLACEMENTS, UCS2, counter_rules, outside_gsm7,
                             plain_text, text_cost)


@pytest.mark.parametrize("text, encoding, length, segments", [
    ("", GSM7, 0, 0),
    ("Hello", GSM7, 5, 1),
    ("a" * 160, GSM7, 160, 1),
    ("a" * 161, GSM7, 161, 2),
    ("a" * 306, GSM7, 306, 2),
    ("a" * 307, GSM7, 307, 3),
    ("€" * 80, GSM7, 160, 1),  # extension characters cost two septets
    ("€" * 81, GSM7, 162, 2),
    ("[]{}|^~\\", GSM7, 16, 1),
    ("à bientôt", UCS2, 9, 1),  # ô is not in the GSM-7 table
    ("é" * 200, GSM7, 200, 2),  # é is
    ("ж" * 70, UCS2, 70, 1),
    ("ж" * 71, UCS2, 71, 2),
    ("ж" * 134, UCS2, 134, 2),
    ("ж" * 135, UCS2, 135, 3),
    ("🙂", UCS2, 2, 1),  # outside the BMP: two UTF-16 code units
])
def test_encoding_and_segments(text, encoding, length, segments):
    cost = text_cost(text)
    assert (cost.encoding, cost.length, cost.segments) == (encoding, length, segments)


@pytest.mark.parametrize("text, plain", [
    ("C’est l’été : « on y va » — à bientôt…", "C'est l'été : \" on y va \" - à bientot..."),
    ("“Quoted”, ‘single’, „low“, ‹angle›, `back`", "\"Quoted\", 'single', \"low\", 'angle', 'back'"),
    ("Ça, garçon, fenêtre, hôtel, août, Noël, maïs, naïve, cœur, Œuvre",
     "Ça, garcon, fenetre, hotel, aout, Noel, mais, naive, coeur, OEuvre"),
    ("é è à ù ì ò Ç É Ä Ö Ñ Ü ß ä ö ñ ü å Å Æ æ Ø ø",  # GSM-7 has them
     "é è à ù ì ò Ç É Ä Ö Ñ Ü ß ä ö ñ ü å Å Æ æ Ø ø"),
    ("È Ê Ë À Â Î Ï Ô Û Ù Ÿ", "E E E A A I I O U U Y"),  # capitals GSM-7 lacks
    ("Łódź, Škoda, Dvořák, Ørsted, Þór, Mağaza, Tiếng Việt",
     "Lodz, Skoda, Dvorak, Ørsted, Thor, Magaza, Tieng Viet"),
    ("10\u00a0€, 20\u202f%, tab\there, soft\u00adhyphen, zero\u200bwidth",
     "10 €, 20 %, tab here, softhyphen, zerowidth"),
    ("ﬁn ﬂeur ĳs ™ © ® 2×3 • point", "fin fleur ijs TM (c) (R) 2x3 - point"),
    ("€ [ ] { } ^ ~ \\ | stay", "€ [ ] { } ^ ~ \\ | stay"),  # in GSM-7's extension: kept, though they count two
    ("Merci 🙂 Привет ° ½", "Merci 🙂 Привет ° ½"),  # no plain equivalent: kept as they are
    ("", ""),
])
def test_plain_text_replaces_only_what_gsm7_lacks(text, plain):
    assert plain_text(text) == plain


def test_every_replacement_is_plain_gsm7_and_replaces_only_what_gsm7_lacks():
    for character, plain in PLAIN_REPLACEMENTS.items():
        assert text_cost(character).encoding == UCS2, character
        assert all(part in GSM7_BASIC for part in plain), (character, plain)


@pytest.mark.parametrize("text, before, after", [
    # (encoding, length, segments) before and after the replacement
    ("Rendez-vous à l’école à 18 h, n’oubliez pas vos affaires de piscine et votre goûter s’il vous plaît.",
     (UCS2, 100, 2), (GSM7, 100, 1)),
    ("« Fête » " * 10, (UCS2, 90, 2), (GSM7, 90, 1)),
    ("ç" * 70, (UCS2, 70, 1), (GSM7, 70, 1)),
    ("…" * 60, (UCS2, 60, 1), (GSM7, 180, 2)),  # three dots cost more than one ellipsis
    ("Bonne fête 🎉", (UCS2, 13, 1), (UCS2, 13, 1)),  # the emoji keeps it UCS-2
])
def test_what_the_replacement_saves(text, before, after):
    assert tuple(vars(text_cost(text)).values()) == before
    assert tuple(vars(text_cost(plain_text(text))).values()) == after


def test_outside_gsm7_names_each_character_once_in_order():
    assert outside_gsm7("ça, ça et ê€🙂") == ["ç", "ê", "🙂"]
    assert outside_gsm7("Hello € [x]") == []


def test_the_counter_rules_are_the_servers():
    rules = counter_rules()
    assert set(rules["basic"]) == GSM7_BASIC and set(rules["extension"]) == GSM7_EXTENSION
    assert rules["plain"] is PLAIN_REPLACEMENTS
    assert (rules["single"], rules["multipart"]) == ({GSM7: 160, UCS2: 70}, {GSM7: 153, UCS2: 67})
