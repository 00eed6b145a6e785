"""How a service plugs into a process: its routes, and the workers it runs beside them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field

from litestar.types import ControllerRouterHandler

from libs.bus import EventBus

# Entered once the bus is ready and left before it closes: consumers, dispatchers.
WorkersFactory = Callable[[EventBus], AbstractAsyncContextManager[object]]
# Checked before the process connects to anything else: a dependency the service cannot
# start without (a calendar), refused with a SettingsError that names the setting.
Preflight = Callable[[], Awaitable[None]]
# Why the service should not take more work right now (empty: it can), for /readyz.
ReadinessCheck = Callable[[], Sequence[str]]


@dataclass(frozen=True)
class ServicePlugin:
    name: str
    route_handlers: Sequence[ControllerRouterHandler] = ()
    workers: WorkersFactory | None = None
    readiness: ReadinessCheck | None = None
    # The service's domain errors and the HTTP status each one means (libs.runtime.problems).
    problems: Mapping[type[Exception], int] = field(default_factory=dict)
    preflight: Preflight | None = None
