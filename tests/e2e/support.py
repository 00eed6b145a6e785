"""The whole system as real processes: five services plus a nats-server, or one process."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import os
import secrets
import socket
import sys
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).parents[2]
SAMPLE = ROOT / "data" / "test_sample.csv"
SERVICES = ("ingest", "scheduler", "telephony", "conversation", "analytics")
# Enough lines and pace that a campaign over the sample ends in a couple of minutes.
FAST = {
    "MAX_CONCURRENT_CALLS": "8",
    "CALLS_PER_SECOND": "4",
    "SIMULATED_SECONDS_PER_CHARACTER": "0.03",
    "SIMULATION_PACE": "0.3",  # ringing at a third of its time: who answers is unchanged
    "LOG_FORMAT": "text",
}


# Settings of the machine the tests run on that must not leak into the system under test.
INHERITED_NOT = ("NATS_URL", "API_TOKEN", "NATS_USER", "NATS_PASSWORD", "NATS_TLS_CA")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Running:
    urls: dict[str, str]  # service -> base URL (the same URL for all in one process)
    processes: list[asyncio.subprocess.Process]
    logs: list[Path]

    def url(self, service: str) -> str:
        return self.urls[service]

    def tail(self) -> str:
        return "\n".join(log.read_text(errors="replace")[-3000:] for log in self.logs)


async def start(command: list[str], env: dict[str, str], log: Path) -> asyncio.subprocess.Process:
    environment = {k: v for k, v in os.environ.items() if k not in INHERITED_NOT}
    environment.update({"PYTHONPATH": str(ROOT), **env})
    with log.open("wb") as output:
        return await asyncio.create_subprocess_exec(
            *command, cwd=ROOT, env=environment, stdout=output, stderr=output
        )


async def wait_ready(client: httpx.AsyncClient, url: str, process, log: Path) -> None:
    async with asyncio.timeout(120):
        while True:
            if process.returncode is not None:
                raise AssertionError(f"{url} exited; see {log}")
            with contextlib.suppress(httpx.TransportError):
                if (await client.get(f"{url}/readyz")).status_code == 200:
                    return
            await asyncio.sleep(0.2)  # the process is starting: nothing to wait on but it


@contextlib.asynccontextmanager
async def five_processes(
    nats_url: str, data_dir: Path, nats_passwords: Mapping[str, str] | None = None
) -> AsyncIterator[Running]:
    """With `nats_passwords`, each service connects as its own NATS user."""
    ports = {service: free_port() for service in SERVICES}
    urls = {service: f"http://127.0.0.1:{port}" for service, port in ports.items()}
    shared = {
        **FAST,
        "NATS_URL": nats_url,
        "MODE": "simulation",
        "SIMULATION_AUTH_TOKEN": secrets.token_hex(16),
        "MEDIA_STREAM_BASE_URL": urls["conversation"],
    }
    own = {
        "conversation": {"TWILIO_API_BASE_URL": f"{urls['telephony']}/simulated-twilio"},
    }
    processes, logs = [], []
    for service in SERVICES:
        log = data_dir / f"{service}.log"
        env = {
            **shared,
            **own.get(service, {}),
            "PORT": str(ports[service]),
            "DATA_DIR": str(data_dir / service),
        }
        if nats_passwords is not None:
            env |= {"NATS_USER": service, "NATS_PASSWORD": nats_passwords[service]}
        processes.append(await start([sys.executable, "-m", f"services.{service}"], env, log))
        logs.append(log)
    running = Running(urls, processes, logs)
    try:
        async with httpx.AsyncClient() as client:
            for service, process, log in zip(SERVICES, processes, logs, strict=True):
                await wait_ready(client, urls[service], process, log)
        yield running
    finally:
        await stop(processes)


@contextlib.asynccontextmanager
async def one_process(data_dir: Path) -> AsyncIterator[Running]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = data_dir / "all.log"
    env = {**FAST, "PORT": str(port), "DATA_DIR": str(data_dir), "MODE": "simulation"}
    process = await start([sys.executable, "-m", "services"], env, log)
    try:
        async with httpx.AsyncClient() as client:
            await wait_ready(client, url, process, log)
        yield Running(dict.fromkeys(SERVICES, url), [process], [log])
    finally:
        await stop([process])


async def stop(processes: list[asyncio.subprocess.Process]) -> None:
    for process in processes:
        if process.returncode is None:
            process.terminate()
    for process in processes:
        try:
            await asyncio.wait_for(process.wait(), 30)
        except TimeoutError:
            process.kill()
            await process.wait()


async def run_sample_campaign(system: Running) -> tuple[dict, list[dict[str, str]], dict]:
    """Upload the sample, run a campaign to its end, and read the results."""
    async with httpx.AsyncClient(timeout=60) as client:
        with SAMPLE.open("rb") as file:
            upload = await client.post(
                f"{system.url('ingest')}/leads/upload",
                files={"file": ("leads.csv", file, "text/csv")},
            )
        assert upload.status_code == 200, upload.text
        started = await client.post(
            f"{system.url('scheduler')}/campaign/start", json={"name": "Sample"}
        )
        assert started.status_code == 201, started.text
        campaign = started.json()
        async with asyncio.timeout(420):
            while True:
                status = (await client.get(f"{system.url('scheduler')}/campaign/status")).json()
                if status["state"] == "finished":
                    break
                await asyncio.sleep(1)  # a campaign of real-time calls: check once a second
        results_url = f"{system.url('analytics')}/results"
        for _ in range(120):  # analytics trails the stream by a moment
            statistics = (await client.get(f"{results_url}/statistics")).json()
            by_status = statistics["totals"]["leads_by_status"]
            settled = by_status.get("called", 0) + by_status.get("opted_out", 0)
            if not by_status.get("in_progress") and settled >= campaign["selected"]:
                break
            await asyncio.sleep(0.5)
        else:
            raise AssertionError(f"analytics never settled: {by_status}, campaign {campaign}")
        download = await client.get(f"{results_url}/download")
        assert download.status_code == 200
    rows = list(csv.DictReader(io.StringIO(download.text)))
    return campaign, rows, statistics
