"""Settings every process reads once at start: where NATS is, where data lives, how to serve."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Literal, TypeVar

import msgspec
from dotenv import dotenv_values

from libs.events.model import SystemMode

SettingsT = TypeVar("SettingsT", bound=msgspec.Struct)


class SettingsError(ValueError):
    """A configuration value is missing or malformed; the message names the variable."""


# The simulated carrier's account: fixed, shaped like a Twilio Account SID (AC + 32 hex),
# so that the conversation service builds the same REST URLs for it as for Twilio.
SIMULATED_ACCOUNT_SID = "AC" + "5151ca11ed0000000000000000000000"
TWILIO_API = "https://api.twilio.com"


class SharedSettings(msgspec.Struct, frozen=True, kw_only=True, rename="upper"):
    """The variables more than one service reads: each declared here once, with one type
    and one default. A service's settings extend this with the names only it reads."""

    mode: SystemMode = "simulation"
    host: str = "127.0.0.1"
    port: int = 7860
    data_dir: str = "data/runtime"  # stream files, DuckDB, results; relative to the cwd
    default_region: str = "US"  # for numbers written without a country code
    call_timeout_seconds: int = 300  # the longest a call may last
    twilio_account_sid: str | None = None
    twilio_auth_token: str | None = None
    twilio_api_base_url: str | None = None  # unset: api.twilio.com (a local fake in tests)
    simulation_auth_token: str | None = None  # the simulated account's, in simulation
    # Signs the media stream's per-call tokens (telephony) and checks them (conversation);
    # unset: a key derived from the auth token above. The previous one is still accepted,
    # so the two services can be restarted one after the other during a rotation.
    media_stream_secret: str | None = None
    media_stream_previous_secret: str | None = None
    # Record both sides of every call; the agent then says so first (consent).
    record_calls: bool = False

    @property
    def twilio_api_root(self) -> str:
        return (self.twilio_api_base_url or TWILIO_API).rstrip("/")


class RuntimeSettings(SharedSettings, frozen=True, kw_only=True):
    nats_url: str | None = None  # unset: start an embedded nats-server under DATA_DIR
    # The service's own NATS user (deploy/nats/permissions.conf); not used with the
    # embedded server, which is this process's alone.
    nats_user: str | None = None
    nats_password: str | None = None
    nats_tls_ca: str | None = None  # CA file that signed the NATS servers' certificates
    api_token: str | None = None
    stream_replicas: int = 1
    log_format: Literal["text", "json"] = "text"
    log_level: str = "INFO"
    # A worker task (consumer, dispatcher, watcher) that fails is restarted after a backoff
    # doubling from WORKER_RESTART_SECONDS up to WORKER_RESTART_MAX_SECONDS; after this many
    # failed restarts in a row the process exits (code 70) for its supervisor to replace.
    worker_max_restarts: int = 5
    worker_restart_seconds: float = 1.0
    worker_restart_max_seconds: float = 30.0

    def __post_init__(self) -> None:
        if (self.nats_user is None) != (self.nats_password is None):
            raise ValueError("NATS_USER and NATS_PASSWORD are set together or not at all")

    @property
    def nats_store_dir(self) -> Path:
        return Path(self.data_dir) / "nats"


def read_environment(
    environ: Mapping[str, str] | None = None, dotenv_path: Path | None = Path(".env")
) -> dict[str, str]:
    """The process environment over the `.env` file: a real variable always wins."""
    values: dict[str, str] = {}
    if dotenv_path is not None and dotenv_path.is_file():
        values.update({k: v for k, v in dotenv_values(dotenv_path).items() if v is not None})
    values.update(os.environ if environ is None else environ)
    # An empty variable means "not set", as in most deployment tools' templates.
    return {key: value for key, value in values.items() if value != ""}


def load_settings(settings_type: type[SettingsT], environ: Mapping[str, str]) -> SettingsT:
    try:
        return msgspec.convert(dict(environ), settings_type, strict=False)
    except msgspec.ValidationError as exc:
        raise SettingsError(f"invalid configuration: {exc}") from None
