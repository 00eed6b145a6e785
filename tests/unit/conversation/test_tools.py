"""The tools as the model is given them, and what happens to arguments it gets wrong."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, get_args
from zoneinfo import ZoneInfo

import pytest
from loguru import logger
from pipecat.adapters.llm.services.gemini_adapter import GeminiLLMAdapter
from pipecat.services.llm_service import FunctionCallParams

from libs.events.model import InterestLevel
from services.conversation.tool_schema import parameters_of
from services.conversation.tools import (
    CallState,
    EndCallArguments,
    OptOutArguments,
    RecordOutcomeArguments,
    ScheduleCallbackArguments,
    ScheduleMeetingArguments,
    build_tools,
)

ARGUMENTS = {
    "record_outcome": RecordOutcomeArguments,
    "schedule_meeting": ScheduleMeetingArguments,
    "schedule_callback": ScheduleCallbackArguments,
    "opt_out": OptOutArguments,
    "end_call": EndCallArguments,
}
NOW = datetime(2026, 3, 4, 15, 30, tzinfo=UTC)  # Wednesday 10:30 in New York
NEW_YORK = ZoneInfo("America/New_York")
THURSDAY_TEN = "2026-03-05T10:00:00-05:00"


def tools(state: CallState, now: datetime = NOW) -> Any:
    return build_tools(state, follow_up=True, zone=NEW_YORK, clock=lambda: now)


class Published:
    """Stands in for the bus behind the opt-out: what the tools caused to be published."""

    def __init__(self) -> None:
        self.events: list[str] = []

    async def opt_out(self) -> None:
        self.events.append("LeadOptedOut")


def declarations(state: CallState) -> dict[str, dict[str, Any]]:
    """The function declarations Gemini is sent, through Pipecat's own adapter."""
    [tool] = GeminiLLMAdapter().to_provider_tools_format(tools(state))
    return {declaration["name"]: declaration for declaration in tool["function_declarations"]}


async def call(
    state: CallState, name: str, arguments: dict[str, Any], now: datetime = NOW
) -> list[dict[str, Any]]:
    """Calls one tool as the LLM service would; returns the results handed back to the model."""
    [tool] = [t for t in tools(state, now).standard_tools if t.name == name]
    results: list[dict[str, Any]] = []

    async def result_callback(result: Any, *, properties: Any = None) -> None:
        results.append(result)

    params = FunctionCallParams(
        function_name=name,
        tool_call_id="call_1",
        arguments=arguments,
        llm=None,  # type: ignore[arg-type]  # record_outcome and schedule_meeting push no frames
        pipeline_worker=None,  # type: ignore[arg-type]
        context=None,  # type: ignore[arg-type]
        result_callback=result_callback,
    )
    assert tool.handler is not None
    await tool.handler(params)
    return results


def test_the_model_is_given_the_schema_derived_from_each_tools_arguments():
    given = declarations(CallState(on_opt_out=Published().opt_out))

    assert set(given) == set(ARGUMENTS)
    for name, arguments in ARGUMENTS.items():
        properties, required = parameters_of(arguments)
        assert given[name]["parameters"] == {
            "type": "object",
            "properties": properties,
            "required": required,
        }
    # In the shape Gemini takes: inline, no titles, and the values OutcomeRecorded allows.
    assert given["record_outcome"]["parameters"] == {
        "type": "object",
        "properties": {
            "interest_level": {"type": "string", "enum": sorted(get_args(InterestLevel))},
            "scheduled_meeting": {
                "type": "boolean",
                "description": "True only when schedule_meeting has booked a meeting on this "
                "call; a meeting that was not booked with schedule_meeting is refused",
            },
            "meeting_time": {
                "type": "string",
                "maxLength": 64,
                "description": "The time schedule_meeting booked on this call, in ISO 8601 "
                "with its offset, if any",
            },
            "next_steps": {"type": "string", "maxLength": 500},
            "notes": {"type": "string", "maxLength": 1000},
            "summary": {
                "type": "string",
                "maxLength": 1500,
                "description": "Two or three sentences for the sales team: who you spoke with, "
                "what they need, how interested they are, any meeting or callback with its day "
                "and time",
            },
        },
        "required": ["interest_level"],
    }
    assert given["schedule_meeting"]["parameters"]["properties"] == {
        "meeting_time": {
            "type": "string",
            "maxLength": 64,
            "description": "ISO 8601 in the lead's time zone, with its offset, e.g. "
            "2026-03-10T14:00:00-04:00; in the future, at most 60 days ahead",
        }
    }
    assert given["schedule_callback"]["parameters"] == {
        "type": "object",
        "properties": {
            "callback_time": {
                "type": "string",
                "maxLength": 64,
                "description": "When to call back, as the prospect's local date and time in "
                "ISO 8601 without an offset, e.g. 2026-03-10T14:00; in the future, at most 30 "
                "days ahead",
            }
        },
        "required": ["callback_time"],
    }
    assert given["end_call"]["parameters"]["properties"] == {
        "reason": {"type": "string", "enum": ["goodbye", "voicemail"]}
    }
    sent = json.dumps(given)
    assert all(key not in sent for key in ('"$ref"', '"$defs"', '"title"', '"anyOf"'))


@pytest.mark.parametrize(
    ("tool", "arguments", "field"),
    [
        ("record_outcome", {"interest_level": "very high", "notes": "Keen"}, "interest_level"),
        ("record_outcome", {"interest_level": "extreme"}, "interest_level"),
        ("record_outcome", {"scheduled_meeting": True}, "interest_level"),
        ("record_outcome", {"interest_level": "high", "next_steps": None}, "next_steps"),
        ("record_outcome", {"interest_level": "high", "summary": "So keen. " * 200}, "summary"),
        ("record_outcome", {"interest_level": "high", "notes": "n" * 1001}, "notes"),
        ("record_outcome", {"interest_level": "high", "next_steps": "s" * 501}, "next_steps"),
        (
            "record_outcome",
            {"interest_level": "high", "scheduled_meeting": True},
            "scheduled_meeting",
        ),
        (
            "record_outcome",
            {"interest_level": "high", "meeting_time": THURSDAY_TEN},
            "meeting_time",
        ),
        ("schedule_meeting", {}, "meeting_time"),
        ("schedule_meeting", {"meeting_time": "Thursday at 10am"}, "meeting_time"),
        ("schedule_meeting", {"meeting_time": "2026-03-05T10:00"}, "meeting_time"),
        ("schedule_meeting", {"meeting_time": "2026-03-03T10:00:00-05:00"}, "meeting_time"),
        ("schedule_meeting", {"meeting_time": "2026-06-04T10:00:00-04:00"}, "meeting_time"),
        ("schedule_meeting", {"meeting_time": THURSDAY_TEN + " " * 64}, "meeting_time"),
        ("end_call", {"reason": "forever"}, "reason"),
        ("schedule_callback", {}, "callback_time"),
        ("schedule_callback", {"callback_time": "next Tuesday"}, "callback_time"),
        ("schedule_callback", {"callback_time": "2026-03-04T09:00"}, "callback_time"),
        ("schedule_callback", {"callback_time": "2026-04-06T10:00"}, "callback_time"),
        ("schedule_callback", {"callback_time": "2026-03-08T02:30"}, "callback_time"),
    ],
    ids=[
        "bad interest level",
        "interest level no consumer knows",
        "no interest level",
        "null next steps",
        "summary too long",
        "notes too long",
        "next steps too long",
        "a meeting claimed but never booked",
        "a meeting time claimed but never booked",
        "no meeting time",
        "meeting time in words",
        "meeting time without its offset",
        "meeting in the past",
        "meeting more than 60 days ahead",
        "meeting time too long",
        "an ending no consumer knows",
        "no callback time",
        "callback time in words",
        "callback in the past",
        "callback more than 30 days ahead",
        "callback at a time the clocks skip",
    ],
)
async def test_arguments_the_model_gets_wrong_are_refused_naming_the_field(
    tool: str, arguments: dict[str, Any], field: str
):
    published = Published()
    state = CallState(on_opt_out=published.opt_out)
    warnings: list[str] = []
    sink = logger.add(warnings.append, level="WARNING", format="{message}")
    try:
        [result] = await call(state, tool, arguments)
    finally:
        logger.remove(sink)

    assert result["field"] == field
    assert field in result["error"] and f"call {tool} again" in result["error"]
    assert (state.outcome, state.meeting_time, state.ended_by) == (None, None, None)
    assert state.callback_at is None
    assert published.events == []
    assert [message for message in warnings if field in message and tool in message]


async def test_the_refusal_says_what_is_allowed_and_what_the_model_sent():
    state = CallState(on_opt_out=Published().opt_out)
    [result] = await call(state, "record_outcome", {"interest_level": "extreme"})
    assert result == {
        "error": "interest_level: must be one of high, medium, low; got 'extreme'. Nothing "
        "was recorded: call record_outcome again with interest_level corrected.",
        "field": "interest_level",
    }
    [result] = await call(state, "record_outcome", {"interest_level": "low", "notes": "n" * 1200})
    assert result["error"].startswith("notes: must be at most 1000 characters; got 1200.")
    [result] = await call(state, "schedule_meeting", {"meeting_time": "2026-03-05T10:00" * 5})
    assert result["error"].startswith("meeting_time: must be at most 64 characters; got 80.")


@pytest.mark.parametrize(
    ("meeting_time", "reason"),
    [
        ("Thursday at 10am", "'Thursday at 10am' is not an ISO 8601 date and time with its "
         "offset, like 2026-03-10T14:00:00-04:00"),
        ("2026-03-03T10:00:00-05:00", "2026-03-03T10:00:00-05:00 is in the past: it is now "
         "Wednesday 4 March 2026 at 10:30 AM in America/New_York"),
        ("2026-06-04T10:00:00-04:00", "2026-06-04T10:00:00-04:00 is more than 60 days ahead"),
    ],
)  # fmt: skip
async def test_a_meeting_time_the_call_cannot_book_tells_the_model_why(meeting_time, reason):
    state = CallState(on_opt_out=Published().opt_out)
    [result] = await call(state, "schedule_meeting", {"meeting_time": meeting_time})
    assert result["error"].startswith(f"meeting_time: {reason}")
    assert state.meeting_time is None


async def test_good_arguments_are_recorded():
    state = CallState(on_opt_out=Published().opt_out)
    meeting = "2026-03-05T10:00-05:00"  # no seconds: still a time

    [scheduled] = await call(state, "schedule_meeting", {"meeting_time": meeting})
    [recorded] = await call(
        state,
        "record_outcome",
        {
            "interest_level": "high",
            "scheduled_meeting": "true",
            "meeting_time": "2026-03-05T15:00:00Z",  # the same instant, spelt otherwise
            "next_steps": "Demo\x00 on\u202e Thursday\n",
        },
    )

    assert scheduled == {"scheduled": True, "meeting_time": "2026-03-05T10:00:00-05:00"}
    assert recorded == {"recorded": True}
    assert state.outcome is not None
    assert (state.outcome.interest_level, state.outcome.scheduled_meeting) == ("high", True)
    assert state.outcome.meeting_time == state.meeting_time == datetime.fromisoformat(meeting)
    # Control and direction-changing characters are not kept.
    assert state.outcome.next_steps == "Demo on Thursday"


async def test_a_meeting_the_outcome_names_must_be_the_one_booked():
    state = CallState(on_opt_out=Published().opt_out)
    await call(state, "schedule_meeting", {"meeting_time": THURSDAY_TEN})
    [result] = await call(
        state,
        "record_outcome",
        {"interest_level": "high", "meeting_time": "2026-03-06T10:00:00-05:00"},
    )
    assert result["field"] == "meeting_time"
    assert result["error"].startswith(
        "meeting_time: the meeting booked on this call is at 2026-03-05T10:00:00-05:00, not "
        "2026-03-06T10:00:00-05:00"
    )
    assert state.outcome is None


@pytest.mark.parametrize(
    ("callback_time", "reason"),
    [
        ("2026-03-04T09:00", "2026-03-04T09:00 is in the past: it is now Wednesday 4 March "
         "2026 at 10:30 AM in America/New_York"),
        ("2026-04-06T10:00", "2026-04-06T10:00 is more than 30 days ahead"),
        ("2026-03-08T02:30", "2026-03-08T02:30 does not exist in America/New_York"),
    ],
)  # fmt: skip
async def test_a_callback_time_the_call_cannot_book_tells_the_model_why(callback_time, reason):
    state = CallState(on_opt_out=Published().opt_out)
    [result] = await call(state, "schedule_callback", {"callback_time": callback_time})
    assert result["field"] == "callback_time"
    assert result["error"].startswith(f"callback_time: {reason}")
    assert result["error"].endswith("call schedule_callback again with callback_time corrected.")


@pytest.mark.parametrize(
    ("callback_time", "utc"),
    [
        ("2026-03-10T14:00", datetime(2026, 3, 10, 18, tzinfo=UTC)),  # after the change: EDT
        ("2026-03-05T10:00", datetime(2026, 3, 5, 15, tzinfo=UTC)),  # before it: EST
        ("2026-03-04T11:30:00-05:00", datetime(2026, 3, 4, 16, 30, tzinfo=UTC)),  # an offset
    ],
)
async def test_a_callback_in_the_leads_local_time_is_recorded_in_utc(callback_time, utc):
    state = CallState(on_opt_out=Published().opt_out)
    [result] = await call(state, "schedule_callback", {"callback_time": callback_time})
    assert state.callback_at == utc
    assert result["scheduled"] is True
    assert datetime.fromisoformat(result["callback_time"]) == utc
