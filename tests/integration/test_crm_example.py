"""The CRM example, run as an integrator would run it, against a real stream."""

import asyncio
import sys
from pathlib import Path

from tests.factories import one_of_each_event

EXAMPLE = Path(__file__).parents[2] / "examples" / "crm_subscriber.py"


async def test_the_crm_example_prints_each_outcome(bus, nats_server):
    await bus.publish_many(one_of_each_event())
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(EXAMPLE),
        "--nats",
        nats_server.url,
        "--count",
        "1",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 0, stderr.decode()
    assert stdout.decode().splitlines() == [
        "lead 00000000-0000-4000-8000-000000000001: high interest, meeting "
        "2026-03-04T15:30:00.123456Z; next: Send the calendar invite; Keen on a demo"
    ]
