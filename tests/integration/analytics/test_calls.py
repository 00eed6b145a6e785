"""The Calls API over HTTP on real uvicorn: one call in full, and pages of calls."""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID

import msgspec
import pytest

from libs.bus import EventBus
from libs.events import CallFailed, CallRequested, encode_event
from tests.integration.analytics.histories import (
    FATES_CAMPAIGN,
    FATES_DAY,
    RECORDING,
    Fates,
    every_fate,
)
from tests.integration.analytics.support import publish, serving, settings_for


@pytest.fixture
async def fates(bus: EventBus, tmp_path):
    history = every_fate()
    last = await publish(bus, history.events)
    async with serving(bus, settings_for(tmp_path)) as (client, projector):
        await projector.wait_for(last)
        yield client, history, bus


def stored_events(history: Fates, call_id: UUID) -> list[dict]:
    """The call's events as the stream holds them, in the order they were published."""
    return [
        msgspec.json.decode(encode_event(event))
        for event in history.events
        if event.subject.startswith(f"sales.call.{call_id}.")
    ]


async def test_a_call_in_full_with_its_transcript_outcome_and_events(fates):
    client, history, _ = fates
    call_id = history.calls["answered"]
    response = await client.get(f"/calls/{call_id}")
    assert response.status_code == 200
    call = response.json()
    events = call.pop("events")
    transcript = call.pop("transcript")
    assert call == {
        "call_id": str(call_id),
        "lead": {
            "lead_id": str(history.leads["answered"]),
            "business_name": "Answered Co",
            "contact_name": "answered owner",
            "phone_number": "+12025550001",
        },
        "campaign_id": str(FATES_CAMPAIGN),
        "campaign_name": "Fates",
        "attempt": 1,
        "state": "ended",
        "call_status": "answered",
        "call_result": "answered",
        "requested_at": "2026-03-02T15:01:02Z",
        "placed_at": "2026-03-02T15:01:03Z",
        "answered_at": "2026-03-02T15:01:04Z",
        "answered_by": "human",
        "ended_at": "2026-03-02T15:01:21Z",  # the later of the two completions
        "duration_seconds": 42.0,
        "provider": "simulated",
        "provider_call_id": call["provider_call_id"],
        "failure": None,
        "ended_by": "goodbye",
        "summary": "high interest",
        "summary_written_by": "model",
        "interest_level": "high",
        "meeting": {  # the booking, as it stands, in the lead's zone
            "scheduled": True,
            "meeting_id": str(history.meetings["answered"]),
            "status": "booked",
            "time": "2026-03-04T10:00:00-05:00",
            "ends_at": "2026-03-04T10:30:00-05:00",
            "time_zone": "America/New_York",
            "rep": "Alex Morgan",
            "rep_email": "alex@example.com",
            "revision": 0,
            "booked_on_call": str(call_id),
            "claimed": True,
        },
        "next_steps": "Send the invite",
        "callback_at": None,
        "recording_url": RECORDING,
    }
    assert [turn["role"] for turn in transcript] == ["agent", "prospect", "agent"]
    assert transcript[2] == {
        "role": "agent",
        "text": "We answer every call",
        "started_at": "2026-03-02T15:01:13Z",
        "ended_at": "2026-03-02T15:01:17Z",
        "response_latency_seconds": 0.7,
    }
    assert [e["type"] for e in events] == [
        "CallRequested",
        "CallPlaced",
        "CallAnswered",
        "TranscriptFinalized",
        "OutcomeRecorded",
        "CallCompleted",
        "CallCompleted",
        "CallRecorded",
    ]
    assert [e["event"] for e in events] == stored_events(history, call_id)
    assert [e["occurred_at"] for e in events] == [e["event"]["occurred_at"] for e in events]
    sequences = [e["sequence"] for e in events]
    assert sequences == sorted(sequences) and len(set(sequences)) == len(sequences)
    assert events[0]["subject"] == f"sales.call.{call_id}.requested"


async def test_a_call_read_just_after_an_event_shows_it_in_its_state_and_its_events(fates):
    client, history, bus = fates
    call_id = history.calls["ringing"]
    before = (await client.get(f"/calls/{call_id}")).json()
    assert (before["state"], before["call_status"], before["call_result"]) == (
        "ringing",
        "",
        "ringing",
    )
    request = next(
        e for e in history.events if isinstance(e, CallRequested) and e.call_id == call_id
    )
    await publish(
        bus,
        [
            CallFailed(
                event_id=UUID(int=77, version=4),
                occurred_at=FATES_DAY + timedelta(hours=1),
                call_id=call_id,
                lead_id=request.lead_id,
                campaign_id=request.campaign_id,
                reason="no-answer",
                detail="rang for 30 s",
            )
        ],
    )
    after = (await client.get(f"/calls/{call_id}")).json()  # no wait: the route catches up
    assert after["events"][-1]["type"] == "CallFailed"
    assert (after["state"], after["call_status"], after["call_result"]) == (
        "failed",
        "timeout",
        "no-answer",
    )
    assert after["failure"] == {
        "reason": "no-answer",
        "detail": "rang for 30 s",
        "rule": None,
        "provider_error_code": None,
    }


async def test_a_call_the_rules_refused_is_not_dialled_and_says_which_rule(fates):
    client, history, _ = fates
    call = (await client.get(f"/calls/{history.calls['refused']}")).json()
    assert (call["state"], call["call_status"], call["call_result"]) == (
        "not-dialled",
        "",
        "not-dialled:frequency_cap",
    )
    assert call["failure"]["rule"] == "frequency_cap"
    assert (call["placed_at"], call["transcript"], call["summary"]) == (None, [], None)
    assert [e["type"] for e in call["events"]] == ["CallRequested", "CallFailed"]


async def test_a_callback_and_a_voicemail_are_told_apart(fates):
    client, history, _ = fates
    callback = (await client.get(f"/calls/{history.calls['callback']}")).json()
    assert (callback["callback_at"], callback["summary_written_by"]) == (
        "2026-03-03T17:00:00Z",
        "template",
    )
    voicemail = (await client.get(f"/calls/{history.calls['voicemail']}")).json()
    assert (voicemail["call_status"], voicemail["call_result"], voicemail["ended_by"]) == (
        "answered",
        "voicemail",
        "voicemail",
    )
    assert voicemail["answered_by"] == "machine"


async def test_an_unknown_or_malformed_call_id_is_a_problem_naming_it(fates):
    client, _, _ = fates
    unknown = UUID(int=404, version=4)
    response = await client.get(f"/calls/{unknown}")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json() == {
        "status": 404,
        "title": "Not Found",
        "detail": f"call_id: no call {unknown} is on the stream",
    }
    malformed = await client.get("/calls/last-tuesday")
    assert malformed.status_code == 400
    assert malformed.json()["detail"] == "call_id: 'last-tuesday' is not a call id (a UUID)"


def requested_newest_first(history: Fates) -> list[str]:
    return [str(e.call_id) for e in reversed(history.events) if isinstance(e, CallRequested)]


async def test_calls_are_listed_newest_first_with_a_total_and_pages(fates):
    client, history, _ = fates
    everything = (await client.get("/calls", params={"limit": 500})).json()
    newest_first = requested_newest_first(history)
    assert (everything["total"], everything["offset"], everything["limit"]) == (19, 0, 500)
    assert [c["call_id"] for c in everything["calls"]] == newest_first
    default = (await client.get("/calls")).json()
    assert (default["limit"], len(default["calls"])) == (50, 19)
    page = (await client.get("/calls", params={"limit": 5, "offset": 5})).json()
    assert (page["total"], [c["call_id"] for c in page["calls"]]) == (19, newest_first[5:10])
    beyond = (await client.get("/calls", params={"offset": 100})).json()
    assert (beyond["total"], beyond["calls"]) == (19, [])
    [answered] = [c for c in everything["calls"] if c["call_id"] == str(history.calls["answered"])]
    assert answered == {
        "call_id": str(history.calls["answered"]),
        "lead_id": str(history.leads["answered"]),
        "business_name": "Answered Co",
        "contact_name": "answered owner",
        "phone_number": "+12025550001",
        "campaign_id": str(FATES_CAMPAIGN),
        "attempt": 1,
        "state": "ended",
        "call_status": "answered",
        "call_result": "answered",
        "call_date": "2026-03-02T15:01:02Z",
        "ended_at": "2026-03-02T15:01:21Z",
        "duration_seconds": 42.0,
        "interest_level": "high",
        "scheduled_meeting": True,
        "meeting_id": str(history.meetings["answered"]),
        "meeting_status": "booked",
        "meeting_time": "2026-03-04T10:00:00-05:00",
        "meeting_zone": "America/New_York",
        "meeting_rep": "Alex Morgan",
    }


@pytest.mark.parametrize(
    ("status", "results"),
    [
        ("failed", {"busy", "invalid-number", "failed", "canceled", "fax", "agent-lost"}),
        ("timeout", {"no-answer", "timeout"}),
        ("answered", {"answered", "voicemail", "opted-out"}),
        ("no-answer", {"no-answer"}),
        ("agent-lost", {"agent-lost"}),
        ("not-dialled", {"not-dialled:frequency_cap"}),
        ("not-dialled:frequency_cap", {"not-dialled:frequency_cap"}),
        ("not-dialled:holiday", set()),
    ],
)
async def test_calls_are_filtered_by_status_or_result(fates, status, results):
    client, _, _ = fates
    page = (await client.get("/calls", params={"status": status, "campaign": "Fates"})).json()
    assert {c["call_result"] for c in page["calls"]} == results
    assert page["total"] == len(page["calls"])


async def test_calls_are_filtered_by_campaign_id_or_name(fates):
    client, _, _ = fates
    by_name = (await client.get("/calls", params={"campaign": "Fates"})).json()
    by_id = (await client.get("/calls", params={"campaign": str(FATES_CAMPAIGN)})).json()
    assert by_name == by_id
    assert by_name["total"] == 19


@pytest.mark.parametrize(
    ("params", "detail"),
    [
        ({"limit": "0"}, "limit: '0' is not a whole number between 1 and 500"),
        ({"limit": "501"}, "limit: '501' is not a whole number between 1 and 500"),
        ({"limit": "ten"}, "limit: 'ten' is not a whole number between 1 and 500"),
        ({"offset": "-1"}, "offset: '-1' is not a whole number 0 or more"),
        ({"campaign": "Winter"}, "campaign: no campaign has the id or name 'Winter'"),
    ],
)
async def test_bad_list_parameters_are_problem_details_naming_them(fates, params, detail):
    client, _, _ = fates
    response = await client.get("/calls", params=params)
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json() == {"status": 400, "title": "Bad Request", "detail": detail}


async def test_an_unknown_status_is_refused_with_the_values_it_may_take(fates):
    client, _, _ = fates
    response = await client.get("/calls", params={"status": "completed"})
    assert response.status_code == 400
    detail = response.json()["detail"]
    assert detail.startswith("status: 'completed' is not a call_status or call_result: one of ")
    assert "no-answer" in detail and "not-dialled:frequency_cap" in detail


async def test_the_calls_routes_are_documented_with_typed_responses(fates):
    client, _, _ = fates
    schema = (await client.get("/schema/openapi.json")).json()
    listing = schema["paths"]["/calls"]["get"]
    assert [p["name"] for p in listing["parameters"]] == ["campaign", "status", "limit", "offset"]
    limit = next(p for p in listing["parameters"] if p["name"] == "limit")["schema"]
    assert (limit["type"], limit["minimum"], limit["maximum"], limit["default"]) == (
        "integer",
        1,
        500,
        50,
    )
    assert listing["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/CallPage"
    }
    detail = schema["paths"]["/calls/{call_id}"]["get"]
    assert detail["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/CallDetail"
    }
    fields = schema["components"]["schemas"]["CallDetail"]["properties"]
    assert {"transcript", "events", "call_status", "call_result", "recording_url"} <= set(fields)
