"""Calls through Twilio's REST API with the official SDK and its asynchronous HTTP client."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import TypeVar

import aiohttp
from litestar.types import ControllerRouterHandler
from loguru import logger
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.rest import Client
from twilio.rest.api.v2010.account.call import CallInstance

from libs.events import CallRequested
from services.telephony.config import TelephonySettings
from services.telephony.domain import StatusCallback, webhook_url
from services.telephony.providers import (
    CallOutcomeUnknownError,
    CallRejectedError,
    CarrierUnavailableError,
    UnknownCallError,
)

ResultT = TypeVar("ResultT")

CALL_NOT_IN_PROGRESS = 21220  # Twilio: the call has already ended
NOT_FOUND = 20404
# Twilio stamps date_created to the second, by its own clock: a call created in the
# claim's second, or by a clock a little behind ours, still counts as after the claim.
CLOCK_SLACK = timedelta(seconds=2)
RECENT_CALLS = 20  # newest first: the call a create made is among the latest to its number


class TwilioUnavailableError(CarrierUnavailableError):
    """Twilio kept answering 429 or 5xx (or not at all); the request will come back."""


class TwilioAccountError(RuntimeError):
    """The credentials or the From number cannot place calls: the message names the fix."""


class TwilioProvider:
    name = "twilio"

    def __init__(self, settings: TelephonySettings) -> None:
        self.settings = settings
        self._client: Client | None = None

    @asynccontextmanager
    async def running(self) -> AsyncIterator[TwilioProvider]:
        http_client = AsyncTwilioHttpClient(timeout=15)  # its aiohttp session needs a loop
        client = Client(
            self.settings.twilio_account_sid,
            self.settings.twilio_auth_token,
            http_client=http_client,
        )
        client.api.base_url = self.settings.twilio_api_root
        self._client = client
        try:
            await self.verify_account()
        except BaseException:
            self._client = None
            await http_client.close()
            raise
        logger.info("Twilio client ready for account {sid}", sid=self.settings.account_sid[:8])
        try:
            yield self
        finally:
            self._client = None
            await http_client.close()

    def announce(self) -> None:
        logger.warning(
            "TELEPHONY: REAL CALLS through Twilio; webhooks at {base}",
            base=self.settings.public_base_url,
        )

    def extra_routes(self) -> Sequence[ControllerRouterHandler]:
        return []  # the conversation service hangs up through Twilio itself

    @property
    def client(self) -> Client:
        if self._client is None:
            raise RuntimeError("the Twilio provider is not running")
        return self._client

    async def place_call(self, request: CallRequested, time_limit_seconds: int) -> str:
        settings = self.settings
        base = settings.public_base_url

        recording: dict[str, object] = {}
        if settings.record_calls:  # both sides, one channel each; the agent discloses it
            recording = {
                "record": True,
                "recording_channels": "dual",
                "recording_status_callback": webhook_url(
                    base, "/twilio/recording", request.call_id
                ),
                "recording_status_callback_event": ["completed"],
                "recording_status_callback_method": "POST",
            }

        async def create() -> str:
            call = await self.client.calls.create_async(
                to=request.lead.phone_number,
                from_=settings.twilio_from_number,
                url=webhook_url(base, "/twilio/twiml", request.call_id),
                method="POST",
                status_callback=webhook_url(base, "/twilio/status", request.call_id),
                status_callback_event=["initiated", "ringing", "answered", "completed"],
                status_callback_method="POST",
                machine_detection="Enable",
                async_amd="true",
                async_amd_status_callback=webhook_url(base, "/twilio/amd", request.call_id),
                async_amd_status_callback_method="POST",
                timeout=settings.ring_timeout_seconds,
                time_limit=time_limit_seconds,
                **recording,  # type: ignore[arg-type]
            )
            return str(call.sid)

        # Only a refusal Twilio answered before taking the request is safe to retry: a 5xx
        # or a lost connection may come after the call was created.
        return await self._with_retries(create, "create the call", ambiguous=True)

    async def find_call(self, request: CallRequested, since: datetime) -> str | None:
        async def recent() -> list[CallInstance]:
            return await self.client.calls.list_async(
                to=request.lead.phone_number,
                from_=self.settings.twilio_from_number or "",
                limit=RECENT_CALLS,
            )

        # StartTime filters by date only, and a queued call has none: date_created decides.
        cutoff = since.replace(microsecond=0) - CLOCK_SLACK
        for call in await self._with_retries(recent, "list the calls"):
            if call.sid and call.date_created is not None and call.date_created >= cutoff:
                return call.sid
        return None

    async def call_state(self, provider_call_id: str) -> StatusCallback | None:
        async def fetch() -> CallInstance:
            return await self.client.calls(provider_call_id).fetch_async()

        try:
            call = await self._with_retries(fetch, "fetch the call")
        except CallRejectedError as exc:
            if exc.code == NOT_FOUND:
                return None
            raise
        return StatusCallback(
            call_status=str(call.status) if call.status else None,
            answered_by=call.answered_by,
            duration_seconds=float(call.duration) if call.duration else None,
        )

    async def verify_account(self) -> None:
        """At start, not at the first call: the keys work and the From number is ours
        (one request; a second only when it is not one of the account's numbers)."""
        settings, number = self.settings, self.settings.twilio_from_number or ""
        try:
            owned = await self.client.incoming_phone_numbers.list_async(
                phone_number=number, limit=1
            )
            if not owned:
                owned = await self.client.outgoing_caller_ids.list_async(
                    phone_number=number, limit=1
                )
        except TwilioException as exc:
            status = _status_of(exc)
            if status in (401, 403):
                raise TwilioAccountError(
                    f"TWILIO_ACCOUNT_SID/TWILIO_AUTH_TOKEN: Twilio refused them (HTTP "
                    f"{status}); copy both from the Twilio console's Account Info"
                ) from None
            raise TwilioAccountError(
                f"Twilio could not check the account: HTTP {status}: {exc.args[0]}"
            ) from None
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise TwilioAccountError(
                f"Twilio is unreachable at {settings.twilio_api_root} "
                f"({type(exc).__name__}); check the network or TWILIO_API_BASE_URL"
            ) from None
        if not owned:
            raise TwilioAccountError(
                f"TWILIO_FROM_NUMBER: {number} is not a phone number of account "
                f"{settings.account_sid[:8]}... nor one of its verified caller ids; buy or port "
                "it in the Twilio console (Phone Numbers), or verify it as a caller id"
            )

    def call_placed(self, provider_call_id: str) -> None:
        return None  # Twilio is already dialling

    async def hang_up(self, provider_call_id: str, *, answered: bool) -> None:
        status = "completed" if answered else "canceled"

        async def update() -> None:
            await self.client.calls(provider_call_id).update_async(status=status)

        try:
            await self._with_retries(update, "hang up")
        except CallRejectedError as exc:
            if exc.code in (CALL_NOT_IN_PROGRESS, NOT_FOUND):
                raise UnknownCallError(provider_call_id) from None
            raise

    async def _with_retries(
        self, action: Callable[[], Awaitable[ResultT]], what: str, *, ambiguous: bool = False
    ) -> ResultT:
        """429, 5xx and dropped connections are retried with backoff; other errors are final.

        `ambiguous`: the action is not idempotent, so only what surely did nothing (429, no
        connection made) is retried; a 5xx or a connection lost mid-request raises
        CallOutcomeUnknownError."""
        attempts = self.settings.twilio_max_attempts
        for attempt in range(1, attempts + 1):
            try:
                return await action()
            except TwilioRestException as exc:
                if exc.status != 429 and exc.status < 500:
                    raise CallRejectedError(exc.code, _error_message(exc)) from None
                problem = f"HTTP {exc.status} (error {exc.code})"
                if ambiguous and exc.status != 429:
                    raise CallOutcomeUnknownError(f"Twilio could not {what}: {problem}") from None
            except aiohttp.ClientConnectorError as exc:  # never reached Twilio
                problem = type(exc).__name__
            except (aiohttp.ClientError, TimeoutError) as exc:
                problem = type(exc).__name__
                if ambiguous:
                    raise CallOutcomeUnknownError(f"Twilio could not {what}: {problem}") from None
            if attempt == attempts:
                break
            delay = self.settings.twilio_retry_base_seconds * 2 ** (attempt - 1)
            logger.warning(
                "Twilio could not {what}: {problem}; retry {attempt} in {delay:.1f}s",
                what=what,
                problem=problem,
                attempt=attempt,
                delay=delay,
            )
            await asyncio.sleep(delay)
        raise TwilioUnavailableError(f"Twilio could not {what} after {attempts} attempts")


def _status_of(exc: TwilioException) -> int | None:
    # A list page failure carries the HTTP response, not a status of its own.
    if isinstance(exc, TwilioRestException):
        return exc.status
    response = exc.args[1] if len(exc.args) > 1 else None
    return getattr(response, "status_code", None)


def _error_message(exc: TwilioRestException) -> str:
    # The SDK prefixes Twilio's own message with its own words: keep Twilio's.
    prefix = "Unable to create record: "
    message = str(exc.msg)
    return message.removeprefix(prefix).removeprefix("Unable to update record: ")
