"""Who listens, thinks and speaks on a call: the vendors (Deepgram, Gemini, Cartesia).

`Voices` is what a call needs from them; the simulated set (services/conversation/
simulation/providers.py) offers the same, and service.py picks one of the two.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from pipecat.processors.frame_processor import FrameProcessor
from pipecat.serializers.twilio import TwilioFrameSerializer

from libs.events import LeadProfile
from services.conversation.config import ConversationSettings
from services.conversation.domain import Agent, FinishedCall, Outcome, Playbook, system_prompt
from services.conversation.processors.batching_serializer import BatchingTwilioSerializer
from services.conversation.summary import summarize_with_model

# Speech-to-text, the model, text-to-speech: in pipeline order.
Services = tuple[FrameProcessor, FrameProcessor, FrameProcessor]


class Voices(Protocol):
    description: str  # for the start-up log
    follow_up: bool  # whether the model is run again once a tool has recorded a result

    def serializer(self, stream_sid: str, call_sid: str) -> TwilioFrameSerializer: ...

    def services(
        self,
        *,
        agent: Agent,
        lead: LeadProfile,
        playbook: Playbook,
        stream_sid: str,
        clock: Callable[[], datetime],
    ) -> Services: ...

    async def summarize(self, call: FinishedCall) -> Outcome | None:
        """The model's summary of a call with a conversation, and its reading of how it went;
        None if the model could not say (the template and the cue words stand in)."""
        ...


def twilio_serializer(
    serializer_type: type[TwilioFrameSerializer],
    settings: ConversationSettings,
    stream_sid: str,
    call_sid: str,
) -> TwilioFrameSerializer:
    """A serializer for one media stream, hanging up through Twilio's REST API (or its fake)."""
    return serializer_type(
        stream_sid=stream_sid,
        call_sid=call_sid,
        account_sid=settings.hang_up_account_sid,
        auth_token=settings.auth_token,
        base_url=settings.hang_up_base_url,
        params=TwilioFrameSerializer.InputParams(
            twilio_sample_rate=8000,
            sample_rate=8000,
            auto_hang_up=bool(settings.auth_token),
        ),
    )


class VendorVoices:
    description = "Deepgram, Gemini, Cartesia"
    follow_up = True

    def __init__(self, settings: ConversationSettings) -> None:
        self._settings = settings

    def serializer(self, stream_sid: str, call_sid: str) -> TwilioFrameSerializer:
        return twilio_serializer(BatchingTwilioSerializer, self._settings, stream_sid, call_sid)

    def services(
        self,
        *,
        agent: Agent,
        lead: LeadProfile,
        playbook: Playbook,
        stream_sid: str,
        clock: Callable[[], datetime],
    ) -> Services:
        from google.genai.types import HttpOptions
        from pipecat.services.cartesia.tts import CartesiaTTSService
        from pipecat.services.deepgram.stt import DeepgramSTTService
        from pipecat.services.google.llm import GoogleLLMService

        settings = self._settings
        stt_options = {"base_url": settings.deepgram_base_url} if settings.deepgram_base_url else {}
        stt = DeepgramSTTService(api_key=settings.deepgram_api_key or "", **stt_options)
        http_options = (
            HttpOptions(base_url=settings.google_base_url) if settings.google_base_url else None
        )
        llm = GoogleLLMService(
            api_key=settings.google_api_key or "",
            http_options=http_options,
            # In the order the model asked: record_outcome after the schedule_meeting it
            # names, so the booking it speaks of exists when it is checked.
            run_in_parallel=False,
            settings=GoogleLLMService.Settings(
                model=settings.google_model,
                system_instruction=system_prompt(agent, lead, playbook, clock()),
            ),
        )
        tts_options = {"url": settings.cartesia_url} if settings.cartesia_url else {}
        tts = CartesiaTTSService(
            api_key=settings.cartesia_api_key or "",
            settings=CartesiaTTSService.Settings(voice=settings.cartesia_voice_id),
            **tts_options,
        )
        return stt, llm, tts

    async def summarize(self, call: FinishedCall) -> Outcome | None:
        return await summarize_with_model(self._settings, call)
