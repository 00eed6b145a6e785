"""Scheduler decisions at scale: starting a campaign over 100,000 leads, and each dispatch.

In memory, on the production domain code (the same functions the service calls):
- apply 100,000 LeadImported to a fresh state (what a restart's rebuild folds);
- select and start a campaign over all of them (selection, the CampaignStarted parts,
  folding them in);
- dispatch calls one after another, each line freed as soon as it is taken, and time
  `decide()` per dispatched call; a quarter of the leads are in a zone where the window
  is closed, so the queue also re-schedules leads it cannot call yet.
Then, on a real nats-server, the same start through HTTP (`POST /campaign/start`) after
the service rebuilt its state from the stream.

    .venv/bin/python benchmarks/scheduler.py [--leads 100000]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import uuid4

from loguru import logger

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from libs.bus import EmbeddedNatsServer, EventBus
from libs.events import CallCompleted, CallRequested, LeadImported, LeadProfile, lead_id_for
from libs.runtime.app import build_app
from services.scheduler.domain import CampaignRequest, DispatchLimits, decide, start_campaign
from services.scheduler.plugin import build_plugin
from services.scheduler.state import RetryPolicy, SchedulerState
from tests.integration.scheduler.support import clock_at
from tests.support import serving
from tests.unit.scheduler.support import NINE_TO_FIVE

WEDNESDAY_10AM_NEW_YORK = datetime(2026, 3, 4, 15, 0, tzinfo=UTC)
ZONES = ("America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles")


def leads(count: int) -> list[LeadImported]:
    events = []
    for n in range(count):
        number = f"+1{200 + n // 10_000_000 % 700:03d}{n % 10_000_000:07d}"
        events.append(
            LeadImported(
                event_id=uuid4(),
                occurred_at=WEDNESDAY_10AM_NEW_YORK,
                lead_id=lead_id_for(number),
                lead=LeadProfile(
                    phone_number=number,
                    business_name=f"Business {n}",
                    contact_name=f"Contact {n}",
                    business_type="Retail",
                    company_size="small",
                    time_zones=(ZONES[n % 4],),
                    current_challenges="Too many missed calls at lunchtime",
                ),
            )
        )
    return events


def in_memory(events: list[LeadImported], dispatches: int) -> dict[str, float]:
    state = SchedulerState(RetryPolicy())
    started = time.perf_counter()
    for event in events:
        state.apply(event)
    rebuild = time.perf_counter() - started

    started = time.perf_counter()
    request = CampaignRequest(name="Bench", rules=NINE_TO_FIVE, max_concurrent_calls=5)
    parts, _ = start_campaign(state, request, WEDNESDAY_10AM_NEW_YORK)
    for part in parts:
        state.apply(part)
    start = time.perf_counter() - started

    limits = DispatchLimits(max_concurrent_calls=5, calls_per_second=1000)
    now, decisions = WEDNESDAY_10AM_NEW_YORK, []
    while len(decisions) < dispatches:
        now += timedelta(milliseconds=1)
        began = time.perf_counter()
        made = decide(state, now, limits)
        elapsed = time.perf_counter() - began
        for event in made:
            state.apply(event)
            if isinstance(event, CallRequested):
                decisions.append(elapsed)
                state.apply(
                    CallCompleted(
                        event_id=uuid4(),
                        occurred_at=now,
                        call_id=event.call_id,
                        lead_id=event.lead_id,
                        campaign_id=event.campaign_id,
                        duration_seconds=1,
                    )
                )
    decisions.sort()
    return {
        "rebuild_s": rebuild,
        "start_s": start,
        "decide_p50_us": statistics.median(decisions) * 1e6,
        "decide_p95_us": decisions[int(len(decisions) * 0.95)] * 1e6,
    }


async def over_http(events: list[LeadImported]) -> dict[str, float]:
    logger.remove()
    with tempfile.TemporaryDirectory() as store:
        async with EmbeddedNatsServer(Path(store)) as server:
            bus = await EventBus.connect(server.url, name="bench")
            await bus.ensure_stream()
            await bus.publish_many(events)
            plugin = build_plugin({}, clock=clock_at(WEDNESDAY_10AM_NEW_YORK))
            app = build_app([plugin], bus=bus, api_token=None, title="bench")
            began = time.perf_counter()
            async with serving(app) as api:
                await api.get("/healthz")  # answered once startup (the rebuild) is over
                ready = time.perf_counter() - began
                began = time.perf_counter()
                response = await api.post("/campaign/start", json={"name": "Bench"})
                start = time.perf_counter() - began
                assert response.status_code == 201, response.text
            await bus.close()
    return {"service_rebuild_s": ready, "http_start_s": start}


def main(count: int, dispatches: int) -> None:
    events = leads(count)
    memory = in_memory(events, dispatches)
    http = asyncio.run(over_http(events))
    print(f"{count:,} leads, {dispatches:,} dispatched calls")
    print(f"  fold {count:,} LeadImported into the state   {memory['rebuild_s']:8.2f} s")
    print(f"  select and start the campaign (domain)   {memory['start_s']:8.2f} s")
    print(
        f"  decision per dispatched call  p50 {memory['decide_p50_us']:8.1f} us"
        f"   p95 {memory['decide_p95_us']:8.1f} us"
    )
    print(f"  service start, state rebuilt from NATS   {http['service_rebuild_s']:8.2f} s")
    print(f"  POST /campaign/start over HTTP and NATS  {http['http_start_s']:8.2f} s")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=100_000)
    parser.add_argument("--dispatches", type=int, default=2_000)
    arguments = parser.parse_args()
    main(arguments.leads, arguments.dispatches)
