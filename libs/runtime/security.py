"""The API's safe defaults: loopback unless told otherwise, and a bearer token when exposed."""

from __future__ import annotations

import hmac
import ipaddress
from typing import Literal

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException
from litestar.handlers.base import BaseRouteHandler

# Route handlers declare who may call them with `opt={"access": ...}`. "public" routes
# are the health probes; "twilio" routes authenticate by Twilio's request signature.
Access = Literal["public", "twilio", "token"]
# Twilio signs every webhook and the media stream's websocket upgrade with this header.
TWILIO_SIGNATURE_HEADER = "X-Twilio-Signature"


class UnsafeBindError(RuntimeError):
    def __init__(self, host: str) -> None:
        super().__init__(
            f"refusing to listen on {host!r} without API_TOKEN: anyone who can reach this "
            "address could start campaigns and read leads. Set API_TOKEN, or HOST=127.0.0.1."
        )
        self.host = host


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


def check_bind_address(host: str, api_token: str | None) -> None:
    if api_token is None and not is_loopback(host):
        raise UnsafeBindError(host)


def route_access(handler: BaseRouteHandler) -> Access:
    return handler.opt.get("access", "token")


def require_api_token(connection: ASGIConnection, handler: BaseRouteHandler) -> None:
    """Guard for every route: with API_TOKEN set, management routes need the bearer token."""
    expected: str | None = connection.app.state.api_token
    if expected is None or route_access(handler) != "token":
        return
    scheme, _, presented = connection.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(presented.encode(), expected.encode()):
        raise NotAuthorizedException(
            detail="this route needs the header 'Authorization: Bearer <API_TOKEN>'",
            headers={"WWW-Authenticate": "Bearer"},
        )
