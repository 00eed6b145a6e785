"""Phone numbers, one rule for every service: parsed and normalised to E.164 with
phonenumbers, with their time zones. Leads, do-not-call lists and opt-outs all go through
`normalise_phone_number`, so the same number always has the same form (and lead id)."""

from __future__ import annotations

from functools import lru_cache

import phonenumbers
from phonenumbers import PhoneMetadata, PhoneNumber, PhoneNumberFormat, PhoneNumberType
from phonenumbers import timezone as phone_timezone
from phonenumbers.phonenumberutil import _number_type_helper

UNKNOWN_ZONE = "Etc/Unknown"  # what phonenumbers.timezone answers when it cannot tell
NANP_COUNTRY_CODE = 1
# "(202) 555-0143", "+1 202.555.0143", "1-202-555-0143": digits and punctuation only.
_PUNCTUATION = str.maketrans("", "", " ().-\t")


class InvalidPhoneNumberError(ValueError):
    def __init__(self, raw: str, region: str, reason: str) -> None:
        super().__init__(f"{raw!r} is not a valid phone number ({reason})")
        self.raw, self.region, self.reason = raw, region, reason


def normalise_phone_number(raw: str, region: str) -> tuple[str, tuple[str, ...]]:
    """The number in E.164 and the IANA zones it maps to (empty: unknown).

    Same answers as `is_valid_number` plus `time_zones_for_number`, with the number's
    type worked out once instead of four times: the type is most of the cost.
    """
    number = _plain_nanp_number(raw, region)
    if number is None:
        try:
            number = phonenumbers.parse(raw, region)
        except phonenumbers.NumberParseException as exc:
            raise InvalidPhoneNumberError(raw, region, _parse_reason(exc, raw, region)) from None
    number_type = _us_number_type(number)
    if number_type is None:
        number_type = phonenumbers.number_type(number)
    if number_type == PhoneNumberType.UNKNOWN:
        raise InvalidPhoneNumberError(raw, region, _invalid_reason(number))
    if phonenumbers.is_number_type_geographical(number_type, number.country_code):
        zones = phone_timezone.time_zones_for_geographical_number(number)
    else:
        zones = phone_timezone.time_zones_for_number(number)
    e164 = phonenumbers.format_number(number, PhoneNumberFormat.E164)
    return e164, tuple(zone for zone in zones if zone != UNKNOWN_ZONE)


def _us_number_type(number: PhoneNumber) -> int | None:
    """The type of a valid US number, found in one pass instead of two, else None.

    `number_type` first finds the number's region by testing it against each North
    American region's patterns, the US first (a US number is the US's when it is valid
    there), then tests the same patterns again for the type. Testing the US patterns once
    answers both. This uses phonenumbers' own type test (pinned version; a unit test
    checks the answers against the public functions): it is a third of a row's cost.
    """
    if number.country_code != NANP_COUNTRY_CODE:
        return None
    national_number = phonenumbers.national_significant_number(number)
    number_type: int = _number_type_helper(national_number, _us_metadata())
    return None if number_type == PhoneNumberType.UNKNOWN else number_type


@lru_cache(maxsize=1)
def _us_metadata() -> PhoneMetadata:
    metadata = PhoneMetadata.metadata_for_region("US")
    assert metadata is not None
    return metadata


@lru_cache(maxsize=512)
def _uses_nanp(region: str) -> bool:
    return phonenumbers.country_code_for_region(region) == NANP_COUNTRY_CODE


def _plain_nanp_number(raw: str, region: str) -> PhoneNumber | None:
    """The number a plain North American number is, without phonenumbers.parse (the
    slowest step, and these are most of a US list); validity is still phonenumbers' call.

    Only ten digits, with an optional +1 or 1 in front and punctuation: anything else
    (letters, extensions, other countries) goes through parse.
    """
    text = raw.strip()
    has_plus = text.startswith("+")
    digits = text[has_plus:].translate(_PUNCTUATION)
    if not (digits.isascii() and digits.isdigit()):
        return None
    if has_plus:
        if len(digits) != 11 or digits[0] != "1":
            return None
    elif not _uses_nanp(region) or not (len(digits) == 10 or digits[0] == "1"):
        return None
    return PhoneNumber(country_code=NANP_COUNTRY_CODE, national_number=int(digits[-10:]))


def _invalid_reason(number: phonenumbers.PhoneNumber) -> str:
    possible = phonenumbers.is_possible_number_with_reason(number)
    reasons = {
        phonenumbers.ValidationResult.IS_POSSIBLE_LOCAL_ONLY: "the area code is missing",
        phonenumbers.ValidationResult.TOO_SHORT: "too few digits",
        phonenumbers.ValidationResult.TOO_LONG: "too many digits",
        phonenumbers.ValidationResult.INVALID_LENGTH: "wrong number of digits",
        phonenumbers.ValidationResult.INVALID_COUNTRY_CODE: "unknown country code",
    }
    country = phonenumbers.region_code_for_country_code(number.country_code)
    return reasons.get(possible, f"no such number exists in the {country} numbering plan")


def _parse_reason(exc: phonenumbers.NumberParseException, raw: str, region: str) -> str:
    reasons = {
        phonenumbers.NumberParseException.INVALID_COUNTRY_CODE: (
            "unknown country code"
            if raw.strip().startswith("+")
            else f"no country code, and it is not a {region} number"
        ),
        phonenumbers.NumberParseException.NOT_A_NUMBER: "not a phone number",
        phonenumbers.NumberParseException.TOO_SHORT_NSN: "too short",
        phonenumbers.NumberParseException.TOO_SHORT_AFTER_IDD: "too short",
        phonenumbers.NumberParseException.TOO_LONG: "too long",
    }
    return reasons.get(exc.error_type, "not a phone number")
