"""Placeholders in a campaign's text: {first_name}, {class}… filled from each recipient's contact.

A placeholder is a field name between braces (letters, digits, spaces, _ and -, up to 40); braces
around anything else ({ }, {{, a JSON snippet) are text. Field names are matched as the contacts'
fields are (webapp/services/contacts.field_value: without accents or case), and `name` and `number`
are the contact's own.

What a recipient's text costs is what webapp/sms_text.text_cost says of it. For 100,000
recipients it is computed from the cost of the text's pieces and of each value (cached, since the
same first names come back): a text all of GSM-7 costs the sum of its pieces, in septets; one with
a character outside it is costed whole. Template.cost gives what text_cost gives of the text
rendered (a test compares them).
"""
import re
from dataclasses import dataclass
from functools import lru_cache

from .sms_text import GSM7, MULTIPART_LIMIT, SINGLE_LIMIT, TextCost, text_cost

PLACEHOLDER = re.compile(r"\{([^\W\d][\w \-]{0,39})\}")


@lru_cache(maxsize=65536)
def _cost(text: str) -> TextCost:
    return text_cost(text)


def _segments(encoding: str, length: int) -> int:
    if length == 0:
        return 0
    if length <= SINGLE_LIMIT[encoding]:
        return 1
    return -(-length // MULTIPART_LIMIT[encoding])


@dataclass(frozen=True)
class Template:
    body: str
    pieces: tuple[str, ...]  # the text between the placeholders: one more than the fields
    fields: tuple[str, ...]  # the field of each placeholder, in order (a field may come twice)

    @classmethod
    def of(cls, body: str) -> "Template":
        parts = PLACEHOLDER.split(body)
        return cls(body, tuple(parts[0::2]), tuple(name.strip() for name in parts[1::2]))

    @property
    def used_fields(self) -> list[str]:
        """Each field once, in the order it first appears."""
        return list(dict.fromkeys(self.fields))

    def render(self, values: dict[str, str]) -> str:
        """values: {field: value} for each used field."""
        if not self.fields:
            return self.body
        out = [self.pieces[0]]
        for name, piece in zip(self.fields, self.pieces[1:]):
            out.append(values.get(name) or "")
            out.append(piece)
        return "".join(out)

    def cost(self, values: dict[str, str], rendered: str | None = None) -> TextCost:
        if not self.fields:
            return _cost(self.body)
        costs = [_cost(piece) for piece in self.pieces] + [_cost(values.get(name) or "") for name in self.fields]
        if all(cost.encoding == GSM7 for cost in costs):
            length = sum(cost.length for cost in costs)
            return TextCost(GSM7, length, _segments(GSM7, length))
        return text_cost(rendered if rendered is not None else self.render(values))
