import pytest

from webapp.sms_text import GSM7, UCS2, text_cost


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
