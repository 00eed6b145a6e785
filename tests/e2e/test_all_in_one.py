"""`python -m services` as a person runs it: a real process, its own nats-server, Ctrl-C."""

from __future__ import annotations

import os
import re
import select
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).parents[2]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_exit(pid: int, timeout: float) -> bool:
    """Block on the process itself (a pidfd), not on a polling loop."""
    try:
        descriptor = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        readable, _, _ = select.select([descriptor], [], [], timeout)
        return bool(readable)
    finally:
        os.close(descriptor)


def start_all_in_one(tmp_path: Path, **env: str) -> tuple[subprocess.Popen[str], list[str]]:
    environment = {k: v for k, v in os.environ.items() if k not in ("NATS_URL", "API_TOKEN")}
    environment.update({"DATA_DIR": str(tmp_path), "LOG_FORMAT": "text", **env})
    process = subprocess.Popen(
        [sys.executable, "-m", "services"],
        cwd=tmp_path,
        env=environment,
        stderr=subprocess.PIPE,
        text=True,
    )
    return process, []


def read_until(process: subprocess.Popen[str], lines: list[str], marker: str) -> str:
    assert process.stderr is not None
    for line in process.stderr:
        lines.append(line)
        if marker in line:
            return line
    raise AssertionError(f"exited before {marker!r}:\n{''.join(lines)}")


@pytest.fixture
def project_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHONPATH", str(ROOT))


@pytest.mark.usefixtures("project_on_path")
def test_starts_with_no_configuration_is_ready_and_stops_cleanly_on_ctrl_c(tmp_path):
    port = free_port()
    process, lines = start_all_in_one(tmp_path, PORT=str(port))
    try:
        nats_line = read_until(process, lines, "Embedded nats-server ready")
        nats_pid = int(re.search(r"pid (\d+)", nats_line).group(1))
        read_until(process, lines, "Application startup complete")
        ready = httpx.get(f"http://127.0.0.1:{port}/readyz")
        assert (ready.status_code, ready.json()) == (
            200,
            {"status": "ready", "stream": "SALES", "mode": "simulation"},
        )
        process.send_signal(signal.SIGINT)
        output = process.communicate(timeout=20)[1]
    finally:
        process.kill()
    assert process.returncode == 0, "".join(lines) + output
    assert "Embedded nats-server stopped" in output
    assert wait_for_exit(nats_pid, timeout=5), "nats-server outlived the runner"
    assert (tmp_path / "nats" / "jetstream").is_dir()  # the stream lives under DATA_DIR


@pytest.mark.usefixtures("project_on_path")
def test_a_killed_runner_takes_its_nats_server_with_it(tmp_path):
    process, lines = start_all_in_one(tmp_path, PORT=str(free_port()))
    try:
        nats_line = read_until(process, lines, "Embedded nats-server ready")
        nats_pid = int(re.search(r"pid (\d+)", nats_line).group(1))
    finally:
        process.kill()
        process.wait()
    assert wait_for_exit(nats_pid, timeout=5), "an orphaned nats-server kept running"


@pytest.mark.usefixtures("project_on_path")
def test_refuses_to_listen_publicly_without_a_token(tmp_path):
    process, _ = start_all_in_one(tmp_path, HOST="0.0.0.0", PORT=str(free_port()))
    output = process.communicate(timeout=30)[1]
    assert process.returncode == 2
    assert "refusing to listen on '0.0.0.0' without API_TOKEN" in output
    assert "nats-server ready" not in output  # refused before starting anything


@pytest.mark.usefixtures("project_on_path")
def test_a_malformed_setting_is_named(tmp_path):
    process, _ = start_all_in_one(tmp_path, PORT="seventy")
    output = process.communicate(timeout=30)[1]
    assert process.returncode == 2
    assert "invalid configuration: Expected `int`, got `str` - at `$.PORT`" in output
