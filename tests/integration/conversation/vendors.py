"""Serving the conversation service on the real vendor adapters (Pipecat's Deepgram, Gemini
and Cartesia clients), each pointed at a local fake of its wire protocol."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from libs.bus import EventBus
from tests.integration.conversation.line import ProspectLine
from tests.integration.conversation.support import Service, conversation_service
from tests.integration.conversation.vendor_fakes.cartesia import FakeCartesia
from tests.integration.conversation.vendor_fakes.deepgram import FakeDeepgram
from tests.integration.conversation.vendor_fakes.gemini import FakeGemini, Model, Parts
from tests.support import serving


def summary_answer(summary: str, interest: str = "high", next_steps: str = "") -> str:
    """The JSON Gemini answers the end-of-call summary request with."""
    return json.dumps(
        {
            "conversation_summary": summary,
            "interest_level": interest,
            "scheduled_meeting": False,
            "next_steps": next_steps,
        }
    )


@dataclass
class Vendors:
    deepgram: FakeDeepgram
    gemini: FakeGemini
    cartesia: FakeCartesia
    service: Service


@contextlib.asynccontextmanager
async def real_vendors(
    bus: EventBus,
    replies: list[Parts] | Model,
    summaries: list[str | int] | None = None,
    clock: Callable[[], datetime] | None = None,
) -> AsyncIterator[Vendors]:
    deepgram, cartesia = FakeDeepgram(), FakeCartesia()
    gemini = FakeGemini(replies, summaries=summaries or [])
    async with (
        deepgram.serving(),
        cartesia.serving(),
        serving(gemini.app()) as gemini_client,
        conversation_service(
            bus,
            clock,
            mode="live",
            deepgram_api_key="deepgram-test-key",
            google_api_key="google-test-key",
            cartesia_api_key="cartesia-test-key",
            deepgram_base_url=deepgram.url,
            google_base_url=str(gemini_client.base_url),
            cartesia_url=cartesia.url,
        ) as service,
    ):
        assert service.runtime.settings.voices == "real"
        yield Vendors(deepgram, gemini, cartesia, service)


def prospect(
    vendors: Vendors, call_id: UUID, lines: list[str], hang_up_during_line: int | None = None
) -> ProspectLine:
    """The prospect on the line; what they say is what the speech-to-text fake hears."""
    return ProspectLine(
        vendors.service.stream_url,
        call_id,
        lines,
        turns_from_audio=True,
        on_say=vendors.deepgram.say,
        hang_up_during_line=hang_up_during_line,
    )
