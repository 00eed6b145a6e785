"""The telephony service's routes and workers, with Twilio or the simulated carrier."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import datetime

from loguru import logger

from libs.compliance import CallingHours, Law
from libs.compliance.loading import load_default_hours, load_law
from libs.events import EventBus
from libs.runtime.plugin import ServicePlugin
from services.telephony.app import Telephony, telephony_router
from services.telephony.carrier import SimulatedCarrier
from services.telephony.config import TelephonySettings, load_telephony_settings
from services.telephony.media_stream import Speak
from services.telephony.providers import CallProvider
from services.telephony.simulated_api import update_simulated_call
from services.telephony.twilio_provider import TwilioProvider
from services.telephony.worker import CallDialer, running_dialer


def simulated_voice(text: str, seed: int) -> bytes:
    # Imported on first use: the speech generator needs numpy, which only simulation uses.
    from libs.simulation.speech import synthesize_utterance

    return synthesize_utterance(text, seed)


def build_provider(settings: TelephonySettings, speak: Speak = simulated_voice) -> CallProvider:
    if settings.carrier == "twilio":
        return TwilioProvider(settings)
    return SimulatedCarrier(settings, speak)


def announce(settings: TelephonySettings) -> None:
    if settings.carrier == "twilio":
        logger.warning(
            "TELEPHONY: REAL CALLS through Twilio; webhooks at {base}",
            base=settings.public_base_url,
        )
    else:
        logger.warning(
            "TELEPHONY: SIMULATED CARRIER (MODE=simulation); no real calls. Webhooks at {base}, "
            "fake Twilio REST at {api} (account {sid})",
            base=settings.public_base_url,
            api=settings.simulated_api_base_url,
            sid=settings.account_sid,
        )


def build_telephony_plugin(
    settings: TelephonySettings,
    provider: CallProvider,
    law: Law | None = None,
    default_hours: CallingHours | None = None,
    clock: Callable[[], datetime] | None = None,
) -> ServicePlugin:
    law = law or load_law({})
    default_hours = default_hours or load_default_hours({})
    telephony = (
        Telephony(settings=settings, provider=provider)
        if clock is None
        else Telephony(settings=settings, provider=provider, clock=clock)
    )
    extra = [update_simulated_call] if isinstance(provider, SimulatedCarrier) else []

    @asynccontextmanager
    async def workers(bus: EventBus) -> AsyncIterator[object]:
        announce(settings)
        async with AsyncExitStack() as stack:
            await stack.enter_async_context(provider.running())
            dialer = CallDialer(bus, provider, settings, law, default_hours, clock=telephony.clock)
            yield await stack.enter_async_context(running_dialer(dialer))

    return ServicePlugin(
        name="telephony", route_handlers=[telephony_router(telephony, extra)], workers=workers
    )


def build_plugin(environ: Mapping[str, str]) -> ServicePlugin:
    settings = load_telephony_settings(environ)
    return build_telephony_plugin(
        settings, build_provider(settings), load_law(environ), load_default_hours(environ)
    )
