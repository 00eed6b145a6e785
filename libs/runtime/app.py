"""The one Litestar app shape every process serves: probes, guard, problem details, plugins."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

from litestar import Litestar, Response, get
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.openapi import OpenAPIConfig

from libs.bus import EventBus
from libs.runtime.plugin import ServicePlugin
from libs.runtime.problems import exception_handlers, problem
from libs.runtime.security import require_api_token


@get("/healthz", opt={"access": "public"}, sync_to_thread=False)
def healthz() -> dict[str, str]:
    """Alive: the process answers. Says nothing about its dependencies."""
    return {"status": "alive"}


@get("/readyz", opt={"access": "public"})
async def readyz(bus: NamedDependency[EventBus], state: State) -> Response[Any]:
    """Ready: connected to NATS, the stream exists, and no service is overloaded."""
    if not bus.is_connected:
        return problem(503, "not connected to NATS; reconnecting")
    if not await bus.has_stream():
        return problem(503, f"the {bus.stream} stream does not exist")
    reasons = [reason for check in state.readiness_checks for reason in check()]
    if reasons:
        return problem(503, "degraded: " + "; ".join(reasons))
    return Response({"status": "ready", "stream": bus.stream, "mode": state.mode})


def build_app(
    plugins: Sequence[ServicePlugin],
    *,
    bus: EventBus,
    api_token: str | None,
    title: str,
    mode: str = "simulation",
) -> Litestar:
    @asynccontextmanager
    async def run_workers(_: Litestar) -> AsyncIterator[None]:
        async with AsyncExitStack() as workers:
            for plugin in plugins:
                if plugin.workers is not None:
                    await workers.enter_async_context(plugin.workers(bus))
            yield

    return Litestar(
        route_handlers=[healthz, readyz, *(h for p in plugins for h in p.route_handlers)],
        guards=[require_api_token],
        exception_handlers=exception_handlers(  # type: ignore[arg-type]
            {error: status for p in plugins for error, status in p.problems.items()}
        ),
        dependencies={"bus": Provide(lambda: bus, sync_to_thread=False)},
        state=State(
            {
                "api_token": api_token,
                "mode": mode,
                "readiness_checks": [p.readiness for p in plugins if p.readiness is not None],
            }
        ),
        lifespan=[run_workers],
        openapi_config=OpenAPIConfig(title=title, version="1", path="/schema"),
        logging_config=None,  # the entry point routes all logging through loguru
    )
