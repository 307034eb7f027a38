import pytest

from webapp.numbers import InvalidNumber, normalize_all, split_typed_numbers, to_e164


@pytest.mark.parametrize("typed, expected", [
    ("06 12 34 56 78", "+33612345678"),
    ("+33 6 12 34 56 78", "+33612345678"),
    ("0033612345678", "+33612345678"),
    ("+41 76 536 37 76", "+41765363776"),
    ("+1 415 555 2671", "+14155552671"),
])
def test_numbers_are_normalized_to_e164(app, typed, expected):
    assert to_e164(typed, "FR") == expected


@pytest.mark.parametrize("typed, reason", [
    ("hello", "it is not a phone number"),
    ("06 12", "too few or too many digits"),
    ("+999 1234 5678", "country code is unknown"),
    ("+33 1 00 00 00 0", "too few or too many digits"),
])
def test_an_invalid_number_says_why(app, typed, reason):
    with pytest.raises(InvalidNumber) as refused:
        to_e164(typed, "FR")
    assert reason in refused.value.reason
    assert refused.value.typed == typed


def test_pasted_lists_are_split_deduplicated_and_errors_kept(app):
    typed = split_typed_numbers("0612345678, +33612345678\n0698765432; nonsense\n\n")
    numbers, errors = normalize_all(typed, "FR")
    assert numbers == ["+33612345678", "+33698765432"]
    assert [error.typed for error in errors] == ["nonsense"]


@pytest.mark.parametrize("typed, expected, region", [
    ("0690 12 34 56", "+590690123456", "GP"),  # Guadeloupe mobile
    ("0696 12 34 56", "+596696123456", "MQ"),  # Martinique mobile
    ("0694 12 34 56", "+594694123456", "GF"),  # French Guiana mobile
    ("0692 12 34 56", "+262692123456", "RE"),  # Réunion mobile
    ("0639 69 12 34", "+262639691234", "YT"),  # Mayotte mobile
    ("0262 12 34 56", "+262262123456", "RE"),  # Réunion landline
])
def test_french_overseas_numbers_typed_without_country_code_are_recognised(app, typed, expected, region):
    import phonenumbers
    number = to_e164(typed, "FR")
    assert number == expected
    assert phonenumbers.region_code_for_number(phonenumbers.parse(number)) == region


def test_mainland_numbers_stay_mainland_and_overseas_lookup_is_only_for_france(app):
    assert to_e164("0596 12 34 56", "FR") == "+33596123456"  # a valid mainland 05 number first
    with pytest.raises(InvalidNumber):
        to_e164("0690 12 34 56", "BE")
