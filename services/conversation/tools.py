"""The tools the model can call, and what each does to the call.

Each tool's arguments decode into a Struct (tool_arguments.py): the schema the model is
given is derived from it. Arguments it refuses (an interest level no consumer of
OutcomeRecorded knows, a summary longer than one) and those only the call can judge (a
slot not offered on this call, a meeting no book_meeting booked) change nothing: the model
is told which field was wrong and why, so it can call the tool again. The calendar's
answers (the times to offer, the booking to read back) always go back to the model, which
must say them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TypeVar
from uuid import UUID
from zoneinfo import ZoneInfo

import msgspec
from loguru import logger
from pipecat.adapters.llm.schemas.function_schema import FunctionSchema
from pipecat.adapters.llm.schemas.tools_schema import ToolsSchema
from pipecat.frames.frames import EndWorkerFrame, FunctionCallResultProperties
from pipecat.services.llm_service import FunctionCallParams

from services.conversation.calendar.on_call import CallBooker
from services.conversation.domain import (
    CallbackTimeError,
    EndedBy,
    Outcome,
    callback_instant,
    local_time_text,
)
from services.conversation.plain_text import plain_text
from services.conversation.tool_arguments import (
    ArgumentRefusedError,
    BookMeetingArguments,
    CheckAvailabilityArguments,
    EndCallArguments,
    OptOutArguments,
    RecordOutcomeArguments,
    ScheduleCallbackArguments,
    around_instant,
    check_meeting_claim,
    decode_arguments,
)
from services.conversation.tool_schema import parameters_of


class CallState:
    """What the tools learn during one call; read when the call is finalised."""

    def __init__(
        self, on_opt_out: Callable[[], Awaitable[None]], booker: CallBooker | None = None
    ) -> None:
        self.outcome: Outcome | None = None
        self.booker = booker  # None: no calendar on this call, so no meeting either
        self.callback_at: datetime | None = None  # UTC
        self.ended_by: EndedBy | None = None
        self.opted_out = False
        self._on_opt_out = on_opt_out

    @property
    def meeting_time(self) -> datetime | None:
        booking = self.booker.booking if self.booker else None
        return booking.starts_at if booking else None

    @property
    def meeting_id(self) -> UUID | None:
        booking = self.booker.booking if self.booker else None
        return booking.meeting_id if booking else None

    @property
    def calendar_trouble(self) -> bool:
        return self.booker is not None and self.booker.trouble is not None

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


_NO_FOLLOW_UP = FunctionCallResultProperties(run_llm=False)
_NO_CALENDAR = {
    "error": "no calendar is connected: offer to follow up by email instead",
    "booked": False,
}


def _utc_now() -> datetime:
    return datetime.now(UTC)


def build_tools(
    state: CallState,
    *,
    follow_up: bool,
    zone: ZoneInfo | None = None,
    clock: Callable[[], datetime] = _utc_now,
) -> ToolsSchema:
    """The six tools; with follow_up the model is run again after recording a result (the
    calendar's answers always run it). Times are local to `zone` (the lead's) and judged
    against `clock`."""
    after = None if follow_up else _NO_FOLLOW_UP
    zone = zone or ZoneInfo("UTC")

    async def record_outcome(args: RecordOutcomeArguments, params: FunctionCallParams) -> None:
        check_meeting_claim(args, state.meeting_time)
        state.outcome = Outcome(
            interest_level=args.interest_level,
            scheduled_meeting=state.meeting_id is not None,
            meeting_time=state.meeting_time,
            meeting_id=state.meeting_id,
            next_steps=plain_text(args.next_steps),
            notes=plain_text(args.notes),
            summary=plain_text(args.summary),
        )
        logger.info("Outcome recorded: {interest} interest", interest=args.interest_level)
        await params.result_callback({"recorded": True}, properties=after)

    async def check_availability(
        args: CheckAvailabilityArguments, params: FunctionCallParams
    ) -> None:
        around = around_instant(args.around, zone)
        if state.booker is None:
            await params.result_callback(_NO_CALENDAR)
            return
        await params.result_callback(await state.booker.check_availability(around))

    async def book_meeting(args: BookMeetingArguments, params: FunctionCallParams) -> None:
        if state.booker is None:
            await params.result_callback(_NO_CALENDAR)
            return
        await params.result_callback(await state.booker.book_meeting(args.slot))

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
                "Record how the conversation went, before ending the call. A meeting counts "
                "only once book_meeting has booked it.",
                RecordOutcomeArguments,
                record_outcome,
                refused=after,
            ),
            _tool(
                "check_availability",
                "Find free times for a short meeting with the sales team: up to three, each "
                "with the words to say it in. Offer them; never offer a time it did not give.",
                CheckAvailabilityArguments,
                check_availability,
                refused=None,
            ),
            _tool(
                "book_meeting",
                "Book the offered time the prospect chose, by its slot token; then read the "
                "day and time back to them. If it was just taken, offer the new times given.",
                BookMeetingArguments,
                book_meeting,
                refused=None,
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
            decoded = decode_arguments(params.arguments or {}, arguments)
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
