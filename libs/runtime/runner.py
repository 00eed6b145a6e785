"""Run a process: NATS (embedded or given), the stream, then the HTTP app until a signal."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import AsyncExitStack, contextmanager
from pathlib import Path

import uvicorn
from loguru import logger

from libs.bus import EmbeddedNatsServer, EventBus
from libs.bus.access import stream_manager_allowed, stream_managers
from libs.events.model import SystemMode
from libs.runtime.app import build_app
from libs.runtime.mode import agree_on_mode
from libs.runtime.plugin import ServicePlugin
from libs.runtime.security import check_bind_address
from libs.runtime.settings import RuntimeSettings
from libs.runtime.supervision import Supervisor

# Something to run beside the server once it accepts requests (given its base URL);
# when it returns, the process stops. The demo is one.
Companion = Callable[[str], Awaitable[None]]


class WorkerFailedError(RuntimeError):
    """A worker kept failing: the process stopped so that a fresh one replaces it."""


class _Server(uvicorn.Server):
    """Uvicorn that stops on SIGINT/SIGTERM without re-raising the signal afterwards,
    so that the NATS connection and the embedded server are closed in order."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.accepting = asyncio.Event()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        self.accepting.set()

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self._stop, sig)
        try:
            yield
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)

    def _stop(self, sig: signal.Signals) -> None:
        if self.should_exit:
            self.force_exit = True
        logger.info("Received {signal}; shutting down", signal=sig.name)
        self.should_exit = True


async def connect_bus(settings: RuntimeSettings, stack: AsyncExitStack, name: str) -> EventBus:
    if settings.nats_url is None:
        server = EmbeddedNatsServer(settings.nats_store_dir)
        await stack.enter_async_context(server)
        # This process's own server, on loopback, without users: it manages the stream.
        bus = await EventBus.connect(server.url, name=name)
        manages_stream = True
    else:
        bus = await EventBus.connect(
            settings.nats_url,
            name=name,
            user=settings.nats_user,
            password=settings.nats_password,
            tls_ca=Path(settings.nats_tls_ca) if settings.nats_tls_ca else None,
        )
        manages_stream = stream_manager_allowed(settings.nats_user)
    stack.push_async_callback(bus.close)
    if manages_stream:
        await bus.ensure_stream(replicas=settings.stream_replicas)
    else:
        await bus.wait_for_stream(manager=" or ".join(stream_managers()))
    return bus


async def serve(
    plugins: Sequence[ServicePlugin],
    settings: RuntimeSettings,
    *,
    name: str,
    mode: SystemMode = "simulation",
    companion: Companion | None = None,
) -> None:
    check_bind_address(settings.host, settings.api_token)
    logger.warning(
        "MODE={mode}: {meaning}",
        mode=mode,
        meaning="real calls, real voices"
        if mode == "live"
        else "simulated carrier, voices and clock; no real calls",
    )
    for plugin in plugins:
        if plugin.preflight is not None:
            await plugin.preflight()
    async with AsyncExitStack() as stack:
        bus = await connect_bus(settings, stack, name)
        await agree_on_mode(bus, mode, name)
        supervisor = Supervisor.from_settings(
            settings, outage=lambda: None if bus.is_connected else "NATS is unreachable"
        )
        app = build_app(
            plugins,
            bus=bus,
            api_token=settings.api_token,
            title=name,
            mode=mode,
            supervisor=supervisor,
        )
        config = uvicorn.Config(
            app,
            host=settings.host,
            port=settings.port,
            log_config=None,
            access_log=False,
            lifespan="on",
        )
        logger.info(
            "Serving {services} on http://{host}:{port}",
            host=settings.host,
            port=settings.port,
            services=",".join(p.name for p in plugins) or "probes",
        )
        server = _Server(config)
        serving = asyncio.create_task(server.serve())
        watching = asyncio.create_task(_stop_when_given_up(server, serving, supervisor))
        try:
            if companion is None:
                await serving
            else:
                base_url = f"http://{settings.host}:{settings.port}"
                await _accompany(server, serving, companion, base_url)
        finally:
            server.should_exit = True
            with contextlib.suppress(asyncio.CancelledError):
                await serving
            watching.cancel()
        # Uvicorn has stopped and the workers with it; NATS closes as the stack unwinds.
        if supervisor.failure is not None:
            raise WorkerFailedError(supervisor.failure)


async def _stop_when_given_up(
    server: _Server, serving: asyncio.Task[None], supervisor: Supervisor
) -> None:
    await supervisor.gave_up.wait()
    server.should_exit = True
    if not server.started:
        # Still starting (a plugin waiting on a worker that will not come up): uvicorn
        # looks at should_exit only once started, so stop the start itself.
        serving.cancel()


async def _accompany(
    server: _Server, serving: asyncio.Task[None], companion: Companion, base_url: str
) -> None:
    started = asyncio.create_task(server.accepting.wait())
    await asyncio.wait({started, serving}, timeout=120, return_when=asyncio.FIRST_COMPLETED)
    if not started.done():
        started.cancel()
        # Uvicorn has logged why (the port in use, say); don't wait the full two minutes.
        raise RuntimeError(f"the server did not start accepting requests at {base_url}")
    running = asyncio.create_task(companion(base_url))
    # A signal stops the server; the companion then stops too.
    while not running.done() and not server.should_exit:
        await asyncio.wait({running}, timeout=0.5)
    if not running.done():
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running
    else:
        running.result()
