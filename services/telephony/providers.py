"""What the service needs from a carrier: place a call, hang one up. Twilio or simulated."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from typing import Protocol

from litestar.types import ControllerRouterHandler

from libs.events import CallRequested


class CallRejectedError(RuntimeError):
    """The carrier refused to place the call and retrying will not change that."""

    def __init__(self, code: int | None, message: str) -> None:
        super().__init__(f"the carrier refused the call (error {code}): {message}")
        self.code = code
        self.message = message


class UnknownCallError(LookupError):
    def __init__(self, provider_call_id: str) -> None:
        super().__init__(f"no live call {provider_call_id!r} at the carrier")
        self.provider_call_id = provider_call_id


class CallProvider(Protocol):
    name: str

    def running(self) -> AbstractAsyncContextManager[object]:
        """Holds the provider's connections and tasks while the service runs."""
        ...

    def announce(self) -> None:
        """Logs once, at start, whether calls are real and where the carrier reaches us."""
        ...

    def extra_routes(self) -> Sequence[ControllerRouterHandler]:
        """Routes the carrier needs served beside Twilio's webhooks (none for Twilio)."""
        ...

    async def place_call(self, request: CallRequested, time_limit_seconds: int) -> str:
        """Start dialling; returns the provider's call id. Raises CallRejectedError."""
        ...

    def call_placed(self, provider_call_id: str) -> None:
        """Told once CallPlaced is stored, so callbacks never overtake it."""
        ...

    async def hang_up(self, provider_call_id: str, *, answered: bool) -> None:
        """End a live call: hang up if answered, cancel the ringing otherwise."""
        ...
