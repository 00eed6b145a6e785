"""Serving the ingest plugin on real uvicorn over loopback, and reading what it published."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path

import httpx

from libs.bus import EventBus
from libs.events import LeadImported, decode_event, subject_filter
from libs.runtime.app import build_app
from services.ingest.plugin import build_plugin
from tests.support import serving as serve_app

HEADER = (
    "business_name,contact_number,contact_name,business_type,company_size,"
    "current_challenges,best_call_time,status\r\n"
)


@asynccontextmanager
async def serving(
    bus: EventBus, data_dir: Path, environ: Mapping[str, str] | None = None
) -> AsyncIterator[httpx.AsyncClient]:
    """The ingest plugin with its workers, its drop folder under `data_dir`."""
    settings = {
        "DATA_DIR": str(data_dir),
        "LEADS_CSV_PATH": str(data_dir / "no-leads-at-start.csv"),
        "INBOX_POLL_SECONDS": "0.05",
        **(environ or {}),
    }
    app = build_app([build_plugin(settings)], bus=bus, api_token=None, title="test")
    async with serve_app(app) as client:
        yield client


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


def lead_row(index: int, area_code: int = 202, **cells: str) -> str:
    """A valid row for a fictional lead numbered 0..99 in the 555-01xx range."""
    values = {
        "business_name": f"Business {index}",
        "contact_number": f"({area_code}) 555-01{index:02d}",
        "contact_name": f"Contact {index}",
        "business_type": "Retail",
        "company_size": "small",
        "current_challenges": "Too many missed calls",
        "best_call_time": "9am-11am",
        "status": "",
        **cells,
    }
    return ",".join(values.values())


async def stream_messages(bus: EventBus) -> int:
    return (await bus.js.stream_info(bus.stream)).state.messages


CSV = {"content-type": "text/csv"}
