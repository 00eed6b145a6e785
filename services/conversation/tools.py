"""The tools the model can call: their arguments, and what each does to the call.

Each tool's arguments are a msgspec Struct: the schema the model is given is derived from
it, and what the model sends back is decoded into it. Arguments the Struct refuses (an
interest level no consumer of OutcomeRecorded knows, a required field left out), and those
only the call can judge (a callback in the past), change nothing: the model is told which
field was wrong, so it can call the tool again.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated, Literal, TypeVar
from zoneinfo import ZoneInfo

import msgspec
from loguru import logger
from pipecat.adapters.llm.schemas.function_schema import FunctionSchema
from pipecat.adapters.llm.schemas.tools_schema import ToolsSchema
from pipecat.frames.frames import EndWorkerFrame, FunctionCallResultProperties
from pipecat.services.llm_service import FunctionCallParams

from libs.events.model import InterestLevel
from services.conversation.domain import (
    CALLBACK_HORIZON,
    CallbackTimeError,
    EndedBy,
    Outcome,
    callback_instant,
    local_time_text,
)
from services.conversation.tool_schema import parameters_of


class CallState:
    """What the tools learn during one call; read when the call is finalised."""

    def __init__(self, on_opt_out: Callable[[], Awaitable[None]]) -> None:
        self.outcome: Outcome | None = None
        self.meeting_time: datetime | None = None
        self.callback_at: datetime | None = None  # UTC
        self.ended_by: EndedBy | None = None
        self.opted_out = False
        self._on_opt_out = on_opt_out

    def end(self, ended_by: EndedBy) -> bool:
        """Marks how the call ends; only the first reason counts. True if it was the first."""
        if self.ended_by is not None:
            return False
        self.ended_by = ended_by
        return True

    async def opt_out(self) -> None:
        """The prospect asked not to be called again: the call ends, and that is recorded."""
        self.opted_out = True
        self.end("opt-out")
        await self._on_opt_out()


_BOOKED_TIME = "ISO 8601 with the lead's UTC offset, if one was booked"
_AGREED_TIME = "ISO 8601 in the lead's time zone, with its offset"
_SUMMARY = (
    "Two or three sentences for the sales team: who you spoke with, what they need, "
    "how interested they are, any meeting or callback with its day and time"
)
_CALLBACK_TIME = (
    "When to call back, as the prospect's local date and time in ISO 8601 without an "
    f"offset, e.g. 2026-03-10T14:00; in the future, at most {CALLBACK_HORIZON.days} days ahead"
)


# Meeting times stay strings here: Python reads more ISO 8601 spellings than RFC 3339
# (a time without seconds, say), and a time the model gets wrong is dropped, not refused.
class RecordOutcomeArguments(msgspec.Struct, frozen=True, kw_only=True):
    interest_level: InterestLevel
    scheduled_meeting: bool = False
    meeting_time: Annotated[str, msgspec.Meta(description=_BOOKED_TIME)] | None = None
    next_steps: str = ""
    notes: str = ""
    summary: Annotated[str, msgspec.Meta(description=_SUMMARY)] = ""


class ScheduleMeetingArguments(msgspec.Struct, frozen=True, kw_only=True):
    meeting_time: Annotated[str, msgspec.Meta(description=_AGREED_TIME)]


class ScheduleCallbackArguments(msgspec.Struct, frozen=True, kw_only=True):
    # A local time, not an instant: the zone knows the offset on that day better than the
    # model does (a callback across a clock change keeps its wall-clock time).
    callback_time: Annotated[str, msgspec.Meta(description=_CALLBACK_TIME)]


class OptOutArguments(msgspec.Struct, frozen=True, kw_only=True):
    pass


class EndCallArguments(msgspec.Struct, frozen=True, kw_only=True):
    reason: Literal["goodbye", "voicemail"] = "goodbye"


class ArgumentRefusedError(ValueError):
    """Arguments that decode but that the call cannot act on; names the field at fault."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field


_NO_FOLLOW_UP = FunctionCallResultProperties(run_llm=False)


def _utc_now() -> datetime:
    return datetime.now(UTC)


def build_tools(
    state: CallState,
    *,
    follow_up: bool,
    zone: ZoneInfo | None = None,
    clock: Callable[[], datetime] = _utc_now,
) -> ToolsSchema:
    """The five tools; with follow_up the model is run again after recording a result.
    Callback times are local to `zone` (the lead's) and judged against `clock`."""
    after = None if follow_up else _NO_FOLLOW_UP
    zone = zone or ZoneInfo("UTC")

    async def record_outcome(args: RecordOutcomeArguments, params: FunctionCallParams) -> None:
        state.outcome = Outcome(
            interest_level=args.interest_level,
            scheduled_meeting=args.scheduled_meeting,
            meeting_time=_parse_time(args.meeting_time) or state.meeting_time,
            next_steps=args.next_steps,
            notes=args.notes,
            summary=args.summary.strip(),
        )
        logger.info("Outcome recorded: {interest} interest", interest=args.interest_level)
        await params.result_callback({"recorded": True}, properties=after)

    async def schedule_meeting(args: ScheduleMeetingArguments, params: FunctionCallParams) -> None:
        state.meeting_time = _parse_time(args.meeting_time)
        confirmed = state.meeting_time.isoformat() if state.meeting_time else None
        logger.info("Meeting scheduled: {ok}", ok=confirmed is not None)
        await params.result_callback(
            {"scheduled": confirmed is not None, "meeting_time": confirmed}, properties=after
        )

    async def schedule_callback(
        args: ScheduleCallbackArguments, params: FunctionCallParams
    ) -> None:
        try:
            callback_at = callback_instant(args.callback_time, zone, clock())
        except CallbackTimeError as error:
            raise ArgumentRefusedError("callback_time", str(error)) from None
        state.callback_at = callback_at
        local = callback_at.astimezone(zone)
        logger.info("Callback scheduled for {at}", at=callback_at.isoformat())
        await params.result_callback(
            {
                "scheduled": True,
                "callback_time": local.isoformat(timespec="minutes"),
                "say": local_time_text(local),
            },
            properties=after,
        )

    async def opt_out(_args: OptOutArguments, params: FunctionCallParams) -> None:
        await state.opt_out()
        await params.result_callback({"opted_out": True}, properties=_NO_FOLLOW_UP)
        await params.llm.push_frame(EndWorkerFrame(reason="opt-out"))

    async def end_call(args: EndCallArguments, params: FunctionCallParams) -> None:
        state.end(args.reason)
        await params.result_callback({"ending": True}, properties=_NO_FOLLOW_UP)
        await params.llm.push_frame(EndWorkerFrame(reason="end_call"))

    # A refused call is answered like a recorded one: the real model gets to try again.
    return ToolsSchema(
        standard_tools=[
            _tool(
                "record_outcome",
                "Record how the conversation went, before ending the call.",
                RecordOutcomeArguments,
                record_outcome,
                refused=after,
            ),
            _tool(
                "schedule_meeting",
                "Book a meeting the prospect agreed to; confirm it back to them.",
                ScheduleMeetingArguments,
                schedule_meeting,
                refused=after,
            ),
            _tool(
                "schedule_callback",
                "The prospect asked to be called back at another time: book it; confirm "
                "the day and time back to them.",
                ScheduleCallbackArguments,
                schedule_callback,
                refused=after,
            ),
            _tool(
                "opt_out",
                "The prospect asked not to be called again: record it and end.",
                OptOutArguments,
                opt_out,
                refused=after,
            ),
            _tool(
                "end_call",
                "Hang up after saying goodbye.",
                EndCallArguments,
                end_call,
                refused=after,
            ),
        ]
    )


Arguments = TypeVar("Arguments", bound=msgspec.Struct)


def _tool(
    name: str,
    description: str,
    arguments: type[Arguments],
    act: Callable[[Arguments, FunctionCallParams], Awaitable[None]],
    *,
    refused: FunctionCallResultProperties | None,
) -> FunctionSchema:
    """The tool as the model sees it, with a handler that acts only on arguments that decode."""
    properties, required = parameters_of(arguments)

    async def handler(params: FunctionCallParams) -> None:
        try:
            # Not strict: "true" for a boolean is still a yes.
            decoded = msgspec.convert(dict(params.arguments or {}), arguments, strict=False)
        except msgspec.ValidationError as error:
            await refuse(params, _field_named(str(error)), str(error))
            return
        try:
            await act(decoded, params)
        except ArgumentRefusedError as error:
            await refuse(params, error.field, str(error))

    async def refuse(params: FunctionCallParams, field: str | None, error: str) -> None:
        logger.warning(
            "The model's {tool} call was refused ({field}): {error}",
            tool=name,
            field=field or "arguments",
            error=error,
        )
        await params.result_callback(
            {
                "error": f"{error}. Nothing was recorded: call {name} again with "
                f"{field or 'the arguments'} corrected.",
                "field": field,
            },
            properties=refused,
        )

    return FunctionSchema(
        name=name,
        description=description,
        properties=properties,
        required=required,
        handler=handler,
    )


# msgspec names the field as "at `$.interest_level`", or "missing required field `x`".
_FIELD = re.compile(r"`\$\.([A-Za-z_][A-Za-z0-9_]*)|field `([^`]+)`")


def _field_named(message: str) -> str | None:
    match = _FIELD.search(message)
    return (match[1] or match[2]) if match else None


def _parse_time(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None
