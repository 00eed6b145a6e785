"""The call's speech-to-text, model and text-to-speech: the vendors', or simulated ones."""

from __future__ import annotations

from dataclasses import dataclass

from pipecat.processors.frame_processor import FrameProcessor
from pipecat.serializers.twilio import TwilioFrameSerializer

from services.conversation.config import ConversationSettings
from services.conversation.domain import Agent, Playbook, system_prompt
from services.conversation.processors.batching_serializer import BatchingTwilioSerializer
from services.conversation.processors.simulated_llm import SimulatedLLMService
from services.conversation.processors.simulated_stt import SimulatedSTTService
from services.conversation.processors.simulated_tts import SimulatedTTSService
from services.conversation.processors.simulation_serializer import SimulationTwilioSerializer


@dataclass(frozen=True)
class Stream:
    """The Twilio media stream a call arrived on, and how its audio is framed."""

    stream_sid: str
    call_sid: str
    serializer: TwilioFrameSerializer
    real_llm: bool
    lead: object  # LeadProfile; kept loose so this module stays import-light


def build_services(
    settings: ConversationSettings, stream: Stream, agent: Agent, playbook: Playbook
) -> tuple[FrameProcessor, FrameProcessor, FrameProcessor]:
    from libs.events import LeadProfile

    lead = stream.lead
    assert isinstance(lead, LeadProfile)
    if settings.voices == "real":
        return _real(settings, system_prompt(agent, lead, playbook))
    return (
        SimulatedSTTService(),
        SimulatedLLMService(agent=agent, lead=lead, playbook=playbook),
        SimulatedTTSService(
            stream_sid=stream.stream_sid,
            seconds_per_character=settings.simulated_seconds_per_character,
        ),
    )


def _real(
    settings: ConversationSettings, prompt: str
) -> tuple[FrameProcessor, FrameProcessor, FrameProcessor]:
    from google.genai.types import HttpOptions
    from pipecat.services.cartesia.tts import CartesiaTTSService
    from pipecat.services.deepgram.stt import DeepgramSTTService
    from pipecat.services.google.llm import GoogleLLMService

    stt_options = {"base_url": settings.deepgram_base_url} if settings.deepgram_base_url else {}
    stt = DeepgramSTTService(api_key=settings.deepgram_api_key or "", **stt_options)
    http_options = (
        HttpOptions(base_url=settings.google_base_url) if settings.google_base_url else None
    )
    llm = GoogleLLMService(
        api_key=settings.google_api_key or "",
        http_options=http_options,
        settings=GoogleLLMService.Settings(model=settings.google_model, system_instruction=prompt),
    )
    tts_options = {"url": settings.cartesia_url} if settings.cartesia_url else {}
    tts = CartesiaTTSService(
        api_key=settings.cartesia_api_key or "",
        settings=CartesiaTTSService.Settings(voice=settings.cartesia_voice_id),
        **tts_options,
    )
    return stt, llm, tts


def build_serializer(
    settings: ConversationSettings, stream_sid: str, call_sid: str
) -> TwilioFrameSerializer:
    serializer_type = (
        BatchingTwilioSerializer if settings.voices == "real" else SimulationTwilioSerializer
    )
    return serializer_type(
        stream_sid=stream_sid,
        call_sid=call_sid,
        account_sid=settings.hang_up_account_sid,
        auth_token=settings.hang_up_auth_token,
        base_url=settings.hang_up_base_url,
        params=TwilioFrameSerializer.InputParams(
            twilio_sample_rate=8000,
            sample_rate=8000,
            auto_hang_up=bool(settings.hang_up_auth_token),
        ),
    )
