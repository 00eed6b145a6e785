"""The time rules: the campaign's hours, the federal limit, the lead's best time, zones."""

from datetime import UTC, datetime, time

import pytest

from libs.compliance import Callee, CallFacts, CallingHours, Law, check_call, next_opening
from libs.events import TimeWindow

NINE_TO_FIVE = CallingHours(hours=TimeWindow(start=time(9), end=time(17)))
NEW_YORK, LOS_ANGELES = ("America/New_York",), ("America/Los_Angeles",)
NO_STATE_RULES = Law()


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def callee(zones: tuple[str, ...], best: TimeWindow | None = None) -> Callee:
    return Callee(
        phone_number="+12025550143", time_zones=zones, regions=("US-DC",), best_window=best
    )


def why_not(now, zones, hours=NINE_TO_FIVE, best=None, law=NO_STATE_RULES):
    refusal = check_call(callee(zones, best), CallFacts(), hours, law, now)
    return None if refusal is None else (refusal.rule, refusal.detail)


def opening(now, zones, hours=NINE_TO_FIVE, best=None, law=NO_STATE_RULES):
    return next_opening(callee(zones, best), hours, law, now)


@pytest.mark.parametrize(
    ("now", "zones", "callable_"),
    [
        (utc(2026, 3, 4, 14, 0), NEW_YORK, True),  # Wed 09:00 in New York
        (utc(2026, 3, 4, 13, 59), NEW_YORK, False),  # 08:59
        (utc(2026, 3, 4, 22, 0), NEW_YORK, False),  # 17:00: the end is exclusive
        (utc(2026, 3, 4, 16, 0), LOS_ANGELES, False),  # 08:00 in LA, 11:00 in NY
        (utc(2026, 3, 4, 17, 0), LOS_ANGELES, True),
        (utc(2026, 3, 7, 15, 0), NEW_YORK, False),  # Saturday
        (utc(2026, 3, 5, 4, 30), NEW_YORK, False),  # 23:30 the evening before: midnight wrap
    ],
)
def test_team_hours_in_the_leads_local_time(now, zones, callable_):
    assert (why_not(now, zones) is None) is callable_


def test_every_zone_of_a_number_must_be_inside_the_window():
    both = NEW_YORK + LOS_ANGELES
    assert why_not(utc(2026, 3, 4, 16, 30), both) == (
        "calling_window",
        "Wed 08:30 in America/Los_Angeles is outside 09:00-17:00 (the campaign's hours)",
    )
    assert why_not(utc(2026, 3, 4, 17, 0), both) is None


def test_an_unknown_zone_is_never_called():
    reason = ("calling_window", "no known time zone for this number: never called")
    assert why_not(utc(2026, 3, 4, 16, 0), ()) == reason
    assert why_not(utc(2026, 3, 4, 16, 0), ("Mars/Olympus",)) == reason
    assert opening(utc(2026, 3, 4, 16, 0), ()) is None


def test_the_law_wins_over_a_generous_configuration():
    late = CallingHours(hours=TimeWindow(start=time(6), end=time(23, 30)), days=tuple(range(7)))
    assert why_not(utc(2026, 3, 4, 11, 30), NEW_YORK, late) == (
        "calling_window",
        "Wed 06:30 in America/New_York is outside 08:00-21:00 (47 CFR 64.1200(c)(1))",
    )
    assert why_not(utc(2026, 3, 5, 2, 0), NEW_YORK, late)[1].startswith(
        "Wed 21:00 in America/New_York is outside 08:00-21:00"
    )


def test_best_call_time_narrows_the_window():
    afternoons = TimeWindow(start=time(14), end=time(16))
    assert why_not(utc(2026, 3, 4, 15, 0), NEW_YORK, best=afternoons) == (
        "calling_window",
        "Wed 10:00 in America/New_York is outside 14:00-16:00 (the lead's best call time)",
    )
    assert opening(utc(2026, 3, 4, 15, 0), NEW_YORK, best=afternoons) == utc(2026, 3, 4, 19, 0)
    evenings = TimeWindow(start=time(22), end=time(23))
    assert why_not(utc(2026, 3, 4, 15, 0), NEW_YORK, best=evenings)[0] == "calling_window"
    assert opening(utc(2026, 3, 4, 15, 0), NEW_YORK, best=evenings) is None


def test_next_opening_skips_the_weekend():
    assert opening(utc(2026, 3, 6, 23, 0), NEW_YORK) == utc(2026, 3, 9, 13, 0)


def test_next_opening_follows_daylight_saving_time():
    # Clocks in New York go forward on Sunday 8 March 2026: 09:00 is 14:00 UTC before, 13:00 after.
    assert opening(utc(2026, 3, 6, 23, 0), NEW_YORK) == utc(2026, 3, 9, 13, 0)
    assert opening(utc(2026, 3, 5, 23, 0), NEW_YORK) == utc(2026, 3, 6, 14, 0)
    # And back on 1 November 2026.
    assert opening(utc(2026, 10, 30, 22, 0), NEW_YORK) == utc(2026, 11, 2, 14, 0)


def test_a_window_across_two_zones_opens_when_the_later_one_does():
    assert opening(utc(2026, 3, 4, 12, 0), NEW_YORK + LOS_ANGELES) == utc(2026, 3, 4, 17, 0)
