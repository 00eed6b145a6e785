"""The bus: publish events to the SALES stream and look up the latest fact on a subject."""

from __future__ import annotations

import asyncio
import contextlib
import re
import ssl
from collections.abc import Iterable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import nats
import nats.errors
from loguru import logger
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, StorageType, StreamConfig
from nats.js.errors import NotFoundError

from libs.bus.acks import AckInbox, PublishRefusedError, Stored
from libs.bus.permissions import inbox_prefix, stream_created_advisory
from libs.events.codec import decode_event, encode_event
from libs.events.model import AnyEvent, Event
from libs.events.subjects import ALL_SUBJECTS, STREAM_NAME

MSG_ID_HEADER = "Nats-Msg-Id"
EXPECTED_LAST_SUBJECT_SEQUENCE = "Nats-Expected-Last-Subject-Sequence"
WRONG_LAST_SEQUENCE = 10071  # JetStream's err_code when that expectation fails
# How nats-py reports the server's refusal of a publish this user may not make.
_DENIED_PUBLISH = re.compile(r'permissions violation for publish to "([^"]+)"', re.IGNORECASE)


def _credentials(user: str | None, password: str | None, tls_ca: Path | None) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if user is not None:
        options.update(user=user, password=password, inbox_prefix=inbox_prefix(user))
    if tls_ca is not None:
        options["tls"] = ssl.create_default_context(cafile=str(tls_ca))
    return options


class PublishError(RuntimeError):
    """Some events were not acknowledged by JetStream. Republishing all of them is safe:
    JetStream drops the ones it already stored (same event_id, within the duplicate window)."""

    def __init__(self, failed: Sequence[tuple[Event, BaseException]], total: int) -> None:
        first_event, first_error = failed[0]
        super().__init__(
            f"{len(failed)} of {total} events were not stored; first: {first_event.subject} "
            f"({type(first_error).__name__}: {first_error})"
        )
        self.failed = list(failed)


class EventBus:
    """Publishes typed events with their id as `Nats-Msg-Id`, and reads them back."""

    def __init__(
        self,
        nc: NATS,
        *,
        stream: str = STREAM_NAME,
        ack_timeout: float = 10.0,
        max_pending_publishes: int = 4000,
    ) -> None:
        self.nc = nc
        self.js: JetStreamContext = nc.jetstream()
        self._acks = AckInbox(nc)
        self.max_pending_publishes = max_pending_publishes
        self.stream = stream
        self.ack_timeout = ack_timeout
        self._connected = asyncio.Event()  # kept by connect's callbacks
        if nc.is_connected:
            self._connected.set()

    @classmethod
    async def connect(
        cls,
        url: str,
        *,
        name: str,
        stream: str = STREAM_NAME,
        ack_timeout: float = 10.0,
        user: str | None = None,
        password: str | None = None,
        tls_ca: Path | None = None,
    ) -> EventBus:
        """Connect, reconnecting forever: a restarted NATS must not take a service down.

        As `user`, replies come to that user's own inbox subjects (`_INBOX_<user>.`), the
        only ones its permissions let it hear. `tls_ca` verifies the server's certificate."""

        bus: EventBus | None = None

        async def on_error(exc: Exception) -> None:
            logger.warning("NATS connection error: {error}", error=str(exc))
            if bus is not None and (denied := _DENIED_PUBLISH.search(str(exc))):
                bus._acks.deny(denied.group(1))

        async def on_disconnected() -> None:
            if bus is not None:
                bus._connected.clear()
            if not (nc.is_closed or nc.is_draining):
                logger.warning("Disconnected from NATS; reconnecting")

        async def on_reconnected() -> None:
            if bus is not None:
                bus._connected.set()
            url = nc.connected_url
            # Host and port only: a NATS_URL may carry user:password@.
            logger.info("Reconnected to NATS at {host}:{port}", host=url.hostname, port=url.port)

        nc = await nats.connect(
            # NATS_URL may list a cluster's nodes, comma-separated: any of them will do.
            [server.strip() for server in url.split(",") if server.strip()],
            name=name,
            max_reconnect_attempts=-1,
            reconnect_time_wait=1,
            error_cb=on_error,
            disconnected_cb=on_disconnected,
            reconnected_cb=on_reconnected,
            **_credentials(user, password, tls_ca),
        )
        bus = cls(nc, stream=stream, ack_timeout=ack_timeout)
        return bus

    async def ensure_stream(
        self, *, replicas: int = 1, duplicate_window: timedelta = timedelta(minutes=2)
    ) -> None:
        """Create the stream, or bring an existing one's settings in line with ours."""
        config = StreamConfig(
            name=self.stream,
            subjects=[ALL_SUBJECTS],
            storage=StorageType.FILE,
            num_replicas=replicas,
            duplicate_window=duplicate_window.total_seconds(),
            allow_direct=True,  # direct get: any replica answers "latest fact about X"
        )
        try:
            await self.js.stream_info(self.stream)
        except NotFoundError:
            await self.js.add_stream(config)
            logger.info(
                "Created stream {stream} (replicas={replicas})",
                stream=self.stream,
                replicas=replicas,
            )
        else:
            await self.js.update_stream(config)

    async def wait_for_stream(self, *, manager: str, recheck: float = 30.0) -> None:
        """Wait until the stream exists, for a process that may not create it: the server
        announces a new stream; an announcement missed while reconnecting is caught by
        looking again every `recheck` seconds."""
        created = asyncio.Event()

        async def on_created(_: Msg) -> None:
            created.set()

        subscription = await self.nc.subscribe(stream_created_advisory(self.stream), cb=on_created)
        try:
            while not await self.has_stream():
                logger.info(
                    "Waiting for {manager} to create the {stream} stream",
                    manager=manager,
                    stream=self.stream,
                )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(created.wait(), recheck)
                created.clear()
        finally:
            await subscription.unsubscribe()

    async def has_stream(self) -> bool:
        try:
            await self.js.stream_info(self.stream)
        except NotFoundError:
            return False
        return True

    async def publish(self, event: Event) -> Stored:
        """Publish one event and wait until JetStream has stored it."""
        [stored] = await self.publish_many((event,))
        return stored

    async def publish_many(self, events: Iterable[Event]) -> list[Stored]:
        """Publish pipelined, then check every ack; raise if any event was not stored."""
        batch = list(events)
        pending: list[asyncio.Future[Stored]] = []
        replies: list[str] = []
        failed: list[tuple[Event, BaseException]] = []
        try:
            for index, event in enumerate(batch):
                if index >= self.max_pending_publishes:
                    await self._wait_for_ack(pending[index - self.max_pending_publishes])
                reply_to, future = await self._acks.reply_to(event.subject)
                try:
                    await self.nc.publish(
                        event.subject,
                        encode_event(event),
                        reply=reply_to,
                        headers={MSG_ID_HEADER: str(event.event_id)},
                    )
                except BaseException:
                    self._acks.forget(reply_to)  # never sent: no ack will come
                    raise
                pending.append(future)
                replies.append(reply_to)
        except (nats.errors.Error, TimeoutError) as exc:  # stalled, or the connection dropped
            failed.extend((event, exc) for event in batch[len(pending) :])
        await self._wait_for_all(pending)
        stored: list[Stored] = []
        for event, future, reply_to in zip(batch, pending, replies, strict=False):
            if not future.done():
                self._acks.forget(reply_to)
                failed.append((event, TimeoutError(f"no ack within {self.ack_timeout}s")))
            elif (error := future.exception()) is not None:
                failed.append((event, error))
            else:
                stored.append(future.result())
        if failed:
            raise PublishError(failed, total=len(batch))
        return stored

    async def publish_if_first(self, event: Event) -> bool:
        """Store the event only if its subject holds nothing yet: compare-and-set, so of
        several processes racing to record the same kind of fact exactly one wins."""
        return await self.publish_if_last(event, 0)

    async def publish_if_last(self, event: Event, sequence: int) -> bool:
        """Store the event only if the latest message on its subject is still the one at
        stream `sequence` (0: none): of several processes that read the subject and race
        to write it, exactly one wins; the others get False."""
        reply_to, future = await self._acks.reply_to(event.subject)
        headers = {
            MSG_ID_HEADER: str(event.event_id),
            EXPECTED_LAST_SUBJECT_SEQUENCE: str(sequence),
        }
        await self.nc.publish(event.subject, encode_event(event), reply=reply_to, headers=headers)
        try:
            async with asyncio.timeout(self.ack_timeout):
                await future
        except PublishRefusedError as exc:
            if exc.err_code == WRONG_LAST_SEQUENCE:
                return False
            raise
        except TimeoutError:
            self._acks.forget(reply_to)
            raise PublishError([(event, TimeoutError("no ack"))], total=1) from None
        return True

    async def _wait_for_all(self, pending: list[asyncio.Future[Stored]]) -> None:
        # Acks come back nearly in order, so by the time the last publish is out most are
        # in: wait only on the stragglers, against one deadline for the whole batch.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.ack_timeout
        for future in pending:
            if not future.done():
                remaining = deadline - loop.time()
                if remaining <= 0:
                    return
                await asyncio.wait((future,), timeout=remaining)

    async def _wait_for_ack(self, oldest: asyncio.Future[Stored]) -> None:
        # Bounds the publishes in flight: a stalled server fails the batch, not the process.
        if not oldest.done():
            await asyncio.wait((oldest,), timeout=self.ack_timeout)
            if not oldest.done():
                raise TimeoutError(f"JetStream stalled: no ack within {self.ack_timeout}s")

    async def last_event(self, subject: str) -> AnyEvent | None:
        """The latest event stored on a subject, e.g. `subject_for(CallRequested, call_id)`."""
        try:
            message = await self.js.get_last_msg(self.stream, subject, direct=True)
        except NotFoundError:
            return None
        return decode_event(message.data or b"", subject)

    async def last_stored(self, subject: str) -> tuple[AnyEvent, int] | None:
        """The latest event on a subject with its stream sequence, for publish_if_last."""
        try:
            message = await self.js.get_last_msg(self.stream, subject, direct=True)
        except NotFoundError:
            return None
        return decode_event(message.data or b"", subject), message.seq or 0

    async def events_so_far(self, *subjects: str) -> list[AnyEvent]:
        """Every event stored on `subjects` up to now, in stream order, read by a
        short-lived consumer: for rare questions not worth a projection of their own."""
        config = ConsumerConfig(
            ack_policy=AckPolicy.NONE,
            deliver_policy=DeliverPolicy.ALL,
            inactive_threshold=30.0,
            mem_storage=True,
        )
        # One subject goes in the consumer's create call, where a permission can pin it.
        filter_subject = subjects[0] if len(subjects) == 1 else ""
        if not filter_subject:
            config.filter_subjects = list(subjects)
        subscription = await self.js.pull_subscribe(
            filter_subject, stream=self.stream, config=config
        )
        events: list[AnyEvent] = []
        try:
            remaining = (await subscription.consumer_info()).num_pending
            while remaining > 0:
                batch = await subscription.fetch(min(remaining, 512), timeout=5)
                remaining -= len(batch)
                events.extend(decode_event(message.data, message.subject) for message in batch)
        finally:
            await subscription.unsubscribe()
        return events

    @property
    def is_connected(self) -> bool:
        return self.nc.is_connected

    async def wait_until_connected(self) -> None:
        """Return once the connection is up (at once if it is)."""
        if not self.nc.is_connected:
            await self._connected.wait()

    async def close(self) -> None:
        """Flush what is pending (acks included) and close."""
        if self.nc.is_closed:
            return
        await self._acks.close()
        if self.nc.is_reconnecting:
            # NATS is away: nothing can be flushed to it, and draining would refuse. What
            # was buffered for it is lost with the connection (the transport says so).
            with contextlib.suppress(OSError):
                await self.nc.close()
            return
        await self.nc.drain()
