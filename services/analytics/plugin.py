"""Analytics as a pluggable service: its routes and its projection."""

from __future__ import annotations

from collections.abc import Mapping

from libs.runtime.plugin import ServicePlugin
from libs.runtime.settings import load_settings
from services.analytics.app import PROBLEMS, analytics_routers
from services.analytics.config import AnalyticsSettings
from services.analytics.service import Analytics


def build_plugin(environ: Mapping[str, str]) -> ServicePlugin:
    workers = Analytics(load_settings(AnalyticsSettings, environ))
    return ServicePlugin(
        name="analytics",
        route_handlers=analytics_routers(workers),
        workers=workers.running,
        problems=PROBLEMS,
    )
