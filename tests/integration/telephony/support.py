"""Test helpers: serve apps on real uvicorn over loopback, read what the stream stored,
and a local fake of Twilio's REST API that the real SDK is pointed at."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any
from uuid import UUID, uuid4

import uvicorn
from litestar import Litestar, Request, Response, get, post
from litestar.params import FromPath
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from twilio.request_validator import RequestValidator

from libs.bus import EventBus
from libs.events import AnyEvent, CallRequested, decode_event
from libs.runtime.app import build_app
from libs.runtime.plugin import ServicePlugin
from services.telephony.config import TelephonySettings
from services.telephony.plugin import build_telephony_plugin
from services.telephony.twilio_provider import TwilioProvider
from tests.factories import lead_profile

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
# A plain Tuesday afternoon in Washington, inside the sample lead's best call time (14-16
# local): the calling rules allow the call then, whatever the hour the tests run at.
WORKING_AFTERNOON = datetime(2026, 3, 3, 19, 30, tzinfo=UTC)
_OFFSET = WORKING_AFTERNOON - datetime.now(UTC)


def working_clock() -> datetime:
    """Real time moved to WORKING_AFTERNOON: seconds still pass as seconds."""
    return datetime.now(UTC) + _OFFSET


AUTH_TOKEN = "0123456789abcdef0123456789abcdef"


def listening_socket() -> tuple[socket.socket, int]:
    """Bound and listening before the server starts: requests wait in the backlog."""
    listening = socket.socket()
    listening.bind(("127.0.0.1", 0))
    listening.listen()
    return listening, listening.getsockname()[1]


@asynccontextmanager
async def serving_asgi(app: Any, listening: socket.socket) -> AsyncIterator[None]:
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, lifespan="on"))
    server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign]
    task = asyncio.create_task(server.serve(sockets=[listening]))
    try:
        yield
    finally:
        server.should_exit = True
        await task


@asynccontextmanager
async def serving_plugins(
    bus: EventBus, plugins: list[ServicePlugin], listening: socket.socket
) -> AsyncIterator[None]:
    app = build_app(plugins, bus=bus, api_token=None, title="test")
    async with serving_asgi(app, listening):
        yield


def call_request(
    *,
    phone_number: str = "+12025550143",
    attempt: int = 1,
    time_limit_seconds: int = 300,
    call_id: UUID | None = None,
    campaign_id: UUID | None = None,
) -> CallRequested:
    call_id = call_id or uuid4()
    return CallRequested(
        event_id=uuid4(),
        occurred_at=working_clock(),
        call_id=call_id,
        lead_id=uuid4(),
        campaign_id=campaign_id or uuid4(),
        attempt=attempt,
        lead=lead_profile(phone_number),
        time_limit_seconds=time_limit_seconds,
    )


async def wait_for_event(bus: EventBus, subject: str, timeout: float = 15.0) -> AnyEvent:
    """The first event stored on `subject`, waiting for it to arrive."""
    config = ConsumerConfig(ack_policy=AckPolicy.NONE, deliver_policy=DeliverPolicy.ALL)
    subscription = await bus.js.pull_subscribe(subject, stream=bus.stream, config=config)
    try:
        [message] = await subscription.fetch(1, timeout=timeout)
        return decode_event(message.data, message.subject)
    finally:
        await subscription.unsubscribe()


def twilio_settings(
    api_base_url: str, webhook_base_url: str, **overrides: Any
) -> TelephonySettings:
    values: dict[str, Any] = {
        "mode": "live",
        "twilio_account_sid": ACCOUNT_SID,
        "twilio_auth_token": AUTH_TOKEN,
        "twilio_from_number": "+15005550006",
        "webhook_base_url": webhook_base_url,
        "twilio_api_base_url": api_base_url,
        "twilio_retry_base_seconds": 0.01,
        "call_timeout_seconds": 120,
        "ring_timeout_seconds": 25,
    }
    return TelephonySettings(**{**values, **overrides})


def signed(url: str, params: dict[str, str], token: str = AUTH_TOKEN) -> dict[str, str]:
    return {"X-Twilio-Signature": RequestValidator(token).compute_signature(url, params)}


@dataclass
class FakeCall:
    """A call the fake account holds, as Twilio's Calls resource describes one."""

    sid: str
    to: str
    from_: str
    date_created: datetime
    status: str = "queued"
    answered_by: str | None = None
    duration: str | None = None

    def resource(self, account_sid: str) -> dict[str, Any]:
        return {
            "sid": self.sid,
            "account_sid": account_sid,
            "to": self.to,
            "from": self.from_,
            "status": self.status,
            "answered_by": self.answered_by,
            "duration": self.duration,
            "date_created": format_datetime(self.date_created),  # RFC 2822, as Twilio's
        }


@dataclass
class FakeTwilioApi:
    """Twilio's Calls resource: records each request; answers from a script, then 201.

    `stalled` creates never answer (until the test ends): with `stalled_lands` the call is
    created first, as when Twilio took the request but its answer was lost."""

    scripted: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    creates: list[dict[str, list[str]]] = field(default_factory=list)
    updates: list[tuple[str, dict[str, list[str]]]] = field(default_factory=list)
    auth: list[str] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    # The account's numbers and verified caller ids; None: whatever number is asked for.
    owned_numbers: set[str] | None = None
    caller_ids: set[str] = field(default_factory=set)
    refuse_credentials: bool = False
    calls: dict[str, FakeCall] = field(default_factory=dict)  # the account's calls by sid
    listings: list[dict[str, str]] = field(default_factory=list)  # each Calls list's query
    stalled: int = 0
    stalled_lands: bool = False
    released: asyncio.Event = field(default_factory=asyncio.Event)

    def app(self) -> Litestar:
        def listing(key: str, numbers: set[str] | None, wanted: str) -> Response[Any]:
            if self.refuse_credentials:
                return Response(
                    {"code": 20003, "message": "Authenticate", "status": 401}, status_code=401
                )
            found = numbers is None or wanted in numbers
            rows = [{"sid": "PN" + "0" * 32, "phone_number": wanted}] if found else []
            return Response({key: rows, "page": 0, "page_size": 1, "next_page_uri": None})

        @get("/2010-04-01/Accounts/{account_sid:str}/IncomingPhoneNumbers.json")
        async def incoming_numbers(account_sid: FromPath[str], PhoneNumber: str) -> Response[Any]:
            return listing("incoming_phone_numbers", self.owned_numbers, PhoneNumber)

        @get("/2010-04-01/Accounts/{account_sid:str}/OutgoingCallerIds.json")
        async def caller_ids(account_sid: FromPath[str], PhoneNumber: str) -> Response[Any]:
            return listing("outgoing_caller_ids", self.caller_ids, PhoneNumber)

        @post("/2010-04-01/Accounts/{account_sid:str}/Calls.json", status_code=201)
        async def create_call(
            account_sid: FromPath[str], request: Request[Any, Any, Any]
        ) -> Response[Any]:
            form = await request.form()
            self.creates.append({key: form.getall(key) for key in form})
            self.auth.append(request.headers.get("authorization", ""))
            self.changed.set()
            sid = f"CA{len(self.creates):032x}"
            call = FakeCall(
                sid=sid,
                to=str(form.get("To", "")),
                from_=str(form.get("From", "")),
                date_created=datetime.now(UTC),
            )
            if self.stalled:
                self.stalled -= 1
                if self.stalled_lands:
                    self.calls[sid] = call
                await self.released.wait()  # the answer that never comes in time
                return Response({"code": 20500, "status": 500}, status_code=500)
            if self.scripted:
                status, body = self.scripted.pop(0)
                return Response(body, status_code=status)
            self.calls[sid] = call
            return Response(call.resource(account_sid), status_code=201)

        @get("/2010-04-01/Accounts/{account_sid:str}/Calls.json")
        async def list_calls(
            account_sid: FromPath[str], request: Request[Any, Any, Any]
        ) -> Response[Any]:
            query = dict(request.query_params)
            self.listings.append(query)
            self.changed.set()
            matching = [
                call.resource(account_sid)
                for call in sorted(self.calls.values(), key=lambda c: c.sid, reverse=True)
                if call.to == query.get("To", call.to)
                and call.from_ == query.get("From", call.from_)
            ]  # newest first, as Twilio lists them
            size = int(query.get("PageSize", 50))
            return Response(
                {"calls": matching[:size], "page": 0, "page_size": size, "next_page_uri": None}
            )

        @get("/2010-04-01/Accounts/{account_sid:str}/Calls/{resource:str}")
        async def fetch_call(account_sid: FromPath[str], resource: FromPath[str]) -> Response[Any]:
            call = self.calls.get(resource.removesuffix(".json"))
            if call is None:
                return Response(
                    {"code": 20404, "message": "not found", "status": 404}, status_code=404
                )
            return Response(call.resource(account_sid))

        @post("/2010-04-01/Accounts/{account_sid:str}/Calls/{resource:str}", status_code=200)
        async def update_call(
            account_sid: FromPath[str], resource: FromPath[str], request: Request[Any, Any, Any]
        ) -> Response[Any]:
            form = await request.form()
            self.updates.append((resource, {key: form.getall(key) for key in form}))
            self.changed.set()
            sid = resource.removesuffix(".json")
            return Response({"sid": sid, "account_sid": account_sid, "status": "completed"})

        return Litestar(
            [create_call, list_calls, fetch_call, update_call, incoming_numbers, caller_ids],
            logging_config=None,
        )

    async def wait_until(self, condition: Any, timeout: float = 10.0) -> None:
        async with asyncio.timeout(timeout):
            while not condition():
                self.changed.clear()
                await self.changed.wait()


@asynccontextmanager
async def telephony_against(
    bus: EventBus,
    fake: FakeTwilioApi,
    clock: Callable[[], datetime] = working_clock,
    **overrides: Any,
) -> AsyncIterator[TelephonySettings]:
    api_socket, api_port = listening_socket()
    app_socket, app_port = listening_socket()
    settings = twilio_settings(
        f"http://127.0.0.1:{api_port}", f"https://calls.example.com:{app_port}", **overrides
    )
    assert settings.carrier == "twilio"
    plugin = build_telephony_plugin(settings, TwilioProvider(settings), clock=clock)
    async with serving_asgi(fake.app(), api_socket), serving_plugins(bus, [plugin], app_socket):
        try:
            yield settings
        finally:
            fake.released.set()  # a stalled create must end before its server can


def local_url(settings: TelephonySettings, path: str) -> str:
    """Where the test reaches the app: loopback, on the port in WEBHOOK_BASE_URL."""
    port = (settings.webhook_base_url or "").rsplit(":", 1)[1]
    return f"http://127.0.0.1:{port}{path}"
