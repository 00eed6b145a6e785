"""Dependencies point inward: a service's domain logic does no I/O and knows no other service.

Each `services/<name>/domain.py`, with the modules of its own service it imports (followed
transitively), may import only the standard library, msgspec, phonenumbers, `libs.events`,
`libs.phone` and the pure calling rules in `libs.compliance`, and never another service. The rules
themselves keep to the same imports (only their loader reads files and holidays).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
ALLOWED_PACKAGES = {"msgspec", "phonenumbers"}
# I/O from the standard library has no place in pure logic either.
FORBIDDEN_STDLIB = {"asyncio", "socket", "subprocess", "urllib.request", "http", "sqlite3"}
# The event contract, which does no I/O; the bus that carries it (libs.bus) does.
CONTRACT = {"libs.events", *(f"libs.events.{m}" for m in ("model", "subjects", "ids", "codec"))}
# What a pure module must never bring into the process, however indirectly.
IO_PACKAGES = {"nats", "duckdb", "litestar", "pipecat", "twilio", "httpx", "loguru", "asyncio"}
IO_PACKAGES |= FORBIDDEN_STDLIB
SERVICES = sorted(path.parent.name for path in (ROOT / "services").glob("*/domain.py"))


def imports_of(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def domain_closure(service: str) -> dict[str, set[str]]:
    """Every module the domain reaches inside its own service, with what each imports."""
    seen: dict[str, set[str]] = {}
    pending = [f"services.{service}.domain"]
    while pending:
        module = pending.pop()
        if module in seen:
            continue
        path = ROOT / (module.replace(".", "/") + ".py")
        seen[module] = imports_of(path)
        pending += [m for m in seen[module] if m.startswith(f"services.{service}.")]
    return seen


@pytest.mark.parametrize("service", SERVICES)
def test_domain_logic_imports_only_what_the_style_allows(service):
    offending = {}
    for module, imported in domain_closure(service).items():
        bad = {
            name
            for name in imported
            if not (
                name.startswith(f"services.{service}.")
                or name in CONTRACT
                or name == "libs.phone"
                or name == "libs.compliance"
                or (name.startswith("libs.compliance.") and name != "libs.compliance.loading")
                or name.split(".")[0] in ALLOWED_PACKAGES
                or (
                    name.split(".")[0] in sys.stdlib_module_names
                    and name not in FORBIDDEN_STDLIB
                    and name.split(".")[0] not in FORBIDDEN_STDLIB
                )
            )
        }
        if bad:
            offending[module] = sorted(bad)
    assert offending == {}


@pytest.mark.parametrize("module", [f"services.{s}.domain" for s in SERVICES] + ["libs.events"])
def test_importing_the_pure_logic_loads_nothing_that_does_io(module):
    probe = (
        f"import sys, {module}; print(' '.join(sorted({{m.split('.')[0] for m in sys.modules}})))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout.split()
    assert IO_PACKAGES & set(loaded) == set()


def test_the_probe_sees_io_where_there_is_some():
    probe = "import sys, libs.bus; print(' '.join({m.split('.')[0] for m in sys.modules}))"
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout.split()
    assert {"nats", "asyncio"} <= set(loaded)


def test_the_calling_rules_are_pure():
    offending = {}
    for path in sorted((ROOT / "libs" / "compliance").glob("*.py")):
        if path.name == "loading.py":
            continue
        bad = {
            name
            for name in imports_of(path)
            if not (
                name.startswith(("libs.compliance", "libs.events"))
                or name.split(".")[0] in ALLOWED_PACKAGES
                or (
                    name.split(".")[0] in sys.stdlib_module_names
                    and name.split(".")[0] not in FORBIDDEN_STDLIB
                )
            )
        }
        if bad:
            offending[path.name] = sorted(bad)
    assert offending == {}
