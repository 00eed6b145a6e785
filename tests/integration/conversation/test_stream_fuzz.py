"""Whatever arrives on the media socket (broken JSON, wrong types, huge or binary frames,
messages out of order), the service closes or carries on cleanly: no crash, no task left
behind, and the next real call is served."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import Awaitable, Iterator
from concurrent.futures import Future
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from libs.bus import EmbeddedNatsServer, EventBus
from libs.events import OutcomeRecorded, TranscriptFinalized, history_of
from tests.integration.conversation.line import ProspectLine, token_for
from tests.integration.conversation.support import (
    answered_by_machine,
    call_requested,
    conversation_service,
)
from tests.support import stored_events

CALL_SID = "CA" + "2" * 32
STREAM_SID = "MZ" + "0" * 32
FUZZ = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,  # the same cases on every run and machine
    suppress_health_check=[HealthCheck.too_slow],
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)
events = st.sampled_from(["connected", "start", "media", "mark", "dtmf", "stop", "", "other"])


def twilio_like(event_and_body: tuple[str, object]) -> str:
    event, body = event_and_body
    return json.dumps({"event": event, event or "x": body, "streamSid": STREAM_SID})


messages = st.one_of(
    st.text(max_size=200),  # not JSON, or JSON of any shape
    json_values.map(json.dumps),
    st.tuples(events, json_values).map(twilio_like),
    st.binary(max_size=200),
    st.just("x" * 200_000),  # far beyond any real message
    st.tuples(events, st.just({"payload": "!!not base64!!", "track": "inbound"})).map(twilio_like),
)


T = TypeVar("T")


class ServedConversation:
    """The conversation service on its own event loop in a thread: the examples drive it
    from this one over real sockets, as many times as Hypothesis likes, and never share a
    loop with it."""

    def __init__(self, nats_url: str) -> None:
        self.nats_url = nats_url
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._stop: asyncio.Event | None = None
        self._served: Future[None] = Future()

    def run(self, coroutine: Awaitable[T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=60)  # type: ignore[arg-type]

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        self.bus = await EventBus.connect(self.nats_url, name="fuzz")
        try:
            async with conversation_service(self.bus, stream_start_timeout_seconds=2) as service:
                self.service = service
                await service.http.get("/conversation/load")  # answered once started up
                self._served.set_result(None)
                await self._stop.wait()
        finally:
            await self.bus.close()

    @contextlib.contextmanager
    def serving(self) -> Iterator[ServedConversation]:
        self.thread.start()
        done = asyncio.run_coroutine_threadsafe(self._serve(), self.loop)
        self._served.result(timeout=60)
        try:
            yield self
        finally:
            self.loop.call_soon_threadsafe(self._stop.set)  # type: ignore[union-attr]
            done.result(timeout=60)
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(timeout=10)

    def tasks(self) -> set[asyncio.Task[Any]]:
        async def running() -> set[asyncio.Task[Any]]:
            return asyncio.all_tasks() - {asyncio.current_task()}  # type: ignore[operator]

        return self.run(running())

    def left_running(self, before: set[asyncio.Task[Any]]) -> set[asyncio.Task[Any]]:
        """Tasks started since `before` that do not finish once their socket is gone."""

        async def wait() -> set[asyncio.Task[Any]]:
            started = asyncio.all_tasks() - before - {asyncio.current_task()}
            if not started:
                return set()
            _, pending = await asyncio.wait(started, timeout=20)
            return pending

        return self.run(wait())

    def serves_a_real_call(self) -> bool:
        async def voicemail() -> bool:
            request = call_requested()
            await self.bus.publish(request)
            await self.bus.publish(answered_by_machine(request))
            heard = await ProspectLine(self.service.stream_url, request.call_id, []).run()
            return bool(heard.agent_lines)  # the voicemail message was spoken

        return self.run(voicemail())


@pytest.fixture
def served(nats_server: EmbeddedNatsServer, bus: EventBus) -> Iterator[ServedConversation]:
    # `bus` first: a fresh, empty stream for this test.
    with ServedConversation(nats_server.url).serving() as served:
        yield served


def send_all(url: str, sequence: list[str | bytes], *, then_hang_up: bool) -> int | None:
    """Send the messages; then hang up, or wait for the service to close the socket."""
    with connect(url, max_size=None, open_timeout=15) as socket:
        try:
            for message in sequence:
                socket.send(message)
            if not then_hang_up:
                for _ in socket:  # what the agent says, until the service closes
                    pass
        except ConnectionClosed:
            pass
    return socket.protocol.close_code


def test_anything_before_start_is_refused_cleanly(served: ServedConversation):
    assert served.serves_a_real_call()  # and the bus's long-lived subscriptions are made
    before = served.tasks()

    @FUZZ
    @given(sequence=st.lists(messages, max_size=3))
    def before_start(sequence: list[str | bytes]) -> None:
        assert send_all(served.service.stream_url, sequence, then_hang_up=False) in (1008, 1009)

    before_start()
    assert served.left_running(before) == set()
    assert served.service.runtime.gate.open_streams == 0
    assert served.serves_a_real_call()


def test_anything_after_start_ends_the_call_with_one_record(served: ServedConversation):
    assert served.serves_a_real_call()  # and the bus's long-lived subscriptions are made
    before = served.tasks()
    calls = []

    @FUZZ
    @given(sequence=st.lists(messages, min_size=1, max_size=4))
    def after_start(sequence: list[str | bytes]) -> None:
        request = call_requested()
        served.run(served.bus.publish(request))
        calls.append(request.call_id)
        start = ProspectLine(served.service.stream_url, request.call_id, [])._start()
        start["start"]["customParameters"]["token"] = token_for(request.call_id, CALL_SID)
        send_all(served.service.stream_url, [json.dumps(start), *sequence], then_hang_up=True)

    after_start()
    assert served.left_running(before) == set()
    runtime = served.service.runtime
    assert runtime.load.live_calls == 0 and runtime.gate.open_streams == 0
    for call_id in calls:
        stored = served.run(stored_events(served.bus, history_of("call", call_id)))
        kinds = [type(event) for event in stored]
        assert (kinds.count(TranscriptFinalized), kinds.count(OutcomeRecorded)) == (1, 1), call_id
    assert served.serves_a_real_call()
