"""Telephony costs beside their baselines, in one run.

- Webhooks: signed Twilio status callbacks per second through the real route (signature
  check, four direct gets, publish to JetStream), against `/healthz` on the same server
  with the same client and concurrency.
- Simulated carrier: CPU seconds per call-minute for N concurrent simulated calls (20 ms
  frames paced in real time to a websocket sink in this process), against the same N
  websockets open and idle; and the worst lateness of a frame behind its real-time slot.

    .venv/bin/python benchmarks/telephony.py [--callbacks 600] [--calls 10] [--seconds 8]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import sys
import tempfile
import time
from pathlib import Path
from uuid import uuid4

import httpx
from loguru import logger
from nats.js.errors import NotFoundError
from websockets.asyncio.server import ServerConnection, serve

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from libs.bus import EmbeddedNatsServer, EventBus
from libs.events import STREAM_NAME
from libs.simulation.personas import Persona
from services.telephony.config import TelephonySettings
from services.telephony.plugin import build_telephony_plugin
from services.telephony.simulation.prospect import ProspectOnTheLine
from services.telephony.twilio_provider import TwilioProvider
from tests.integration.telephony.support import (
    ACCOUNT_SID,
    call_request,
    listening_socket,
    serving_plugins,
    signed,
)


async def fresh_stream(bus: EventBus) -> None:
    with contextlib.suppress(NotFoundError):
        await bus.js.delete_stream(STREAM_NAME)
    await bus.ensure_stream()


async def requests_per_second(client: httpx.AsyncClient, make_request, count: int) -> float:
    queue = list(range(count))

    async def worker() -> None:
        while queue:
            response = await make_request(queue.pop())
            response.raise_for_status()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(20)))
    return count / (time.perf_counter() - started)


async def webhook_round(bus: EventBus, count: int) -> tuple[float, float]:
    await fresh_stream(bus)
    listening, port = listening_socket()
    settings = TelephonySettings(
        twilio_account_sid=ACCOUNT_SID,
        twilio_auth_token="0123456789abcdef0123456789abcdef",
        twilio_from_number="+15005550006",
        webhook_base_url=f"https://calls.example.com:{port}",
        twilio_api_base_url="http://127.0.0.1:9",  # never dialled: requests go straight in
    )
    requests = [call_request() for _ in range(count)]
    await bus.publish_many(requests)
    plugin = build_telephony_plugin(settings, TwilioProvider(settings))
    plugin = type(plugin)(name=plugin.name, route_handlers=plugin.route_handlers)  # no worker
    base = f"http://127.0.0.1:{port}"
    async with (
        serving_plugins(bus, [plugin], listening),
        httpx.AsyncClient(base_url=base) as client,
    ):

        async def callback(index: int) -> httpx.Response:
            query = f"call_id={requests[index].call_id}"
            values = {
                "AccountSid": ACCOUNT_SID,
                "CallSid": f"CA{index:032x}",
                "AnsweredBy": "human",
            }
            public = f"{settings.webhook_base_url}/twilio/amd?{query}"
            return await client.post(
                f"/twilio/amd?{query}", data=values, headers=signed(public, values)
            )

        async def probe(index: int) -> httpx.Response:
            return await client.get("/healthz")

        baseline = await requests_per_second(client, probe, count)
        webhooks = await requests_per_second(client, callback, count)
    return webhooks, baseline


class Sink:
    """Reads every message of every stream; notes when each media frame arrived."""

    def __init__(self) -> None:
        self.arrivals: dict[int, list[float]] = {}

    async def handle(self, socket: ServerConnection) -> None:
        arrivals = self.arrivals.setdefault(id(socket), [])
        with contextlib.suppress(Exception):
            async for raw in socket:
                if '"media"' in str(raw)[:20]:
                    arrivals.append(time.perf_counter())


def lateness(arrivals: list[float]) -> float:
    if not arrivals:
        return 0.0
    first = arrivals[0]
    return max(arrival - (first + index * 0.02) for index, arrival in enumerate(arrivals))


async def carrier_round(calls: int, seconds: float, idle: bool) -> tuple[float, float]:
    sink = Sink()
    async with serve(sink.handle, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        hang_up = asyncio.Event()
        persona = Persona(kind="not-interested", lines=("Hello?",), voice_seed=1)
        started_cpu, started = time.process_time(), time.perf_counter()
        if idle:
            from websockets.asyncio.client import connect

            async with contextlib.AsyncExitStack() as stack:
                for _ in range(calls):
                    await stack.enter_async_context(connect(f"ws://127.0.0.1:{port}"))
                await asyncio.sleep(seconds)
        else:
            prospects = [
                ProspectOnTheLine(
                    stream_url=f"ws://127.0.0.1:{port}",
                    account_sid=ACCOUNT_SID,
                    call_sid=f"CA{index:032x}",
                    stream_sid=f"MZ{index:032x}",
                    custom_parameters={"call_id": str(uuid4())},
                    persona=persona,
                    speak=lambda text, seed: b"\x10" * 4000,
                )
                for index in range(calls)
            ]
            asyncio.get_running_loop().call_later(seconds, hang_up.set)
            await asyncio.gather(*(p.run(hang_up, seconds * 2) for p in prospects))
        cpu = time.process_time() - started_cpu
        wall = time.perf_counter() - started
    per_call_minute = cpu / (calls * wall / 60)
    worst = max((lateness(a) for a in sink.arrivals.values()), default=0.0)
    return per_call_minute, worst


async def main(arguments: argparse.Namespace) -> None:
    logger.remove()
    with tempfile.TemporaryDirectory() as directory:
        async with EmbeddedNatsServer(Path(directory)) as server:
            bus = await EventBus.connect(server.url, name="benchmark")
            rounds = [
                await webhook_round(bus, arguments.callbacks) for _ in range(arguments.rounds)
            ]
            await bus.close()
    webhooks = statistics.median(r[0] for r in rounds)
    baseline = statistics.median(r[1] for r in rounds)
    print(f"webhooks: {webhooks:8.0f} signed AMD callbacks/s (verify, 4 gets, publish)")
    print(f"baseline: {baseline:8.0f} GET /healthz/s, same server, same client, 20 in flight")
    print(f"          callbacks run at {webhooks / baseline:.0%} of the probe rate")

    idle = [
        await carrier_round(arguments.calls, arguments.seconds, True)
        for _ in range(arguments.rounds)
    ]
    busy = [
        await carrier_round(arguments.calls, arguments.seconds, False)
        for _ in range(arguments.rounds)
    ]
    idle_cpu = statistics.median(r[0] for r in idle)
    busy_cpu = statistics.median(r[0] for r in busy)
    worst = statistics.median(r[1] for r in busy)
    print(
        f"carrier:  {busy_cpu:6.2f} CPU-s per call-minute with {arguments.calls} calls "
        f"(carrier + sink in one process); worst frame {worst * 1000:.0f} ms behind its slot"
    )
    print(f"baseline: {idle_cpu:6.2f} CPU-s per call-minute for the same websockets left idle")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--callbacks", type=int, default=600)
    parser.add_argument("--calls", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--rounds", type=int, default=3)
    asyncio.run(main(parser.parse_args()))
