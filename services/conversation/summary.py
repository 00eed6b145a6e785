"""When a call with a conversation ends, the model reads its transcript once more and
writes the summary, and says how it went: the outcome's values too, when the model
recorded none during the call (the prospect hung up, the line dropped).

Any failure of that request (the vendor down, slow, or answering nonsense) leaves the
cue-word fallback and the labelled template in place: a call always gets its outcome.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

import httpx
import msgspec
from loguru import logger

from libs.events.model import InterestLevel
from services.conversation.config import ConversationSettings
from services.conversation.domain import FinishedCall, Outcome, lead_zone, local_time_text
from services.conversation.lead_record import lead_record_lines
from services.conversation.plain_text import plain_text
from services.conversation.tool_arguments import NEXT_STEPS_LIMIT, SUMMARY_LIMIT

SUMMARY_TIMEOUT_SECONDS = 10.0


class SummaryReply(msgspec.Struct, frozen=True, kw_only=True):
    """The model's answer, held to what record_outcome would accept."""

    conversation_summary: Annotated[str, msgspec.Meta(max_length=SUMMARY_LIMIT)]
    interest_level: InterestLevel
    scheduled_meeting: bool = False  # asked for the model's reading; a booking decides
    next_steps: Annotated[str, msgspec.Meta(max_length=NEXT_STEPS_LIMIT)] = ""


INSTRUCTIONS = """You review sales calls. Read this call between our agent and a prospect and
answer with JSON only: {"conversation_summary": two or three sentences for our sales team,
without quoting the prospect: who we spoke with, what they need, how interested they are,
and any meeting or callback agreed with its day and time, "interest_level": "high" |
"medium" | "low", "scheduled_meeting": true | false, "next_steps": what our team should do
next, or ""}."""


def summary_request(call: FinishedCall) -> str:
    zone = lead_zone(call.lead)
    facts = [
        "The prospect is the contact in the lead record above, at their business.",
        f"The call began {local_time_text(call.started_at.astimezone(zone), year=True)}, "
        f"their time ({zone.key}).",
        f"How it ended: {call.ended_by}.",
    ]
    if call.meeting_time is not None:
        meeting = local_time_text(call.meeting_time.astimezone(zone), year=True)
        facts.append(f"The agent booked a meeting for {meeting}.")
    if call.callback_at is not None:
        callback = local_time_text(call.callback_at.astimezone(zone), year=True)
        facts.append(f"The agent booked a callback for {callback}.")
    lines = [f"{'Agent' if t.role == 'agent' else 'Prospect'}: {t.text}" for t in call.turns]
    return "\n\n".join(
        [
            INSTRUCTIONS,
            "\n".join(lead_record_lines(call.lead)),
            "\n".join(facts),
            "The call:\n" + "\n".join(lines),
        ]
    )


async def summarize_with_model(
    settings: ConversationSettings, call: FinishedCall
) -> Outcome | None:
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
                contents=summary_request(call),
                config=types.GenerateContentConfig(
                    response_mime_type="application/json", temperature=0
                ),
            )
        reply = msgspec.json.decode(response.text or "", type=SummaryReply)
    except (errors.APIError, httpx.HTTPError, TimeoutError, msgspec.DecodeError) as exc:
        logger.warning(
            "Summary from the model failed, keeping the template: {error}",
            error=f"{type(exc).__name__}: {exc}",
        )
        return None
    return Outcome(
        interest_level=reply.interest_level,
        scheduled_meeting=reply.scheduled_meeting,
        next_steps=plain_text(reply.next_steps),
        summary=plain_text(reply.conversation_summary),
    )
