"""The conversation service as a plugin: the media stream route, its load probe, its watcher."""

from __future__ import annotations

import asyncio
import contextlib
import warnings
from collections.abc import AsyncIterator, Mapping

import nats.errors
from litestar import Router
from litestar.di import Provide
from loguru import logger

from libs.bus import EventBus
from libs.events import AnswerClassified, subject_filter
from libs.runtime.mode import resolve_mode
from libs.runtime.plugin import ServicePlugin
from libs.runtime.settings import SettingsError, load_settings
from libs.runtime.supervision import stop_tasks, supervise
from services.conversation.calendar.desk import BookingDesk
from services.conversation.calendar.mailer import mailer_from_settings, running_mailer
from services.conversation.calendar.port import EmbeddedCalendar, ExternalCalendar
from services.conversation.calendar.routes import calendar_router
from services.conversation.calendar.team import Team, load_team
from services.conversation.config import ConversationSettings
from services.conversation.service import ConversationRuntime


def build_plugin(environ: Mapping[str, str]) -> ServicePlugin:
    # Refuses live mode without every voice key: real callers never get simulated voices.
    mode = resolve_mode(environ, ("conversation",))
    settings = load_settings(ConversationSettings, {**environ, "MODE": mode})
    if not settings.media_stream_keys:
        raise SettingsError(
            "conversation has no key to check media stream tokens with: set MEDIA_STREAM_SECRET "
            "to telephony's, or the auth token telephony signs with (TWILIO_AUTH_TOKEN; in "
            "simulation, SIMULATION_AUTH_TOKEN)"
        )
    return plugin_for(ConversationRuntime.from_settings(settings), calendar_for(settings))


def calendar_for(settings: ConversationSettings) -> tuple[Team, ExternalCalendar]:
    """The team from CALENDAR_TEAM_PATH, and the calendar beside the stream's bookings:
    the CalDAV one at CALDAV_URL (or the reps' own caldav_url), else none."""
    team = load_team(settings.calendar_team_path)
    if not settings.caldav_url and not any(rep.caldav_url for rep in team.reps):
        return team, EmbeddedCalendar()
    from services.conversation.calendar.caldav_calendar import CalDavCalendar

    external = CalDavCalendar(
        settings.caldav_url,
        settings.caldav_username,
        settings.caldav_password,
        team,
        timeout_seconds=settings.caldav_timeout_seconds,
    )
    return team, external


def plugin_for(
    runtime: ConversationRuntime, calendar: tuple[Team, ExternalCalendar] | None = None
) -> ServicePlugin:
    team, external = calendar or (load_team(), EmbeddedCalendar())
    with warnings.catch_warnings():  # pipecat imports audioop and friends, deprecated on 3.11
        warnings.simplefilter("ignore", DeprecationWarning)
        from services.conversation.app import conversation_load, twilio_stream

    router = Router(
        path="/",
        route_handlers=[twilio_stream, conversation_load],
        dependencies={"conversation": Provide(lambda: runtime, sync_to_thread=False)},
    )
    meetings = calendar_router(lambda: runtime.desk, clock=runtime.clock)
    mailer = mailer_from_settings(runtime.settings, team)

    @contextlib.asynccontextmanager
    async def workers(bus: EventBus) -> AsyncIterator[None]:
        from services.conversation.sweeper import Sweeper, running_sweeper

        logger.info(
            "Conversation service: {mode} voices ({detail})",
            mode=runtime.settings.voices,
            detail=runtime.voices.description,
        )
        await asyncio.to_thread(runtime.models.warm_up)  # not on the first call's event loop
        watcher = supervise("conversation-load-watcher", runtime.load.watch_loop)
        # A verdict heard live, not a durable consumer: it matters only to a call in hand.
        verdicts = await bus.nc.subscribe(
            subject_filter(AnswerClassified), cb=runtime.calls.on_classified
        )
        sweeper = Sweeper(bus, runtime.settings, runtime.calls, clock=runtime.clock)
        desk = BookingDesk(bus, team, external)
        try:
            async with desk.running(), running_sweeper(sweeper), running_mailer(bus, mailer):
                runtime.desk = desk
                yield None
        finally:
            runtime.desk = None
            with contextlib.suppress(nats.errors.Error):  # NATS may be away at shutdown
                await verdicts.unsubscribe()
            await stop_tasks(watcher)
            runtime.models.close()

    return ServicePlugin(
        name="conversation",
        route_handlers=[router, meetings],
        workers=workers,
        readiness=runtime.load.overload_reasons,
        preflight=external.check,
    )
