"""The projection on a real nats-server and a real DuckDB file."""

from __future__ import annotations

import asyncio
from datetime import datetime

import duckdb

from libs.bus import Delivery, EventBus
from libs.bus.consumer import ConsumerSettings, DurableBatchConsumer
from libs.events import encode_event
from services.analytics.store import ProjectionStore
from services.analytics.worker import Projector
from tests.factories import CALL_ID, CAMPAIGN_ID, LEAD_ID, MEETING_ID, SLOT_ID, one_of_each_event
from tests.integration.analytics.histories import realistic_events
from tests.integration.analytics.support import (
    projecting,
    publish,
    settings_for,
    table_contents,
)

AT = datetime(2026, 3, 4, 15, 30, 0, 123456)


def rows(path, sql: str) -> list[tuple[object, ...]]:
    with duckdb.connect(str(path), read_only=True) as connection:
        return connection.execute(sql).fetchall()


async def test_each_event_kind_lands_in_its_table(bus: EventBus, tmp_path):
    settings = settings_for(tmp_path)
    last = await publish(bus, one_of_each_event())
    async with projecting(bus, settings) as (_, projector):
        await projector.wait_for(last)
    path = settings.duckdb_file
    assert rows(
        path, "SELECT lead_id, phone_number, business_name, imported_status FROM leads"
    ) == [(LEAD_ID, "+12025550143", "Rosa's Trattoria", "pending")]
    # started, stopped, paused, resumed, requeued, finished: the last word is the status
    assert rows(
        path, "SELECT name, status, stop_reason, pause_reason, finished_at FROM campaigns"
    ) == [("Spring", "finished", "stopped by user", "8 of the last 10 calls failed", AT)]
    assert rows(path, "SELECT * FROM campaign_leads") == [(CAMPAIGN_ID, LEAD_ID)]
    assert rows(
        path,
        "SELECT attempt, provider, provider_call_id, answered_by, failure_reason, "
        "provider_error_code, duration_seconds FROM calls",
    ) == [
        (2, "twilio", "CA0123456789abcdef0123456789abcdef", "human", "invalid-number", 21211, 84.5)
    ]
    assert rows(path, "SELECT call_id, ended_by, len(turns) FROM transcripts") == [
        (CALL_ID, "goodbye", 2)
    ]
    assert rows(
        path, "SELECT turn_index, role, response_latency_seconds FROM transcript_turns"
    ) == [
        (1, "agent", None),
        (2, "prospect", 0.8),
    ]
    assert rows(path, "SELECT interest_level, scheduled_meeting, next_steps FROM outcomes") == [
        ("high", True, "Send the calendar invite")
    ]
    assert rows(path, "SELECT lead_id, phone_number, source FROM opt_outs") == [
        (LEAD_ID, "+12025550143", "call")
    ]
    assert rows(path, "SELECT lead_id, rule FROM withheld") == [(LEAD_ID, "calling_window")]
    assert rows(
        path, "SELECT meeting_id, revision, rep_name, starts_local, call_id FROM meeting_bookings"
    ) == [(MEETING_ID, 1, "Alex Morgan", "2026-03-05T10:30:00-05:00", CALL_ID)]
    assert rows(path, "SELECT slot_id, reason FROM meeting_cancels") == [(SLOT_ID, "rescheduled")]
    # moved away from its only known slot: as it stands, it does not hold
    assert rows(path, "SELECT meeting_id, status, cancel_reason FROM meetings") == [
        (MEETING_ID, "canceled", "rescheduled")
    ]
    assert rows(path, "SELECT meeting_id FROM outcomes") == [(MEETING_ID,)]
    assert rows(path, "SELECT last_sequence FROM projection_position") == [(last,)]


async def test_redelivered_and_duplicate_events_change_nothing(bus: EventBus, tmp_path):
    settings = settings_for(tmp_path)
    events = realistic_events(400, campaign_size=30)
    last = await publish(bus, events)
    async with projecting(bus, settings) as (workers, projector):
        await projector.wait_for(last)
        before = {name: table for name, table in (await snapshot(workers.store)).items()}
        # A redelivery: the same messages, same sequences, handed over again.
        await projector.apply(
            [(event, Delivery("sales.x", sequence, 2)) for sequence, event in enumerate(events, 1)]
        )
        # Duplicates past JetStream's window: same events (same ids), new sequences.
        for event in events[:150]:
            await bus.js.publish(event.subject, encode_event(event))
        await projector.wait_for(last + 150)
        after = await snapshot(workers.store)
    assert after == before


async def snapshot(store: ProjectionStore) -> dict[str, list[tuple[object, ...]]]:
    async with store.reader() as cursor:
        return {
            name: cursor.execute(f"SELECT * FROM {name} ORDER BY ALL").fetchall()
            for name in (
                "leads",
                "campaigns",
                "campaign_leads",
                "calls",
                "transcripts",
                "outcomes",
                "opt_outs",
                "withheld",
                "meeting_bookings",
                "meeting_cancels",
            )
        }


class CrashAfterCommit:
    """Applies the batch, then never returns: the process dies before its ack is sent."""

    def __init__(self, projector: Projector, crash_at: int) -> None:
        self.projector, self.crash_at = projector, crash_at
        self.crashed = asyncio.Event()

    async def __call__(self, batch: list[tuple[object, Delivery]]) -> None:
        await self.projector.apply(batch)  # type: ignore[arg-type]
        if self.projector.store.last_sequence >= self.crash_at:
            self.crashed.set()
            await asyncio.Event().wait()  # cancelled here, as by a kill


async def test_a_kill_between_commit_and_ack_leaves_the_same_tables(
    bus: EventBus, tmp_path, log_watch
):
    events = realistic_events(600, campaign_size=40)
    last = await publish(bus, events)

    reference = settings_for(tmp_path / "reference", analytics_durable="reference")
    async with projecting(bus, reference) as (_, projector):
        await projector.wait_for(last)

    # Projected then killed: committed, never acked.
    live = settings_for(tmp_path / "live", analytics_ack_wait=1.0, analytics_durable="live")
    store = ProjectionStore(live.duckdb_file)
    await asyncio.to_thread(store.open)
    crashing = CrashAfterCommit(Projector(store, bus), crash_at=last)
    consumer = DurableBatchConsumer(
        bus, ConsumerSettings(durable="live", ack_wait=1.0, idle_wait=0.2), crashing
    )
    task = asyncio.create_task(consumer.run())
    async with asyncio.timeout(10):
        await crashing.crashed.wait()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await asyncio.to_thread(store.close)
    info = await bus.js.consumer_info(bus.stream, "live")
    assert info.num_ack_pending > 0  # the last batch really was never acked

    async with projecting(bus, live) as (_, projector):
        await log_watch.wait_for(lambda r: "already applied" in r["message"])
        await projector.wait_for(last)
    assert table_contents(live.duckdb_file) == table_contents(reference.duckdb_file)


async def test_a_new_file_behind_the_consumer_is_filled_from_the_stream(bus: EventBus, tmp_path):
    settings = settings_for(tmp_path)
    events = realistic_events(300, campaign_size=20)
    last = await publish(bus, events)
    async with projecting(bus, settings) as (_, projector):
        await projector.wait_for(last)
    reference = table_contents(settings.duckdb_file)

    settings.duckdb_file.unlink()  # lost: the consumer has acked everything already
    async with projecting(bus, settings) as (_, projector):
        await projector.wait_for(last)
    assert table_contents(settings.duckdb_file) == reference


async def test_a_file_from_a_build_with_other_tables_is_rebuilt_from_the_stream(
    bus: EventBus, tmp_path, log_watch
):
    settings = settings_for(tmp_path)
    last = await publish(bus, realistic_events(200, campaign_size=15))
    async with projecting(bus, settings) as (_, projector):
        await projector.wait_for(last)
    reference = table_contents(settings.duckdb_file)
    with duckdb.connect(str(settings.duckdb_file)) as older:  # as an earlier build left it
        older.execute("DROP TABLE withheld")
        older.execute("DROP TABLE projection_schema")
        older.execute("ALTER TABLE calls DROP COLUMN refusal_rule")

    async with projecting(bus, settings) as (_, projector):
        await log_watch.wait_for(lambda r: "written with other tables" in r["message"])
        await projector.wait_for(last)
    assert table_contents(settings.duckdb_file) == reference


async def test_a_batch_that_skips_ahead_reads_the_gap_from_the_stream(bus: EventBus, tmp_path):
    settings = settings_for(tmp_path)
    events = realistic_events(200, campaign_size=15)
    last = await publish(bus, events)
    store = ProjectionStore(settings.duckdb_file)
    await asyncio.to_thread(store.open)
    projector = Projector(store, bus)
    # Events 1-150 were nakked and overtaken: the consumer hands over 151-200 first.
    await projector.apply(
        [(event, Delivery(event.subject, seq, 1)) for seq, event in enumerate(events, 1)][150:]
    )
    await asyncio.to_thread(store.close)
    assert store.last_sequence == last

    reference = settings_for(tmp_path / "reference", analytics_durable="reference")
    async with projecting(bus, reference) as (_, reference_projector):
        await reference_projector.wait_for(last)
    assert table_contents(settings.duckdb_file) == table_contents(reference.duckdb_file)
