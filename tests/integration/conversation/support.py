"""Serving the conversation service for a test, with a local fake of Twilio's REST API."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4, uuid5

from litestar import Litestar, Request, post

from libs.bus import EventBus
from libs.events import (
    AnyEvent,
    CallAnswered,
    CallRequested,
    LeadProfile,
    decode_event,
    history_of,
)
from libs.events.model import AnsweredBy
from libs.runtime.app import build_app
from services.conversation.config import ConversationSettings
from services.conversation.plugin import plugin_for
from services.conversation.service import ConversationRuntime
from tests.factories import CAMPAIGN_ID, LEAD_ID, lead_profile
from tests.support import serving

ACCOUNT_SID = "AC" + "9" * 32
AUTH_TOKEN = "test-auth-token"


@dataclass
class FakeTwilio:
    """Twilio's Call resource update (hang-up) as the REST API takes it."""

    hang_ups: list[dict[str, Any]] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def app(self) -> Litestar:
        @post("/2010-04-01/Accounts/{account_sid:str}/Calls/{call_file:str}", status_code=200)
        async def update_call(
            account_sid: str, call_file: str, request: Request[Any, Any, Any]
        ) -> dict[str, str]:
            form = await request.form()
            self.hang_ups.append(
                {
                    "account": account_sid,
                    "call": call_file,
                    "status": form.get("Status"),
                    "authorization": request.headers.get("authorization", "")[:6],
                }
            )
            self.changed.set()
            return {"sid": call_file.removesuffix(".json"), "status": "completed"}

        return Litestar([update_call])


class CallEvents:
    """Every event about one call, as it is stored."""

    def __init__(self) -> None:
        self.events: list[AnyEvent] = []
        self._changed = asyncio.Event()

    async def handle(self, message: Any) -> None:
        self.events.append(decode_event(message.data, message.subject))
        self._changed.set()

    def of(self, event_type: type) -> list[Any]:
        return [event for event in self.events if isinstance(event, event_type)]

    async def wait_for(self, *event_types: type, timeout: float = 30) -> None:
        await self.wait_until(
            lambda: all(self.of(event_type) for event_type in event_types), timeout
        )

    async def wait_until(self, condition: Callable[[], bool], timeout: float = 30) -> None:
        async with asyncio.timeout(timeout):
            while not condition():
                self._changed.clear()
                await self._changed.wait()


def call_requested(
    call_id: UUID | None = None,
    time_limit_seconds: int = 300,
    lead: LeadProfile | None = None,
    at: datetime | None = None,
) -> CallRequested:
    """A call the scheduler asked for, `at` the decision's time (a simulated call's clock
    runs on from it)."""
    call_id = call_id or uuid4()
    return CallRequested(
        event_id=uuid5(call_id, "requested"),
        occurred_at=at or datetime.now(UTC),
        call_id=call_id,
        lead_id=LEAD_ID,
        campaign_id=CAMPAIGN_ID,
        attempt=1,
        lead=lead or lead_profile(),
        time_limit_seconds=time_limit_seconds,
    )


def detected(request: CallRequested, answered_by: AnsweredBy) -> CallAnswered:
    """Telephony's answering machine detection, reported before the media stream starts."""
    return CallAnswered(
        event_id=uuid5(request.call_id, "telephony-answered"),
        occurred_at=datetime.now(UTC),
        call_id=request.call_id,
        lead_id=request.lead_id,
        campaign_id=request.campaign_id,
        answered_by=answered_by,
    )


def answered_by_machine(request: CallRequested) -> CallAnswered:
    return detected(request, "machine")


def clock_from(instant: datetime) -> Callable[[], datetime]:
    """A clock that starts at `instant` and runs at the real pace: a call on a chosen day."""
    started = datetime.now(UTC)
    return lambda: instant + (datetime.now(UTC) - started)


@dataclass
class Service:
    stream_url: str
    http: Any
    twilio: FakeTwilio
    runtime: ConversationRuntime


@contextlib.asynccontextmanager
async def conversation_service(
    bus: EventBus, clock: Callable[[], datetime] | None = None, **overrides: Any
) -> AsyncIterator[Service]:
    twilio = FakeTwilio()
    async with serving(twilio.app()) as twilio_client:
        settings = ConversationSettings(
            twilio_account_sid=ACCOUNT_SID,
            twilio_auth_token=AUTH_TOKEN,
            twilio_api_base_url=str(twilio_client.base_url).rstrip("/"),
            **{"mode": "simulation", "simulated_seconds_per_character": 0.004, **overrides},
        )
        runtime = ConversationRuntime.from_settings(settings)
        if clock is not None:
            runtime.clock = clock
        app = build_app([plugin_for(runtime)], bus=bus, api_token=None, title="conversation")
        async with serving(app) as client:
            url = str(client.base_url).replace("http://", "ws://").rstrip("/") + "/twilio/stream"
            yield Service(stream_url=url, http=client, twilio=twilio, runtime=runtime)


@contextlib.asynccontextmanager
async def watching(bus: EventBus, call_id: UUID) -> AsyncIterator[CallEvents]:
    events = CallEvents()
    subscription = await bus.nc.subscribe(history_of("call", call_id), cb=events.handle)
    lead_subscription = await bus.nc.subscribe(f"sales.lead.{LEAD_ID}.>", cb=events.handle)
    try:
        yield events
    finally:
        await subscription.unsubscribe()
        await lead_subscription.unsubscribe()
