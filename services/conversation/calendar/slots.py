"""Which times to offer a lead: free slots on the reps' working grids, in the lead's hours.

A rep's day is cut into slots from the start of their working hours, one meeting plus its
buffer apart, so that two slots of one rep never overlap and a time has one subject to be
reserved on. A slot is offered only if it starts after the minimum notice, ends within the
horizon and the rep's hours, keeps the buffer from everything the rep has on, and, when
the lead said when suits them, lies inside those hours on one of those days (their zone).

Pure: the team, what is taken and the time in; slots out.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from libs.events import TimeWindow, slot_id_for
from services.conversation.calendar.port import Interval, Slot
from services.conversation.calendar.team import Rep, Team

OFFERED = 3  # slots offered at once: enough to choose from, few enough to say aloud
PER_DAY = 2  # so that three offers span more than one day


@dataclass(frozen=True)
class LeadHours:
    """When the lead said suits them, in their own zone; no window: any working hour."""

    zone: ZoneInfo
    window: TimeWindow | None = None
    days: tuple[int, ...] = ()  # Monday 0; empty: any day

    def suits(self, slot: Slot) -> bool:
        start = slot.starts_at.astimezone(self.zone)
        end = slot.ends_at.astimezone(self.zone)
        if self.days and start.weekday() not in self.days:
            return False
        window = self.window
        if window is None or window.end <= window.start:
            return True
        return (
            start.date() == end.date()
            and window.start <= start.time()
            and (end.time() <= window.end)
        )


@dataclass(frozen=True)
class Request:
    """What one offer is asked for."""

    now: datetime  # the call's time, UTC
    lead: LeadHours
    around: datetime | None = None  # a time the lead named: the nearest slots to it
    passed_over: frozenset[object] = field(default_factory=frozenset)  # slot ids not to offer


def rep_slots(team: Team, rep: Rep, start: datetime, end: datetime) -> Iterator[Slot]:
    """The rep's grid of slots that start at or after `start` and end by `end` (UTC)."""
    step = team.meeting + team.buffer
    day = start.astimezone(rep.zone).date() - timedelta(days=1)
    last_day = end.astimezone(rep.zone).date()
    while day <= last_day:
        if day.weekday() in rep.weekdays:
            at = datetime.combine(day, rep.starts, tzinfo=rep.zone)
            closes = datetime.combine(day, rep.ends, tzinfo=rep.zone)
            while at + team.meeting <= closes:
                starts_at = at.astimezone(ZoneInfo("UTC"))
                ends_at = (at + team.meeting).astimezone(ZoneInfo("UTC"))
                if starts_at >= start and ends_at <= end:
                    yield Slot(
                        slot_id=slot_id_for(rep.id, starts_at),
                        rep_id=rep.id,
                        starts_at=starts_at,
                        ends_at=ends_at,
                    )
                at += step
        day += timedelta(days=1)


def is_free(slot: Slot, taken: Sequence[Interval], buffer: timedelta) -> bool:
    """Nothing the rep has on comes within the buffer of the slot."""
    padded = Interval(slot.starts_at - buffer, slot.ends_at + buffer)
    return not any(padded.overlaps(busy) for busy in taken)


def bookable(team: Team, slot: Slot, now: datetime, taken: Sequence[Interval]) -> bool:
    """Whether a slot may be booked now: on its rep's grid, after the notice, within the
    horizon, and free. Checked again when a slot is booked, whatever was offered."""
    rep = team.rep(slot.rep_id)
    if rep is None or slot.starts_at < now + team.minimum_notice:
        return False
    if slot.ends_at > now + team.horizon:
        return False
    on_grid = any(
        candidate.slot_id == slot.slot_id
        for candidate in rep_slots(team, rep, slot.starts_at, slot.ends_at)
    )
    return on_grid and is_free(slot, taken, team.buffer)


def free_slots(
    team: Team, request: Request, taken: Mapping[str, Sequence[Interval]], count: int = OFFERED
) -> list[Slot]:
    """Up to `count` slots to offer, each at a different time: the soonest (at most
    PER_DAY on one of the lead's days) in order, or the nearest to the time the lead named,
    nearest first (the very time, when it is free)."""
    earliest = request.now + team.minimum_notice
    latest = request.now + team.horizon
    candidates = [
        slot
        for rep in team.reps
        for slot in rep_slots(team, rep, earliest, latest)
        if slot.slot_id not in request.passed_over
        and request.lead.suits(slot)
        and is_free(slot, taken.get(rep.id, ()), team.buffer)
    ]
    load = {rep.id: len(taken.get(rep.id, ())) for rep in team.reps}
    around = request.around
    if around is None:
        candidates.sort(key=lambda slot: (slot.starts_at, load[slot.rep_id], slot.rep_id))
    else:
        candidates.sort(
            key=lambda slot: (abs(slot.starts_at - around), load[slot.rep_id], slot.rep_id)
        )
    chosen: list[Slot] = []
    per_day: dict[object, int] = {}
    for slot in candidates:
        day = slot.starts_at.astimezone(request.lead.zone).date()
        if any(other.starts_at == slot.starts_at for other in chosen):
            continue  # the same time with another rep offers nothing new
        if around is None and per_day.get(day, 0) >= PER_DAY:
            continue
        chosen.append(slot)
        per_day[day] = per_day.get(day, 0) + 1
        if len(chosen) == count:
            break
    return chosen if around is not None else sorted(chosen, key=lambda slot: slot.starts_at)
