"""The scheduler as a pluggable service: its routes and its dispatcher."""

from __future__ import annotations

from collections.abc import Mapping

from loguru import logger

from libs.compliance import Law
from libs.compliance.loading import load_default_hours, load_law
from libs.events.model import SystemMode
from libs.runtime.mode import resolve_mode
from libs.runtime.plugin import ServicePlugin
from services.scheduler.app import PROBLEMS, scheduler_router
from services.scheduler.clock import Clock, SimulatedClock, next_weekday_start, system_clock
from services.scheduler.config import load_scheduler_settings
from services.scheduler.service import Scheduler


def build_plugin(environ: Mapping[str, str], clock: Clock | None = None) -> ServicePlugin:
    mode = resolve_mode(environ, ("scheduler",))
    law = load_law(environ)
    if clock is None:
        clock = choose_clock(mode, law)
    settings = load_scheduler_settings(environ)
    scheduler = Scheduler(settings, law, load_default_hours(environ), clock)
    return ServicePlugin(
        name="scheduler",
        route_handlers=[scheduler_router(scheduler)],
        workers=scheduler.running,
        problems=PROBLEMS,
    )


def choose_clock(mode: SystemMode, law: Law) -> Clock:
    """The real clock when live; in simulation, a working day's morning, and only then."""
    if mode == "live":
        return system_clock
    start = next_weekday_start(system_clock())
    while law.holidays.holiday_on(start.date(), ("US",)) is not None:
        start = next_weekday_start(start)
    clock = SimulatedClock(start)
    logger.warning(
        "MODE=simulation: the calling rules run on a simulated clock starting {start} "
        "(a working weekday, inside US calling hours); it skips ahead to the next call it "
        "may place",
        start=f"{clock():%Y-%m-%d %H:%M} UTC",
    )
    return clock
