"""Where a number rings: its country, and for North America its state or province.

State rules follow the callee, and the only evidence we have is the number. phonenumbers'
geocoder names the place of each area code (and of many exchanges within it). An area
code whose entries name more than one state gives every one of them as a candidate, and a
number the geocoder cannot place (toll-free, non-geographic) gives its bare country, which
the rules read as "any state of it": every candidate must allow the call.
"""

from __future__ import annotations

from functools import cache

import phonenumbers
from phonenumbers.geodata import GEOCODE_DATA

NANP_COUNTRY_CODE = 1
US_STATES = {
    "Alabama": "AL", "Alaska": "AK", "Arizona": "AZ", "Arkansas": "AR", "California": "CA",
    "Colorado": "CO", "Connecticut": "CT", "Delaware": "DE", "Florida": "FL", "Georgia": "GA",
    "Hawaii": "HI", "Idaho": "ID", "Illinois": "IL", "Indiana": "IN", "Iowa": "IA",
    "Kansas": "KS", "Kentucky": "KY", "Louisiana": "LA", "Maine": "ME", "Maryland": "MD",
    "Massachusetts": "MA", "Michigan": "MI", "Minnesota": "MN", "Mississippi": "MS",
    "Missouri": "MO", "Montana": "MT", "Nebraska": "NE", "Nevada": "NV",
    "New Hampshire": "NH", "New Jersey": "NJ", "New Mexico": "NM", "New York": "NY",
    "North Carolina": "NC", "North Dakota": "ND", "Ohio": "OH", "Oklahoma": "OK",
    "Oregon": "OR", "Pennsylvania": "PA", "Rhode Island": "RI", "South Carolina": "SC",
    "South Dakota": "SD", "Tennessee": "TN", "Texas": "TX", "Utah": "UT", "Vermont": "VT",
    "Virginia": "VA", "Washington State": "WA", "Washington": "WA", "West Virginia": "WV",
    "Wisconsin": "WI", "Wyoming": "WY", "Washington D.C.": "DC",
}  # fmt: skip
CANADIAN_PROVINCES = {
    "Alberta": "AB", "British Columbia": "BC", "British Colombia": "BC", "Manitoba": "MB",
    "New Brunswick": "NB", "Newfoundland and Labrador": "NL", "Nova Scotia": "NS",
    "Prince Edward Island": "PE", "Ontario": "ON", "Quebec": "QC", "Saskatchewan": "SK",
    "Northwest Territories": "NT", "Nunavut": "NU", "Yukon": "YT",
}  # fmt: skip
_CODES = {
    "US": frozenset(US_STATES.values()),
    "CA": frozenset(CANADIAN_PROVINCES.values()),
}


def regions_for_number(phone_number: str) -> tuple[str, ...]:
    """Candidate regions of an E.164 number: ("US-FL",), ("CA-NS", "CA-PE"), ("US",), ("GB",).

    Empty when the number is not a number at all: no rule can be looked up for it.
    """
    if phone_number.startswith("+1") and len(phone_number) == 12 and phone_number.isascii():
        area_code = phone_number[2:5]
        country = _nanp_countries.get(area_code) or _country_of(phone_number)
        if country is None:
            return ()
        _nanp_countries[area_code] = country  # one country per area code: parse it once
        if country not in _CODES:
            return (country,)
        return tuple(
            f"{country}-{code}" for code in _subdivisions_of_area_code(country, area_code)
        ) or (country,)
    country = _country_of(phone_number)
    return (country,) if country is not None else ()


_nanp_countries: dict[str, str] = {}


def _country_of(phone_number: str) -> str | None:
    try:
        number = phonenumbers.parse(phone_number, None)
    except phonenumbers.NumberParseException:
        return None
    region: str | None = phonenumbers.region_code_for_number(number)
    return region


@cache
def _subdivisions_of_area_code(country: str, area_code: str) -> tuple[str, ...]:
    """Every state or province the geocoder names anywhere in one area code."""
    found: set[str] = set()
    for description in _descriptions_by_area_code().get(area_code, ()):
        found.update(_subdivisions_in(country, description))
    return tuple(sorted(found))


@cache
def _descriptions_by_area_code() -> dict[str, set[str]]:
    """The geocoder's English place names under each North American area code."""
    table: dict[str, set[str]] = {}
    nanp = str(NANP_COUNTRY_CODE)
    for key, names in GEOCODE_DATA.items():
        if key.startswith(nanp) and len(key) >= 4 and (description := names.get("en")):
            table.setdefault(key[1:4], set()).add(description)
    return table


def _subdivisions_in(country: str, description: str) -> set[str]:
    """ "Florida" -> FL, "Miami, FL" -> FL, "Nova Scotia/Prince Edward Island" -> NS, PE."""
    names = US_STATES if country == "US" else CANADIAN_PROVINCES
    found: set[str] = set()
    for part in description.split("/"):
        part = part.strip()
        if part in names:
            found.add(names[part])
        elif ", " in part and (code := part.rsplit(", ", 1)[1]) in _CODES[country]:
            found.add(code)
    return found
