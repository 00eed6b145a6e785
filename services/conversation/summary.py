"""When a call ends without the model having recorded an outcome (the prospect hung up,
the line dropped), the model reads the transcript once more and says how it went.

Any failure of that request (the vendor down, slow, or answering nonsense) leaves the
cue-word fallback in place: a call always gets its outcome.
"""

from __future__ import annotations

import asyncio
from typing import Literal

import httpx
import msgspec
from loguru import logger

from libs.events import Turn
from services.conversation.config import ConversationSettings
from services.conversation.domain import Outcome

SUMMARY_TIMEOUT_SECONDS = 10.0


class SummaryReply(msgspec.Struct, frozen=True, kw_only=True):
    conversation_summary: str
    interest_level: Literal["high", "medium", "low"]
    scheduled_meeting: bool = False
    next_steps: str = ""


INSTRUCTIONS = """You review sales calls. Read this call between our agent and a prospect and
answer with JSON only: {"conversation_summary": one or two sentences, without quoting the
prospect, "interest_level": "high" | "medium" | "low", "scheduled_meeting": true | false,
"next_steps": what our team should do next, or ""}."""


def summary_request(turns: list[Turn]) -> str:
    lines = [f"{'Agent' if t.role == 'agent' else 'Prospect'}: {t.text}" for t in turns]
    return INSTRUCTIONS + "\n\nThe call:\n" + "\n".join(lines)


async def summarize_with_model(settings: ConversationSettings, turns: list[Turn]) -> Outcome | None:
    from google import genai
    from google.genai import errors, types

    options = (
        types.HttpOptions(base_url=settings.google_base_url) if settings.google_base_url else None
    )
    client = genai.Client(api_key=settings.google_api_key, http_options=options)
    try:
        async with asyncio.timeout(SUMMARY_TIMEOUT_SECONDS):
            response = await client.aio.models.generate_content(
                model=settings.google_model,
                contents=summary_request(turns),
                config=types.GenerateContentConfig(
                    response_mime_type="application/json", temperature=0
                ),
            )
        reply = msgspec.json.decode(response.text or "", type=SummaryReply)
    except (errors.APIError, httpx.HTTPError, TimeoutError, msgspec.DecodeError) as exc:
        logger.warning(
            "Summary from the model failed, keeping the fallback: {error}",
            error=f"{type(exc).__name__}: {exc}",
        )
        return None
    return Outcome(
        interest_level=reply.interest_level,
        scheduled_meeting=reply.scheduled_meeting,
        next_steps=reply.next_steps,
        summary=reply.conversation_summary,
    )
