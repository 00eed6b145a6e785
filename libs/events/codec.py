"""One encoder and one decoder for the whole event union, built once."""

from __future__ import annotations

from typing import Any

import msgspec

from libs.events.model import AnyEvent, Event

_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(AnyEvent)


class MalformedEventError(ValueError):
    """A payload that is not any known event: redelivering it cannot help."""

    def __init__(self, subject: str, reason: str) -> None:
        super().__init__(f"message on {subject!r} is not a valid event: {reason}")
        self.subject, self.reason = subject, reason


def encode_event(event: Event) -> bytes:
    return _encoder.encode(event)


def decode_event(data: bytes, subject: str = "?") -> AnyEvent:
    try:
        return _decoder.decode(data)
    except (msgspec.DecodeError, ValueError) as exc:
        raise MalformedEventError(subject, str(exc)) from None


def event_schema() -> dict[str, Any]:
    """The JSON Schema of every event, for CRM integrators in any language."""
    return msgspec.json.schema(AnyEvent)
