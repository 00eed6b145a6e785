from datetime import UTC, datetime, time
from uuid import UUID, uuid4

from libs.events import (
    CampaignFinished,
    LeadImported,
    LeadProfile,
    TimeWindow,
    lead_id_for,
    subject_for,
)
from tests.integration.scheduler.support import StandInCarrier, next_event, running_scheduler

WEDNESDAY_10AM_NEW_YORK = datetime(2026, 3, 4, 15, 0, tzinfo=UTC)
NEW_YORK, LOS_ANGELES = ("America/New_York",), ("America/Los_Angeles",)


def lead(n: int, zones=NEW_YORK, best: TimeWindow | None = None) -> LeadImported:
    number = f"+1202555{n:04d}"
    return LeadImported(
        event_id=uuid4(),
        occurred_at=WEDNESDAY_10AM_NEW_YORK,
        lead_id=lead_id_for(number),
        lead=LeadProfile(
            phone_number=number,
            business_name=f"Business {n}",
            contact_name=f"Contact {n}",
            business_type="Retail",
            company_size="small",
            time_zones=zones,
            best_call_window=best,
        ),
    )


async def test_a_campaign_of_fifty_leads_keeps_every_rule(bus):
    callable_now = [lead(n) for n in range(40)]
    outside_hours = [lead(100 + n, zones=LOS_ANGELES) for n in range(5)]  # 07:00 there
    afternoon_only = [
        lead(200 + n, best=TimeWindow(start=time(14), end=time(16))) for n in range(2)
    ]
    do_not_call = [lead(300 + n) for n in range(3)]
    everyone = callable_now + outside_hours + afternoon_only + do_not_call
    await bus.publish_many(everyone)
    busy = {event.lead.phone_number for event in callable_now[:6]}

    carrier = StandInCarrier(bus, busy_first_attempt=busy)
    async with carrier.running(), running_scheduler(bus, WEDNESDAY_10AM_NEW_YORK) as api:
        # Written as people write numbers: each entry still names its lead.
        national = [
            f"({n[2:5]}) {n[5:8]}-{n[8:]}" for n in (e.lead.phone_number for e in do_not_call)
        ]
        dnc_csv = "Phone\n" + "\n".join(national) + "\n"
        listed = await api.post(
            "/dnc/upload", content=dnc_csv, headers={"content-type": "text/csv"}
        )
        assert listed.json() == {"listed": 3, "rejected": []}

        started = await api.post("/campaign/start", json={"name": "Fifty"})
        assert started.status_code == 201, started.text
        body = started.json()
        assert (body["selected"], body["excluded"]) == (
            47,
            {"opted out or on the do-not-call list": 3},
        )
        await carrier.wait_until(lambda: carrier.ended >= 40 + 6)
        status = (await api.get("/campaign/status")).json()

    called = {request.lead.phone_number for request in carrier.requests}
    assert called == {event.lead.phone_number for event in callable_now}
    assert carrier.most_live <= 4
    assert all(count == 1 for count in carrier.attempts_per_lead().values())
    assert sorted(r.attempt for r in carrier.requests).count(2) == 6  # busy ones, retried once
    assert status["state"] == "paused outside hours"
    assert status["progress"] | {"selected": 47} == {
        "selected": 47,
        "pending": 7,
        "live": 0,
        "completed": 40,
        "failed": 0,
        "retry_scheduled": 0,
        "callbacks_scheduled": 0,
        "opted_out": 0,
    }
    assert status["next_call_at"] == "2026-03-04T17:00:00Z"  # 09:00 in Los Angeles
    assert status["next_call_reason"] == "outside the calling hours of every waiting lead"


async def test_a_restarted_scheduler_never_dials_the_same_attempt_twice(bus):
    leads = [lead(n) for n in range(30)]
    await bus.publish_many(leads)
    carrier = StandInCarrier(bus)
    async with carrier.running():
        async with running_scheduler(bus, WEDNESDAY_10AM_NEW_YORK, CALLS_PER_SECOND="20") as api:
            started = (await api.post("/campaign/start", json={})).json()
            await carrier.wait_until(lambda: len(carrier.requests) >= 8)
        # The scheduler is gone mid-campaign; a new one rebuilds from the stream.
        async with running_scheduler(bus, WEDNESDAY_10AM_NEW_YORK) as api:
            campaign_id = UUID(started["campaign_id"])
            finished = await next_event(bus, subject_for(CampaignFinished, campaign_id))
            status = (await api.get("/campaign/status")).json()
    assert finished.summary == {"completed": 30}
    assert status["state"] == "finished"
    assert carrier.attempts_per_lead() == {(e.lead_id, 1): 1 for e in leads}
    stored = await bus.js.stream_info(bus.stream, subjects_filter="sales.call.*.requested")
    assert sorted(stored.state.subjects.values()) == [1] * 30  # one request per call, ever


async def test_a_simulated_clock_skips_idle_waits_but_never_a_rule(bus):
    from services.scheduler.clock import SimulatedClock

    callable_now, later = lead(1), lead(2, zones=LOS_ANGELES)  # 07:00 in Los Angeles
    busy = lead(3)
    await bus.publish_many([callable_now, later, busy])
    carrier = StandInCarrier(bus, busy_first_attempt={busy.lead.phone_number})
    clock = SimulatedClock(WEDNESDAY_10AM_NEW_YORK)
    async with (
        carrier.running(),
        running_scheduler(
            bus, WEDNESDAY_10AM_NEW_YORK, clock=clock, RETRY_BACKOFF_MINUTES="30"
        ) as api,
    ):
        started = (await api.post("/campaign/start", json={})).json()
        finished = await next_event(
            bus, subject_for(CampaignFinished, UUID(started["campaign_id"]))
        )
    moments = {r.lead.phone_number: (r.attempt, r.occurred_at) for r in carrier.requests}
    assert finished.summary == {"completed": 3}
    assert moments[busy.lead.phone_number][0] == 2
    assert moments[busy.lead.phone_number][1] >= WEDNESDAY_10AM_NEW_YORK.replace(minute=30)
    assert moments[later.lead.phone_number][1] >= datetime(2026, 3, 4, 17, 0, tzinfo=UTC)
