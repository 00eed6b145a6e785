"""Serve a Litestar app on real uvicorn over loopback, for as long as a test needs it."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator

import httpx
import uvicorn
from litestar import Litestar
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from libs.bus import EventBus
from libs.events import AnyEvent, decode_event


@contextlib.asynccontextmanager
async def serving(app: Litestar) -> AsyncIterator[httpx.AsyncClient]:
    # Bind and listen before the server starts: requests wait in the backlog, so no polling.
    listening = socket.socket()
    listening.bind(("127.0.0.1", 0))
    listening.listen()
    port = listening.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, lifespan="on"))
    server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign]
    task = asyncio.create_task(server.serve(sockets=[listening]))
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
            yield client
    finally:
        server.should_exit = True
        await task


async def stored_events(bus: EventBus, subject: str) -> list[AnyEvent]:
    """Every event the stream holds on `subject`, in order."""
    config = ConsumerConfig(ack_policy=AckPolicy.NONE, deliver_policy=DeliverPolicy.ALL)
    subscription = await bus.js.pull_subscribe(subject, stream=bus.stream, config=config)
    try:
        remaining = (await subscription.consumer_info()).num_pending
        events: list[AnyEvent] = []
        while remaining:
            batch = await subscription.fetch(remaining, timeout=5)
            remaining -= len(batch)
            events.extend(decode_event(message.data, message.subject) for message in batch)
        return events
    finally:
        await subscription.unsubscribe()
