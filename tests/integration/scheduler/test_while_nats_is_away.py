"""A user's request that cannot be recorded while NATS is away: 503 naming NATS, never 500."""

from __future__ import annotations

from pathlib import Path

from libs.bus import EmbeddedNatsServer, EventBus
from libs.events import LeadOptedOut, subject_filter
from libs.runtime.app import build_app
from services.scheduler.plugin import build_plugin
from tests.support import serving, stored_events


async def test_a_do_not_call_upload_while_nats_is_away_is_refused_with_503(
    tmp_path: Path, log_watch
):
    server = EmbeddedNatsServer(tmp_path / "nats")
    await server.start()
    bus = await EventBus.connect(server.url, name="test", ack_timeout=1.0)
    try:
        await bus.ensure_stream()
        app = build_app([build_plugin({})], bus=bus, api_token=None, title="scheduler")
        upload = {"content": "phone\n+1 202 555 0143\n", "headers": {"content-type": "text/csv"}}
        async with serving(app) as client:
            assert (await client.get("/readyz")).status_code == 200  # started: state rebuilt
            await server.stop()
            await log_watch.wait_for(lambda r: "Disconnected from NATS" in str(r["message"]))
            refused = await client.post("/dnc/upload", **upload)
            assert refused.status_code == 503
            assert refused.json()["detail"].startswith("NATS, the event store, is unavailable")
            assert refused.headers["retry-after"] == "5"

            await server.start()
            await bus.wait_until_connected()
            assert (await client.post("/dnc/upload", **upload)).status_code == 200
        assert len(await stored_events(bus, subject_filter(LeadOptedOut))) == 1
    finally:
        if server.pid is None:
            await server.start()
            await bus.wait_until_connected()
        await bus.close()
        await server.stop()
