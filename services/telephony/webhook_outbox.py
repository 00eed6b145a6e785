"""Twilio's webhooks kept on disk while NATS is away, and replayed once it is back.

Twilio does not reliably retry a status callback that failed, so a verified webhook that
cannot be turned into events now (NATS disconnected, a publish not acknowledged, a read of
the call's facts timing out) is appended to DATA_DIR/outbox/telephony-webhooks.jsonl,
fsynced, and answered 2xx. While anything is kept, newer webhooks are kept behind it, so
that the flusher replays them in the order they arrived, through the same handlers, and
removes each once it is applied. Replaying twice is harmless: the events' ids are
deterministic, and the handlers read the call's progress from the stream first.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import os
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl
from uuid import UUID

import msgspec
import nats.errors
from litestar import Request
from litestar.datastructures import URL, Headers
from litestar.exceptions import HTTPException
from litestar.handlers import HTTPRouteHandler
from loguru import logger

from libs.bus import EventBus, PublishError
from libs.runtime.security import TWILIO_SIGNATURE_HEADER
from libs.runtime.supervision import mark_running

# What "NATS is unavailable" looks like from a handler: the request may succeed later.
NATS_UNAVAILABLE: tuple[type[Exception], ...] = (nats.errors.Error, PublishError, TimeoutError)
OUTBOX_FILE = Path("outbox") / "telephony-webhooks.jsonl"  # under DATA_DIR
_LONGEST_PAUSE = 5.0  # between replays while NATS answers but does not yet store


class KeptWebhook(msgspec.Struct, frozen=True, kw_only=True):
    path: str
    query: str  # as received, so that the signature checks again on replay
    base_url: str  # the public base it was signed for, should WEBHOOK_BASE_URL change
    params: dict[str, str]
    signature: str
    call_id: UUID
    received_at: datetime  # on the telephony clock: the time the facts happened


class KeptRequest:
    """A kept webhook as its handler reads a request: form, signature header, URL, query."""

    def __init__(self, webhook: KeptWebhook) -> None:
        self.webhook = webhook
        self.headers = Headers({TWILIO_SIGNATURE_HEADER: webhook.signature})
        self.scope = {"query_string": webhook.query.encode("latin-1")}
        self.url = URL.from_components(path=webhook.path, query=webhook.query)
        self.query_params = dict(parse_qsl(webhook.query))

    async def form(self) -> dict[str, str]:
        return dict(self.webhook.params)


class WebhookOutbox:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._kept: list[KeptWebhook] = self._load()
        self._writing = asyncio.Lock()
        self._arrived = asyncio.Event()
        if self._kept:
            logger.warning(
                "{count} Twilio webhooks kept in {path} from before: replaying them once NATS "
                "is available",
                count=len(self._kept),
                path=str(path),
            )

    @property
    def kept(self) -> int:
        return len(self._kept)

    def _load(self) -> list[KeptWebhook]:
        if not self.path.is_file():
            return []
        kept = []
        decoder = msgspec.json.Decoder(KeptWebhook)
        for number, line in enumerate(self.path.read_bytes().splitlines(), start=1):
            if not line.strip():
                continue
            try:
                kept.append(decoder.decode(line))
            except msgspec.DecodeError as exc:
                # Only a write cut short by a crash can leave such a line: it was never
                # answered 2xx, so Twilio saw the failure.
                logger.error(
                    "Skipping line {number} of {path}: {error}",
                    number=number,
                    path=str(self.path),
                    error=str(exc),
                )
        return kept

    async def keep(self, webhook: KeptWebhook) -> None:
        """Append and fsync: once this returns, the webhook survives a crash."""
        line = msgspec.json.encode(webhook) + b"\n"
        async with self._writing:
            await asyncio.to_thread(self._append, line)
            self._kept.append(webhook)
        self._arrived.set()
        with logger.contextualize(call_id=str(webhook.call_id)):
            logger.warning(
                "NATS unavailable: kept Twilio {path} ({status}) for replay, {count} waiting",
                path=webhook.path,
                status=webhook.params.get("CallStatus") or webhook.params.get("AnsweredBy", "?"),
                count=len(self._kept),
            )

    def _append(self, line: bytes) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("ab") as file:
            file.write(line)
            file.flush()
            os.fsync(file.fileno())

    async def _applied(self, webhook: KeptWebhook) -> None:
        async with self._writing:
            self._kept.remove(webhook)
            content = b"".join(msgspec.json.encode(kept) + b"\n" for kept in self._kept)
            await asyncio.to_thread(self._rewrite, content)

    def _rewrite(self, content: bytes) -> None:
        # A new file, then a rename: a crash leaves the old list or the new one, never half.
        partial = self.path.with_name(f".{self.path.name}.partial")
        with partial.open("wb") as file:
            file.write(content)
            file.flush()
            os.fsync(file.fileno())
        os.replace(partial, self.path)
        directory = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)

    async def flush_forever(
        self, bus: EventBus, replay: Callable[[KeptWebhook], Awaitable[None]]
    ) -> None:
        """Replay what is kept, oldest first, whenever NATS is available."""
        pause = 0.2
        while True:
            mark_running()
            if not self._kept:
                self._arrived.clear()
                await self._arrived.wait()
                continue
            await bus.wait_until_connected()
            webhook = self._kept[0]
            with logger.contextualize(call_id=str(webhook.call_id)):
                try:
                    await replay(webhook)
                except NATS_UNAVAILABLE as exc:
                    logger.info("Replay of a kept webhook waits for NATS: {error}", error=str(exc))
                    await asyncio.sleep(pause)  # connected, but JetStream not storing yet
                    pause = min(pause * 2, _LONGEST_PAUSE)
                    continue
                except HTTPException as exc:
                    # What a live request would have been refused for (a call not ours):
                    # replaying it again cannot change that.
                    logger.error(
                        "Dropped a kept Twilio {path}: {status} {detail}",
                        path=webhook.path,
                        status=exc.status_code,
                        detail=exc.detail,
                    )
                else:
                    logger.info("Replayed a kept Twilio {path}", path=webhook.path)
                pause = 0.2
                await self._applied(webhook)


Verify = Callable[[Request[Any, Any, Any], Any], Awaitable[dict[str, str]]]
CallIdOf = Callable[[Request[Any, Any, Any]], UUID]
Handler = Callable[..., Awaitable[None]]


def keeper(verify: Verify, call_id_of: CallIdOf) -> Callable[[Handler], Handler]:
    """Wraps a webhook handler `(request, telephony, bus)`: when NATS is unavailable, or
    webhooks are already waiting, a verified webhook is kept and answered as handled."""

    def wrap(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def kept(request: Any, telephony: Any, bus: EventBus) -> None:
            outbox: WebhookOutbox | None = telephony.outbox
            if outbox is None or isinstance(request, KeptRequest):
                # A replay: a failure goes back to the flusher, which keeps the webhook.
                await handler(request=request, telephony=telephony, bus=bus)
                return
            if not outbox.kept and bus.is_connected:
                try:
                    await handler(request=request, telephony=telephony, bus=bus)
                    return
                except NATS_UNAVAILABLE as exc:
                    logger.warning(
                        "Twilio {path} could not reach NATS: {error}",
                        path=request.url.path,
                        error=str(exc),
                    )
            # Only what Twilio signed is kept (a forged webhook is still a 403).
            params = await verify(request, telephony)
            await outbox.keep(
                KeptWebhook(
                    path=request.url.path,
                    base_url=telephony.settings.public_base_url,
                    query=request.scope.get("query_string", b"").decode("latin-1"),
                    params=params,
                    signature=request.headers.get(TWILIO_SIGNATURE_HEADER, ""),
                    call_id=call_id_of(request),
                    received_at=telephony.clock(),
                )
            )

        return kept

    return wrap


def replayer(
    routes: Sequence[HTTPRouteHandler], telephony: Any, bus: EventBus
) -> Callable[[KeptWebhook], Awaitable[None]]:
    """Replays a kept webhook through the route it came to, as it arrived: at its time,
    its signature checked against the address it was sent to."""
    handlers: Mapping[str, Handler] = {path: route.fn for route in routes for path in route.paths}

    async def replay(webhook: KeptWebhook) -> None:
        settings = msgspec.structs.replace(telephony.settings, webhook_base_url=webhook.base_url)
        at_arrival = dataclasses.replace(
            telephony, settings=settings, clock=lambda: webhook.received_at
        )
        await handlers[webhook.path](request=KeptRequest(webhook), telephony=at_arrival, bus=bus)

    return replay
