"""The whole system as real processes that a test can kill, pause and restart.

A nats-server on a fixed port and store directory (so it can be SIGKILLed and started
again on the same store), each service as its own process (telephony possibly twice),
and a watch over the stream that a test waits on to choose the moment of a fault.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import ctypes
import io
import secrets
import signal
import sys
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import nats
import nats.errors
import phonenumbers
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from libs.bus.embedded_server import find_nats_server
from libs.events import STREAM_NAME, AnyEvent, LeadImported, decode_event
from libs.simulation.personas import choose_persona
from tests.e2e.support import FAST, SAMPLE, SERVICES, free_port, start, wait_ready
from tests.faults.invariants import DialRecord

# Four lines, quick ringing and speech, short calls: a campaign of a dozen leads, retries
# included, ends in well under a minute while every kind of call still happens.
SETTINGS = {
    **FAST,
    "MAX_CONCURRENT_CALLS": "4",
    "CALLS_PER_SECOND": "4",
    "SIMULATED_SECONDS_PER_CHARACTER": "0.01",
    "SIMULATION_PACE": "0.2",
    "CALL_TIMEOUT_SECONDS": "60",
    "CALL_TIMEOUT_MARGIN_SECONDS": "30",
    "MAX_ATTEMPTS": "2",
    "SIMULATION_SEED": "7",
    # A call whose agent was lost gets its fallback record soon, so its lead is retried
    # within the campaign rather than after a live deployment's minute.
    "OUTCOME_GRACE_SECONDS": "8",
}
LEADS = 14
NATS_READY = b"Server is ready"


def lead_file(folder: Path, count: int = LEADS) -> Path:
    """A small upload: the sample's first `count` leads who never ask to be called back
    later (a callback stretches a campaign by another call), callable at any hour."""
    with SAMPLE.open(newline="") as file:
        reader = csv.DictReader(file)
        rows = [row for row in reader if not _asks_for_a_callback(row)][:count]
        columns = reader.fieldnames or []
    assert len(rows) == count, f"the sample has only {len(rows)} such leads"
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=columns)
    writer.writeheader()
    writer.writerows({**row, "best_call_time": ""} for row in rows)
    path = folder / "leads.csv"
    path.write_text(text.getvalue())
    return path


def _asks_for_a_callback(row: dict[str, str]) -> bool:
    number = phonenumbers.format_number(
        phonenumbers.parse(row["contact_number"], "US"), phonenumbers.PhoneNumberFormat.E164
    )
    seed = int(SETTINGS["SIMULATION_SEED"])
    attempts = range(1, int(SETTINGS["MAX_ATTEMPTS"]) + 1)
    return any(choose_persona(seed, number, n).kind == "lukewarm" for n in attempts)


def _die_with_parent() -> None:
    # Linux: should the test process be killed outright, the server goes with it.
    if sys.platform.startswith("linux"):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


class NatsServer:
    """nats-server with JetStream on one port and one store, for as many lives as needed."""

    def __init__(self, store_dir: Path, log: Path) -> None:
        self.store_dir = store_dir
        self.log = log
        self.port = free_port()
        self.process: asyncio.subprocess.Process | None = None
        self._copy: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self.store_dir.mkdir(parents=True, exist_ok=True)
        process = await asyncio.create_subprocess_exec(
            str(find_nats_server()),
            "--jetstream",
            "--store_dir",
            str(self.store_dir),
            "--addr",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--server_name",
            "faults",
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        self.process = process
        assert process.stderr is not None
        output = self.log.open("ab")
        async with asyncio.timeout(30):
            while line := await process.stderr.readline():
                output.write(line)
                if NATS_READY in line:
                    break
            else:
                output.close()
                raise AssertionError(f"nats-server exited before it was ready; see {self.log}")
        self._copy = asyncio.create_task(_copy_lines(process.stderr, output))

    async def kill(self) -> None:
        """SIGKILL: no flush, no goodbye to the clients."""
        await self._end(signal.SIGKILL)

    async def stop(self) -> None:
        await self._end(signal.SIGTERM)

    async def _end(self, sent: signal.Signals) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        if process.returncode is None:
            process.send_signal(sent)
        try:
            await asyncio.wait_for(process.wait(), 15)
        except TimeoutError:
            process.kill()
            await process.wait()
        if self._copy is not None:
            await self._copy  # the pipe closed with the process


async def _copy_lines(source: asyncio.StreamReader, output: io.BufferedWriter) -> None:
    with output:
        while line := await source.readline():
            output.write(line)
            output.flush()


@dataclass
class Member:
    """One service process slot: its settings stay the same across restarts."""

    name: str  # "telephony", or "telephony-2" for a second replica
    service: str
    port: int
    data_dir: Path
    env: dict[str, str]
    process: asyncio.subprocess.Process | None = None
    logs: list[Path] = field(default_factory=list)  # one per life, in order

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


class System:
    """The five services, each in its own process, over `nats`."""

    def __init__(
        self,
        nats: NatsServer,
        root: Path,
        *,
        telephony_replicas: int = 1,
        extra_env: Mapping[str, Mapping[str, str]] | None = None,
    ) -> None:
        self.nats = nats
        self.root = root
        names = [*SERVICES]
        names += [f"telephony-{n}" for n in range(2, telephony_replicas + 1)]
        ports = {name: free_port() for name in names}
        shared = {
            **SETTINGS,
            "NATS_URL": nats.url,
            "MODE": "simulation",
            "SIMULATION_AUTH_TOKEN": secrets.token_hex(16),
            "MEDIA_STREAM_BASE_URL": f"http://127.0.0.1:{ports['conversation']}",
        }
        own = {
            "conversation": {
                "TWILIO_API_BASE_URL": f"http://127.0.0.1:{ports['telephony']}/simulated-twilio"
            }
        }
        extra = extra_env or {}
        # Ingest imports the campaign's leads at start (and again on a restart), only those.
        self.leads = lead_file(root)
        own["ingest"] = {"LEADS_CSV_PATH": str(self.leads)}
        self.members: dict[str, Member] = {}
        for name in names:
            service = name.split("-")[0]
            data_dir = root / name
            env = {
                **shared,
                **own.get(service, {}),
                **extra.get(service, {}),
                **extra.get(name, {}),
                # Each replica answers, after a restart, for the calls it held itself.
                **({"TELEPHONY_REPLICA": name} if service == "telephony" else {}),
                "PORT": str(ports[name]),
                "DATA_DIR": str(data_dir),
            }
            self.members[name] = Member(name, service, ports[name], data_dir, env)

    def url(self, name: str) -> str:
        return self.members[name].url

    def replicas(self, service: str) -> list[Member]:
        return [member for member in self.members.values() if member.service == service]

    async def start(self, name: str) -> None:
        """Start (or restart) a process with its settings, and wait until it is ready."""
        await self._spawn(name)
        await self._ready(name)

    async def start_all(self) -> None:
        for name in self.members:
            await self._spawn(name)
        await asyncio.gather(*(self._ready(name) for name in self.members))

    async def _spawn(self, name: str) -> None:
        member = self.members[name]
        assert member.process is None or member.process.returncode is not None, name
        log = self.root / f"{name}.{len(member.logs) + 1}.log"
        member.logs.append(log)
        command = [sys.executable, "-m", f"services.{member.service}"]
        member.process = await start(command, member.env, log)

    async def _ready(self, name: str) -> None:
        member = self.members[name]
        assert member.process is not None
        async with httpx.AsyncClient() as client:
            await wait_ready(client, member.url, member.process, member.logs[-1])

    async def kill(self, name: str) -> None:
        """SIGKILL, as the kernel's OOM killer or a lost node does it."""
        process = self.members[name].process
        assert process is not None and process.returncode is None, f"{name} is not running"
        process.send_signal(signal.SIGKILL)
        await process.wait()

    async def stop_all(self) -> None:
        running = [m.process for m in self.members.values() if m.process is not None]
        for process in running:
            if process.returncode is None:
                process.terminate()
        for process in running:
            try:
                await asyncio.wait_for(process.wait(), 30)
            except TimeoutError:
                process.kill()
                await process.wait()

    def tail(self) -> str:
        return "\n".join(
            f"--- {log.name}\n{log.read_text(errors='replace')[-2000:]}"
            for member in self.members.values()
            for log in member.logs
        )


class StreamWatch:
    """Every event stored so far, kept up to date, surviving a NATS restart."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.events: list[AnyEvent] = []
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def _follow(self) -> None:
        async def quiet(exc: Exception) -> None:
            pass  # NATS away is what the scenario is about: the logs need not say so

        connection = await nats.connect(
            self.url,
            name="fault-watch",
            max_reconnect_attempts=-1,
            reconnect_time_wait=0.5,
            error_cb=quiet,
        )
        stream = connection.jetstream()
        next_sequence = 1
        try:
            while True:
                try:
                    config = ConsumerConfig(
                        ack_policy=AckPolicy.NONE,
                        deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
                        opt_start_seq=next_sequence,
                        inactive_threshold=30,
                    )
                    subscription = await stream.pull_subscribe(
                        "sales.>", stream=STREAM_NAME, config=config
                    )
                    while True:
                        try:
                            batch = await subscription.fetch(256, timeout=1)
                        except TimeoutError:
                            continue
                        for message in batch:
                            sequence = message.metadata.sequence.stream
                            if sequence >= next_sequence:
                                self.events.append(decode_event(message.data, message.subject))
                                next_sequence = sequence + 1
                        self._changed.set()
                except (nats.errors.Error, OSError):
                    # No stream yet, or NATS is away: follow again from where we were.
                    await asyncio.sleep(0.5)
        finally:
            await connection.close()  # nothing of ours to flush: no drain

    async def wait_for(
        self, predicate: Callable[[list[AnyEvent]], object], timeout: float, what: str
    ) -> object:
        """The predicate's first truthy value over the events stored so far."""
        try:
            async with asyncio.timeout(timeout):
                while True:
                    self._changed.clear()
                    if result := predicate(self.events):
                        return result
                    await self._changed.wait()
        except TimeoutError:
            raise AssertionError(f"not seen within {timeout:.0f}s: {what}") from None

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[StreamWatch]:
        self._task = asyncio.create_task(self._follow())
        try:
            yield self
        finally:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


@contextlib.asynccontextmanager
async def running_system(
    root: Path,
    *,
    telephony_replicas: int = 1,
    extra_env: Mapping[str, Mapping[str, str]] | None = None,
) -> AsyncIterator[tuple[System, StreamWatch]]:
    nats = NatsServer(root / "nats-store", root / "nats-server.log")
    await nats.start()
    system = System(nats, root, telephony_replicas=telephony_replicas, extra_env=extra_env)
    try:
        await system.start_all()
        async with StreamWatch(nats.url).running() as watch:
            yield system, watch
    finally:
        await system.stop_all()
        await nats.stop()


async def start_campaign(system: System, watch: StreamWatch) -> dict:
    """Once ingest has imported the leads, start a campaign over them."""
    await watch.wait_for(
        lambda events: sum(isinstance(event, LeadImported) for event in events) >= LEADS,
        30,
        f"{LEADS} leads imported",
    )
    async with httpx.AsyncClient(timeout=30) as client:
        started = await client.post(
            f"{system.url('scheduler')}/campaign/start", json={"name": "Faults"}
        )
    assert started.status_code == 201, started.text
    campaign = started.json()
    assert campaign["selected"] == LEADS, campaign
    return campaign


async def campaign_status(system: System) -> dict:
    async with httpx.AsyncClient(timeout=30) as client:
        response = await client.get(f"{system.url('scheduler')}/campaign/status")
        assert response.status_code == 200, response.text
        return response.json()


async def results_rows(system: System) -> list[dict[str, str]]:
    async with httpx.AsyncClient(timeout=30) as client:
        response = await client.get(f"{system.url('analytics')}/results/download")
        assert response.status_code == 200, response.text
    return list(csv.DictReader(io.StringIO(response.text)))


async def settled_results(
    system: System, settled: Callable[[list[dict[str, str]]], bool], timeout: float = 30
) -> list[dict[str, str]]:
    """The results file once `settled` holds for it (analytics trails the stream)."""
    rows: list[dict[str, str]] = []
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(timeout):
            while True:
                if settled(rows := await results_rows(system)):
                    break
                await asyncio.sleep(0.5)  # no event says analytics has caught up: ask again
    return rows


async def readiness(system: System, timeout: float = 15) -> dict[str, str]:
    """Each running process's /readyz that is not 200 (after up to `timeout` seconds)."""
    not_ready: dict[str, str] = {}
    async with httpx.AsyncClient(timeout=5) as client:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                while True:
                    not_ready = {}
                    for name, member in system.members.items():
                        try:
                            response = await client.get(f"{member.url}/readyz")
                        except httpx.TransportError as exc:
                            not_ready[name] = type(exc).__name__
                            continue
                        if response.status_code != 200:
                            not_ready[name] = f"{response.status_code} {response.text[:200]}"
                    if not not_ready:
                        break
                    await asyncio.sleep(0.5)  # readiness is only said by the endpoint
    return not_ready


def dial_records(system: System) -> list[DialRecord]:
    """Where each telephony process's simulated carrier records the calls it creates."""
    return [
        DialRecord(member.name, member.data_dir / "carrier" / "dials.jsonl", member.logs)
        for member in system.replicas("telephony")
    ]
