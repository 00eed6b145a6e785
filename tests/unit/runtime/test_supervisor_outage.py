"""A worker failing because NATS is away is waited for, not counted towards giving up."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from libs.runtime.supervision import Supervisor


def failing(times: int) -> tuple[list[int], Callable[[], Awaitable[None]]]:
    calls: list[int] = []

    async def worker() -> None:
        calls.append(len(calls))
        if len(calls) <= times:
            raise ConnectionError("nats: connection closed")

    return calls, worker


async def test_failures_during_an_outage_do_not_make_it_give_up():
    supervisor = Supervisor(max_restarts=2, first_backoff=0.001, outage=lambda: "NATS is away")
    calls, worker = failing(times=6)
    await supervisor.run("consumer-x", worker)
    assert len(calls) == 7 and not supervisor.gave_up.is_set()
    assert supervisor.readiness() == []  # it returned: not down any more


async def test_the_same_failures_without_an_outage_make_it_give_up():
    supervisor = Supervisor(max_restarts=2, first_backoff=0.001)
    calls, worker = failing(times=6)
    with pytest.raises(ConnectionError):
        await supervisor.run("consumer-x", worker)
    assert len(calls) == 3 and supervisor.gave_up.is_set()
    assert "consumer-x failed 3 times in a row" in (supervisor.failure or "")
