"""The rules beyond the window: states, holidays, the cap, blocks, campaign state, expiry."""

from datetime import UTC, date, datetime, time, timedelta

import pytest

from libs.compliance import (
    Callee,
    CallFacts,
    CallingHours,
    Holiday,
    HolidayCalendar,
    Law,
    Refusal,
    check_call,
    regions_for_number,
)
from libs.compliance.loading import load_law
from libs.events import TimeWindow

EVERY_DAY_8_TO_9 = CallingHours(hours=TimeWindow(start=time(8), end=time(21)), days=tuple(range(7)))
LAW = load_law({}, today=date(2026, 12, 3))
MIAMI = Callee(
    phone_number="+13055550181",
    time_zones=("America/New_York",),
    regions=regions_for_number("+13055550181"),
)
EL_PASO = Callee(
    phone_number="+19155550100",
    time_zones=("America/Denver",),
    regions=regions_for_number("+19155550100"),
)
WASHINGTON_DC = Callee(
    phone_number="+12025550143",
    time_zones=("America/New_York",),
    regions=regions_for_number("+12025550143"),
)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


NO_FACTS = CallFacts()


def check(callee, now, facts=NO_FACTS, hours=EVERY_DAY_8_TO_9, law=LAW) -> Refusal | None:
    return check_call(callee, facts, hours, law, now)


def test_the_number_says_which_state_it_rings_in():
    assert regions_for_number("+13055550181") == ("US-FL",)
    assert regions_for_number("+19025550100") == ("CA-NS", "CA-PE")  # one area code, two
    assert regions_for_number("+18005550100") == ("US",)  # toll free: any state
    assert regions_for_number("+18765550100") == ("JM",)
    assert regions_for_number("not a number") == ()


def test_florida_stops_at_eight_in_the_evening_where_the_federal_limit_is_nine():
    tuesday_8pm_miami = utc(2026, 12, 9, 1, 0)
    refusal = check(MIAMI, tuesday_8pm_miami)
    assert refusal is not None
    assert refusal.rule == "calling_window"
    assert refusal.detail.startswith("Tue 20:00 in America/New_York is outside 08:00-20:00")
    assert "Fla. Stat. 501.616(6)" in refusal.detail
    assert refusal.retry_at == utc(2026, 12, 9, 13, 0)  # 08:00 Wednesday in Miami
    assert check(WASHINGTON_DC, tuesday_8pm_miami) is None  # the federal window still open


def test_texas_sundays_start_at_noon():
    sunday_11am_el_paso = utc(2026, 12, 6, 18, 0)
    refusal = check(EL_PASO, sunday_11am_el_paso)
    assert (refusal.rule, refusal.retry_at) == ("calling_window", utc(2026, 12, 6, 19, 0))
    assert check(EL_PASO, utc(2026, 12, 6, 19, 0)) is None


def test_a_number_whose_state_is_unknown_must_satisfy_every_state():
    toll_free = Callee(
        phone_number="+18005550100", time_zones=("America/New_York",), regions=("US",)
    )
    refusal = check(toll_free, utc(2026, 12, 8, 14, 30))  # 09:30: Kentucky starts at 10:00
    assert refusal.rule == "calling_window" and "US-KY" in refusal.detail
    sunday_noon = utc(2026, 12, 6, 17, 0)  # Alabama, Louisiana, Mississippi: no Sundays
    assert check(toll_free, sunday_noon).rule == "calling_window"


def test_a_fourth_call_to_a_florida_number_in_24_hours_waits_for_the_oldest_to_age_out():
    now = utc(2026, 12, 8, 16, 0)
    earlier = (now - timedelta(hours=20), now - timedelta(hours=3), now - timedelta(hours=1))
    refusal = check(MIAMI, now, CallFacts(recent_calls=earlier))
    assert refusal.rule == "frequency_cap"
    assert "3 calls to this number in the last 24 hours, the limit is 3" in refusal.detail
    assert refusal.retry_at == now + timedelta(hours=4)  # 15:00 in Miami: inside the window
    assert check(MIAMI, now, CallFacts(recent_calls=earlier[1:])) is None


def test_the_teams_own_cap_binds_every_number_across_campaigns():
    now = utc(2026, 12, 8, 16, 0)
    twice = (now - timedelta(hours=2), now - timedelta(hours=1))
    strict = Law(regional=LAW.regional, max_calls_per_24h=2)
    assert check(WASHINGTON_DC, now, CallFacts(recent_calls=twice), law=strict).rule == (
        "frequency_cap"
    )
    assert check(WASHINGTON_DC, now, CallFacts(recent_calls=twice)) is None  # default 3


def test_no_calls_on_federal_holidays_in_the_callees_date():
    thanksgiving_10am = utc(2026, 11, 26, 15, 0)
    refusal = check(WASHINGTON_DC, thanksgiving_10am)
    assert refusal.rule == "holiday"
    assert refusal.detail == "Thu 10:00 in America/New_York: Thanksgiving Day (US), no calls"
    assert refusal.retry_at == utc(2026, 11, 27, 13, 0)
    # 02:00 UTC on the 27th is still the 26th in New York.
    assert check(WASHINGTON_DC, utc(2026, 11, 27, 0, 30)).rule == "holiday"


def test_state_holidays_bind_the_states_that_keep_them():
    alabama = Callee(
        phone_number="+12055550100", time_zones=("America/Chicago",), regions=("US-AL",)
    )
    confederate_memorial_day = utc(2026, 4, 27, 15, 0)  # an Alabama state holiday, a Monday
    assert check(alabama, confederate_memorial_day).rule == "holiday"
    assert check(WASHINGTON_DC, confederate_memorial_day) is None


def test_a_teams_own_holiday_binds_everyone():
    law = Law(holidays=HolidayCalendar.of([Holiday(date(2026, 12, 8), "Company offsite")]))
    assert check(WASHINGTON_DC, utc(2026, 12, 8, 16, 0), law=law).detail.endswith(
        "Company offsite, no calls"
    )


@pytest.mark.parametrize(
    ("facts", "rule", "retry"),
    [
        (CallFacts(blocked="do_not_call"), "do_not_call", None),
        (CallFacts(blocked="opted_out"), "opted_out", None),
        (CallFacts(campaign_state="paused"), "campaign_paused", None),
        (CallFacts(campaign_state="stopped"), "campaign_stopped", None),
    ],
)
def test_blocks_and_the_campaigns_state_refuse_whatever_the_hour(facts, rule, retry):
    refusal = check(WASHINGTON_DC, utc(2026, 12, 8, 16, 0), facts)
    assert (refusal.rule, refusal.retry_at) == (rule, retry)
    assert "+1202" not in refusal.detail  # never the full number


def test_a_decision_older_than_the_limit_is_not_dialled():
    now = utc(2026, 12, 8, 16, 0)
    fresh = CallFacts(decided_at=now - timedelta(seconds=29))
    stale = CallFacts(decided_at=now - timedelta(seconds=31))
    assert check(WASHINGTON_DC, now, fresh) is None
    refusal = check(WASHINGTON_DC, now, stale)
    assert refusal.rule == "expired"
    assert refusal.detail == ("decided 31s ago, over the 30s limit; Tue 11:00 in America/New_York")


def test_a_lead_who_named_days_is_called_only_on_those_days():
    tue_thu_afternoons = Callee(
        phone_number=WASHINGTON_DC.phone_number,
        time_zones=WASHINGTON_DC.time_zones,
        regions=WASHINGTON_DC.regions,
        best_window=TimeWindow(start=time(14), end=time(16)),
        best_days=(1, 3),  # "Tue/Thu 2-4pm"
    )
    wednesday_3pm = utc(2026, 12, 9, 20, 0)
    refusal = check(tue_thu_afternoons, wednesday_3pm)
    assert refusal is not None and refusal.rule == "calling_window"
    assert refusal.detail == "Wed 15:00 in America/New_York: not one of the lead's best call days"
    assert refusal.retry_at == utc(2026, 12, 10, 19, 0)  # Thursday 14:00 in Washington
    assert check(tue_thu_afternoons, utc(2026, 12, 10, 20, 0)) is None
