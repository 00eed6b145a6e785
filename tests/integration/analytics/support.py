"""Running the analytics service for a test: its projection, and its routes on uvicorn."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import duckdb
import httpx

from libs.bus import EventBus
from libs.events import AnyEvent
from libs.runtime.app import build_app
from libs.runtime.plugin import ServicePlugin
from services.analytics.app import PROBLEMS, analytics_routers
from services.analytics.config import AnalyticsSettings
from services.analytics.results_contract import contract_violations
from services.analytics.schema import TABLES
from services.analytics.service import Analytics
from services.analytics.worker import Projector
from tests.support import serving as serve_app


def settings_for(directory: Path, **overrides: object) -> AnalyticsSettings:
    return AnalyticsSettings(
        data_dir=str(directory),
        results_csv_interval_seconds=0.05,
        analytics_idle_wait=0.2,
        **overrides,  # type: ignore[arg-type]
    )


async def publish(bus: EventBus, events: Sequence[AnyEvent]) -> int:
    """Publish and return the stream sequence of the last one."""
    stored = await bus.publish_many(events)
    return stored[-1].seq


@asynccontextmanager
async def projecting(
    bus: EventBus, settings: AnalyticsSettings
) -> AsyncIterator[tuple[Analytics, Projector]]:
    workers = Analytics(settings)
    async with workers.running(bus) as projector:
        yield workers, projector


@asynccontextmanager
async def serving(
    bus: EventBus, settings: AnalyticsSettings
) -> AsyncIterator[tuple[httpx.AsyncClient, Projector]]:
    """The analytics routes and workers behind real uvicorn on a loopback port."""
    workers = Analytics(settings)
    projectors: list[Projector] = []

    @asynccontextmanager
    async def capture(bus: EventBus) -> AsyncIterator[Projector]:
        async with workers.running(bus) as projector:
            projectors.append(projector)
            yield projector

    plugin = ServicePlugin(
        name="analytics",
        route_handlers=analytics_routers(workers),
        workers=capture,
        problems=PROBLEMS,
    )
    app = build_app([plugin], bus=bus, api_token=None, title="test")
    async with serve_app(app) as client:
        await client.get("/healthz")  # waits in the backlog until the lifespan has run
        yield client, projectors[0]


def table_contents(path: Path) -> dict[str, list[tuple[object, ...]]]:
    """Every table of a projection file, rows in a stable order, for comparing two files."""
    with duckdb.connect(str(path), read_only=True) as connection:
        contents = {
            table.name: connection.execute(f"SELECT * FROM {table.name} ORDER BY ALL").fetchall()
            for table in TABLES
        }
        contents["projection_position"] = connection.execute(
            "SELECT * FROM projection_position"
        ).fetchall()
    return contents


def assert_original_results(text: str) -> None:
    """The results CSV keeps the original system's columns and values (results_contract)."""
    violations = contract_violations(text)
    assert violations == [], "\n".join(violations)
