"""Each service runs with only its own dependencies: its entry point imports no other's."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

# The heavy dependencies, by the optional group that brings them in.
HEAVY = {"pipecat": "conversation", "duckdb": "analytics", "twilio": "telephony"}
ALLOWED = {
    "ingest": set(),
    "scheduler": set(),
    "telephony": {"twilio"},
    "conversation": {"pipecat", "twilio"},
    "analytics": {"duckdb"},
}
PROBE = """
import json, sys
import services.{service}.plugin, services.{service}.__main__
print(json.dumps(sorted({{m.split(".")[0] for m in sys.modules}})))
"""


@pytest.mark.parametrize("service", sorted(ALLOWED))
def test_a_service_imports_only_its_own_dependencies(service):
    result = subprocess.run(
        [sys.executable, "-c", PROBE.format(service=service)],
        capture_output=True,
        text=True,
        check=True,
    )
    loaded = set(json.loads(result.stdout.splitlines()[-1]))
    other_services = {name for name in ALLOWED if name != service and f"services.{name}" in loaded}
    assert not other_services
    assert loaded & set(HEAVY) <= ALLOWED[service]


def test_no_service_imports_another():
    for service in ALLOWED:
        result = subprocess.run(
            [
                sys.executable,
                "-c",
                PROBE.format(service=service).replace(
                    'm.split(".")[0]', '".".join(m.split(".")[:2])'
                ),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        loaded = set(json.loads(result.stdout.splitlines()[-1]))
        assert {f"services.{s}" for s in ALLOWED if s != service} & loaded == set(), service
