"""The tools the model can call, with their JSON schemas, and what each does to the call."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime

from loguru import logger
from pipecat.adapters.llm.schemas.function_schema import FunctionSchema
from pipecat.adapters.llm.schemas.tools_schema import ToolsSchema
from pipecat.frames.frames import EndWorkerFrame, FunctionCallResultProperties
from pipecat.services.llm_service import FunctionCallParams

from services.conversation.domain import EndedBy, Outcome


class CallState:
    """What the tools learn during one call; read when the call is finalised."""

    def __init__(self, on_opt_out: Callable[[], Awaitable[None]]) -> None:
        self.outcome: Outcome | None = None
        self.meeting_time: datetime | None = None
        self.ended_by: EndedBy | None = None
        self.opted_out = False
        self._on_opt_out = on_opt_out

    def end(self, ended_by: EndedBy) -> bool:
        """Marks how the call ends; only the first reason counts. True if it was the first."""
        if self.ended_by is not None:
            return False
        self.ended_by = ended_by
        return True


_NO_FOLLOW_UP = FunctionCallResultProperties(run_llm=False)


def build_tools(state: CallState, *, follow_up: bool) -> ToolsSchema:
    """The four tools; with follow_up the model is run again after recording a result."""
    after = None if follow_up else _NO_FOLLOW_UP

    async def record_outcome(params: FunctionCallParams) -> None:
        args = params.arguments
        meeting = args.get("meeting_time")
        state.outcome = Outcome(
            interest_level=args.get("interest_level", "low"),
            scheduled_meeting=bool(args.get("scheduled_meeting", False)),
            meeting_time=_parse_time(meeting) or state.meeting_time,
            next_steps=str(args.get("next_steps", "")),
            notes=str(args.get("notes", "")),
        )
        logger.info("Outcome recorded: {interest} interest", interest=state.outcome.interest_level)
        await params.result_callback({"recorded": True}, properties=after)

    async def schedule_meeting(params: FunctionCallParams) -> None:
        state.meeting_time = _parse_time(params.arguments.get("meeting_time"))
        confirmed = state.meeting_time.isoformat() if state.meeting_time else None
        logger.info("Meeting scheduled: {ok}", ok=confirmed is not None)
        await params.result_callback(
            {"scheduled": confirmed is not None, "meeting_time": confirmed}, properties=after
        )

    async def opt_out(params: FunctionCallParams) -> None:
        state.opted_out = True
        state.end("opt-out")
        await state._on_opt_out()
        await params.result_callback({"opted_out": True}, properties=_NO_FOLLOW_UP)
        await params.llm.push_frame(EndWorkerFrame(reason="opt-out"))

    async def end_call(params: FunctionCallParams) -> None:
        reason = params.arguments.get("reason", "goodbye")
        state.end("voicemail" if reason == "voicemail" else "goodbye")
        await params.result_callback({"ending": True}, properties=_NO_FOLLOW_UP)
        await params.llm.push_frame(EndWorkerFrame(reason="end_call"))

    return ToolsSchema(
        standard_tools=[
            FunctionSchema(
                name="record_outcome",
                description="Record how the conversation went, before ending the call.",
                properties={
                    "interest_level": {"type": "string", "enum": ["high", "medium", "low"]},
                    "scheduled_meeting": {"type": "boolean"},
                    "meeting_time": {
                        "type": "string",
                        "description": "ISO 8601 with the lead's UTC offset, if one was booked",
                    },
                    "next_steps": {"type": "string"},
                    "notes": {"type": "string"},
                },
                required=["interest_level"],
                handler=record_outcome,
            ),
            FunctionSchema(
                name="schedule_meeting",
                description="Book a meeting the prospect agreed to; confirm it back to them.",
                properties={
                    "meeting_time": {
                        "type": "string",
                        "description": "ISO 8601 in the lead's time zone, with its offset",
                    }
                },
                required=["meeting_time"],
                handler=schedule_meeting,
            ),
            FunctionSchema(
                name="opt_out",
                description="The prospect asked not to be called again: record it and end.",
                properties={},
                required=[],
                handler=opt_out,
            ),
            FunctionSchema(
                name="end_call",
                description="Hang up after saying goodbye.",
                properties={"reason": {"type": "string", "enum": ["goodbye", "voicemail"]}},
                required=[],
                handler=end_call,
            ),
        ]
    )


def _parse_time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None
