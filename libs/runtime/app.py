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
from libs.runtime.supervision import Supervisor


@get("/healthz", opt={"access": "public"}, sync_to_thread=False)
def healthz() -> dict[str, str]:
    """Alive: the process answers. Says nothing about its dependencies."""
    return {"status": "alive"}


@get("/readyz", opt={"access": "public"})
async def readyz(bus: NamedDependency[EventBus], state: State) -> Response[Any]:
    """Ready: connected to NATS, the stream exists, every worker runs, and no service is
    overloaded. Every reason that holds is named: a worker down beside NATS away, say."""
    reasons: list[str] = []
    if not bus.is_connected:
        reasons.append("not connected to NATS; reconnecting")
    elif not await bus.has_stream():
        reasons.append(f"the {bus.stream} stream does not exist")
    degraded = [reason for check in state.readiness_checks for reason in check()]
    if degraded:
        reasons.append("degraded: " + "; ".join(degraded))
    if reasons:
        return problem(503, "; ".join(reasons))
    return Response({"status": "ready", "stream": bus.stream, "mode": state.mode})


def build_app(
    plugins: Sequence[ServicePlugin],
    *,
    bus: EventBus,
    api_token: str | None,
    title: str,
    mode: str = "simulation",
    supervisor: Supervisor | None = None,
) -> Litestar:
    # Every worker task the plugins start goes through it; /readyz names those that are down.
    supervisor = supervisor or Supervisor()

    @asynccontextmanager
    async def run_workers(_: Litestar) -> AsyncIterator[None]:
        with supervisor.current():
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
                "supervisor": supervisor,
                "readiness_checks": [
                    supervisor.readiness,
                    *(p.readiness for p in plugins if p.readiness is not None),
                ],
            }
        ),
        lifespan=[run_workers],
        openapi_config=OpenAPIConfig(title=title, version="1", path="/schema"),
        logging_config=None,  # the entry point routes all logging through loguru
    )
