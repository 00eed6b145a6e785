"""The simulated model: the deterministic sales policy behind Pipecat's LLM service interface.

It reads the same LLMContext a real model gets and answers the same way (text frames, then
function calls through run_function_calls), so aggregators, tools and events all run the
production path.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

from pipecat.frames.frames import (
    Frame,
    FunctionCallFromLLM,
    LLMContextFrame,
    LLMFullResponseEndFrame,
    LLMFullResponseStartFrame,
)
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.processors.frame_processor import FrameDirection
from pipecat.services.llm_service import LLMService
from pipecat.services.settings import LLMSettings

from libs.events import LeadProfile
from services.conversation.domain import Agent, Playbook
from services.conversation.simulation.policy import Conversation, next_reply


class SimulatedLLMService(LLMService):
    def __init__(
        self,
        *,
        agent: Agent,
        lead: LeadProfile,
        playbook: Playbook,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        **kwargs: object,
    ) -> None:
        settings = LLMSettings(
            model="simulated-sales-policy",
            system_instruction=None,
            temperature=None,
            max_tokens=None,
            top_p=None,
            top_k=None,
            frequency_penalty=None,
            presence_penalty=None,
            seed=None,
            filter_incomplete_user_turns=None,
            user_turn_completion_config=None,
        )
        # Tools run in the order asked, as with the real model (providers.py).
        super().__init__(settings=settings, run_in_parallel=False, **kwargs)  # type: ignore[arg-type]
        self._agent, self._lead, self._playbook, self._clock = agent, lead, playbook, clock

    def can_generate_metrics(self) -> bool:
        return True

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, LLMContextFrame):
            await self._respond(frame.context)
        else:
            await self.push_frame(frame, direction)

    async def _respond(self, context: LLMContext) -> None:
        messages = context.get_messages()
        calendar = None
        if messages and messages[-1].get("role") == "tool":
            # Only the calendar's answers run the model again: it must say them.
            calendar = _calendar_answer(messages[-1])
            if calendar is None:
                return
        prospect_text = next((_text(m) for m in reversed(messages) if m.get("role") == "user"), "")
        agent_lines = sum(1 for m in messages if m.get("role") == "assistant" and _text(m))
        reply = next_reply(
            Conversation(
                agent=self._agent,
                lead=self._lead,
                playbook=self._playbook,
                agent_lines=agent_lines,
                prospect_text=prospect_text,
                now=self._clock(),
                calendar=calendar,
                offered=_latest_offer(messages),
            )
        )
        await self.push_frame(LLMFullResponseStartFrame())
        await self.start_ttfb_metrics()
        await self.stop_ttfb_metrics()
        if reply.text:
            await self._push_llm_text(reply.text)
        await self.run_function_calls(
            [
                FunctionCallFromLLM(
                    function_name=call.name,
                    tool_call_id=f"call_{uuid4().hex[:12]}",
                    arguments=call.arguments,
                    context=context,
                )
                for call in reply.tool_calls
            ]
        )
        await self.push_frame(LLMFullResponseEndFrame())


def _text(message: object) -> str:
    content = message.get("content") if isinstance(message, dict) else None
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(part.get("text", "") for part in content if isinstance(part, dict))
    return ""


def _calendar_answer(message: object) -> dict[str, Any] | None:
    """A tool result from the calendar (times offered, a booking), or None for any other."""
    content = message.get("content") if isinstance(message, dict) else None
    try:
        answer = json.loads(content) if isinstance(content, str) else None
    except ValueError:
        return None
    if isinstance(answer, dict) and ("slots" in answer or "booked" in answer):
        return answer
    return None


def _latest_offer(messages: list[Any]) -> tuple[dict[str, Any], ...]:
    """The times offered before the prospect's latest words: what they may be choosing
    from. An offer they have not answered yet (the model run again) is no choice."""
    answered = False
    for message in reversed(messages):
        role = message.get("role")
        if role == "user":
            answered = True
        elif role == "tool" and answered:
            answer = _calendar_answer(message)
            if answer and answer.get("slots"):
                return tuple(answer["slots"])
    return ()
