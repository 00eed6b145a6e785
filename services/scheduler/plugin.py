"""The scheduler as a pluggable service: its routes and its dispatcher."""

from __future__ import annotations

from collections.abc import Mapping

from loguru import logger

from libs.runtime.plugin import ServicePlugin
from libs.runtime.simulation import carrier_is_simulated
from services.scheduler.app import scheduler_router
from services.scheduler.clock import Clock, SimulatedClock, next_weekday_start, system_clock
from services.scheduler.config import load_scheduler_settings
from services.scheduler.worker import Scheduler


def build_plugin(environ: Mapping[str, str], clock: Clock | None = None) -> ServicePlugin:
    if clock is None:
        clock = choose_clock(environ)
    scheduler = Scheduler(load_scheduler_settings(environ), clock)
    return ServicePlugin(
        name="scheduler", route_handlers=[scheduler_router(scheduler)], workers=scheduler.running
    )


def choose_clock(environ: Mapping[str, str]) -> Clock:
    """The real clock with a real carrier; in simulation, a working day's morning."""
    if not carrier_is_simulated(environ):
        return system_clock
    clock = SimulatedClock(next_weekday_start(system_clock()))
    logger.warning(
        "Simulated carrier: the calling-window rules run on a simulated clock starting {start} "
        "(a weekday, inside US calling hours); it skips ahead to the next call it may place",
        start=f"{clock():%Y-%m-%d %H:%M} UTC",
    )
    return clock
