from uuid import uuid4

import msgspec
import pytest
from nats.js.api import DiscardPolicy

from libs.bus import EventBus, PublishError
from libs.events import CallRequested, LeadImported, MeetingCanceled, OutcomeRecorded, subject_for
from tests.factories import CALL_ID, lead_imported, one_of_each_event


async def stored_count(bus: EventBus) -> int:
    return (await bus.js.stream_info(bus.stream)).state.messages


async def test_publishing_the_same_event_twice_stores_it_once(bus):
    event = lead_imported()
    first = await bus.publish(event)
    second = await bus.publish(event)
    assert (first.seq, second.seq, second.duplicate) == (1, 1, True)
    assert await stored_count(bus) == 1


async def test_publish_many_stores_exactly_ten_thousand(bus):
    events = [lead_imported(lead_id=uuid4()) for _ in range(10_000)]
    acks = await bus.publish_many(events)
    assert len({ack.seq for ack in acks}) == 10_000
    assert await stored_count(bus) == 10_000


async def test_publish_many_twice_is_safe_to_retry(bus):
    events = [lead_imported(lead_id=uuid4()) for _ in range(500)]
    await bus.publish_many(events)
    retried = await bus.publish_many(events)
    assert all(ack.duplicate for ack in retried)
    assert await stored_count(bus) == 500


async def test_publish_many_raises_when_some_events_are_refused(bus):
    # A full stream that discards new messages refuses the rest: none may vanish silently.
    info = await bus.js.stream_info(bus.stream)
    info.config.max_msgs, info.config.discard = 3, DiscardPolicy.NEW
    await bus.js.update_stream(info.config)
    events = [lead_imported(lead_id=uuid4()) for _ in range(5)]
    with pytest.raises(PublishError, match="2 of 5 events were not stored") as raised:
        await bus.publish_many(events)
    assert [event for event, _ in raised.value.failed] == events[3:]
    assert [str(error) for _, error in raised.value.failed] == [
        "JetStream refused the event: maximum messages exceeded (code 503)"
    ] * 2


async def test_publish_without_a_stream_raises(bus):
    await bus.js.delete_stream(bus.stream)
    with pytest.raises(PublishError, match=r"1 of 1 events were not stored.*no stream holds"):
        await bus.publish(lead_imported())
    assert not await bus.has_stream()


async def test_last_event_on_a_subject_is_the_latest_fact(bus):
    events = one_of_each_event()
    await bus.publish_many(events)
    requested = next(e for e in events if isinstance(e, CallRequested))
    assert await bus.last_event(subject_for(CallRequested, CALL_ID)) == requested
    outcome = next(e for e in events if isinstance(e, OutcomeRecorded))
    assert await bus.last_event(f"sales.call.{CALL_ID}.>") == outcome  # the call's latest
    assert await bus.last_event(subject_for(LeadImported, uuid4())) is None


async def test_a_write_expecting_the_last_sequence_wins_once(bus):
    # Two writers that read the same subject at the same point: only the first lands.
    cancel = next(e for e in one_of_each_event() if isinstance(e, MeetingCanceled))
    assert await bus.last_stored(cancel.subject) is None
    assert await bus.publish_if_last(cancel, 0)
    stored, sequence = await bus.last_stored(cancel.subject)
    assert stored == cancel and sequence > 0
    first = msgspec.structs.replace(cancel, event_id=uuid4(), detail="first")
    second = msgspec.structs.replace(cancel, event_id=uuid4(), detail="second")
    assert await bus.publish_if_last(first, sequence)
    assert not await bus.publish_if_last(second, sequence)
    assert (await bus.last_event(cancel.subject)).detail == "first"
