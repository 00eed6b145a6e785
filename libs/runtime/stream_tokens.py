"""The media stream's ticket: telephony issues one per answered call, conversation checks it.

A token is `v1.<expires>.<nonce>.<mac>`: an HMAC-SHA256 over the call id, the carrier's
CallSid, the expiry and a random nonce, keyed with a server secret. It travels as a
`<Parameter>` of the TwiML `<Stream>`, so only the carrier sees it. It proves the stream
was asked for by our own TwiML webhook, for this call, moments ago; conversation makes it
single use by claiming the call's stream on the event stream once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Sequence
from uuid import UUID

TOKEN_PARAMETER = "token"
VERSION = "v1"
# Twilio opens the stream within a second or two of fetching the TwiML.
LIFETIME_SECONDS = 60
_KEY_LABEL = b"media-stream-token/v1"  # a derived key is good for nothing else


class StreamTokenError(ValueError):
    """The token is missing, malformed, forged, for another call, or expired."""


def stream_keys(
    secret: str | None, previous_secret: str | None, auth_token: str | None
) -> tuple[bytes, ...]:
    """Signing key first, then any still accepted (during a rotation).

    MEDIA_STREAM_SECRET when set; otherwise a key derived from the auth token that signs
    the carrier's webhooks, which telephony and conversation already share."""
    derived = auth_token and hmac.new(auth_token.encode(), _KEY_LABEL, "sha256").hexdigest()
    chosen = secret or derived
    keys = [chosen.encode()] if chosen else []
    if previous_secret:
        keys.append(previous_secret.encode())
    return tuple(keys)


def _mac(key: bytes, call_id: UUID, call_sid: str, expires: int, nonce: str) -> str:
    message = f"{VERSION}|{call_id}|{call_sid}|{expires}|{nonce}".encode()
    digest = hmac.new(key, message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def issue_stream_token(key: bytes, call_id: UUID, call_sid: str, now: float) -> str:
    expires = int(now) + LIFETIME_SECONDS
    nonce = secrets.token_hex(8)
    return f"{VERSION}.{expires}.{nonce}.{_mac(key, call_id, call_sid, expires, nonce)}"


def verify_stream_token(
    token: str, keys: Sequence[bytes], call_id: UUID, call_sid: str, now: float
) -> int:
    """When the token expires, if it holds; else StreamTokenError naming what is wrong."""
    if not token:
        raise StreamTokenError("no token parameter")
    if len(token) > 200 or not token.isascii():
        raise StreamTokenError("the token is malformed")
    version, _, rest = token.partition(".")
    expires_text, _, rest = rest.partition(".")
    nonce, _, mac = rest.partition(".")
    if version != VERSION or not expires_text.isdigit() or not nonce or not mac:
        raise StreamTokenError("the token is malformed")
    expires = int(expires_text)
    presented = mac.encode()
    if not any(
        hmac.compare_digest(presented, _mac(key, call_id, call_sid, expires, nonce).encode())
        for key in keys
    ):
        raise StreamTokenError("the token was not issued for this call")
    if expires <= now:
        raise StreamTokenError(f"the token expired {now - expires:.0f}s ago")
    if expires > now + LIFETIME_SECONDS + 5:  # a lifetime no issuer of ours writes
        raise StreamTokenError("the token's expiry is too far ahead")
    return expires
