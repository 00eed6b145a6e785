"""JetStream publish acks, matched to their publishes through one reply subscription.

nats-py's `publish_async` does the same job, but it loses a JetStream error reply (it
raises inside its reply callback and the future never resolves) and parses every ack
with `json.loads` plus a dataclass walk. Here an ack is one msgspec decode, and a refusal
resolves its future with the server's own reason.
"""

from __future__ import annotations

import asyncio
import itertools

import msgspec
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription


class Stored(msgspec.Struct, frozen=True):
    """JetStream's receipt: where the event sits, and whether it was already there."""

    stream: str
    seq: int
    duplicate: bool = False


class PublishRefusedError(RuntimeError):
    """JetStream answered, and said no (stream full, wrong stream, no stream...)."""

    def __init__(self, code: int, description: str, err_code: int = 0) -> None:
        super().__init__(f"JetStream refused the event: {description} (code {code})")
        self.code, self.description, self.err_code = code, description, err_code


class PublishDeniedError(RuntimeError):
    """The server would not take the publish at all: this connection's user may not
    publish on the subject (deploy/nats/permissions.conf), so no ack will ever come."""

    def __init__(self, subject: str) -> None:
        super().__init__(f"not permitted to publish to {subject}")
        self.subject = subject


class _ApiError(msgspec.Struct):
    code: int = 0
    err_code: int = 0
    description: str = ""


class _Reply(msgspec.Struct):
    stream: str = ""
    seq: int = 0
    duplicate: bool = False
    error: _ApiError | None = None


_reply_decoder = msgspec.json.Decoder(_Reply)


class AckInbox:
    """Hands out reply subjects and resolves each one's future when its ack arrives."""

    def __init__(self, nc: NATS) -> None:
        self._nc = nc
        self._prefix = ""
        self._subscription: Subscription | None = None
        self._waiting: dict[str, asyncio.Future[Stored]] = {}
        self._subjects: dict[str, str] = {}  # token -> the subject published on
        self._tokens = itertools.count()
        self._lock = asyncio.Lock()

    async def reply_to(self, subject: str) -> tuple[str, asyncio.Future[Stored]]:
        """A reply subject for one publish on `subject`, and the future its ack resolves."""
        if self._subscription is None:
            await self._subscribe()
        token = str(next(self._tokens))
        future: asyncio.Future[Stored] = asyncio.get_running_loop().create_future()
        self._waiting[token] = future
        self._subjects[token] = subject
        return f"{self._prefix}{token}", future

    def forget(self, reply_to: str) -> None:
        """Stop waiting for an ack that timed out or was never asked for."""
        future = self._pop(reply_to[len(self._prefix) :])
        if future is not None and not future.done():
            future.cancel()

    def deny(self, subject: str) -> None:
        """The server refused publishes on `subject`: fail them now, not at the timeout."""
        for token in [t for t, published in self._subjects.items() if published == subject]:
            future = self._pop(token)
            if future is not None and not future.done():
                future.set_exception(PublishDeniedError(subject))

    def _pop(self, token: str) -> asyncio.Future[Stored] | None:
        self._subjects.pop(token, None)
        return self._waiting.pop(token, None)

    async def _subscribe(self) -> None:
        async with self._lock:
            if self._subscription is None:
                self._prefix = f"{self._nc.new_inbox()}."
                self._subscription = await self._nc.subscribe(
                    f"{self._prefix}*", cb=self._on_reply, pending_msgs_limit=-1
                )

    async def _on_reply(self, message: Msg) -> None:
        future = self._pop(message.subject[len(self._prefix) :])
        if future is None or future.done():
            return
        if message.headers and message.headers.get("Status") == "503":
            future.set_exception(PublishRefusedError(503, "no stream holds this subject"))
            return
        try:
            reply = _reply_decoder.decode(message.data)
        except msgspec.DecodeError as exc:
            future.set_exception(PublishRefusedError(0, f"unreadable ack: {exc}"))
            return
        if reply.error is not None:
            error = reply.error
            future.set_exception(PublishRefusedError(error.code, error.description, error.err_code))
        else:
            future.set_result(Stored(reply.stream, reply.seq, reply.duplicate))

    async def close(self) -> None:
        if self._subscription is not None and not self._nc.is_closed:
            await self._subscription.unsubscribe()
        self._subscription = None
