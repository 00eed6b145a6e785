"""Twilio's callbacks while NATS is away: answered 2xx, kept on disk, stored once it is back,
even by a telephony process started after the one that received them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from libs.bus import EmbeddedNatsServer, EventBus
from libs.events import CallCompleted, subject_for
from services.telephony.webhook_outbox import OUTBOX_FILE
from tests.integration.telephony.support import FakeTwilioApi, telephony_against, wait_for_event
from tests.integration.telephony.test_webhooks import Webhooks, call_facts, params, placed_call

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:twilio.*")

ANSWERED_AND_COMPLETED = [
    ("/twilio/status", params("ringing")),
    ("/twilio/status", params("in-progress")),
    ("/twilio/amd", params(AnsweredBy="human")),
    ("/twilio/status", params("completed", CallDuration="42")),
]
FACTS = [
    ("CallRequested", None),
    ("CallDialing", None),
    ("CallPlaced", None),
    ("AnswerClassified", ("human", None)),
    ("CallAnswered", "human"),
    ("CallCompleted", 42.0),
]


@pytest.fixture
async def away_and_back(tmp_path: Path) -> AsyncIterator[tuple[EmbeddedNatsServer, EventBus]]:
    """A server of the test's own, to stop and start again on the same port and store."""
    server = EmbeddedNatsServer(tmp_path / "nats")
    await server.start()
    bus = await EventBus.connect(server.url, name="test")
    await bus.ensure_stream()
    try:
        yield server, bus
    finally:
        if server.pid is None:
            await server.start()
            await bus.wait_until_connected()
        await bus.close()
        await server.stop()


def said(text: str, times: int = 1):
    def seen(watch) -> bool:
        return sum(text in str(record["message"]) for record in watch.records) >= times

    return seen


async def test_callbacks_while_nats_is_away_are_answered_and_stored_once_it_is_back(
    away_and_back, tmp_path: Path, log_watch
):
    server, bus = away_and_back
    data_dir = tmp_path / "data"
    outbox = data_dir / OUTBOX_FILE
    fake = FakeTwilioApi()
    async with (
        telephony_against(bus, fake, data_dir=str(data_dir)) as settings,
        httpx.AsyncClient() as client,
    ):
        request, hooks = await placed_call(bus, settings, client)
        await server.stop()
        await log_watch.wait_for(lambda r: "Disconnected from NATS" in str(r["message"]))
        codes = [
            (await hooks.post(path, values)).status_code for path, values in ANSWERED_AND_COMPLETED
        ]
        assert codes == [204] * 4
        assert len(outbox.read_text().splitlines()) == 4

        await server.start()
        await log_watch.wait_for(lambda r: said("Replayed a kept Twilio", 4)(log_watch), timeout=60)
        await wait_for_event(bus, subject_for(CallCompleted, request.call_id))
        assert await call_facts(bus, request) == FACTS
        assert outbox.read_text() == ""

        # A webhook now goes straight through again, and changes nothing already stored.
        assert (await hooks.post(*ANSWERED_AND_COMPLETED[-1])).status_code == 204
        assert await call_facts(bus, request) == FACTS


async def test_kept_callbacks_survive_a_restart_of_telephony_before_nats_is_back(
    away_and_back, tmp_path: Path, log_watch
):
    server, bus = away_and_back
    data_dir = tmp_path / "data"
    fake = FakeTwilioApi()
    first_process = await EventBus.connect(server.url, name="telephony")  # its own connection
    async with (
        telephony_against(first_process, fake, data_dir=str(data_dir)) as settings,
        httpx.AsyncClient() as client,
    ):
        request, hooks = await placed_call(bus, settings, client)
        await server.stop()
        await log_watch.wait_for(lambda r: "Disconnected from NATS" in str(r["message"]))
        for path, values in ANSWERED_AND_COMPLETED:
            assert (await hooks.post(path, values)).status_code == 204
    await first_process.close()
    # That process is gone; what it accepted is in the file.
    assert len((data_dir / OUTBOX_FILE).read_text().splitlines()) == 4

    await server.start()
    async with (
        telephony_against(bus, fake, data_dir=str(data_dir)) as settings,
        httpx.AsyncClient() as client,
    ):
        await log_watch.wait_for(lambda r: said("Replayed a kept Twilio", 4)(log_watch), timeout=60)
        await wait_for_event(bus, subject_for(CallCompleted, request.call_id))
        assert await call_facts(bus, request) == FACTS
        assert (data_dir / OUTBOX_FILE).read_text() == ""


async def test_an_unsigned_callback_is_refused_even_while_nats_is_away(
    away_and_back, tmp_path: Path, log_watch
):
    server, bus = away_and_back
    data_dir = tmp_path / "data"
    async with (
        telephony_against(bus, FakeTwilioApi(), data_dir=str(data_dir)) as settings,
        httpx.AsyncClient() as client,
    ):
        request, _ = await placed_call(bus, settings, client)
        await server.stop()
        await log_watch.wait_for(lambda r: "Disconnected from NATS" in str(r["message"]))
        hooks = Webhooks(settings, client, request.call_id)
        forged = await hooks.post("/twilio/status", params("completed"), headers={})
        assert forged.status_code == 403
        assert not (data_dir / OUTBOX_FILE).exists()
