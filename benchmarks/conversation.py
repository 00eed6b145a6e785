"""N simultaneous calls against one conversation process, beside the stock Pipecat bot.

Each call is a Twilio Media Streams client on a real socket: 20 ms mu-law frames in real
time, 2 s of silence, then cycles of a spoken line (speech-like audio, its words on the
simulation side channel) and 2 s of silence. Voices are simulated and answer at once.
Per N it prints CPU-seconds per call-minute, RSS per call, end-of-prospect-speech to first
agent audio p50/p95, late agent frames (audio played out in real time from the first
packet of each agent utterance, late by over 20 ms) and missed replies; then the stock
bot's figures (../shared/baselines/pipecat-twilio-stock/run.sh) from the same run, and
the ratios.

    .venv/bin/python benchmarks/conversation.py [--ns 1 5 10 20] [--baseline-ns 1 5 10]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from uuid import uuid4, uuid5

import httpx
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from libs.events import CallRequested, EmbeddedNatsServer, EventBus, LeadProfile  # noqa: E402
from libs.simulation.protocol import ProspectSaid, encode_simulation  # noqa: E402
from libs.simulation.speech import SILENCE_FRAME, synthesize_utterance  # noqa: E402

BASELINE = ROOT.parent / "shared" / "baselines" / "pipecat-twilio-stock"
FRAME_SECONDS = 0.02
PRE_SILENCE = 2.0
PAUSE = 2.0
NEW_UTTERANCE_GAP = 0.6
LATE_TOLERANCE = 0.02
LINES = ["Hello, who is this?", "Okay, go on then.", "Right, I see.", "Hmm, tell me more."]


@dataclass
class CallResult:
    latencies: list[float] = field(default_factory=list)
    missed: int = 0
    late_frames: int = 0
    agent_frames: int = 0
    seconds: float = 0.0


async def one_call(url: str, call_id: str, stagger: float, lines: int = len(LINES)) -> CallResult:
    await asyncio.sleep(stagger)
    result, arrivals = CallResult(), []
    sid = "MZ" + uuid4().hex
    utterances = [synthesize_utterance(line, seed=i) for i, line in enumerate(LINES)]
    speech_ends: list[float] = []
    loop = asyncio.get_running_loop()
    started = loop.time()
    async with connect(url, max_size=2**20) as ws:
        media_format = {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}
        start = {"streamSid": sid, "callSid": "CA" + uuid4().hex, "accountSid": "AC" + "0" * 32,
                 "customParameters": {"call_id": call_id}, "mediaFormat": media_format}  # fmt: skip
        await ws.send(json.dumps({"event": "connected", "protocol": "Call"}))
        await ws.send(json.dumps({"event": "start", "streamSid": sid, "start": start}))

        async def receive() -> None:
            try:
                async for raw in ws:
                    message = json.loads(raw)
                    if message.get("event") == "media":
                        payload = base64.b64decode(message["media"]["payload"])
                        arrivals.append((loop.time(), len(payload) / 8000))
            except ConnectionClosed:
                pass

        receiver = asyncio.create_task(receive())
        frames: list[tuple[bytes | str, bool]] = [(SILENCE_FRAME, False)] * int(PRE_SILENCE * 50)
        for line, audio in list(zip(LINES, utterances, strict=True))[:lines]:
            frames.append((encode_simulation(sid, ProspectSaid(text=line)), False))
            frames += [
                (audio[i : i + 160].ljust(160, b"\xff"), True) for i in range(0, len(audio), 160)
            ]
            frames += [(SILENCE_FRAME, False)] * int(PAUSE * 50)
        sent, was_speech = 0, False
        for frame, speech in frames:
            if receiver.done():
                break
            if isinstance(frame, str):
                await ws.send(frame)
                continue
            if was_speech and not speech:
                speech_ends.append(loop.time())
            was_speech = speech
            payload = base64.b64encode(frame).decode()
            try:
                await ws.send(
                    json.dumps({"event": "media", "streamSid": sid, "media": {"payload": payload}})
                )
            except ConnectionClosed:
                break
            sent += 1
            await asyncio.sleep(max(0.0, started + sent * FRAME_SECONDS - loop.time()))
        receiver.cancel()
        await asyncio.gather(receiver, return_exceptions=True)
    result.seconds = loop.time() - started
    _score(result, arrivals, speech_ends)
    return result


def _score(
    result: CallResult, arrivals: list[tuple[float, float]], speech_ends: list[float]
) -> None:
    result.agent_frames = len(arrivals)
    play_at, previous = 0.0, -1.0
    for arrived, seconds in arrivals:
        if arrived - previous > NEW_UTTERANCE_GAP:
            play_at = arrived  # a new utterance starts playing when its first packet lands
        elif arrived > play_at + LATE_TOLERANCE:
            result.late_frames += 1
            play_at = arrived
        play_at += seconds
        previous = arrived
    for index, end in enumerate(speech_ends):
        window_end = speech_ends[index + 1] - 1.5 if index + 1 < len(speech_ends) else end + 5
        reply = next((t for t, _ in arrivals if end < t < window_end), None)
        if reply is None:
            result.missed += 1
        else:
            result.latencies.append(reply - end)


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _rss_mb(pid: int) -> float:
    match = re.search(r"VmRSS:\s+(\d+)", Path(f"/proc/{pid}/status").read_text())
    return int(match[1]) / 1024 if match else 0.0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _start_server(port: int, nats_url: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "NATS_URL": nats_url,
        "PORT": str(port),
        "SIMULATION": "1",
        "LOG_LEVEL": "WARNING",
        "SIMULATED_SECONDS_PER_CHARACTER": "0.015",  # replies of 1-2 s, inside the pauses
        "MAX_LIVE_CALLS": "1000",
    }
    command = [sys.executable, "-m", "services.conversation"]
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL)


def _request(call_id) -> CallRequested:
    lead = LeadProfile(phone_number="+12025550143", business_name="Rosa's Trattoria",
                       contact_name="Rosa Marino", business_type="Restaurant",
                       company_size="small", time_zones=("America/New_York",))  # fmt: skip
    return CallRequested(event_id=uuid5(call_id, "requested"), occurred_at=datetime.now(UTC),
                         call_id=call_id, lead_id=uuid4(), campaign_id=uuid4(), attempt=1,
                         lead=lead)  # fmt: skip


async def run_ours(n: int, bus: EventBus, nats_url: str) -> dict[str, float]:
    port = _free_port()
    server = _start_server(port, nats_url)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            for _ in range(120):
                try:
                    if (await http.get("/healthz")).status_code == 200:
                        break
                except httpx.TransportError:
                    await asyncio.sleep(0.25)
        # One call first: a serving process has imported and warmed everything already.
        warm_up = uuid4()
        await bus.publish(_request(warm_up))
        await one_call(f"ws://127.0.0.1:{port}/twilio/stream", str(warm_up), 0.0, lines=1)
        call_ids = [uuid4() for _ in range(n)]
        await bus.publish_many([_request(call_id) for call_id in call_ids])
        rss_before, cpu_before = _rss_mb(server.pid), _cpu_seconds(server.pid)
        peak = [rss_before]

        async def sample() -> None:
            while True:
                peak[0] = max(peak[0], _rss_mb(server.pid))
                await asyncio.sleep(0.5)

        sampler = asyncio.create_task(sample())
        url = f"ws://127.0.0.1:{port}/twilio/stream"
        cycle = 3.5
        results = await asyncio.gather(
            *(one_call(url, str(call_id), cycle * i / n) for i, call_id in enumerate(call_ids))
        )
        sampler.cancel()
        cpu = _cpu_seconds(server.pid) - cpu_before
    finally:
        server.terminate()
        server.wait(timeout=20)
    latencies = sorted(x for r in results for x in r.latencies)
    call_minutes = sum(r.seconds for r in results) / 60
    return {
        "n": n,
        "cpu_s_per_call_min": cpu / call_minutes,
        "rss_per_call_mb": (peak[0] - rss_before) / n,
        "rss_before_mb": rss_before,
        "lat_p50": _percentile(latencies, 50),
        "lat_p95": _percentile(latencies, 95),
        "late_frames": sum(r.late_frames for r in results),
        "missed": sum(r.missed for r in results),
        "agent_frames": sum(r.agent_frames for r in results),
    }


def _percentile(values: list[float], percent: int) -> float:
    if not values:
        return float("nan")
    return values[min(len(values) - 1, round(percent / 100 * (len(values) - 1)))]


def run_baseline(ns: list[int]) -> dict[int, dict[str, float]]:
    output = subprocess.run(["bash", str(BASELINE / "run.sh"), *map(str, ns)], capture_output=True,
                            text=True, check=False).stdout  # fmt: skip
    figures = {}
    for line in output.splitlines():
        pairs = dict(re.findall(r"(\w+)=(\S+)", line))
        if "n" in pairs and "lat_p95" in pairs:
            n = int(pairs["n"])
            figures[n] = {
                "cpu_s_per_call_min": float(pairs["server_cpu_s_per_call_min"]),
                "rss_per_call_mb": (float(pairs["rss_peak_mb"]) - float(pairs["rss_before_mb"]))
                / n,
                "lat_p50": float(pairs["lat_p50"]),
                "lat_p95": float(pairs["lat_p95"]),
                "late_frames": float(pairs["late_frames"]),
                "missed": float(pairs["missed_responses"]),
            }
    return figures


def _line(name: str, f: dict[str, float]) -> str:
    return (f"{name} N={int(f['n']):>3}  CPU-s/call-min={f['cpu_s_per_call_min']:6.2f}  "
            f"RSS/call={f['rss_per_call_mb']:6.1f} MB  "
            f"latency p50/p95={f['lat_p50']:.2f}/{f['lat_p95']:.2f} s  "
            f"late frames={int(f['late_frames'])}  missed replies={int(f['missed'])}")  # fmt: skip


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ns", type=int, nargs="+", default=[1, 5, 10, 20])
    parser.add_argument("--baseline-ns", type=int, nargs="*", default=[1, 5, 10])
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    ours: dict[int, dict[str, float]] = {}
    async with EmbeddedNatsServer(Path(tempfile.mkdtemp())) as nats:
        bus = await EventBus.connect(nats.url, name="benchmark")
        await bus.ensure_stream()
        for n in args.ns:
            rounds = [await run_ours(n, bus, nats.url) for _ in range(args.rounds)]
            ours[n] = {key: statistics.median(r[key] for r in rounds) for key in rounds[0]}
            print(_line("ours ", ours[n]), flush=True)
        await bus.close()
    stock = run_baseline(args.baseline_ns) if args.baseline_ns else {}
    for n, figures in sorted(stock.items()):
        print(_line("stock", {"n": n, **figures}), flush=True)
    clean = [n for n, f in ours.items() if f["late_frames"] == 0 and f["missed"] == 0]
    stock_clean = [n for n, f in stock.items() if f["late_frames"] == 0]
    ours_best, stock_best = max(clean, default=0), max(stock_clean, default=0)
    print(f"largest N with no late frames (of the Ns run): ours {ours_best}, stock {stock_best}")
    for n in sorted(set(ours) & set(stock)):
        o, s = ours[n], stock[n]
        cpu_ratio = o["cpu_s_per_call_min"] / s["cpu_s_per_call_min"]
        print(f"ratio ours/stock N={n}: CPU {cpu_ratio:.2f}x, "
              f"RSS/call {o['rss_per_call_mb'] / max(s['rss_per_call_mb'], 0.1):.2f}x, "
              f"p95 {o['lat_p95'] - s['lat_p95']:+.2f} s")  # fmt: skip


if __name__ == "__main__":
    asyncio.run(main())
