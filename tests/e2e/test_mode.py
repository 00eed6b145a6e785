"""One explicit mode: real processes refuse to start half-configured, or in another mode
than the one the stream records, and say which variable is at fault."""

from __future__ import annotations

import asyncio
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from uuid import uuid4

import pytest

from libs.bus import EventBus
from libs.events import ModeRecorded
from tests.integration.telephony.support import FakeTwilioApi, listening_socket, serving_asgi

ROOT = Path(__file__).parents[2]
LIVE_TWILIO = {
    "MODE": "live",
    "TWILIO_ACCOUNT_SID": "AC" + "0123456789abcdef" * 2,
    "TWILIO_AUTH_TOKEN": "0123456789abcdef0123456789abcdef",
    "TWILIO_FROM_NUMBER": "+15005550006",
    "WEBHOOK_BASE_URL": "https://calls.example.com",
}
LIVE_VOICES = {
    **LIVE_TWILIO,
    "DEEPGRAM_API_KEY": "deepgram-key",
    "GOOGLE_API_KEY": "google-key",
    "CARTESIA_API_KEY": "cartesia-key",
    "AGENT_NAME": "Sam",
    "AGENT_COMPANY": "Northwind Reception",
    "CALLBACK_NUMBER": "+1 415 200 7000",
}
AGENT_IDENTITY = ("AGENT_NAME", "AGENT_COMPANY", "CALLBACK_NUMBER")


async def start(module: str, environ: dict[str, str], tmp_path: Path) -> tuple[int, str]:
    """Run `python -m <module>` until it exits (it must, within seconds); its code and stderr."""
    clean = {k: v for k, v in os.environ.items() if k not in LIVE_VOICES and k != "SIMULATION"}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        module,
        cwd=tmp_path,  # no .env here
        env={**clean, "PYTHONPATH": str(ROOT), "DATA_DIR": str(tmp_path), "PORT": "0", **environ},
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(60):
        _, stderr = await process.communicate()
    assert process.returncode is not None
    return process.returncode, stderr.decode()


@pytest.mark.parametrize(
    ("module", "environ", "named"),
    [
        *(
            (
                "services.telephony",
                {k: v for k, v in LIVE_TWILIO.items() if k != missing},
                f"{missing} is missing",
            )
            for missing in ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_FROM_NUMBER")
        ),
        (
            "services.telephony",
            {**LIVE_TWILIO, "WEBHOOK_BASE_URL": "http://calls.example.com"},
            "WEBHOOK_BASE_URL must be the public https:// address",
        ),
        (
            "services.conversation",
            {k: v for k, v in LIVE_VOICES.items() if k != "CARTESIA_API_KEY"},
            "CARTESIA_API_KEY is missing (needed by conversation)",
        ),
        (
            "services",
            {k: v for k, v in LIVE_VOICES.items() if k != "GOOGLE_API_KEY"},
            "GOOGLE_API_KEY is missing (needed by conversation)",
        ),
        (
            "services.conversation",
            {**LIVE_VOICES, "CALLBACK_NUMBER": "+1 555 010 0199"},
            "CALLBACK_NUMBER is '+1 555 010 0199', a fictional 555 number",
        ),
        (
            "services.scheduler",
            {"TWILIO_ACCOUNT_SID": LIVE_TWILIO["TWILIO_ACCOUNT_SID"]},
            "MODE is unset but TWILIO_ACCOUNT_SID is set: set MODE=live",
        ),
        ("services.ingest", {"MODE": "production"}, "MODE must be simulation or live"),
    ],
)
async def test_a_half_configured_process_exits_naming_the_variable(
    module, environ, named, tmp_path
):
    code, stderr = await start(module, environ, tmp_path)
    assert code != 0
    assert named in stderr


async def test_a_live_agent_without_its_identity_exits_naming_each_variable(tmp_path):
    environ = {k: v for k, v in LIVE_VOICES.items() if k not in AGENT_IDENTITY}
    code, stderr = await start("services.conversation", environ, tmp_path)
    assert code == 2
    for name in AGENT_IDENTITY:
        assert f"{name} is missing (needed by conversation)" in stderr


async def test_a_simulated_scheduler_refuses_a_stream_that_records_live(bus: EventBus, tmp_path):
    recorded = ModeRecorded(
        event_id=uuid4(), occurred_at=datetime.now(UTC), mode="live", recorded_by="telephony"
    )
    assert await bus.publish_if_first(recorded)
    code, stderr = await start(
        "services.scheduler",
        {"MODE": "simulation", "NATS_URL": bus.nc.connected_url.geturl()},
        tmp_path,
    )
    assert code != 0
    assert "the SALES stream records MODE=live (set by telephony" in stderr
    assert "this scheduler process runs MODE=simulation" in stderr


async def test_only_the_first_process_records_the_mode(bus: EventBus):
    def claim(mode: str) -> ModeRecorded:
        return ModeRecorded(
            event_id=uuid4(), occurred_at=datetime.now(UTC), mode=mode, recorded_by="test"
        )

    first, second = await asyncio.gather(
        bus.publish_if_first(claim("simulation")), bus.publish_if_first(claim("live"))
    )
    assert sorted([first, second]) == [False, True]
    assert (await bus.last_event("sales.system.mode")).mode == ("simulation" if first else "live")


async def test_live_telephony_with_refused_credentials_exits_naming_the_fix(
    bus: EventBus, tmp_path
):
    fake = FakeTwilioApi(refuse_credentials=True)
    api_socket, api_port = listening_socket()
    async with serving_asgi(fake.app(), api_socket):
        code, stderr = await start(
            "services.telephony",
            {
                **LIVE_TWILIO,
                "TWILIO_API_BASE_URL": f"http://127.0.0.1:{api_port}",
                "NATS_URL": bus.nc.connected_url.geturl(),
            },
            tmp_path,
        )
    assert code != 0  # uvicorn exits 3 when a service fails to start
    assert "TWILIO_ACCOUNT_SID/TWILIO_AUTH_TOKEN: Twilio refused them (HTTP 401)" in stderr
    assert fake.creates == []


@pytest.mark.parametrize(
    "module",
    ["services.ingest", "services.scheduler", "services.telephony", "services.conversation",
     "services.analytics", "services"],
)  # fmt: skip
async def test_every_entry_point_refuses_to_listen_publicly_without_a_token(module, tmp_path):
    environ = {"HOST": "0.0.0.0", "API_TOKEN": "", "SIMULATION_AUTH_TOKEN": "shared-token"}
    code, stderr = await start(module, environ, tmp_path)
    assert code == 2
    assert "refusing to listen on '0.0.0.0' without API_TOKEN" in stderr


async def test_conversation_without_a_key_for_stream_tokens_refuses_to_start(tmp_path):
    # Run alone in simulation, it shares no auth token with telephony: every stream
    # would be refused, so it says what to set instead of starting.
    code, stderr = await start("services.conversation", {}, tmp_path)
    assert code != 0
    assert "MEDIA_STREAM_SECRET" in stderr and "SIMULATION_AUTH_TOKEN" in stderr
