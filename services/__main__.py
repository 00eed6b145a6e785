"""`python -m services`: every service in one process on one port, NATS embedded if unset."""

from __future__ import annotations

from collections.abc import Mapping

from libs.runtime.main import run_services
from libs.runtime.plugin import ServicePlugin


def all_plugins(environ: Mapping[str, str]) -> list[ServicePlugin]:
    # Imported here so that a process running one service never imports the others.
    from services.scheduler.plugin import build_plugin as scheduler

    return [scheduler(environ)]


if __name__ == "__main__":
    raise SystemExit(run_services(all_plugins, name="sales-agent"))
