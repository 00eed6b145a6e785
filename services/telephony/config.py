"""Telephony settings: Twilio in live mode, the simulated carrier in simulation."""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Mapping
from typing import Literal

import msgspec

from libs.runtime.mode import resolve_mode
from libs.runtime.settings import (
    SIMULATED_ACCOUNT_SID,
    SettingsError,
    SharedSettings,
    load_settings,
)
from libs.runtime.stream_tokens import stream_keys

SIMULATED_FROM_NUMBER = "+15005550006"  # Twilio's own magic "valid from" test number
SIMULATED_API_PREFIX = "/simulated-twilio"

Carrier = Literal["twilio", "simulated"]


class TelephonySettings(SharedSettings, frozen=True, kw_only=True):
    twilio_from_number: str | None = None
    webhook_base_url: str | None = None  # public https base Twilio reaches us at
    # Where the conversation service's /twilio/stream is, when it is not behind the same
    # address as our webhooks (services run as separate processes without a gateway).
    media_stream_base_url: str | None = None
    ring_timeout_seconds: int = 30  # how long to ring before Twilio gives up (no-answer)
    twilio_max_attempts: int = 4  # per call creation, on 429 (and per lookup, on 5xx too)
    twilio_retry_base_seconds: float = 0.5
    # This replica's stable name: a restarted process takes over the calls its earlier
    # life held under it. Unset: the hostname, which only a StatefulSet's pods keep.
    telephony_replica: str = ""
    # The bound on creating a call at the carrier; past it the create's fate is unknown
    # and the carrier is asked whether the call exists, never told to dial again.
    carrier_create_timeout_seconds: float = 20.0
    # How long after the bound a create may still surface in the carrier's call list.
    carrier_create_grace_seconds: float = 10.0
    simulation_seed: int = 7
    simulation_pace: float = 1.0  # scales ringing; 0 rings instantly

    @property
    def carrier(self) -> Carrier:
        return "twilio" if self.mode == "live" else "simulated"

    @property
    def replica_name(self) -> str:
        return self.telephony_replica or socket.gethostname()

    @property
    def claimant(self) -> str:
        """Who holds a dial's claim: this replica, and this life of it."""
        return f"{self.replica_name}/{os.getpid()}"

    @property
    def public_base_url(self) -> str:
        """Where webhooks are addressed: WEBHOOK_BASE_URL, else this process's own address."""
        if self.webhook_base_url:
            return self.webhook_base_url.rstrip("/")
        return f"http://{self._reachable_host}:{self.port}"

    @property
    def stream_base_url(self) -> str:
        return (self.media_stream_base_url or self.public_base_url).rstrip("/")

    @property
    def simulated_api_base_url(self) -> str:
        """The fake Twilio REST root the conversation service hangs up through in simulation."""
        return f"http://{self._reachable_host}:{self.port}{SIMULATED_API_PREFIX}"

    @property
    def _reachable_host(self) -> str:
        # Listening on every interface: reach ourselves over loopback.
        if self.host in ("0.0.0.0", ""):
            return "127.0.0.1"
        if self.host == "::":
            return "[::1]"
        return f"[{self.host}]" if ":" in self.host else self.host

    @property
    def account_sid(self) -> str:
        if self.carrier == "twilio":
            return self.twilio_account_sid or ""
        return SIMULATED_ACCOUNT_SID

    @property
    def auth_token(self) -> str:
        """The token webhooks are signed with: Twilio's, or the simulated account's."""
        if self.carrier == "twilio":
            return self.twilio_auth_token or ""
        return self.simulation_auth_token or ""

    @property
    def media_stream_key(self) -> bytes:
        """The key each answered call's media stream token is signed with."""
        keys = stream_keys(self.media_stream_secret, None, self.auth_token)
        if not keys:
            raise SettingsError(
                "no key to sign media stream tokens with: set MEDIA_STREAM_SECRET, or the "
                "auth token webhooks are signed with"
            )
        return keys[0]


def load_telephony_settings(environ: Mapping[str, str]) -> TelephonySettings:
    # Refuses live mode without every Twilio variable: never a silent simulation.
    mode = resolve_mode(environ, ("telephony",))
    settings = load_settings(TelephonySettings, {**environ, "MODE": mode})
    if settings.carrier == "simulated" and not settings.simulation_auth_token:
        # One per process; a separately run conversation service needs SIMULATION_AUTH_TOKEN.
        settings = msgspec.structs.replace(settings, simulation_auth_token=secrets.token_hex(16))
    return settings
