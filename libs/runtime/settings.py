"""Settings every process reads once at start: where NATS is, where data lives, how to serve."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Literal, TypeVar

import msgspec
from dotenv import dotenv_values

SettingsT = TypeVar("SettingsT", bound=msgspec.Struct)


class SettingsError(ValueError):
    """A configuration value is missing or malformed; the message names the variable."""


class RuntimeSettings(msgspec.Struct, frozen=True, kw_only=True, rename="upper"):
    nats_url: str | None = None  # unset: start an embedded nats-server under DATA_DIR
    data_dir: str = "data/runtime"  # stream files, DuckDB, results; relative to the cwd
    host: str = "127.0.0.1"
    port: int = 7860
    api_token: str | None = None
    stream_replicas: int = 1
    log_format: Literal["text", "json"] = "text"
    log_level: str = "INFO"

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
