"""Is this process keeping up? Event-loop lag and late agent audio, measured all the time.

A call whose audio leaves late stutters for the listener; a process past its capacity
makes every call stutter. Readiness turns "degraded" before that, so the load balancer
(or the telephony side) sends new calls to another process.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Iterator
from typing import Any

from loguru import logger

LATE_TOLERANCE_SECONDS = 0.02  # a gap longer than one frame more than expected is heard
WINDOW_SECONDS = 30.0  # late frames count against readiness for this long


class LoadMonitor:
    def __init__(self, *, max_live_calls: int, max_loop_lag_seconds: float) -> None:
        self.max_live_calls = max_live_calls
        self.max_loop_lag_seconds = max_loop_lag_seconds
        self.live_calls = 0
        self.loop_lag_seconds = 0.0
        self.late_frames_total = 0
        self._late_at: deque[float] = deque()
        self._latencies: deque[float] = deque(maxlen=200)
        self._task: asyncio.Task[None] | None = None

    # Readiness ---------------------------------------------------------------------

    @property
    def recent_late_frames(self) -> int:
        horizon = time.monotonic() - WINDOW_SECONDS
        while self._late_at and self._late_at[0] < horizon:
            self._late_at.popleft()
        return len(self._late_at)

    def overload_reasons(self) -> list[str]:
        reasons = []
        if self.live_calls >= self.max_live_calls:
            reasons.append(f"{self.live_calls} live calls (capacity {self.max_live_calls})")
        if self.loop_lag_seconds > self.max_loop_lag_seconds:
            reasons.append(f"event loop lag {self.loop_lag_seconds * 1000:.0f} ms")
        if self.recent_late_frames:
            reasons.append(f"{self.recent_late_frames} late audio frames in {WINDOW_SECONDS:.0f}s")
        return reasons

    def snapshot(self) -> dict[str, Any]:
        return {
            "live_calls": self.live_calls,
            "capacity": self.max_live_calls,
            "loop_lag_ms": round(self.loop_lag_seconds * 1000, 1),
            "late_frames_total": self.late_frames_total,
            "late_frames_recent": self.recent_late_frames,
        }

    # Measuring ---------------------------------------------------------------------

    @contextlib.contextmanager
    def tracking_call(self) -> Iterator[None]:
        self.live_calls += 1
        try:
            yield
        finally:
            self.live_calls -= 1

    def record_latency(self, seconds: float) -> None:
        self._latencies.append(seconds)

    def frame_pacing(self, output: Any) -> Any:
        """Counts agent audio frames that leave later than real time allows."""
        write = output.write_audio_frame
        due = [0.0]  # when the next frame should leave, if the agent is still speaking

        async def timed_write(frame: Any) -> bool:
            now = time.monotonic()
            lateness = now - due[0]
            # A pause between utterances is not lateness; a gap inside one is heard.
            if LATE_TOLERANCE_SECONDS < lateness < 0.5:
                self._late(lateness)
            seconds = len(frame.audio) / (2 * frame.sample_rate * frame.num_channels)
            due[0] = max(due[0], now) + seconds
            return bool(await write(frame))

        output.write_audio_frame = timed_write
        return output

    def _late(self, gap: float) -> None:
        self.late_frames_total += 1
        self._late_at.append(time.monotonic())
        if self.late_frames_total % 50 == 1:  # a stuttering process logs, without flooding
            logger.warning("Agent audio late by {ms:.0f} ms", ms=gap * 1000)

    async def watch_loop(self, period: float = 0.1) -> None:
        loop = asyncio.get_running_loop()
        while True:
            expected = loop.time() + period
            await asyncio.sleep(period)
            lag = max(0.0, loop.time() - expected)
            self.loop_lag_seconds = 0.8 * self.loop_lag_seconds + 0.2 * lag
            if lag > self.max_loop_lag_seconds * 4:
                logger.warning("Event loop lag {ms:.0f} ms", ms=lag * 1000)
