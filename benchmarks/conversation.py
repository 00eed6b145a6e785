"""N simultaneous calls against one conversation process, beside the stock Pipecat bot.

Each call is a Twilio Media Streams client on a real socket: 20 ms mu-law frames in real
time, silence until the agent's greeting has ended, then eight cycles of a spoken line of
about 1.5 s (speech-like audio, its words on the simulation side channel) and 2 s of
silence, as in the stock bot's load client. Voices are simulated and answer at once.
Per N it prints CPU-seconds per call-minute (over the stretch in which every call is in
conversation, as the stock bot's load client measures it, and over the whole calls), RSS
per call, end-of-prospect-speech to first agent audio p50/p95, late agent frames (audio
played out in real time from the first packet of each agent utterance, late by over
20 ms) and missed replies; then the stock bot's figures
(../shared/baselines/pipecat-twilio-stock/run.sh) from the same run, and the ratios.

    .venv/bin/python benchmarks/conversation.py [--ns 1 5 10 20] [--baseline-ns 1 5 10] [--rounds 3]
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
from functools import cache
from pathlib import Path
from typing import Any
from uuid import uuid4, uuid5

import httpx
from loguru import logger
from pipecat.audio.vad.silero import SileroVADAnalyzer
from pipecat.audio.vad.vad_analyzer import VADState
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from libs.bus import EmbeddedNatsServer, EventBus  # noqa: E402
from libs.events import CallRequested, LeadProfile  # noqa: E402
from libs.simulation.protocol import ProspectSaid, encode_simulation  # noqa: E402
from libs.simulation.speech import (  # noqa: E402
    SILENCE_FRAME,
    decode_mu_law,
    synthesize_utterance,
)

BASELINE = ROOT.parent / "shared" / "baselines" / "pipecat-twilio-stock"
FRAME_SECONDS = 0.02
GREETING_WAIT_LIMIT = 10.0
PAUSE = 2.0
NEW_UTTERANCE_GAP = 0.6
LATE_TOLERANCE = 0.02
# Eight turns of about 1.5 s, as in the stock bot's load client: discovery, pitch and the
# proposal, three answers that put off naming a time, then a booking that ends the call.
LINES = [
    "Hello, who is this calling me this morning?",
    "We lose a few bookings when the phone rings late.",
    "Right, I see, and how much would that cost us?",
    "Yes, that sounds good, I could do a short demo.",
    "Sure, but I have to check with my partner first.",
    "Okay, she says any weekday would be fine by us.",
    "Sure, give me a second to open up the calendar.",
    "Yes, Thursday at 10 am works for me, thank you.",
]


def _one_utterance_take(line: str) -> bytes:
    """The first take of `line` that Silero hears as one utterance lasting to its end.

    A pause inside a line would end the prospect's turn in any pipeline, the stock bot's
    included, and a take heard to end early would flatter the reply latency.
    """
    silence = SILENCE_FRAME * 50  # 1 s
    for seed in range(50):
        audio = synthesize_utterance(line, seed=seed)
        pcm = decode_mu_law(silence + audio + silence).tobytes()
        analyzer = SileroVADAnalyzer(sample_rate=8000)
        analyzer.set_sample_rate(8000)
        onsets, quiet_at, previous = 0, 0.0, VADState.QUIET
        for i in range(0, len(pcm), 640):  # 40 ms, as the service hears it
            state = analyzer._run_analyzer(pcm[i : i + 640])
            onsets += state == VADState.SPEAKING and previous in (VADState.QUIET, VADState.STARTING)
            if state == VADState.QUIET and previous != VADState.QUIET:
                quiet_at = (i + 640) / 16000
            previous = state
        heard_to = quiet_at - analyzer.params.stop_secs
        if onsets == 1 and heard_to >= 1.0 + len(audio) / 8000 - 0.1:
            return audio
    raise RuntimeError(f"no take of {line!r} is heard as one utterance")


@cache
def script() -> list[tuple[str, bytes]]:
    return [(line, _one_utterance_take(line)) for line in LINES]


@dataclass
class CallResult:
    latencies: list[float] = field(default_factory=list)
    missed: int = 0
    late_frames: int = 0
    agent_frames: int = 0
    seconds: float = 0.0


class SteadyWindow:
    """The stretch in which every call is in conversation: from the moment the last call
    starts speaking its script to the moment the first one finishes it. The stock bot's
    load client measures CPU over the same stretch (all calls connected, none finished)."""

    def __init__(self, n: int, pid: int) -> None:
        self.n, self.pid, self.in_script = n, pid, 0
        self.start: tuple[float, float] | None = None
        self.end: tuple[float, float] | None = None

    def _reading(self) -> tuple[float, float]:
        return asyncio.get_running_loop().time(), _cpu_seconds(self.pid)

    def script_started(self) -> None:
        self.in_script += 1
        if self.in_script == self.n:
            self.start = self._reading()

    def script_finished(self) -> None:
        if self.start is not None and self.end is None:
            self.end = self._reading()

    def cpu_seconds_per_call_minute(self) -> float:
        if self.start is None or self.end is None or self.end[0] <= self.start[0]:
            return float("nan")
        seconds = self.end[0] - self.start[0]
        return (self.end[1] - self.start[1]) / (self.n * seconds / 60)


async def one_call(
    url: str,
    call_id: str,
    stagger: float,
    lines: int = len(LINES),
    window: SteadyWindow | None = None,
) -> CallResult:
    await asyncio.sleep(stagger)
    result, arrivals = CallResult(), []
    sid = "MZ" + uuid4().hex
    turns: list[tuple[float, float]] = []  # (start, end) of each spoken line
    loop = asyncio.get_running_loop()
    started = loop.time()
    # Twilio does not compress its media stream; neither does this client.
    async with connect(url, max_size=2**20, compression=None) as ws:
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
        sent = 0

        async def send(frame: bytes) -> bool:
            """Sends one frame in its 20 ms slot; False once the call is over."""
            nonlocal sent
            await asyncio.sleep(max(0.0, started + sent * FRAME_SECONDS - loop.time()))
            payload = base64.b64encode(frame).decode()
            try:
                await ws.send(
                    json.dumps({"event": "media", "streamSid": sid, "media": {"payload": payload}})
                )
            except ConnectionClosed:
                return False
            sent += 1
            return not receiver.done()

        # A person lets the greeting finish before answering it (the service mutes the
        # prospect until the disclosure has been heard in full).
        while not _greeting_heard(arrivals, started, loop.time()):
            if not await send(SILENCE_FRAME):
                break
        if window:
            window.script_started()
        for text, audio in script()[:lines]:
            if receiver.done():
                break
            await ws.send(encode_simulation(sid, ProspectSaid(text=text)))
            speech_started = loop.time()
            for i in range(0, len(audio), 160):
                if not await send(audio[i : i + 160].ljust(160, b"\xff")):
                    break
            turns.append((speech_started, loop.time()))
            for _ in range(int(PAUSE * 50)):
                if not await send(SILENCE_FRAME):
                    break
        if window:
            window.script_finished()
        receiver.cancel()
        await asyncio.gather(receiver, return_exceptions=True)
    result.seconds = loop.time() - started
    _score(result, arrivals, turns)
    return result


def _greeting_heard(arrivals: list[tuple[float, float]], started: float, now: float) -> bool:
    """The agent has spoken and paused (or it never will: then the prospect speaks anyway)."""
    if now - started > GREETING_WAIT_LIMIT:
        return True
    return bool(arrivals) and now - arrivals[-1][0] > NEW_UTTERANCE_GAP


def _score(
    result: CallResult, arrivals: list[tuple[float, float]], turns: list[tuple[float, float]]
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
    for index, (_, end) in enumerate(turns):
        # A reply counts until the prospect speaks again (or 5 s after the last line).
        window_end = turns[index + 1][0] if index + 1 < len(turns) else end + 5
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
        "MODE": "simulation",
        "LOG_LEVEL": "WARNING",
        "SIMULATED_SECONDS_PER_CHARACTER": "0.01",  # replies of about 1.5 s, inside the pauses
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


async def run_ours(n: int, bus: EventBus, nats_url: str) -> dict[str, Any]:
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
        # Memory counts from before it, so what that call left behind counts as per call.
        rss_before = _rss_mb(server.pid)
        warm_up = uuid4()
        await bus.publish(_request(warm_up))
        await one_call(f"ws://127.0.0.1:{port}/twilio/stream", str(warm_up), 0.0, lines=1)
        call_ids = [uuid4() for _ in range(n)]
        await bus.publish_many([_request(call_id) for call_id in call_ids])
        cpu_before = _cpu_seconds(server.pid)
        peak = [rss_before]
        window = SteadyWindow(n, server.pid)

        probes: list[str] = []  # what /readyz said, every half second

        async def sample(http: httpx.AsyncClient) -> None:
            while True:
                peak[0] = max(peak[0], _rss_mb(server.pid))
                answer = await http.get("/readyz")
                probes.append("" if answer.status_code == 200 else answer.json()["detail"])
                await asyncio.sleep(0.5)

        http = httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10)
        sampler = asyncio.create_task(sample(http))
        url = f"ws://127.0.0.1:{port}/twilio/stream"
        cycle = 3.5
        results = await asyncio.gather(
            *(
                one_call(url, str(call_id), cycle * i / n, window=window)
                for i, call_id in enumerate(call_ids)
            )
        )
        sampler.cancel()
        await asyncio.gather(sampler, return_exceptions=True)
        await http.aclose()
        cpu = _cpu_seconds(server.pid) - cpu_before
    finally:
        server.terminate()
        server.wait(timeout=20)
    latencies = sorted(x for r in results for x in r.latencies)
    call_minutes = sum(r.seconds for r in results) / 60
    return {
        "n": n,
        "cpu_s_per_call_min": window.cpu_seconds_per_call_minute(),
        "cpu_whole_calls": cpu / call_minutes,  # set-up, greeting and hang-up included
        "rss_per_call_mb": (peak[0] - rss_before) / n,
        "rss_before_mb": rss_before,
        "lat_p50": _percentile(latencies, 50),
        "lat_p95": _percentile(latencies, 95),
        "late_frames": sum(r.late_frames for r in results),
        "missed": sum(r.missed for r in results),
        "agent_frames": sum(r.agent_frames for r in results),
        "degraded_probes": sum(1 for probe in probes if probe) / max(1, len(probes)),
        "degraded_because": next((probe for probe in reversed(probes) if probe), ""),
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


def _median(rounds: list[dict[str, Any]]) -> dict[str, float]:
    """Each figure's median over the rounds (the loaded machine's noise is large)."""
    numbers = [key for key, value in rounds[0].items() if isinstance(value, int | float)]
    return {key: statistics.median(r[key] for r in rounds) for key in numbers}


def _readiness(rounds: list[dict[str, Any]]) -> str:
    """What the process told its load balancer while the calls ran."""
    degraded = statistics.median(r["degraded_probes"] for r in rounds)
    because = next((r["degraded_because"] for r in rounds if r["degraded_because"]), "")
    reason = f" ({because})" if degraded and because else ""
    return f"        /readyz degraded in {degraded:.0%} of probes{reason}"


def _line(name: str, f: dict[str, float]) -> str:
    whole = f" (whole calls {f['cpu_whole_calls']:5.2f})" if "cpu_whole_calls" in f else " " * 19
    return (f"{name} N={int(f['n']):>3}  CPU-s/call-min={f['cpu_s_per_call_min']:6.2f}{whole}  "
            f"RSS/call={f['rss_per_call_mb']:6.1f} MB  "
            f"latency p50/p95={f['lat_p50']:.2f}/{f['lat_p95']:.2f} s  "
            f"late frames={int(f['late_frames'])}  missed replies={int(f['missed'])}")  # fmt: skip


async def main() -> None:
    logger.remove()  # the figures, not the libraries' chatter
    logger.add(sys.stderr, level="WARNING")
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
            ours[n] = _median(rounds)
            print(_line("ours ", ours[n]), flush=True)
            print(_readiness(rounds), flush=True)
        await bus.close()
    stock: dict[int, dict[str, float]] = {}
    if args.baseline_ns:
        stock_rounds = [run_baseline(args.baseline_ns) for _ in range(args.rounds)]
        stock = {n: _median([r[n] for r in stock_rounds if n in r]) for n in stock_rounds[0]}
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
    if 1 in stock:
        allowed = stock[1]["lat_p95"] + 0.1
        for n in sorted(n for n in clean if n >= 2 * max(stock_best, 1)):
            print(f"p95 at N={n}: ours {ours[n]['lat_p95']:.2f} s, "
                  f"allowed {allowed:.2f} s (stock at N=1 plus 100 ms)")  # fmt: skip


if __name__ == "__main__":
    asyncio.run(main())
