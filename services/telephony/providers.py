"""What the service needs from a carrier: place a call, find one, ask after one, hang one
up. Twilio or simulated."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Protocol

from litestar.types import ControllerRouterHandler

from libs.events import CallRequested
from services.telephony.domain import StatusCallback


class CallRejectedError(RuntimeError):
    """The carrier refused to place the call and retrying will not change that."""

    def __init__(self, code: int | None, message: str) -> None:
        super().__init__(f"the carrier refused the call (error {code}): {message}")
        self.code = code
        self.message = message


class CallOutcomeUnknownError(RuntimeError):
    """The carrier may or may not have created the call (a 5xx, a dropped connection):
    sending the create again could dial the lead twice, so the call is looked up instead."""


class CarrierUnavailableError(RuntimeError):
    """The carrier kept saying no before taking the request (429, no connection): the call
    was certainly not created."""


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
        """Start dialling; returns the provider's call id. Raises CallRejectedError and
        CarrierUnavailableError (not created), CallOutcomeUnknownError (perhaps created)."""
        ...

    async def find_call(self, request: CallRequested, since: datetime) -> str | None:
        """The provider's id of the call created for `request` at or after `since`, if the
        carrier has one: what became of a create whose answer never came."""
        ...

    async def call_state(self, provider_call_id: str) -> StatusCallback | None:
        """The call as the carrier has it now, in a status callback's terms; None when the
        carrier does not know the call."""
        ...

    def call_placed(self, provider_call_id: str) -> None:
        """Told once CallPlaced is stored, so callbacks never overtake it."""
        ...

    async def hang_up(self, provider_call_id: str, *, answered: bool) -> None:
        """End a live call: hang up if answered, cancel the ringing otherwise."""
        ...
