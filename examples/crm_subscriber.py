"""Follow call outcomes as a CRM would: its own durable consumer on the SALES stream.

Every OutcomeRecorded is printed (or POSTed as JSON to your CRM's webhook with --post)
and acknowledged only after that succeeded, so a crash or a CRM outage loses nothing:
the unacknowledged outcome is delivered again. The consumer is durable: stop this
program and start it again, and it carries on where it left off.

    .venv/bin/python examples/crm_subscriber.py --nats nats://127.0.0.1:4222
    .venv/bin/python examples/crm_subscriber.py --post https://crm.example.com/hooks/calls

The events are plain JSON; `python -m libs.events schema` prints their JSON Schema, so
the same can be written in any language with a NATS client.
"""

from __future__ import annotations

import argparse
import asyncio
import json

import httpx
import nats
from nats.errors import TimeoutError as FetchTimeout
from nats.js.api import AckPolicy, ConsumerConfig

OUTCOMES = "sales.call.*.outcome"


async def follow(nats_url: str, durable: str, post_to: str | None, count: int | None) -> None:
    connection = await nats.connect(nats_url)
    stream = connection.jetstream()
    await stream.add_consumer(
        "SALES",
        ConsumerConfig(
            durable_name=durable,
            filter_subject=OUTCOMES,
            ack_policy=AckPolicy.EXPLICIT,
            max_deliver=10,
        ),
    )
    outcomes = await stream.pull_subscribe_bind(durable=durable, stream="SALES")
    seen = 0
    async with httpx.AsyncClient(timeout=10) as crm:
        while count is None or seen < count:
            try:
                messages = await outcomes.fetch(10, timeout=5)
            except FetchTimeout:
                continue
            for message in messages:
                outcome = json.loads(message.data)
                try:
                    await deliver(outcome, crm, post_to)
                except httpx.HTTPError as exc:
                    print(f"CRM unavailable ({exc}); will retry")
                    await message.nak(delay=30)
                    continue
                await message.ack()
                seen += 1
    await connection.drain()


async def deliver(outcome: dict, crm: httpx.AsyncClient, post_to: str | None) -> None:
    if post_to:
        response = await crm.post(post_to, json=outcome)
        response.raise_for_status()
        return
    meeting = f", meeting {outcome['meeting_time']}" if outcome.get("scheduled_meeting") else ""
    print(
        f"lead {outcome['lead_id']}: {outcome['interest_level']} interest{meeting}; "
        f"next: {outcome['next_steps'] or '-'}; {outcome['conversation_summary']}",
        flush=True,
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nats", default="nats://127.0.0.1:4222", help="NATS URL")
    parser.add_argument("--durable", default="crm", help="this subscriber's consumer name")
    parser.add_argument("--post", help="POST each outcome as JSON to this URL")
    parser.add_argument("--count", type=int, help="stop after this many outcomes")
    arguments = parser.parse_args()
    asyncio.run(follow(arguments.nats, arguments.durable, arguments.post, arguments.count))
