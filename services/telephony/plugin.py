"""The telephony service's routes and workers, with Twilio or the simulated carrier."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import datetime
from pathlib import Path

from libs.bus import EventBus
from libs.compliance import CallingHours, Law
from libs.compliance.loading import load_default_hours, load_law
from libs.runtime.plugin import ServicePlugin
from libs.runtime.supervision import stop_tasks, supervise
from services.telephony.app import KEPT_WEBHOOKS, PROBLEMS, telephony_router
from services.telephony.config import Carrier, TelephonySettings, load_telephony_settings
from services.telephony.providers import CallProvider
from services.telephony.service import Telephony
from services.telephony.twilio_provider import TwilioProvider
from services.telephony.webhook_outbox import OUTBOX_FILE, WebhookOutbox, replayer
from services.telephony.worker import CallDialer, running_dialer

ProviderFactory = Callable[[TelephonySettings], CallProvider]


def simulated_carrier(settings: TelephonySettings) -> CallProvider:
    # Imported only once chosen: a live process never loads the simulation's dependencies.
    from services.telephony.simulation.carrier import SimulatedCarrier

    return SimulatedCarrier(settings)


PROVIDERS: Mapping[Carrier, ProviderFactory] = {
    "twilio": TwilioProvider,
    "simulated": simulated_carrier,
}


def build_provider(settings: TelephonySettings) -> CallProvider:
    return PROVIDERS[settings.carrier](settings)


def build_telephony_plugin(
    settings: TelephonySettings,
    provider: CallProvider,
    law: Law | None = None,
    default_hours: CallingHours | None = None,
    clock: Callable[[], datetime] | None = None,
) -> ServicePlugin:
    law = law or load_law({})
    default_hours = default_hours or load_default_hours({})
    outbox = WebhookOutbox(Path(settings.data_dir) / OUTBOX_FILE)
    telephony = (
        Telephony(settings=settings, provider=provider, outbox=outbox)
        if clock is None
        else Telephony(settings=settings, provider=provider, clock=clock, outbox=outbox)
    )

    @asynccontextmanager
    async def workers(bus: EventBus) -> AsyncIterator[object]:
        provider.announce()
        async with AsyncExitStack() as stack:
            await stack.enter_async_context(provider.running())
            replay = replayer(KEPT_WEBHOOKS, telephony, bus)
            flusher = supervise(
                "telephony-webhook-outbox", lambda: outbox.flush_forever(bus, replay)
            )
            stack.push_async_callback(stop_tasks, flusher)
            dialer = CallDialer(bus, provider, settings, law, default_hours, clock=telephony.clock)
            yield await stack.enter_async_context(running_dialer(dialer))

    routes = telephony_router(telephony, provider.extra_routes())
    return ServicePlugin(
        name="telephony", route_handlers=[routes], workers=workers, problems=PROBLEMS
    )


def build_plugin(environ: Mapping[str, str]) -> ServicePlugin:
    settings = load_telephony_settings(environ)
    return build_telephony_plugin(
        settings, build_provider(settings), load_law(environ), load_default_hours(environ)
    )
