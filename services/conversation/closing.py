"""Closing a call's record: its transcript, then its outcome, each stored only if the
call has none yet. The live call and the sweeper both close calls this way, so whichever
comes first is the call's record and the other's copy is dropped."""

from __future__ import annotations

import asyncio
import itertools
from typing import Literal

import nats.errors
from loguru import logger

from libs.bus import EventBus, PublishError
from libs.events import OutcomeRecorded, TranscriptFinalized

Closed = Literal["stored", "already-closed"]
# Between tries while NATS is away: short at first (a blip), then every few seconds.
BACKOFF_SECONDS = (0.5, 1.0, 2.0, 4.0)


async def close_record(
    bus: EventBus,
    transcript: TranscriptFinalized,
    outcome: OutcomeRecorded,
    *,
    retry_seconds: float,
    closer: str,
) -> Closed:
    """Store the pair; "already-closed" when another closer's transcript came first, and
    then its outcome is left to that closer (a transcript and an outcome from two closers
    would not tell one story). Retries for `retry_seconds`, then raises."""
    if not await _store_first(bus, transcript, retry_seconds):
        logger.info(
            "The call's transcript was already stored: {closer}'s is dropped", closer=closer
        )
        return "already-closed"
    if not await _store_first(bus, outcome, retry_seconds):
        # Only a closer that lost the transcript skips its outcome, so this one is rare:
        # the other closer stored its outcome after our transcript. One outcome either way.
        logger.warning(
            "The call's outcome was already stored: {closer}'s is dropped", closer=closer
        )
    return "stored"


async def _store_first(
    bus: EventBus, event: TranscriptFinalized | OutcomeRecorded, retry_seconds: float
) -> bool:
    """True once stored (a retry of a publish that had landed is a duplicate, so stored
    too); False when the subject already held another."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + retry_seconds
    for attempt in itertools.count():
        try:
            return await bus.publish_if_first(event)
        except (PublishError, nats.errors.Error, TimeoutError) as exc:
            wait = BACKOFF_SECONDS[min(attempt, len(BACKOFF_SECONDS) - 1)]
            if loop.time() + wait > deadline:
                raise
            logger.warning(
                "Storing {kind} failed ({error}); retrying in {wait}s",
                kind=type(event).__name__,
                error=str(exc),
                wait=wait,
            )
            await asyncio.sleep(wait)
    raise AssertionError("itertools.count() does not end")
