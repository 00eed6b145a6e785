"""The entry point every `python -m services...` shares: settings, logging, serve."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from loguru import logger

from libs.bus import NatsServerError
from libs.runtime.logging import configure_logging
from libs.runtime.mode import resolve_mode
from libs.runtime.plugin import ServicePlugin
from libs.runtime.runner import Companion, WorkerFailedError, serve
from libs.runtime.security import UnsafeBindError
from libs.runtime.settings import RuntimeSettings, SettingsError, load_settings, read_environment
from libs.runtime.supervision import EXIT_WORKER_FAILED

# Builds a process's service plugins from the environment; each reads its own settings.
PluginsFactory = Callable[[Mapping[str, str]], list[ServicePlugin]]


def run_services(
    build_plugins: PluginsFactory,
    *,
    name: str,
    services: Sequence[str] | None = None,
    companion: Companion | None = None,
    quiet: bool = False,
) -> int:
    """Run until SIGINT/SIGTERM; 0 on a clean stop, 2 when the configuration is refused,
    EXIT_WORKER_FAILED (70) when a worker kept failing and the process stopped itself.

    `services` names what this process runs (default: `name`), for what live mode needs.
    """
    environ = read_environment()
    try:
        mode = resolve_mode(environ, services or (name,))
        environ = {**environ, "MODE": mode}  # every plugin reads the one resolved mode
        settings = load_settings(RuntimeSettings, environ)
        configure_logging(
            service=name,
            level=settings.log_level,
            json=settings.log_format == "json",
            quiet_file=(Path(settings.data_dir) / "logs" / f"{name}.log") if quiet else None,
        )
        plugins = build_plugins(environ)
        asyncio.run(serve(plugins, settings, name=name, mode=mode, companion=companion))
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (UnsafeBindError, NatsServerError) as exc:
        logger.error("{error}", error=str(exc))
        return 2
    except WorkerFailedError as exc:
        logger.error("Stopped: {error}", error=str(exc))
        return EXIT_WORKER_FAILED
    return 0
