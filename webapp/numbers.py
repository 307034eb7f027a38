"""Phone numbers typed by a user, normalized to E.164."""
import re
from functools import lru_cache

import phonenumbers
from flask_babel import gettext as _

from .reasons import N_

TOO_FEW_OR_MANY_DIGITS = N_("it has too few or too many digits")
NO_SUCH_NUMBER = N_("no such number exists in this country")
UNKNOWN_COUNTRY_CODE = N_("the country code is unknown")
TOO_SHORT = N_("it is too short")
TOO_LONG = N_("it is too long")
NOT_A_NUMBER = N_("it is not a phone number")


class InvalidNumber(ValueError):
    """reason: in the current language; reason_id: its message id, for what is stored and shown later."""

    def __init__(self, typed: str, reason_id: str):
        self.typed = typed
        self.reason_id = reason_id
        self.reason = _(reason_id)
        super().__init__(f"{typed}: {self.reason}")


# French overseas departments and collectivities dial like mainland France (0690…, 0692…, 0639…),
# but phonenumbers reads a number typed without a country code as mainland only and refuses them.
NATIONAL_NEIGHBOURS = {"FR": ("GP", "MQ", "GF", "RE", "YT", "PM", "BL", "MF")}


def to_e164(typed: str, default_region: str) -> str:
    return e164_of(parsed_number(typed, default_region))


def e164_of(parsed: phonenumbers.PhoneNumber) -> str:
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def parsed_number(typed: str, default_region: str) -> phonenumbers.PhoneNumber:
    """The valid number typed, as phonenumbers reads it (what to_e164 formats); an import reads
    its E.164 and national forms from it without parsing twice."""
    candidate = typed.strip()
    if candidate.startswith("00"):
        candidate = "+" + candidate[2:]
    try:
        parsed = phonenumbers.parse(candidate, default_region)
    except phonenumbers.NumberParseException as error:
        raise InvalidNumber(typed, _parse_error_reason(error)) from None
    if phonenumbers.is_valid_number(parsed):
        return parsed
    if not candidate.startswith("+"):
        neighbour = _in_a_neighbour_region(candidate, default_region)
        if neighbour is not None:
            return neighbour
    if not phonenumbers.is_possible_number(parsed):
        raise InvalidNumber(typed, TOO_FEW_OR_MANY_DIGITS)
    raise InvalidNumber(typed, NO_SUCH_NUMBER)


def _in_a_neighbour_region(candidate: str, default_region: str):
    """The number read in the first region sharing the default region's national dialling where it exists."""
    for region in NATIONAL_NEIGHBOURS.get(default_region.upper(), ()):
        parsed = phonenumbers.parse(candidate, region)
        if phonenumbers.is_valid_number(parsed):
            return parsed
    return None


def _parse_error_reason(error) -> str:
    kind = error.error_type
    if kind == phonenumbers.NumberParseException.INVALID_COUNTRY_CODE:
        return UNKNOWN_COUNTRY_CODE
    if kind in (phonenumbers.NumberParseException.TOO_SHORT_NSN,
                phonenumbers.NumberParseException.TOO_SHORT_AFTER_IDD):
        return TOO_SHORT
    if kind == phonenumbers.NumberParseException.TOO_LONG:
        return TOO_LONG
    return NOT_A_NUMBER


def split_typed_numbers(text: str) -> list[str]:
    """Numbers pasted one per line, or separated by commas or semicolons."""
    return [part.strip() for part in re.split(r"[\n,;]+", text) if part.strip()]


def normalize_all(typed_numbers: list[str], default_region: str):
    """Returns (distinct E.164 numbers in the order typed, list of InvalidNumber)."""
    numbers, errors = {}, []
    for typed in typed_numbers:
        try:
            numbers[to_e164(typed, default_region)] = None
        except InvalidNumber as error:
            errors.append(error)
    return list(numbers), errors


def national_prefix_as_e164(typed: str, default_region: str) -> str | None:
    """The beginning of a number typed in national form ("06 12") or international form
    ("+33 6", "0033 6"), as the beginning of the E.164 numbers it starts: "+33612". None for
    what is not the beginning of a number (digits alone, which may be found anywhere in one)."""
    digits = re.sub(r"[\s.\-()/]", "", typed)
    if digits.startswith("00"):
        digits = "+" + digits[2:]
    if re.fullmatch(r"\+\d+", digits):
        return digits
    national_prefix = phonenumbers.PhoneMetadata.metadata_for_region(default_region.upper())
    national_prefix = national_prefix and national_prefix.national_prefix
    if national_prefix and re.fullmatch(r"\d+", digits) and digits.startswith(national_prefix) \
            and len(digits) > len(national_prefix):
        country_code = phonenumbers.country_code_for_region(default_region.upper())
        return f"+{country_code}{digits[len(national_prefix):]}"
    return None


# ---- which numbers can receive an SMS ----

@lru_cache(maxsize=None)
def _mobile_patterns(country_code: int) -> tuple:
    """(possible lengths, compiled pattern) of the mobile numbers of the regions that share a
    country calling code, as phonenumbers matches a number against a type's description."""
    patterns = []
    for region in phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(country_code, ()):
        metadata = phonenumbers.PhoneMetadata.metadata_for_region_or_calling_code(country_code, region)
        mobile = metadata and metadata.mobile
        if mobile is not None and mobile.national_number_pattern:
            patterns.append((frozenset(mobile.possible_length or ()), re.compile(mobile.national_number_pattern)))
    return tuple(patterns)


def unlikely_to_receive_sms(e164: str) -> bool:
    """A number (in E.164, as stored) that is not a mobile one by its country's plan: a landline,
    a toll-free or premium number, which an SMS is unlikely to reach. What phonenumbers.number_type
    answers (neither MOBILE nor FIXED_LINE_OR_MOBILE), read from the E.164 digits without parsing
    them (60 µs a number: 6 s for a campaign to 100,000)."""
    digits = e164[1:] if e164.startswith("+") else e164
    for length in (1, 2, 3):
        country_code = int(digits[:length] or 0)
        if country_code in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
            national = digits[length:]
            return not any((not lengths or len(national) in lengths) and pattern.fullmatch(national)
                           for lengths, pattern in _mobile_patterns(country_code))
    return True
