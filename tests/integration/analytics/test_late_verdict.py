"""A machine's detection verdict against a person's answer, in either order and across
the projection's batches: the call is a voicemail, as the Calls API and results say."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest

from libs.events import AnswerClassified, CallAnswered, CallCompleted, CallPlaced, CallRequested
from tests.factories import lead_profile
from tests.integration.analytics.support import publish, serving, settings_for

T0 = datetime(2026, 3, 3, 15, 0, tzinfo=UTC)


def call_events(answered_by_first: bool):
    ids = {"call_id": uuid4(), "lead_id": uuid4(), "campaign_id": uuid4()}
    at = iter(T0 + timedelta(seconds=n) for n in range(10))
    opening = [
        CallRequested(
            event_id=uuid4(), occurred_at=next(at), attempt=1, lead=lead_profile(), **ids
        ),
        CallPlaced(
            event_id=uuid4(),
            occurred_at=next(at),
            provider="twilio",
            provider_call_id="CA" + "1" * 32,
            **ids,
        ),
    ]
    person = CallAnswered(event_id=uuid4(), occurred_at=next(at), answered_by="human", **ids)
    machine = AnswerClassified(
        event_id=uuid4(),
        occurred_at=next(at),
        answered_by="machine",
        detection_seconds=3.1,
        **ids,
    )
    end = CallCompleted(event_id=uuid4(), occurred_at=next(at), duration_seconds=25.0, **ids)
    first, second = (person, machine) if answered_by_first else (machine, person)
    return ids["call_id"], [*opening, first], [second, end]


@pytest.mark.parametrize("answered_by_first", [True, False], ids=["stream-first", "verdict-first"])
async def test_a_machine_verdict_makes_a_voicemail_in_either_order(
    bus, tmp_path, answered_by_first
):
    call_id, before, after = call_events(answered_by_first)
    async with serving(bus, settings_for(tmp_path)) as (client, projector):
        await projector.wait_for(await publish(bus, before))  # one batch, then the other
        await projector.wait_for(await publish(bus, after))
        call = (await client.get(f"/calls/{call_id}")).json()
    assert (call["answered_by"], call["call_result"], call["call_status"]) == (
        "machine",
        "voicemail",
        "answered",
    )
