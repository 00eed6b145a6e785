"""The tools as the model is given them, and what happens to arguments it gets wrong."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, get_args
from zoneinfo import ZoneInfo

import pytest
from loguru import logger
from pipecat.adapters.llm.services.gemini_adapter import GeminiLLMAdapter

from libs.events.model import InterestLevel
from services.conversation.tool_arguments import BookMeetingArguments, CheckAvailabilityArguments
from services.conversation.tool_schema import parameters_of
from services.conversation.tools import (
    CallState,
    EndCallArguments,
    OptOutArguments,
    RecordOutcomeArguments,
    ScheduleCallbackArguments,
    build_tools,
)
from tests.tool_calls import call_tool

ARGUMENTS = {
    "record_outcome": RecordOutcomeArguments,
    "check_availability": CheckAvailabilityArguments,
    "book_meeting": BookMeetingArguments,
    "schedule_callback": ScheduleCallbackArguments,
    "opt_out": OptOutArguments,
    "end_call": EndCallArguments,
}
NOW = datetime(2026, 3, 4, 15, 30, tzinfo=UTC)  # Wednesday 10:30 in New York
NEW_YORK = ZoneInfo("America/New_York")
THURSDAY_TEN = "2026-03-05T10:00:00-05:00"


def tools(state: CallState, now: datetime = NOW) -> Any:
    return build_tools(state, follow_up=True, zone=NEW_YORK, clock=lambda: now)


async def call(
    state: CallState, name: str, arguments: dict[str, Any], now: datetime = NOW
) -> list[dict[str, Any]]:
    return await call_tool(tools(state, now), name, arguments)


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
                "description": "True only when book_meeting has booked a meeting on this "
                "call; a meeting that was not booked with book_meeting is refused",
            },
            "meeting_time": {
                "type": "string",
                "maxLength": 64,
                "description": "The time book_meeting booked on this call, in ISO 8601 "
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
    assert given["book_meeting"]["parameters"] == {
        "type": "object",
        "properties": {
            "slot": {
                "type": "string",
                "maxLength": 16,
                "description": "The slot token of a time check_availability offered on this "
                "call, e.g. slot-2",
            }
        },
        "required": ["slot"],
    }
    assert (
        "required" not in given["check_availability"]["parameters"]
        or not (given["check_availability"]["parameters"]["required"])
    )
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
        ("book_meeting", {}, "slot"),
        ("book_meeting", {"slot": "slot-" + "1" * 12}, "slot"),
        ("check_availability", {"around": "Thursday at 10am"}, "around"),
        ("check_availability", {"around": THURSDAY_TEN + " " * 64}, "around"),
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
        "no slot",
        "slot token too long",
        "a named time in words",
        "a named time too long",
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
    [result] = await call(state, "check_availability", {"around": "2026-03-05T10:00" * 5})
    assert result["error"].startswith("around: must be at most 64 characters; got 80.")


async def test_good_arguments_are_recorded():
    state = CallState(on_opt_out=Published().opt_out)

    [recorded] = await call(
        state,
        "record_outcome",
        {
            "interest_level": "medium",
            "scheduled_meeting": "false",  # not strict: a string for a boolean is still a no
            "next_steps": "Demo\x00 on\u202e Thursday\n",
        },
    )

    assert recorded == {"recorded": True}
    assert state.outcome is not None
    assert (state.outcome.interest_level, state.outcome.scheduled_meeting) == ("medium", False)
    # Control and direction-changing characters are not kept.
    assert state.outcome.next_steps == "Demo on Thursday"


async def test_without_a_calendar_the_model_is_told_to_offer_an_email():
    state = CallState(on_opt_out=Published().opt_out)
    [offered] = await call(state, "check_availability", {})
    [booked] = await call(state, "book_meeting", {"slot": "slot-1"})
    assert (
        offered
        == booked
        == {
            "error": "no calendar is connected: offer to follow up by email instead",
            "booked": False,
        }
    )
    assert state.meeting_id is None


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
