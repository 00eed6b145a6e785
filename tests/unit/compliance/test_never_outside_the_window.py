"""Property: for any North American number, instant and campaign, an allowed call is inside
every candidate zone's window and every candidate state's, checked by an independent oracle."""

from datetime import UTC, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo

import phonenumbers
from hypothesis import given, settings
from hypothesis import strategies as st
from phonenumbers import timezone as phone_timezone

from libs.compliance import (
    Callee,
    CallFacts,
    CallingHours,
    check_call,
    next_opening,
    regions_for_number,
)
from libs.compliance.loading import load_law
from libs.events import TimeWindow

LAW = load_law({"US_FEDERAL_HOLIDAYS": "false"})
ALL_DAY = TimeWindow(start=time(0), end=time(23, 59))


@cache
def sample_numbers() -> tuple[tuple[str, tuple[str, ...]], ...]:
    """One valid number per US and Canadian area code, with the zones it maps to."""
    numbers = []
    for area_code in range(201, 990):
        for exchange in ("555", "234", "456", "789"):
            number = phonenumbers.parse(f"+1{area_code}{exchange}0142")
            region = phonenumbers.region_code_for_number(number)
            if region in ("US", "CA") and phonenumbers.is_valid_number(number):
                zones = phone_timezone.time_zones_for_number(number)
                if zones and "Etc/Unknown" not in zones:
                    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
                    numbers.append((e164, zones))
                    break
    return tuple(numbers)


def dst_transitions() -> list[datetime]:
    """Both 2026 transitions in every zone the sample uses, give or take an hour."""
    moments = []
    for day in ((3, 8), (11, 1), (3, 15), (11, 8)):
        for hour in range(4, 12):
            moments.append(datetime(2026, *day, hour, tzinfo=UTC))
    return moments


def minutes(value: time) -> int:
    return value.hour * 60 + value.minute


windows = (
    st.tuples(st.integers(0, 23 * 60), st.integers(1, 24 * 60 - 1))
    .filter(lambda pair: pair[0] < pair[1])
    .map(
        lambda pair: TimeWindow(
            start=time(pair[0] // 60, pair[0] % 60), end=time(pair[1] // 60, pair[1] % 60)
        )
    )
)
instants = st.one_of(
    st.datetimes(datetime(2026, 1, 1), datetime(2027, 12, 31), timezones=st.just(UTC)),
    st.sampled_from(dst_transitions()).flatmap(
        lambda moment: st.integers(-3600, 3600).map(lambda s: moment + timedelta(seconds=s))
    ),
)


def allowed_by_oracle(callee: Callee, hours: CallingHours, now: datetime) -> bool:
    for name in callee.time_zones:
        local = now.astimezone(ZoneInfo(name))
        clock = minutes(local.time()) + local.second / 60
        if local.weekday() not in hours.days:
            return False
        limits = [(8 * 60, 21 * 60), (minutes(hours.hours.start), minutes(hours.hours.end))]
        if callee.best_window is not None:
            limits.append((minutes(callee.best_window.start), minutes(callee.best_window.end)))
        for region in {rule.region for rule in LAW.regional.binding(callee.regions)}:
            rows = [
                rule
                for rule in LAW.regional.rules
                if rule.region == region and local.weekday() in rule.days
            ]
            if not rows:
                return False
            limits += [(minutes(r.hours.start), minutes(r.hours.end)) for r in rows]
        if not all(start <= clock < end for start, end in limits):
            return False
    return True


@settings(max_examples=600, deadline=None)
@given(
    number=st.sampled_from(sample_numbers()),
    now=instants,
    # Generous settings often, so that only the law's limits stand between a call and a phone.
    hours=st.just(ALL_DAY) | windows,
    days=st.just(tuple(range(7))) | st.sets(st.integers(0, 6), min_size=1).map(sorted).map(tuple),
    best=st.none() | st.none() | windows,
)
def test_an_allowed_call_is_inside_every_zones_and_states_window(number, now, hours, days, best):
    phone_number, zones = number
    callee = Callee(phone_number, zones, regions_for_number(phone_number), best)
    campaign = CallingHours(hours=hours, days=days)
    refusal = check_call(callee, CallFacts(), campaign, LAW, now)
    if refusal is None:
        assert allowed_by_oracle(callee, campaign, now)
    opening = next_opening(callee, campaign, LAW, now)
    if opening is not None:
        assert opening >= now
        assert allowed_by_oracle(callee, campaign, opening)


def test_the_sample_covers_every_mainland_zone_and_both_countries():
    zones = {zone for _, number_zones in sample_numbers() for zone in number_zones}
    assert {
        "America/New_York",
        "America/Chicago",
        "America/Denver",
        "America/Phoenix",
        "America/Los_Angeles",
        "America/Anchorage",
        "Pacific/Honolulu",
        "America/Toronto",
        "America/Halifax",
        "America/St_Johns",
        "America/Regina",
        "America/Vancouver",
    } <= zones
