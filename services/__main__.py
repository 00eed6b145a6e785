"""`python -m services`: every service in one process on one port, NATS embedded if unset.

`python -m services demo` runs the same system, imports the sample leads, runs a campaign
over them with a live progress line, prints the results and stops.
"""

from __future__ import annotations

import os
import secrets
import sys
from collections.abc import Mapping
from pathlib import Path

from libs.runtime.main import run_services
from libs.runtime.plugin import ServicePlugin
from libs.runtime.settings import read_environment

USAGE = "usage: python -m services [serve | demo]"
SERVICES = ("ingest", "scheduler", "telephony", "conversation", "analytics")


def all_plugins(environ: Mapping[str, str]) -> list[ServicePlugin]:
    # Imported here so that a process running one service never imports the others.
    from services.analytics.plugin import build_plugin as analytics
    from services.conversation.plugin import build_plugin as conversation
    from services.ingest.plugin import build_plugin as ingest
    from services.scheduler.plugin import build_plugin as scheduler
    from services.telephony.plugin import build_plugin as telephony

    environ = with_simulation_token(environ)
    builders = (ingest, scheduler, telephony, conversation, analytics)
    return [build(environ) for build in builders]


def with_simulation_token(environ: Mapping[str, str]) -> dict[str, str]:
    """One simulated-Twilio token per process, shared by telephony (signs callbacks, checks
    hang-ups) and conversation (hangs up through the simulated REST API)."""
    values = dict(environ)
    if not values.get("SIMULATION_AUTH_TOKEN"):
        values["SIMULATION_AUTH_TOKEN"] = secrets.token_hex(16)
    return values


def demo() -> int:
    from services.demo import run_demo

    environ = read_environment()
    data_dir = Path(environ.get("DATA_DIR", "data/runtime"))
    leads = Path(environ.get("LEADS_CSV_PATH", "data/test_sample.csv"))
    results = Path(environ.get("RESULTS_CSV_PATH", data_dir / "results.csv")).absolute()
    token = environ.get("API_TOKEN")

    async def companion(base_url: str) -> None:
        await run_demo(base_url, leads, results, token)

    def without_start_import(environ: Mapping[str, str]) -> list[ServicePlugin]:
        # The demo uploads the sample itself, over HTTP, as a sales team would.
        return all_plugins({**environ, "LEADS_CSV_PATH": ""})

    # The demonstration is a simulation unless MODE says otherwise; a live MODE still has
    # to pass every live check.
    if "MODE" not in environ:
        os.environ["MODE"] = "simulation"
    return run_services(
        without_start_import,
        name="sales-agent",
        services=SERVICES,
        companion=companion,
        quiet=True,
    )


def main(argv: list[str]) -> int:
    if argv in ([], ["serve"]):
        return run_services(all_plugins, name="sales-agent", services=SERVICES)
    if argv == ["demo"]:
        return demo()
    print(USAGE, file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
