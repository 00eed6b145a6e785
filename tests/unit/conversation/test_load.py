"""The process knows when it is overloaded, and says why."""

from __future__ import annotations

from types import SimpleNamespace

from services.conversation.load import LoadMonitor


class Output:
    """The output transport's one method the monitor wraps."""

    def __init__(self) -> None:
        self.written = 0

    async def write_audio_frame(self, frame: object) -> bool:
        self.written += 1
        return True


def frame(seconds: float) -> SimpleNamespace:
    return SimpleNamespace(audio=b"\0" * int(16000 * seconds), sample_rate=8000, num_channels=1)


def test_a_quiet_process_is_ready() -> None:
    assert LoadMonitor(max_live_calls=2, max_loop_lag_seconds=0.05).overload_reasons() == []


def test_capacity_and_loop_lag_are_reasons_to_refuse_calls() -> None:
    load = LoadMonitor(max_live_calls=1, max_loop_lag_seconds=0.05)
    load.loop_lag_seconds = 0.2
    with load.tracking_call():
        reasons = load.overload_reasons()
    assert reasons == ["1 live calls (capacity 1)", "event loop lag 200 ms"]
    assert load.live_calls == 0


async def test_agent_audio_that_leaves_late_is_counted(monkeypatch) -> None:
    load = LoadMonitor(max_live_calls=5, max_loop_lag_seconds=0.05)
    output = load.frame_pacing(Output())
    clock = iter([100.0, 100.08, 100.26, 105.0])  # on time, then 100 ms late, then a new turn
    monkeypatch.setattr("services.conversation.load.time.monotonic", lambda: next(clock, 105.0))
    for _ in range(4):
        assert await output.write_audio_frame(frame(0.08))
    assert (output.written, load.late_frames_total) == (4, 1)
