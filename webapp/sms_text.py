"""How many SMS a text costs: encoding and segment count, the same rules as static/js/compose.js."""
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
