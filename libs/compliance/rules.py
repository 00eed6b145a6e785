"""May this number be called now? One pure function, asked when the scheduler decides and
again by telephony immediately before the carrier is asked.

A call is allowed only if every rule allows it in every place the phone may ring: each
IANA zone the number maps to, and each region (state) it may be in. The window is the
tightest of the federal 08:00-21:00 limit (no configuration widens it), the campaign's
hours and days, the lead's best call time, and the regions' rules; then come holidays,
do-not-call and opt-outs, the campaign's state, the cap on calls per 24 hours, and, at
dial time, how long ago the decision was taken. A refusal names its rule.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from functools import cache
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from libs.compliance.holiday_calendar import HolidayCalendar
from libs.compliance.regional_rules import RegionalRule, RegionalRules
from libs.compliance.regions import regions_for_number
from libs.events import LeadProfile, TimeWindow
from libs.events.model import ComplianceRule

Rule = ComplianceRule
CampaignState = Literal["running", "paused", "stopped", "finished"]
Block = Literal["do_not_call", "opted_out"]

# 47 CFR 64.1200(c)(1): whatever the configuration says, no call before 08:00 or after
# 21:00 where the phone rings.
FEDERAL_HOURS = TimeWindow(start=time(8), end=time(21))
FEDERAL_SOURCE = "47 CFR 64.1200(c)(1)"
WEEKDAYS = (0, 1, 2, 3, 4)
CAP_PERIOD = timedelta(hours=24)
# How far ahead an opening is looked for: past a long weekend with a holiday on each side.
LOOK_AHEAD_DAYS = 15


@dataclass(frozen=True, slots=True)
class Law:
    """The standing limits of a deployment: the same for every campaign."""

    regional: RegionalRules = field(default_factory=RegionalRules)
    holidays: HolidayCalendar = field(default_factory=HolidayCalendar)
    max_calls_per_24h: int | None = None  # the team's own cap, across campaigns
    max_decision_age: timedelta = timedelta(seconds=30)  # decision to dial, at most


@dataclass(frozen=True, slots=True)
class CallingHours:
    """A campaign's own hours and days, in the callee's local time."""

    hours: TimeWindow
    days: tuple[int, ...] = WEEKDAYS  # Monday is 0


@dataclass(frozen=True, slots=True)
class Callee:
    phone_number: str  # E.164
    time_zones: tuple[str, ...]  # IANA; empty: unknown, never called
    regions: tuple[str, ...]  # from libs.compliance.regions
    best_window: TimeWindow | None = None  # the lead's own best call time
    best_days: tuple[int, ...] = ()  # the weekdays it names (Monday 0); empty: any day

    @property
    def place(self) -> tuple[object, ...]:
        """What the rules read about the callee besides the number: callees with the same
        place are allowed and refused together, so a caller may decide once for them."""
        return (self.time_zones, self.regions, self.best_window, self.best_days)

    @classmethod
    def of(cls, lead: LeadProfile) -> Callee:
        return cls(
            phone_number=lead.phone_number,
            time_zones=lead.time_zones,
            regions=regions_for_number(lead.phone_number),
            best_window=lead.best_call_window,
            best_days=lead.best_call_days,
        )


@dataclass(frozen=True, slots=True)
class CallFacts:
    """What the stream says right now about this number and this campaign."""

    blocked: Block | None = None
    campaign_state: CampaignState = "running"
    recent_calls: tuple[datetime, ...] = ()  # when this number was dialled, any campaign
    decided_at: datetime | None = None  # at dial time: when the scheduler decided


@dataclass(frozen=True, slots=True)
class Refusal:
    rule: Rule
    detail: str  # for a person: names the local time, the zone and the rule's source
    retry_at: datetime | None = None  # the earliest this rule may allow; None: not by time


def check_call(
    callee: Callee, facts: CallFacts, hours: CallingHours, law: Law, now: datetime
) -> Refusal | None:
    """None when the call may be placed at `now`; otherwise the first rule that forbids it."""
    if facts.blocked == "do_not_call":
        return Refusal("do_not_call", f"{_masked(callee)} is on the do-not-call list")
    if facts.blocked == "opted_out":
        return Refusal("opted_out", f"{_masked(callee)} asked not to be called again")
    if facts.campaign_state in ("stopped", "finished"):
        return Refusal("campaign_stopped", f"the campaign is {facts.campaign_state}")
    if facts.campaign_state == "paused":
        return Refusal("campaign_paused", "the campaign is paused")
    if facts.decided_at is not None and now - facts.decided_at > law.max_decision_age:
        waited = (now - facts.decided_at).total_seconds()
        return Refusal(
            "expired",
            f"decided {waited:.0f}s ago, over the {law.max_decision_age.total_seconds():.0f}s "
            f"limit; {_local_times(callee, now)}",
            retry_at=now,
        )
    if (refusal := _refused_by_time(callee, hours, law, now)) is not None:
        opening = next_opening(callee, hours, law, now, facts.recent_calls)
        return Refusal(refusal.rule, refusal.detail, retry_at=opening)
    cap, source = call_cap(callee, law)
    if cap is not None and (count := _calls_within_period(facts.recent_calls, now)) >= cap:
        return Refusal(
            "frequency_cap",
            f"{count} calls to this number in the last 24 hours, the limit is {cap} "
            f"({source}); {_local_times(callee, now)}",
            retry_at=next_opening(callee, hours, law, now, facts.recent_calls),
        )
    return None


def next_opening(
    callee: Callee,
    hours: CallingHours,
    law: Law,
    now: datetime,
    recent_calls: tuple[datetime, ...] = (),
) -> datetime | None:
    """The first moment at or after `now` when time, holidays and the cap all allow a call."""
    zones = _zones(callee.time_zones)
    if zones is None:
        return None
    binding = law.regional.binding(callee.regions)
    candidates = {now, *(t + CAP_PERIOD for t in recent_calls if t + CAP_PERIOD > now)}
    for zone in zones:
        today = now.astimezone(zone).date()
        for offset in range(LOOK_AHEAD_DAYS):
            day = today + timedelta(days=offset)
            window = _window_on(day.weekday(), callee, hours, binding)
            if window is not None:
                opening = datetime.combine(day, window[0].start, tzinfo=zone).astimezone(UTC)
                if opening >= now:
                    candidates.add(opening)
    cap, _ = call_cap(callee, law)
    for candidate in sorted(candidates):
        if _refused_by_time(callee, hours, law, candidate) is not None:
            continue
        if cap is None or _calls_within_period(recent_calls, candidate) < cap:
            return candidate
    return None


def call_cap(callee: Callee, law: Law) -> tuple[int | None, str]:
    """The tightest cap on calls per 24 hours for this number, and whose it is."""
    caps = [
        (rule.max_calls_per_24h, rule.describe())
        for rule in law.regional.binding(callee.regions)
        if rule.max_calls_per_24h is not None
    ]
    if law.max_calls_per_24h is not None:
        caps.append((law.max_calls_per_24h, "the team's MAX_CALLS_PER_NUMBER_PER_DAY"))
    if not caps:
        return None, ""
    cap, source = min(caps)
    return cap, source


def _refused_by_time(
    callee: Callee, hours: CallingHours, law: Law, now: datetime
) -> Refusal | None:
    zones = _zones(callee.time_zones)
    if zones is None:
        return Refusal("calling_window", "no known time zone for this number: never called")
    binding = law.regional.binding(callee.regions)
    for zone in zones:
        local = now.astimezone(zone)
        where = f"{local:%a %H:%M} in {zone.key}"
        if (holiday := law.holidays.holiday_on(local.date(), callee.regions)) is not None:
            scope = f" ({holiday.region})" if holiday.region else ""
            return Refusal("holiday", f"{where}: {holiday.name}{scope}, no calls")
        if local.weekday() not in hours.days:
            return Refusal("calling_window", f"{where}: not one of the campaign's calling days")
        if callee.best_days and local.weekday() not in callee.best_days:
            return Refusal("calling_window", f"{where}: not one of the lead's best call days")
        found = _window_on(local.weekday(), callee, hours, binding)
        if found is None:
            return Refusal(
                "calling_window",
                f"{where}: no calling hours that day ({_day_rule(local.weekday(), binding)})",
            )
        window, sources = found
        if not window.start <= local.time() < window.end:
            return Refusal(
                "calling_window",
                f"{where} is outside {window.start:%H:%M}-{window.end:%H:%M} ({sources})",
            )
    return None


def _window_on(
    weekday: int, callee: Callee, hours: CallingHours, binding: tuple[RegionalRule, ...]
) -> tuple[TimeWindow, str] | None:
    """The tightest window that day, and who set its edges; None if the rules never meet."""
    if callee.best_days and weekday not in callee.best_days:
        return None
    limits = [(FEDERAL_HOURS, FEDERAL_SOURCE), (hours.hours, "the campaign's hours")]
    if callee.best_window is not None:
        limits.append((callee.best_window, "the lead's best call time"))
    for region in {rule.region for rule in binding}:
        today = [rule for rule in binding if rule.region == region and weekday in rule.days]
        if not today:
            return None  # the region has rules, and none lets it be called this weekday
        limits += [(rule.hours, rule.describe()) for rule in today]
    start_window, start_source = max(limits, key=lambda limit: limit[0].start)
    end_window, end_source = min(limits, key=lambda limit: limit[0].end)
    if start_window.start >= end_window.end:
        return None
    window = TimeWindow(start=start_window.start, end=end_window.end)
    sources = start_source if start_source == end_source else f"{start_source}; {end_source}"
    return window, sources


def _day_rule(weekday: int, binding: tuple[RegionalRule, ...]) -> str:
    closed = sorted(
        {
            rule.describe()
            for rule in binding
            if not any(r.region == rule.region and weekday in r.days for r in binding)
        }
    )
    return "; ".join(closed) or "the hours set for it never meet"


def _calls_within_period(recent_calls: tuple[datetime, ...], now: datetime) -> int:
    return sum(1 for t in recent_calls if now - CAP_PERIOD < t <= now)


def _local_times(callee: Callee, now: datetime) -> str:
    zones = _zones(callee.time_zones) or []
    return ", ".join(f"{now.astimezone(z):%a %H:%M} in {z.key}" for z in zones) or "zone unknown"


def _masked(callee: Callee) -> str:
    # Logs and events are read widely: the last four digits identify a number to a person.
    return f"the number ending {callee.phone_number[-4:]}"


def zone_exists(name: str) -> bool:
    return _zone(name) is not None


@cache
def _zone(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def _zones(names: tuple[str, ...]) -> list[ZoneInfo] | None:
    zones = [_zone(name) for name in names]
    if not zones or any(zone is None for zone in zones):
        return None
    return [zone for zone in zones if zone is not None]
