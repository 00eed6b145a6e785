import random

import phonenumbers
import pytest
from phonenumbers import timezone as phone_timezone

from libs.phone import InvalidPhoneNumberError, normalise_phone_number


@pytest.mark.parametrize(
    ("written", "e164", "zones"),
    [
        ("(202) 555-0143", "+12025550143", ("America/New_York",)),
        ("202.555.0143", "+12025550143", ("America/New_York",)),
        ("+1 312 555 0183", "+13125550183", ("America/Chicago",)),
        ("1-303-555-0127", "+13035550127", ("America/Denver",)),
        ("415-555-0115 ext 12", "+14155550115", ("America/Los_Angeles",)),
        ("(808) 555-0102", "+18085550102", ("Pacific/Honolulu",)),
        ("(907) 555-0165", "+19075550165", ("America/Adak", "America/Anchorage")),
        ("+44 20 7183 8750", "+442071838750", ("Europe/London",)),
    ],
)
def test_numbers_are_normalised_to_e164_with_their_time_zones(written, e164, zones):
    assert normalise_phone_number(written, "US") == (e164, zones)


def test_the_reserved_fictional_555_01xx_range_is_valid_for_phonenumbers():
    # So the sample leads need no exception: they are ordinary valid US numbers.
    number = phonenumbers.parse("(212) 555-0199", "US")
    assert phonenumbers.is_valid_number(number)


@pytest.mark.parametrize(
    ("written", "reason"),
    [
        ("555-0143", "the area code is missing"),
        ("202-555-01", "too few digits"),
        ("(212) 055-0143", "no such number exists in the US numbering plan"),
        ("+999 123 4567", "unknown country code"),
        ("call the office", "not a phone number"),
        ("+1202555014399999", "too many digits"),
    ],
)
def test_invalid_numbers_say_why(written, reason):
    with pytest.raises(InvalidPhoneNumberError) as raised:
        normalise_phone_number(written, "US")
    assert str(raised.value) == f"{written!r} is not a valid phone number ({reason})"


def test_the_default_region_decides_numbers_without_a_country_code():
    assert normalise_phone_number("020 7183 8750", "GB") == ("+442071838750", ("Europe/London",))


@pytest.mark.parametrize(
    "written",
    [
        "+12025550143",
        "+18005550199",
        "+447911123456",
        "+33142685300",
        "+19005550100",
        "+12125551234",
    ],
)
def test_same_answers_as_is_valid_number_and_time_zones_for_number(written):
    number = phonenumbers.parse(written)
    assert phonenumbers.is_valid_number(number)
    expected_zones = tuple(
        z for z in phone_timezone.time_zones_for_number(number) if z != "Etc/Unknown"
    )
    assert normalise_phone_number(written, "US") == (written, expected_zones)


def test_plain_north_american_numbers_skip_parse_with_exactly_the_same_results():
    rng = random.Random(20261124)
    forms = ("({a}) {e}-{l}", "{a}-{e}-{l}", "+1 {a} {e} {l}", "1.{a}.{e}.{l}", "{a}{e}{l}",
             "+{a}{e}{l}", "0{a}{e}{l}", "11{a}{e}{l}", "1 ({a}) {e}-{l}")  # fmt: skip
    for _ in range(1500):
        template = rng.choice(forms)
        written = template.format(a=rng.randint(100, 999), e=f"{rng.randint(0, 999):03d}",
                                  l=f"{rng.randint(0, 9999):04d}")  # fmt: skip
        for region in ("US", "CA", "GB"):
            assert _normalised_or_none(written, region) == _reference(written, region), written


def _normalised_or_none(written: str, region: str) -> tuple[str, tuple[str, ...]] | None:
    try:
        return normalise_phone_number(written, region)
    except InvalidPhoneNumberError:
        return None


def _reference(written: str, region: str) -> tuple[str, tuple[str, ...]] | None:
    try:
        number = phonenumbers.parse(written, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    zones = phone_timezone.time_zones_for_number(number)
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return e164, tuple(zone for zone in zones if zone != "Etc/Unknown")
