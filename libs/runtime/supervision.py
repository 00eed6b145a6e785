"""Every long-running worker task of a process runs under one supervisor.

A worker that fails is restarted after a backoff that doubles up to a cap; while it is
down (failed, and not yet running again) readiness names it; after too many failures in
a row the supervisor gives up, and the runner stops the process with EXIT_WORKER_FAILED
so that whatever runs it (compose, Kubernetes, systemd) starts a fresh one.

A worker tells the supervisor it is running again with `mark_running()` (a consumer once
it has subscribed, a loop once it has done one round). One that never does counts as
running once it has lasted `settle_seconds` without failing.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field

from loguru import logger

from libs.runtime.settings import RuntimeSettings

# EX_SOFTWARE from sysexits.h: the process stopped itself because a worker kept failing.
EXIT_WORKER_FAILED = 70

Worker = Callable[[], Awaitable[None]]
# Why every worker would fail now whatever it did (NATS unreachable), or None.
Outage = Callable[[], str | None]


def no_outage() -> str | None:
    return None


@dataclass
class _Attempt:
    name: str
    supervisor: Supervisor
    failures: int = 0  # in a row, since it last ran
    down_because: str | None = None

    def running(self) -> None:
        if self.failures or self.down_because is not None:
            logger.info("Worker {name} is running again", name=self.name)
        self.failures = 0
        self.down_because = None
        self.supervisor._down.pop(self.name, None)


_current: ContextVar[_Attempt | None] = ContextVar("supervised_worker", default=None)
_supervisor: ContextVar[Supervisor | None] = ContextVar("supervisor", default=None)


def mark_running() -> None:
    """Called by a worker once it works again: clears its failure. Outside a supervised
    task, nothing to do."""
    attempt = _current.get()
    if attempt is not None:
        attempt.running()


@dataclass
class Supervisor:
    max_restarts: int = 5  # consecutive failures restarted; one more and it gives up
    first_backoff: float = 1.0
    max_backoff: float = 30.0
    settle_seconds: float = 10.0
    # A failure during an outage is not counted towards giving up: a fresh process would
    # meet the same unreachable NATS, so the worker waits and tries again instead.
    outage: Outage = no_outage
    # Why the supervisor gave up, once it has; the runner waits on `gave_up`.
    failure: str | None = None
    gave_up: asyncio.Event = field(default_factory=asyncio.Event)
    _down: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_settings(cls, settings: RuntimeSettings, outage: Outage = no_outage) -> Supervisor:
        return cls(
            max_restarts=settings.worker_max_restarts,
            first_backoff=settings.worker_restart_seconds,
            max_backoff=settings.worker_restart_max_seconds,
            outage=outage,
        )

    def readiness(self) -> list[str]:
        """For /readyz: every worker that is down, and why."""
        return [f"worker {name} is down ({why})" for name, why in sorted(self._down.items())]

    def start(
        self, name: str, worker: Worker, stopping: asyncio.Event | None = None
    ) -> asyncio.Task[None]:
        return asyncio.create_task(self.run(name, worker, stopping), name=name)

    async def run(self, name: str, worker: Worker, stopping: asyncio.Event | None = None) -> None:
        """Run `worker` until it returns, restarting it when it fails. Returns when it
        returns, or when `stopping` is set while it waits to be restarted; raises its last
        error once the supervisor has given up on it."""
        attempt = _Attempt(name, self)
        token = _current.set(attempt)
        given_up = False
        try:
            while True:
                settled = asyncio.get_running_loop().call_later(
                    self.settle_seconds, attempt.running
                )
                try:
                    await worker()
                    return
                except Exception as exc:  # the top of a worker: any failure is restarted
                    if not self._failed(attempt, exc):
                        given_up = True
                        raise
                finally:
                    settled.cancel()
                if await _stopped_within(stopping, self._backoff(attempt.failures)):
                    return
        finally:
            _current.reset(token)
            if not given_up:  # it returned, or was stopped: not down any more
                self._down.pop(name, None)

    def _failed(self, attempt: _Attempt, error: Exception) -> bool:
        why = f"{type(error).__name__}: {error}"
        if (outage := self.outage()) is not None:
            why = f"{why}; {outage}"
            attempt.down_because = why
            self._down[attempt.name] = why
            logger.warning(
                "Worker {name} failed while {outage}; trying again in {delay:.1f}s",
                name=attempt.name,
                outage=outage,
                delay=self._backoff(attempt.failures),
            )
            return True
        attempt.failures += 1
        attempt.down_because = why
        self._down[attempt.name] = why
        if attempt.failures > self.max_restarts:
            self.failure = (
                f"worker {attempt.name} failed {attempt.failures} times in a row; last: {why}"
            )
            logger.opt(exception=error).critical(
                "Giving up: {failure}; stopping the process", failure=self.failure
            )
            self.gave_up.set()
            return False
        delay = self._backoff(attempt.failures)
        logger.opt(exception=error).error(
            "Worker {name} failed ({count} in a row); restarting in {delay:.1f}s: {why}",
            name=attempt.name,
            count=attempt.failures,
            delay=delay,
            why=why,
        )
        return True

    def _backoff(self, failures: int) -> float:
        return min(self.first_backoff * 2 ** max(failures - 1, 0), self.max_backoff)

    @contextlib.contextmanager
    def current(self) -> Iterator[Supervisor]:
        """Make this the supervisor that workers started in this context go through."""
        token = _supervisor.set(self)
        try:
            yield self
        finally:
            _supervisor.reset(token)


async def _stopped_within(stopping: asyncio.Event | None, seconds: float) -> bool:
    if stopping is None:
        await asyncio.sleep(seconds)
        return False
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await stopping.wait()
    return stopping.is_set()


def current_supervisor() -> Supervisor:
    """The process's supervisor; outside an app (a script, a test of one consumer) a
    private one with the defaults, which only logs when it gives up."""
    supervisor = _supervisor.get()
    return Supervisor() if supervisor is None else supervisor


def supervise(
    name: str, worker: Worker, stopping: asyncio.Event | None = None
) -> asyncio.Task[None]:
    """Start `worker` as a task under the current supervisor."""
    return current_supervisor().start(name, worker, stopping)


async def stop_tasks(*tasks: asyncio.Task[None]) -> None:
    """Cancel supervised tasks and wait for them; what they failed with was logged.

    Cancelled again until done: on Python 3.11 `asyncio.wait_for` swallows a cancellation
    that arrives as the awaited thing completes, and the task would run on."""
    for task in tasks:
        while not task.done():
            task.cancel()
            await asyncio.wait((task,), timeout=1.0)
        if not task.cancelled():
            task.exception()  # retrieved here: the supervisor logged it when it gave up
