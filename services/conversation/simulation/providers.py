"""The simulated voices: the scripted sales policy as the model (and its end-of-call summary
written by rule), and speech carried as text beside quiet audio, behind the same `Voices`
interface as the vendors."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from pipecat.serializers.twilio import TwilioFrameSerializer

from libs.events import LeadProfile
from services.conversation.config import ConversationSettings
from services.conversation.domain import Agent, FinishedCall, Outcome, Playbook
from services.conversation.providers import Services, twilio_serializer
from services.conversation.simulation.llm import SimulatedLLMService
from services.conversation.simulation.serializer import SimulationTwilioSerializer
from services.conversation.simulation.stt import SimulatedSTTService
from services.conversation.simulation.summary import summarize_call
from services.conversation.simulation.tts import SimulatedTTSService


class SimulatedVoices:
    description = "simulated STT, policy, TTS"
    follow_up = False  # the policy says everything in one reply; a tool result adds nothing

    def __init__(self, settings: ConversationSettings) -> None:
        self._settings = settings

    def serializer(self, stream_sid: str, call_sid: str) -> TwilioFrameSerializer:
        return twilio_serializer(SimulationTwilioSerializer, self._settings, stream_sid, call_sid)

    def services(
        self,
        *,
        agent: Agent,
        lead: LeadProfile,
        playbook: Playbook,
        stream_sid: str,
        clock: Callable[[], datetime],
    ) -> Services:
        return (
            SimulatedSTTService(),
            SimulatedLLMService(agent=agent, lead=lead, playbook=playbook, clock=clock),
            SimulatedTTSService(
                stream_sid=stream_sid,
                seconds_per_character=self._settings.simulated_seconds_per_character,
            ),
        )

    async def summarize(self, call: FinishedCall) -> Outcome | None:
        return summarize_call(call)
