"""The HTTP shell every service shares, served by real uvicorn on loopback."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from litestar import get, post
from litestar.exceptions import InternalServerException
from litestar.params import FromQuery

from libs.bus import EventBus
from libs.runtime.app import build_app
from libs.runtime.plugin import ServicePlugin
from libs.runtime.security import UnsafeBindError, check_bind_address
from tests.support import serving as serve_app

TOKEN = "s3cret-token"


@get("/campaign/status", sync_to_thread=False)
def campaign_status() -> dict[str, str]:
    return {"state": "idle"}


@post("/twilio/status", opt={"access": "twilio"}, status_code=204, sync_to_thread=False)
def twilio_status() -> None:
    return None


@get("/explode", sync_to_thread=False)
def explode() -> None:
    raise RuntimeError("database password is hunter2")


@get("/vendor", sync_to_thread=False)
def vendor() -> None:
    # What a library's own 500 may carry: the request it failed on, credentials and all.
    raise InternalServerException(detail="GET https://AC1:hunter2@api.example.com failed")


@get("/leads/pending", sync_to_thread=False)
def leads_pending(limit: FromQuery[int] = 50) -> dict[str, int]:
    return {"limit": limit}


OVERLOAD: list[str] = []
PLUGIN = ServicePlugin(
    name="sample",
    route_handlers=[campaign_status, twilio_status, explode, vendor, leads_pending],
    readiness=lambda: OVERLOAD,
)


@asynccontextmanager
async def serving(bus: EventBus, api_token: str | None) -> AsyncIterator[httpx.AsyncClient]:
    app = build_app([PLUGIN], bus=bus, api_token=api_token, title="test")
    async with serve_app(app) as client:
        yield client


async def test_probes_report_alive_and_ready(bus):
    async with serving(bus, api_token=None) as client:
        alive, ready = await client.get("/healthz"), await client.get("/readyz")
    assert (alive.status_code, alive.json()) == (200, {"status": "alive"})
    assert (ready.status_code, ready.json()) == (
        200,
        {"status": "ready", "stream": "SALES", "mode": "simulation"},
    )


async def test_not_ready_without_the_stream_says_why(bus):
    await bus.js.delete_stream(bus.stream)
    async with serving(bus, api_token=None) as client:
        ready = await client.get("/readyz")
    assert ready.status_code == 503
    assert ready.headers["content-type"] == "application/problem+json"
    assert ready.json() == {
        "status": 503,
        "title": "Service Unavailable",
        "detail": "the SALES stream does not exist",
    }


async def test_without_api_token_management_routes_are_open_on_loopback(bus):
    async with serving(bus, api_token=None) as client:
        response = await client.get("/campaign/status")
    assert (response.status_code, response.json()) == (200, {"state": "idle"})


async def test_api_token_guards_management_routes_only(bus):
    async with serving(bus, api_token=TOKEN) as client:
        missing = await client.get("/campaign/status")
        wrong = await client.get("/campaign/status", headers={"Authorization": "Bearer nope"})
        right = await client.get("/campaign/status", headers={"Authorization": f"Bearer {TOKEN}"})
        webhook = await client.post("/twilio/status")
        probes = [(await client.get(p)).status_code for p in ("/healthz", "/readyz")]
    assert missing.status_code == wrong.status_code == 401
    assert missing.headers["content-type"] == "application/problem+json"
    assert missing.json()["detail"] == (
        "this route needs the header 'Authorization: Bearer <API_TOKEN>'"
    )
    assert right.status_code == 200
    assert webhook.status_code == 204  # Twilio signs its webhooks instead
    assert probes == [200, 200]


async def test_errors_are_problem_details_and_never_leak_internals(bus):
    async with serving(bus, api_token=None) as client:
        unknown = await client.get("/no/such/route")
        crashed = await client.get("/explode")
    assert unknown.status_code == 404
    assert set(unknown.json()) == {"status", "title", "detail"}
    assert crashed.status_code == 500
    assert crashed.json()["title"] == "Internal Server Error"
    assert "hunter2" not in crashed.text


async def test_a_refused_token_is_not_repeated_back(bus):
    presented = "s3cret-token-with-a-typo"
    async with serving(bus, api_token=TOKEN) as client:
        refused = [
            await client.get("/campaign/status", headers={"Authorization": header})
            for header in (f"Bearer {presented}", f"Token {presented}", presented)
        ]
    for response in refused:
        assert response.status_code == 401
        assert presented not in response.text
        assert presented not in str(response.headers)


async def test_a_library_500_says_nothing_of_what_the_library_said(bus):
    async with serving(bus, api_token=None) as client:
        response = await client.get("/vendor")
    assert response.status_code == 500
    assert response.json()["detail"] == (
        "the server failed to handle this request; the error has been logged"
    )
    assert "hunter2" not in response.text


async def test_a_bad_parameter_is_named_without_repeating_the_query_string(bus):
    async with serving(bus, api_token=None) as client:
        response = await client.get("/leads/pending", params={"limit": "ten", "api_key": "hunter2"})
    assert response.status_code == 400
    assert response.json()["detail"] == "Validation failed for GET /leads/pending"
    assert [error["key"] for error in response.json()["errors"]] == ["limit"]
    assert "hunter2" not in response.text


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.1.2.3", "sales.example.com"])
def test_binding_beyond_loopback_without_a_token_is_refused(host):
    with pytest.raises(UnsafeBindError, match=r"refusing to listen on .* without API_TOKEN"):
        check_bind_address(host, api_token=None)
    check_bind_address(host, api_token=TOKEN)  # with a token it is the operator's choice


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "127.0.0.2"])
def test_loopback_needs_no_token(host):
    check_bind_address(host, api_token=None)


async def test_an_overloaded_service_is_not_ready_and_says_why(bus):
    OVERLOAD.append("12 live calls (capacity 12)")
    try:
        async with serving(bus, api_token=None) as client:
            ready = await client.get("/readyz")
    finally:
        OVERLOAD.clear()
    assert ready.status_code == 503
    assert ready.json()["detail"] == "degraded: 12 live calls (capacity 12)"
