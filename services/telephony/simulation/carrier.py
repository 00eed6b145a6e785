"""The simulated carrier: plays Twilio and the prospect, so the system runs with no network.

From the outside it behaves as Twilio does for a call created with our parameters: signed
status callbacks (initiated, ringing, then in-progress and completed, or busy / no-answer /
canceled), a signed TwiML fetch and a Media Stream to the URL in that TwiML, and, in
Twilio's AsyncAmd order, the AMD callback once detection is done while the stream already
runs. Who answers and what they say comes from libs/simulation/personas.py.

Its calls live in this process: a restarted telephony's carrier knows none of them (the
restart reconciliation ends them), and it answers "is there a call for this request" from
the calls it created.

Every create appends one JSON line to `<DATA_DIR>/carrier/dials.jsonl` (call_id, call_sid,
to, at), flushed as written: the ledger of what was dialled, which survives the process,
so a test of faults can prove no attempt was dialled twice.
"""

from __future__ import annotations

import asyncio
import hmac
import json
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO
from uuid import UUID, uuid5

import httpx
from litestar.types import ControllerRouterHandler
from loguru import logger
from twilio.request_validator import RequestValidator
from websockets.exceptions import InvalidHandshake

from libs.events import CallRequested
from libs.runtime.security import TWILIO_SIGNATURE_HEADER
from libs.simulation.personas import Persona, choose_persona
from services.telephony.config import SIMULATED_FROM_NUMBER, TelephonySettings
from services.telephony.domain import StatusCallback, webhook_url
from services.telephony.providers import CallRejectedError, UnknownCallError
from services.telephony.simulation.api import simulated_calls_api
from services.telephony.simulation.prospect import ProspectOnTheLine, Speak
from services.telephony.simulation.recording import CallRecorder
from services.telephony.simulation.twiml import TwimlError, parse_stream_twiml
from services.telephony.simulation.voice import simulated_voice

INVALID_NUMBER = 21211
RELEASE_TIMEOUT_SECONDS = 30.0  # CallPlaced should be stored long before this
DETECTION_SECONDS = 1.8  # how long the simulated AMD listens, scaled by SIMULATION_PACE


@dataclass
class SimulatedCall:
    request: CallRequested
    persona: Persona
    call_sid: str
    time_limit_seconds: int
    released: asyncio.Event = field(default_factory=asyncio.Event)
    hang_up: asyncio.Event = field(default_factory=asyncio.Event)


class SimulatedCarrier:
    name = "simulated"

    def __init__(self, settings: TelephonySettings, speak: Speak = simulated_voice) -> None:
        self.settings = settings
        self.speak = speak
        self.calls: dict[str, SimulatedCall] = {}  # live calls by CallSid
        # Every call this carrier created, live or over: what find_call answers from.
        self.created: dict[UUID, tuple[str, datetime]] = {}  # call_id -> (CallSid, when)
        self._tasks: set[asyncio.Task[None]] = set()
        self._http: httpx.AsyncClient | None = None
        self._ledger: TextIO | None = None
        self._validator = RequestValidator(settings.auth_token)

    @property
    def ledger_path(self) -> Path:
        return Path(self.settings.data_dir) / "carrier" / "dials.jsonl"

    @asynccontextmanager
    async def running(self) -> AsyncIterator[SimulatedCarrier]:
        self.ledger_path.parent.mkdir(parents=True, exist_ok=True)
        with self.ledger_path.open("a", encoding="utf-8") as ledger:
            self._ledger = ledger
            async with httpx.AsyncClient(timeout=15) as http:
                self._http = http
                try:
                    yield self
                finally:
                    for task in self._tasks:
                        task.cancel()
                    await asyncio.gather(*self._tasks, return_exceptions=True)
                    self._http = None
                    self._ledger = None

    def announce(self) -> None:
        logger.warning(
            "TELEPHONY: SIMULATED CARRIER (MODE=simulation); no real calls. Webhooks at {base}, "
            "fake Twilio REST at {api} (account {sid})",
            base=self.settings.public_base_url,
            api=self.settings.simulated_api_base_url,
            sid=self.settings.account_sid,
        )

    def extra_routes(self) -> Sequence[ControllerRouterHandler]:
        # The conversation service hangs up through Twilio's REST API: here, ours.
        return [simulated_calls_api(self)]

    def check_credentials(self, account_sid: str, auth_token: str) -> bool:
        """Basic auth on the fake REST API, as Twilio checks it."""
        expected = f"{self.settings.account_sid}:{self.settings.auth_token}".encode()
        return hmac.compare_digest(f"{account_sid}:{auth_token}".encode(), expected)

    async def place_call(self, request: CallRequested, time_limit_seconds: int) -> str:
        persona = choose_persona(
            self.settings.simulation_seed,
            request.lead.phone_number,
            request.attempt,
            contact_name=request.lead.contact_name,
            business_name=request.lead.business_name,
        )
        if persona.kind == "carrier-failure":
            raise CallRejectedError(INVALID_NUMBER, "The 'To' number is not a valid phone number.")
        call_sid = "CA" + uuid5(request.call_id, "simulated-call").hex
        call = SimulatedCall(
            request=request,
            persona=persona,
            call_sid=call_sid,
            time_limit_seconds=time_limit_seconds,
        )
        self.calls[call_sid] = call
        now = datetime.now(UTC)
        self.created[request.call_id] = (call_sid, now)
        self._write_ledger(request, call_sid, now)
        task = asyncio.create_task(self._run(call), name=f"simulated-call-{call_sid}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        logger.info("Simulated call {sid} will be {kind}", sid=call_sid, kind=persona.kind)
        return call_sid

    def _write_ledger(self, request: CallRequested, call_sid: str, at: datetime) -> None:
        if self._ledger is None:
            raise RuntimeError("the simulated carrier is not running")
        line = {
            "call_id": str(request.call_id),
            "call_sid": call_sid,
            "to": request.lead.phone_number,
            "at": at.isoformat(),
        }
        self._ledger.write(json.dumps(line) + "\n")
        self._ledger.flush()  # a line per dial, on disk even if the process dies next

    async def find_call(self, request: CallRequested, since: datetime) -> str | None:
        created = self.created.get(request.call_id)
        if created is None or created[1] < since:
            return None
        return created[0]

    async def call_state(self, provider_call_id: str) -> StatusCallback | None:
        if provider_call_id not in self.calls:
            return None  # over, or created by an earlier process: the call died with it
        return StatusCallback(call_status="in-progress")

    def call_placed(self, provider_call_id: str) -> None:
        if (call := self.calls.get(provider_call_id)) is not None:
            call.released.set()

    async def hang_up(self, provider_call_id: str, *, answered: bool) -> None:
        call = self.calls.get(provider_call_id)
        if call is None:
            raise UnknownCallError(provider_call_id)
        call.hang_up.set()

    async def _run(self, call: SimulatedCall) -> None:
        with logger.contextualize(
            call_id=str(call.request.call_id), lead_id=str(call.request.lead_id)
        ):
            try:
                if await _released(call):
                    await self._ring_and_connect(call)
                else:  # CallPlaced was never stored: end the call as Twilio would a cancel
                    logger.warning("Simulated call {sid} never released", sid=call.call_sid)
                    await self._post_status(call, "canceled")
            except Exception:  # a task's top: log it, the call is simply over
                logger.exception("Simulated call {sid} broke off", sid=call.call_sid)
            finally:
                self.calls.pop(call.call_sid, None)

    async def _ring_and_connect(self, call: SimulatedCall) -> None:
        persona = call.persona
        await self._post_status(call, "initiated")
        await self._post_status(call, "ringing")
        ring = persona.ring_seconds
        if persona.kind == "no-answer":
            ring = min(ring, self.settings.ring_timeout_seconds)
        if await _wait_or_hang_up(call.hang_up, ring * self.settings.simulation_pace):
            await self._post_status(call, "canceled")
            return
        if not persona.answers:
            await self._post_status(call, "busy" if persona.kind == "busy" else "no-answer")
            return
        loop = asyncio.get_running_loop()
        answered_at = loop.time()
        await self._post_status(call, "in-progress")
        # As with AsyncAmd on Twilio: the stream opens at once, the verdict comes later.
        detection = asyncio.create_task(self._detect(call), name=f"amd-{call.call_sid}")
        recorder = CallRecorder() if self.settings.record_calls else None
        try:
            ending = await self._stream(call, recorder)
        except (OSError, TimeoutError, InvalidHandshake, TwimlError) as exc:
            # As on Twilio: a stream that cannot connect ends the call after its TwiML.
            logger.warning("Media stream failed: {error}", error=f"{type(exc).__name__}: {exc}")
            ending = "stream-failed"
        except BaseException:
            detection.cancel()  # the carrier itself is going
            raise
        # The verdict is reported before the call's end, however short the call was.
        await detection
        duration = round(loop.time() - answered_at)
        logger.info("Simulated call {sid} ended: {ending}", sid=call.call_sid, ending=ending)
        await self._post_status(
            call, "completed", CallDuration=str(duration), Duration=str(-(-duration // 60))
        )
        if recorder is not None:  # as on Twilio: the recording is ready after the call
            await self._post_recording(call, recorder)

    async def _detect(self, call: SimulatedCall) -> None:
        """The AMD callback, after the detection time: a machine for a voicemail persona."""
        await asyncio.sleep(DETECTION_SECONDS * self.settings.simulation_pace)
        answered_by = "machine_start" if call.persona.answered_by_machine else "human"
        milliseconds = str(round(DETECTION_SECONDS * 1000))
        await self._post(
            call,
            "/twilio/amd",
            {"AnsweredBy": answered_by, "MachineDetectionDuration": milliseconds},
        )

    async def _post_recording(self, call: SimulatedCall, recorder: CallRecorder) -> None:
        path = Path(self.settings.data_dir) / "recordings" / f"{call.request.call_id}.wav"
        await asyncio.to_thread(recorder.write, path)
        await self._post(
            call,
            "/twilio/recording",
            {
                "RecordingSid": "RE" + uuid5(call.request.call_id, "recording").hex,
                "RecordingUrl": path.resolve().as_uri(),
                "RecordingStatus": "completed",
                "RecordingDuration": str(round(recorder.seconds)),
                "RecordingChannels": "2",
            },
        )

    async def _stream(self, call: SimulatedCall, recorder: CallRecorder | None = None) -> str:
        twiml = await self._post(call, "/twilio/twiml", {"CallStatus": "in-progress"})
        url, parameters = parse_stream_twiml(twiml)
        prospect = ProspectOnTheLine(
            stream_url=url,
            account_sid=self.settings.account_sid,
            call_sid=call.call_sid,
            stream_sid="MZ" + uuid5(call.request.call_id, "simulated-stream").hex,
            custom_parameters=parameters,
            # Twilio signs the websocket upgrade too: over the stream's URL, without params.
            signature=self._validator.compute_signature(url, {}),
            persona=call.persona,
            speak=self.speak,
            recorder=recorder,
        )
        return await prospect.run(call.hang_up, call.time_limit_seconds)

    async def _post_status(self, call: SimulatedCall, status: str, **extra: str) -> None:
        await self._post(call, "/twilio/status", {"CallStatus": status, **extra})

    async def _post(self, call: SimulatedCall, path: str, values: dict[str, str]) -> str:
        """A signed webhook request, as Twilio makes it; retried if the application is down."""
        if self._http is None:
            raise RuntimeError("the simulated carrier is not running")
        url = webhook_url(self.settings.public_base_url, path, call.request.call_id)
        params = {**self._call_params(call), **values}
        headers = {TWILIO_SIGNATURE_HEADER: self._validator.compute_signature(url, params)}
        for attempt in range(1, 4):
            try:
                response = await self._http.post(url, data=params, headers=headers)
            except httpx.TransportError as exc:
                error = f"{type(exc).__name__}"
            else:
                if response.status_code < 500:
                    if response.is_error:
                        logger.warning(
                            "{path} answered {code}", path=path, code=response.status_code
                        )
                    return response.text
                error = f"HTTP {response.status_code}"
            logger.warning(
                "Webhook {path} failed ({error}), attempt {attempt}",
                path=path,
                error=error,
                attempt=attempt,
            )
            await asyncio.sleep(0.5 * attempt)
        return ""

    def _call_params(self, call: SimulatedCall) -> dict[str, str]:
        return {
            "AccountSid": self.settings.account_sid,
            "ApiVersion": "2010-04-01",
            "CallSid": call.call_sid,
            "Called": call.request.lead.phone_number,
            "Caller": SIMULATED_FROM_NUMBER,
            "Direction": "outbound-api",
            "From": SIMULATED_FROM_NUMBER,
            "To": call.request.lead.phone_number,
        }


async def _released(call: SimulatedCall) -> bool:
    try:
        await asyncio.wait_for(call.released.wait(), RELEASE_TIMEOUT_SECONDS)
    except TimeoutError:
        return False
    return True


async def _wait_or_hang_up(hang_up: asyncio.Event, seconds: float) -> bool:
    """Ring for `seconds`; True if the call was hung up meanwhile."""
    try:
        await asyncio.wait_for(hang_up.wait(), timeout=seconds)
    except TimeoutError:
        return False
    return True
