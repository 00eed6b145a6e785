"""A minimal fake of Twilio's Calls REST resource, for hanging up simulated calls.

Pipecat's TwilioFrameSerializer ends a call by POSTing `Status=completed` to
`{base_url}/2010-04-01/Accounts/{AccountSid}/Calls/{CallSid}.json`; in simulation its
base_url is this process's `/simulated-twilio`, authenticated with the simulated account.
Answers are shaped like Twilio's, errors included (20003 unauthorized, 20404 not found).
"""

from __future__ import annotations

import base64
import binascii
from typing import TYPE_CHECKING, Any

from litestar import Request, Response, post
from litestar.handlers import HTTPRouteHandler
from litestar.params import FromPath

from services.telephony.config import SIMULATED_API_PREFIX
from services.telephony.providers import UnknownCallError

if TYPE_CHECKING:  # the carrier serves this route, so it imports this module
    from services.telephony.simulation.carrier import SimulatedCarrier

CALL_RESOURCE = SIMULATED_API_PREFIX + "/2010-04-01/Accounts/{account_sid:str}/Calls/{resource:str}"


def twilio_error(status: int, code: int, message: str) -> Response[dict[str, Any]]:
    body = {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }
    return Response(body, status_code=status)


def basic_credentials(request: Request[Any, Any, Any]) -> tuple[str, str]:
    scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return "", ""
    try:
        username, _, password = base64.b64decode(encoded).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return "", ""
    return username, password


def simulated_calls_api(carrier: SimulatedCarrier) -> HTTPRouteHandler:
    """The fake Calls resource, bound to `carrier`: served only when it is the carrier."""

    @post(CALL_RESOURCE, opt={"access": "twilio"}, status_code=200)
    async def update_simulated_call(
        account_sid: FromPath[str], resource: FromPath[str], request: Request[Any, Any, Any]
    ) -> Response[dict[str, Any]]:
        """`Status=completed` hangs the simulated call up, `canceled` stops its ringing."""
        username, password = basic_credentials(request)
        if username != account_sid or not carrier.check_credentials(username, password):
            return twilio_error(401, 20003, "Authenticate")
        call_sid = resource.removesuffix(".json")
        form = await request.form()
        status = str(form.get("Status", ""))
        if status not in ("completed", "canceled"):
            return twilio_error(400, 21218, f"Invalid Status {status!r}: use completed or canceled")
        try:
            await carrier.hang_up(call_sid, answered=status == "completed")
        except UnknownCallError:
            return twilio_error(404, 20404, f"The requested resource {resource} was not found")
        return Response({"sid": call_sid, "account_sid": account_sid, "status": status})

    return update_simulated_call
