"""The scheduler as a pluggable service: its routes and its dispatcher."""

from __future__ import annotations

from collections.abc import Mapping

from libs.runtime.plugin import ServicePlugin
from services.scheduler.app import scheduler_router
from services.scheduler.clock import Clock, system_clock
from services.scheduler.config import load_scheduler_settings
from services.scheduler.worker import Scheduler


def build_plugin(environ: Mapping[str, str], clock: Clock = system_clock) -> ServicePlugin:
    scheduler = Scheduler(load_scheduler_settings(environ), clock)
    return ServicePlugin(
        name="scheduler", route_handlers=[scheduler_router(scheduler)], workers=scheduler.running
    )
