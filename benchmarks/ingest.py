"""Ingest end to end beside bare nats-py publishing, on one embedded nats-server, in one run.

End to end: a real `python -m services.ingest` process; the CSV is uploaded over HTTP as
a text/csv body, and the clock stops when the response arrives, which is after every
LeadImported event was acknowledged by JetStream (validation with phonenumbers, time
zones, ids, pipelined publishing included). Peak memory is that process's peak resident
set (VmHWM), one fresh process per import. Raw: bare `js.publish_async` of the same
number of payloads as large as the file's events, without headers or checks.

    .venv/bin/python benchmarks/ingest.py [--rounds 3] [--sizes 10000 100000]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import signal
import socket
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from uuid import uuid4

import httpx
import phonenumbers
from loguru import logger
from nats.js.errors import NotFoundError

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from libs.bus import EmbeddedNatsServer, EventBus  # noqa: E402
from libs.events import STREAM_NAME, encode_event  # noqa: E402
from services.ingest.csv_source import CsvSource  # noqa: E402
from services.ingest.domain import lead_imported, validate_row  # noqa: E402

AREA_CODES = (202, 212, 213, 303, 305, 312, 404, 415, 503, 512, 602, 615, 617, 702, 713, 808)
BUSINESSES = (
    ("Trattoria", "Italian restaurant"),
    ("Family Dental", "Dental clinic"),
    ("Auto Repair", "Auto repair"),
    ("Fitness", "Gym"),
    ("Realty", "Real estate"),
    ("HVAC", "HVAC contractor"),
    ("Bakery", "Bakery"),
    ("Law Group", "Law firm"),
    ("Pet Grooming", "Pet grooming"),
)
SIZES = ("small", "medium", "large", "12 employees", "50-200", "500+")
TIMES = ("9am-11am", "2-4pm", "afternoons", "10:00-12:00", "mornings", "after 3pm")
HEADER = (
    "business_name,contact_number,contact_name,business_type,company_size,"
    "current_challenges,best_call_time,status\n"
)


def write_leads(path: Path, count: int, seed: int = 7) -> None:
    """`count` distinct valid US leads, as varied as a real export."""
    rng = random.Random(seed)
    seen: set[str] = set()
    with path.open("w", newline="") as out:
        out.write(HEADER)
        while len(seen) < count:
            area, exchange, line = (
                rng.choice(AREA_CODES),
                rng.randint(200, 999),
                rng.randint(0, 9999),
            )
            number = f"({area}) {exchange}-{line:04d}"
            if number in seen or not phonenumbers.is_valid_number(phonenumbers.parse(number, "US")):
                continue
            seen.add(number)
            suffix, kind = rng.choice(BUSINESSES)
            out.write(
                f"Lead {len(seen)} {suffix},{number},Contact {len(seen)},{kind},"
                f'{rng.choice(SIZES)},"Missed calls, slow follow-up",{rng.choice(TIMES)},\n'
            )


def event_size(path: Path) -> int:
    with path.open("rb") as stream:
        source = CsvSource(stream)
        row = next(source.rows())
        valid, _ = validate_row(row.number, row.cells, source.columns, "US")
    assert valid is not None
    return len(encode_event(lead_imported(valid, now=datetime.now(UTC), source=path.name)))


async def fresh_stream(bus: EventBus) -> None:
    with contextlib.suppress(NotFoundError):
        await bus.js.delete_stream(STREAM_NAME)
    await bus.ensure_stream()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def start_service(nats_url: str, data_dir: Path) -> tuple[asyncio.subprocess.Process, str]:
    port = free_port()
    env = {
        **os.environ,
        "NATS_URL": nats_url,
        "PORT": str(port),
        "DATA_DIR": str(data_dir),
        "LEADS_CSV_PATH": str(data_dir / "none.csv"),
        "MAX_UPLOAD_MB": "500",
        "LOG_LEVEL": "WARNING",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "services.ingest", cwd=ROOT, env=env
    )
    base = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient(base_url=base) as client:
        for _ in range(600):  # a benchmark may poll: up to 60 s for the process to come up
            with contextlib.suppress(httpx.TransportError):
                if (await client.get("/readyz")).status_code == 200:
                    return process, base
            await asyncio.sleep(0.1)
    process.kill()
    raise RuntimeError("the ingest service did not become ready")


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM")


async def stream_file(path: Path, chunk: int = 256 * 1024):
    with path.open("rb") as source:
        while data := source.read(chunk):
            yield data


async def end_to_end(nats_url: str, data_dir: Path, path: Path, rows: int) -> tuple[float, float]:
    process, base = await start_service(nats_url, data_dir)
    try:
        async with httpx.AsyncClient(base_url=base, timeout=600) as client:
            started = time.perf_counter()
            response = await client.post(
                "/leads/upload", content=stream_file(path), headers={"content-type": "text/csv"}
            )
            elapsed = time.perf_counter() - started
        report = response.json()
        if response.status_code != 200 or report["counts"]["imported"] != rows:
            raise RuntimeError(f"import failed: {response.status_code} {response.text[:500]}")
        return rows / elapsed, peak_rss_mb(process.pid)
    finally:
        process.send_signal(signal.SIGTERM)
        await process.wait()


async def raw_publish(bus: EventBus, count: int, payload: bytes) -> float:
    subjects = [f"sales.lead.{uuid4()}.imported" for _ in range(count)]
    started = time.perf_counter()
    futures = [await bus.js.publish_async(subject, payload) for subject in subjects]
    await asyncio.gather(*futures)
    return count / (time.perf_counter() - started)


async def main(sizes: list[int], rounds: int) -> None:
    logger.remove()
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        files = {size: work / f"leads-{size}.csv" for size in sizes}
        for size, path in files.items():
            write_leads(path, size)
        payload = b"x" * event_size(files[sizes[0]])
        e2e: dict[int, list[float]] = {size: [] for size in sizes}
        raw: dict[int, list[float]] = {size: [] for size in sizes}
        peak: dict[int, list[float]] = {size: [] for size in sizes}
        async with EmbeddedNatsServer(work / "nats") as server:
            bus = await EventBus.connect(server.url, name="bench")
            for round_number in range(rounds):
                for size in sizes:
                    # Alternate the order, so drift on a shared machine hits both alike.
                    order = ("raw", "e2e") if round_number % 2 else ("e2e", "raw")
                    for path_kind in order:
                        await fresh_stream(bus)
                        if path_kind == "raw":
                            raw[size].append(await raw_publish(bus, size, payload))
                        else:
                            rate, rss = await end_to_end(server.url, work, files[size], size)
                            e2e[size].append(rate)
                            peak[size].append(rss)
            await bus.close()
    print(
        f"Ingest end to end vs bare nats-py publish_async, {len(payload)}-byte events, "
        f"median of {rounds} rounds"
    )
    print(f"{'rows':>9}{'e2e rows/s':>12}{'raw events/s':>14}{'ratio':>8}{'peak RSS MB':>13}")
    for size in sizes:
        rate, raw_rate = statistics.median(e2e[size]), statistics.median(raw[size])
        print(
            f"{size:>9,}{rate:>12,.0f}{raw_rate:>14,.0f}{rate / raw_rate:>8.0%}"
            f"{statistics.median(peak[size]):>13.1f}"
        )
    if len(sizes) >= 2:
        small, large = statistics.median(peak[sizes[0]]), statistics.median(peak[sizes[-1]])
        print(f"peak memory {sizes[-1]:,} rows / {sizes[0]:,} rows: {large / small:.2f}x")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--rounds", type=int, default=3)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.sizes, arguments.rounds))
