"""Serving the ingest plugin on real uvicorn over loopback, and reading what it published."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

import httpx
import uvicorn

from libs.events import EventBus, LeadImported, decode_event, subject_filter
from libs.runtime.app import build_app
from services.ingest.plugin import build_plugin

HEADER = (
    "business_name,contact_number,contact_name,business_type,company_size,"
    "current_challenges,best_call_time,status\r\n"
)


@asynccontextmanager
async def serving(
    bus: EventBus, environ: Mapping[str, str] | None = None
) -> AsyncIterator[httpx.AsyncClient]:
    settings = {"LEADS_CSV_PATH": "", "INBOX_POLL_SECONDS": "0.05", **(environ or {})}
    settings = {key: value for key, value in settings.items() if value != ""}
    app = build_app([build_plugin(settings)], bus=bus, api_token=None, title="test")
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


async def imported_events(bus: EventBus) -> list[LeadImported]:
    """Every LeadImported on the stream, in order."""
    info = await bus.js.stream_info(bus.stream)
    if info.state.messages == 0:
        return []
    subscription = await bus.js.pull_subscribe(subject_filter(LeadImported), stream=bus.stream)
    events: list[LeadImported] = []
    try:
        while True:
            try:
                messages = await subscription.fetch(500, timeout=0.5)
            except TimeoutError:
                break
            for message in messages:
                event = decode_event(message.data, message.subject)
                assert isinstance(event, LeadImported)
                events.append(event)
            if messages[-1].metadata.num_pending == 0:
                break
    finally:
        await subscription.unsubscribe()
    return events


def csv_body(*rows: str, header: str = HEADER) -> bytes:
    return (header + "".join(row + "\r\n" for row in rows)).encode()
