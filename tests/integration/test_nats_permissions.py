"""Each service's NATS user, on a real nats-server running deploy/nats/permissions.conf:
it records the events it owns and no others, and cannot touch the stream or another
service's consumers. The five services running a campaign this way: tests/e2e."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from nats.js.api import AckPolicy, ConsumerConfig

from libs.bus import EmbeddedNatsServer, EventBus, PublishDeniedError, PublishError
from libs.events import (
    AnswerClassified,
    CallAnswered,
    CallCompleted,
    CallDialing,
    CallFailed,
    CallPlaced,
    CallRecorded,
    CallRequested,
    CallsWithheld,
    CampaignFinished,
    CampaignLeadsAdded,
    CampaignLeadsRequeued,
    CampaignPaused,
    CampaignResumed,
    CampaignStarted,
    CampaignStopped,
    Event,
    LeadImported,
    LeadOptedOut,
    MediaStreamStarted,
    MeetingBooked,
    MeetingCanceled,
    ModeRecorded,
    OutcomeRecorded,
    TranscriptFinalized,
    TurnRecorded,
    history_of,
    subject_for,
)
from services.analytics.replay import read_history
from services.telephony.call_facts import call_request, live_calls_of_campaign
from services.telephony.domain import LiveCall
from tests.conftest import LogWatch
from tests.factories import CALL_ID, CAMPAIGN_ID, one_of_each_event
from tests.nats_users import connect_as, made_up_passwords, server_with_users, violations

SERVICES = ("ingest", "scheduler", "telephony", "conversation", "analytics")
# Who records what, as DESIGN.md's "Who owns what" says; written out here, not read from
# libs/bus/access.py, so that a change to the table shows up as a failure.
SCHEDULER_OWNS = {
    CampaignStarted,
    CampaignLeadsAdded,
    CampaignStopped,
    CampaignPaused,
    CampaignResumed,
    CampaignLeadsRequeued,
    CallsWithheld,
    CampaignFinished,
    CallRequested,
    CallFailed,  # a call with no final status, timed out
    LeadOptedOut,  # a do-not-call list
}
MAY_RECORD: dict[str, set[type[Event]]] = {
    "ingest": {ModeRecorded, LeadImported},
    "scheduler": {ModeRecorded, *SCHEDULER_OWNS},
    "telephony": {
        ModeRecorded,
        CallDialing,
        CallPlaced,
        CallAnswered,
        AnswerClassified,
        CallFailed,
        CallCompleted,
        CallRecorded,
    },
    "conversation": {
        ModeRecorded,
        CallAnswered,
        MediaStreamStarted,
        LeadOptedOut,
        TurnRecorded,
        TranscriptFinalized,
        OutcomeRecorded,
        MeetingBooked,
        MeetingCanceled,
    },
    "analytics": {ModeRecorded},
}

Buses = dict[str, EventBus]


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[tuple[EmbeddedNatsServer, dict[str, str]]]:
    passwords = made_up_passwords()
    async with server_with_users(tmp_path / "nats", passwords) as running:
        yield running, passwords


@pytest.fixture
async def buses(server: tuple[EmbeddedNatsServer, dict[str, str]]) -> AsyncIterator[Buses]:
    """Every service connected as itself, the stream created by the scheduler."""
    running, passwords = server
    connected = {service: await connect_as(service, running, passwords) for service in SERVICES}
    await connected["scheduler"].ensure_stream()
    yield connected
    for bus in connected.values():
        await bus.close()


async def stored_subjects(bus: EventBus) -> dict[str, int]:
    info = await bus.js.stream_info(bus.stream, subjects_filter=">")
    return dict(info.state.subjects or {})


async def refused(
    log_watch: LogWatch, user: str, subject: str, attempt: Callable[[], Awaitable[object]]
) -> None:
    """Make the attempt, and wait until the server says it refused `user` on `subject`.
    A refused request gets no answer at all: the attempt is abandoned, not awaited."""
    trying = asyncio.ensure_future(attempt())
    try:
        await log_watch.wait_for(
            lambda record: (
                f"user:{user}" in str(record["message"])
                and "Violation" in str(record["message"])
                and f'"{subject}"' in str(record["message"])
            )
        )
    finally:
        trying.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await trying


async def test_telephony_can_neither_record_an_outcome_nor_stop_a_campaign(buses: Buses):
    telephony = buses["telephony"]
    events = {type(event): event for event in one_of_each_event()}
    for forged in (events[OutcomeRecorded], events[CampaignStopped]):
        with pytest.raises(PublishError) as raised:
            await telephony.publish(forged)
        [(_, error)] = raised.value.failed
        assert isinstance(error, PublishDeniedError)
        assert error.subject == forged.subject
    # What it owns it records, on the same connection; the forgeries are not stored.
    await telephony.publish(events[CallPlaced])
    assert await stored_subjects(buses["scheduler"]) == {events[CallPlaced].subject: 1}


async def test_each_service_records_exactly_the_events_it_owns(buses: Buses):
    recorded: dict[str, set[type[Event]]] = {}
    for service, bus in buses.items():
        recorded[service] = set()
        for event in one_of_each_event():  # new event ids each time: none is a duplicate
            try:
                await bus.publish(event)
            except PublishError as exc:
                [(_, error)] = exc.failed
                assert isinstance(error, PublishDeniedError), error
            else:
                recorded[service].add(type(event))
    assert recorded == MAY_RECORD
    # Nothing refused reached the stream: a subject holds one event from each of its owners.
    owners = {
        event.subject: sum(type(event) in owned for owned in MAY_RECORD.values())
        for event in one_of_each_event()
    }
    assert await stored_subjects(buses["scheduler"]) == {
        subject: count for subject, count in owners.items() if count
    }


async def test_only_the_scheduler_creates_the_stream_and_the_others_wait_for_it(
    server: tuple[EmbeddedNatsServer, dict[str, str]], log_watch: LogWatch
):
    running, passwords = server
    telephony = await connect_as("telephony", running, passwords)
    scheduler = await connect_as("scheduler", running, passwords)
    try:
        creating = "$JS.API.STREAM.CREATE.SALES"
        await refused(log_watch, "telephony", creating, telephony.ensure_stream)
        assert not await scheduler.has_stream()
        waiting = asyncio.create_task(telephony.wait_for_stream(manager="scheduler"))
        await scheduler.ensure_stream()
        await asyncio.wait_for(waiting, timeout=10)  # told by the server, not by a poll
        assert await telephony.has_stream()
    finally:
        await telephony.close()
        await scheduler.close()


@pytest.mark.parametrize("service", ["ingest", "telephony", "conversation", "analytics"])
async def test_no_service_but_the_scheduler_can_change_purge_or_delete_the_stream(
    buses: Buses, log_watch: LogWatch, service: str
):
    bus = buses[service]
    await buses["conversation"].publish(
        next(e for e in one_of_each_event() if isinstance(e, OutcomeRecorded))
    )
    info = await bus.js.stream_info(bus.stream)  # reading its settings is allowed
    info.config.max_msgs = 1
    attempts = {
        "$JS.API.STREAM.UPDATE.SALES": lambda: bus.js.update_stream(info.config),
        "$JS.API.STREAM.PURGE.SALES": lambda: bus.js.purge_stream(bus.stream),
        "$JS.API.STREAM.DELETE.SALES": lambda: bus.js.delete_stream(bus.stream),
        "$JS.API.STREAM.MSG.DELETE.SALES": lambda: bus.js.delete_msg(bus.stream, 1),
    }
    for subject, attempt in attempts.items():
        await refused(log_watch, service, subject, attempt)
    assert await stored_subjects(buses["scheduler"]) == {f"sales.call.{CALL_ID}.outcome": 1}


async def test_a_service_cannot_take_another_services_deliveries(buses: Buses, log_watch: LogWatch):
    scheduler, telephony = buses["scheduler"], buses["telephony"]
    await scheduler.js.add_consumer(
        scheduler.stream, ConsumerConfig(durable_name="scheduler", ack_policy=AckPolicy.EXPLICIT)
    )
    await scheduler.publish(next(e for e in one_of_each_event() if isinstance(e, CallRequested)))
    stolen = await telephony.js.pull_subscribe_bind("scheduler", stream=telephony.stream)
    await refused(
        log_watch,
        "telephony",
        "$JS.API.CONSUMER.MSG.NEXT.SALES.scheduler",
        lambda: stolen.fetch(1, timeout=30),
    )
    await refused(
        log_watch,
        "telephony",
        "$JS.API.CONSUMER.DELETE.SALES.scheduler",
        lambda: telephony.js.delete_consumer(telephony.stream, "scheduler"),
    )
    info = await scheduler.js.consumer_info(scheduler.stream, "scheduler")
    assert (info.num_pending, info.num_ack_pending) == (1, 0)  # still the scheduler's to take


async def test_conversation_reads_only_the_facts_it_looks_up(buses: Buses, log_watch: LogWatch):
    conversation = buses["conversation"]
    request = next(e for e in one_of_each_event() if isinstance(e, CallRequested))
    await buses["scheduler"].publish(request)
    assert await conversation.last_event(subject_for(CallRequested, CALL_ID)) == request
    await refused(
        log_watch,
        "conversation",
        "$JS.API.CONSUMER.CREATE.SALES",
        lambda: conversation.js.add_consumer(conversation.stream, ConsumerConfig()),
    )
    # Core subscriptions reach nothing either: not the events, not another's replies.
    for subject in ("sales.>", "_INBOX_telephony.>"):
        await refused(
            log_watch, "conversation", subject, lambda s=subject: conversation.nc.subscribe(s)
        )


async def test_telephony_and_analytics_read_the_stream_the_way_their_code_does(
    buses: Buses, log_watch: LogWatch
):
    events = {type(event): event for event in one_of_each_event()}
    await buses["scheduler"].publish(events[CallRequested])
    await buses["telephony"].publish(events[CallPlaced])
    telephony, analytics = buses["telephony"], buses["analytics"]
    assert await call_request(telephony, CALL_ID) == events[CallRequested]
    assert await live_calls_of_campaign(telephony, CAMPAIGN_ID) == [
        LiveCall(
            call_id=CALL_ID,
            campaign_id=CAMPAIGN_ID,
            provider_call_id=events[CallPlaced].provider_call_id,
        )
    ]
    history = await read_history(analytics, history_of("call", CALL_ID))
    assert [recorded.event for recorded in history] == [events[CallRequested], events[CallPlaced]]
    assert violations(log_watch.records) == []
