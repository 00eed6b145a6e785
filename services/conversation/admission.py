"""Who may open a media stream: the carrier, for a call we placed, once, promptly.

The stream's endpoint faces the internet. Before any pipeline or vendor session starts,
a connection must: fit under the process's cap on open sockets; carry a valid Twilio
signature on its upgrade when it carries one at all; send its `start` within a few
seconds; and present the token our TwiML gave this call (libs/runtime/stream_tokens.py).
Anything else is closed with a code that says why, and leaves nothing on the stream.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any
from uuid import UUID

import msgspec
from twilio.request_validator import RequestValidator

from libs.runtime.security import TWILIO_SIGNATURE_HEADER
from libs.runtime.stream_tokens import TOKEN_PARAMETER, StreamTokenError, verify_stream_token

# RFC 6455 codes, and the private range for what the standard has no code for.
POLICY_VIOLATION = 1008
MESSAGE_TOO_BIG = 1009
TRY_AGAIN_LATER = 1013
UNKNOWN_CALL = 4404
BUSY = 4503

# The largest message read from a media stream: Twilio's are well under 2 KB.
MAX_MESSAGE_CHARACTERS = 64 * 1024


class StreamRefused(Exception):
    """The connection is closed with `code`; `reason` is for the log, never the peer."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


class _Envelope(msgspec.Struct):
    event: str


class StartDetails(msgspec.Struct, rename="camel"):
    stream_sid: str
    call_sid: str
    custom_parameters: dict[str, str] = {}


class _StartMessage(msgspec.Struct):
    start: StartDetails


class StreamStart(msgspec.Struct, frozen=True):
    stream_sid: str
    call_sid: str
    call_id: UUID
    token: str


_envelope = msgspec.json.Decoder(_Envelope)
_start = msgspec.json.Decoder(_StartMessage)


def parse_start(text: str) -> StreamStart:
    try:
        details = _start.decode(text).start
    except msgspec.DecodeError as exc:
        raise StreamRefused(POLICY_VIOLATION, f"the start message is malformed: {exc}") from None
    raw_call_id = details.custom_parameters.get("call_id", "")
    try:
        call_id = UUID(raw_call_id)
    except ValueError:
        raise StreamRefused(
            POLICY_VIOLATION, f"the call_id parameter {raw_call_id[:40]!r} is not a UUID"
        ) from None
    return StreamStart(
        stream_sid=details.stream_sid,
        call_sid=details.call_sid,
        call_id=call_id,
        token=details.custom_parameters.get(TOKEN_PARAMETER, ""),
    )


async def read_start(receive: Any, deadline_seconds: float) -> StreamStart:
    """`connected`, then `start`, within the deadline: Twilio sends nothing else first."""
    try:
        async with asyncio.timeout(deadline_seconds):
            for _ in range(2):
                text = await _next_text(receive)
                try:
                    event = _envelope.decode(text).event
                except msgspec.DecodeError:
                    raise StreamRefused(
                        POLICY_VIOLATION, "a message is not Twilio's JSON"
                    ) from None
                if event == "start":
                    return parse_start(text)
                if event != "connected":
                    raise StreamRefused(POLICY_VIOLATION, f"{event[:20]!r} came before start")
    except TimeoutError:
        raise StreamRefused(
            POLICY_VIOLATION, f"no start message within {deadline_seconds:g}s"
        ) from None
    raise StreamRefused(POLICY_VIOLATION, "no start message after connected")


async def _next_text(receive: Any) -> str:
    message = await receive()
    if message["type"] == "websocket.disconnect":
        raise StreamRefused(0, "the peer left before its start message")
    text = message.get("text")
    if text is None:
        raise StreamRefused(POLICY_VIOLATION, "a binary message came before start")
    if len(text) > MAX_MESSAGE_CHARACTERS:
        raise StreamRefused(MESSAGE_TOO_BIG, f"a {len(text)}-character message came before start")
    return text


def check_token(start: StreamStart, keys: tuple[bytes, ...], now: float) -> None:
    try:
        verify_stream_token(start.token, keys, start.call_id, start.call_sid, now)
    except StreamTokenError as exc:
        raise StreamRefused(POLICY_VIOLATION, f"token refused: {exc}") from None


def check_upgrade_signature(headers: Mapping[str, str], path: str, auth_token: str) -> str | None:
    """None when the upgrade is unsigned or Twilio's signature holds; else the URL checked.

    Twilio signs the stream's URL as written in our TwiML. Behind a proxy that ends TLS the
    scheme we see is not the one it signed, so either scheme of this host and path will do:
    the signature still proves Twilio asked for this address."""
    signature = headers.get(TWILIO_SIGNATURE_HEADER.lower())
    if signature is None:
        return None
    host = headers.get("x-forwarded-host") or headers.get("host", "")
    candidates = [f"{scheme}://{host}{path}" for scheme in ("wss", "ws")]
    validator = RequestValidator(auth_token)
    if any(validator.validate(url, {}, signature) for url in candidates):
        return None
    return candidates[0]


class StreamGate:
    """The process's cap on open media sockets, those still awaiting `start` included:
    beyond it a connection is refused at once rather than queued."""

    def __init__(self, max_open_streams: int) -> None:
        self.max_open_streams = max_open_streams
        self.open_streams = 0

    @contextmanager
    def admitting(self) -> Iterator[None]:
        if self.open_streams >= self.max_open_streams:
            raise StreamRefused(TRY_AGAIN_LATER, f"{self.open_streams} streams already open")
        self.open_streams += 1
        try:
            yield
        finally:
            self.open_streams -= 1
