"""Faults with real processes and real signals, mid-campaign: nothing lost, nothing doubled.

Each scenario runs a small campaign over the five services as separate processes and a
nats-server, does its damage at a moment read from the stream (calls answered and live),
lets the campaign finish, and then checks the same invariants (tests/faults/invariants.py).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

from libs.bus import EventBus
from libs.events import AnyEvent, CampaignFinished
from tests.faults.harness import (
    StreamWatch,
    System,
    campaign_status,
    dial_records,
    readiness,
    running_system,
    settled_results,
    start_campaign,
)
from tests.faults.invariants import (
    CallHistory,
    Evidence,
    histories,
    read_dials,
    results_settled,
    violations,
)
from tests.support import stored_events

pytestmark = pytest.mark.faults

# Settings a scenario's services get beyond the harness's, by service (or replica) name.
SERVICE_ENV: dict[str, dict[str, str]] = {}
LIVE_AT_FAULT = 2  # answered calls on the line when the fault strikes
FAULT_WITHIN = 60.0  # seconds from the campaign's start for that moment to come
# Seconds from the fault's end for the campaign to finish: less than a call's time limit
# plus the scheduler's margin (SETTINGS), so a call that only the scheduler's timeout ends
# (nobody said what became of it) fails the test instead of passing late.
FINISH_WITHIN = 75.0
NATS_AWAY_SECONDS = 30.0  # how long NATS is unreachable in the outage scenario

Fault = Callable[[System, StreamWatch], Awaitable[None]]


@dataclass
class Struck:
    """The calls in flight when the fault struck."""

    live: list[CallHistory]  # placed, not ended
    talking: list[CallHistory]  # answered, not ended
    dialling: list[CallHistory]  # requested, neither placed nor ended


def in_flight(events: list[AnyEvent]) -> Struck:
    calls = histories(events).values()
    return Struck(
        live=[call for call in calls if call.live],
        talking=[call for call in calls if call.talking],
        dialling=[call for call in calls if call.requested and not (call.placed or call.ended)],
    )


@dataclass(frozen=True)
class Moment:
    """When a fault strikes, as read from the stream."""

    said: str
    holds: Callable[[Struck], bool]


CALLS_LIVE = Moment(
    f"{LIVE_AT_FAULT} answered calls live at once",
    lambda now: len(now.talking) >= LIVE_AT_FAULT,
)
# Telephony killed between a request and its CallPlaced, if it can be caught there.
CALLS_LIVE_AND_DIALLING = Moment(
    f"{LIVE_AT_FAULT} answered calls live while another is being dialled",
    lambda now: len(now.talking) >= LIVE_AT_FAULT and bool(now.dialling),
)


async def when(watch: StreamWatch, moment: Moment) -> Struck:
    def struck(events: list[AnyEvent]) -> Struck | None:
        now = in_flight(events)
        return now if moment.holds(now) else None

    found = await watch.wait_for(struck, FAULT_WITHIN, moment.said)
    assert isinstance(found, Struck)
    return found


async def campaign_with_fault(
    root: Path,
    fault: Fault | None,
    *,
    moment: Moment = CALLS_LIVE,
    telephony_replicas: int = 1,
    extra_env: Mapping[str, Mapping[str, str]] | None = None,
) -> tuple[System, Struck | None, list[AnyEvent]]:
    """Run a campaign through `fault` and check every invariant after it."""
    environment = {**SERVICE_ENV, **(extra_env or {})}
    async with running_system(
        root, telephony_replicas=telephony_replicas, extra_env=environment
    ) as (system, watch):
        campaign = await start_campaign(system, watch)
        struck = None
        if fault is not None:
            struck = await when(watch, moment)
            await fault(system, watch)
        unfinished = ""
        try:
            await watch.wait_for(
                lambda events: any(isinstance(e, CampaignFinished) for e in events),
                FINISH_WITHIN,
                "CampaignFinished",
            )
        except AssertionError as exc:
            unfinished = str(exc)
        status = await campaign_status(system)
        results = await settled_results(system, results_settled(campaign["selected"]))
        not_ready = await readiness(system)
        bus = await EventBus.connect(system.nats.url, name="fault-check")
        try:
            events = await stored_events(bus, "sales.>")
        finally:
            await bus.close()
        dials = read_dials(dial_records(system), events)
        struck_ids = frozenset(call.call_id for call in struck.live) if struck else frozenset()
        evidence = Evidence(events, dials, results, status, not_ready, struck_ids)
        problems = violations(evidence)
        if unfinished:
            problems.insert(0, unfinished)
        assert not problems, "\n".join(problems)
        calls = histories(events).values()
        assert any(call.answered and call.completed and call.outcomes for call in calls), (
            "no call was answered and talked through: the campaign proves nothing"
        )
        return system, struck, events


def assert_calls_were_live(struck: Struck | None, what: str) -> None:
    assert struck is not None and struck.live and struck.talking, f"no call live when {what}"


def kill_and_restart(*names: str) -> Fault:
    async def fault(system: System, watch: StreamWatch) -> None:
        for name in names:
            await system.kill(name)
        for name in names:
            await system.start(name)

    return fault


# Ingest and analytics carry no call: killed together, in one campaign, they cost the
# suite one campaign less and still each die mid-campaign.
@pytest.mark.parametrize(
    "services",
    [("scheduler",), ("telephony",), ("conversation",), ("ingest", "analytics")],
    ids="+".join,
)
async def test_a_service_killed_mid_campaign_and_restarted(
    tmp_path: Path, services: tuple[str, ...]
) -> None:
    moment = CALLS_LIVE_AND_DIALLING if services == ("telephony",) else CALLS_LIVE
    fault = kill_and_restart(*services)
    _, struck, _ = await campaign_with_fault(tmp_path, fault, moment=moment)
    assert_calls_were_live(struck, f"{' and '.join(services)} killed")


async def test_nats_killed_and_restarted_on_the_same_store(tmp_path: Path) -> None:
    async def fault(system: System, watch: StreamWatch) -> None:
        await system.nats.kill()
        await system.nats.start()

    _, struck, _ = await campaign_with_fault(tmp_path, fault)
    assert_calls_were_live(struck, "nats-server was killed")


async def test_nats_unreachable_for_thirty_seconds(tmp_path: Path) -> None:
    away: list[float] = []

    async def fault(system: System, watch: StreamWatch) -> None:
        await system.nats.kill()
        gone = time.monotonic()
        await asyncio.sleep(NATS_AWAY_SECONDS)  # the outage itself: nothing to wait on
        await system.nats.start()
        away.append(time.monotonic() - gone)

    _, struck, _ = await campaign_with_fault(tmp_path, fault)
    assert_calls_were_live(struck, "nats-server went away")
    assert away and away[0] >= NATS_AWAY_SECONDS


async def test_two_telephony_replicas_share_the_calls(tmp_path: Path) -> None:
    system, _, events = await campaign_with_fault(tmp_path, None, telephony_replicas=2)
    dials = read_dials(dial_records(system), events)
    for member in system.replicas("telephony"):
        assert dials.by(member.name), f"{member.name} dialled no call: the work was not shared"
