"""`python -m services`: every service in one process on one port, NATS embedded if unset."""

from __future__ import annotations

import asyncio
import sys

from loguru import logger

from libs.events import NatsServerError
from libs.runtime.logging import configure_logging
from libs.runtime.plugin import ServicePlugin
from libs.runtime.runner import serve
from libs.runtime.security import UnsafeBindError
from libs.runtime.settings import RuntimeSettings, SettingsError, load_settings, read_environment


def all_plugins() -> list[ServicePlugin]:
    # Each service adds its plugin here as it lands; the probes are always served.
    return []


def main() -> int:
    environ = read_environment()
    try:
        settings = load_settings(RuntimeSettings, environ)
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    configure_logging(service="all", level=settings.log_level, json=settings.log_format == "json")
    try:
        asyncio.run(serve(all_plugins(), settings, name="sales-agent"))
    except (UnsafeBindError, NatsServerError) as exc:
        logger.error("{error}", error=str(exc))
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
