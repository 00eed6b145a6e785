"""Twilio's webhooks (TwiML, status, AMD), each verified by signature, and the hang-up route."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any
from uuid import UUID

from litestar import MediaType, Request, Response, Router, post
from litestar.di import NamedDependency, Provide
from litestar.exceptions import (
    NotFoundException,
    PermissionDeniedException,
    ValidationException,
)
from litestar.params import FromPath
from litestar.types import ControllerRouterHandler
from loguru import logger
from twilio.request_validator import RequestValidator
from twilio.twiml.voice_response import Connect, VoiceResponse

from libs.bus import EventBus
from libs.events import AnswerClassified, CallPlaced, CallRequested, Event, subject_for
from libs.runtime.security import TWILIO_SIGNATURE_HEADER
from libs.runtime.stream_tokens import TOKEN_PARAMETER, issue_stream_token
from services.telephony import call_facts
from services.telephony.domain import (
    StatusCallback,
    events_for_callback,
    recording_event,
    signed_url,
    stream_url,
)
from services.telephony.providers import UnknownCallError
from services.telephony.service import Telephony
from services.telephony.webhook_outbox import keeper


class CallNotLiveError(ValueError):
    def __init__(self, call_id: UUID, why: str) -> None:
        super().__init__(f"call_id {call_id} {why}")


PROBLEMS: dict[type[Exception], int] = {CallNotLiveError: 409}
TWILIO = {"access": "twilio"}


async def verified_params(request: Request[Any, Any, Any], telephony: Telephony) -> dict[str, str]:
    """The webhook's form parameters, if Twilio's signature over them and the URL holds."""
    form = await request.form()
    params = {key: str(value) for key, value in form.items()}
    signature = request.headers.get(TWILIO_SIGNATURE_HEADER)
    query = request.scope.get("query_string", b"").decode("latin-1")
    url = signed_url(telephony.settings.public_base_url, request.url.path, query)
    validator = RequestValidator(telephony.settings.auth_token)
    if not signature or not validator.validate(url, params, signature):
        # Every webhook failing this way means WEBHOOK_BASE_URL is not the URL Twilio calls
        # (a tunnel's new address, http for https): say which URL was checked.
        logger.warning(
            "Rejected a webhook on {path}: {why} for {url}; if every webhook fails, "
            "WEBHOOK_BASE_URL must be the exact public https base Twilio calls",
            path=request.url.path,
            why="no signature" if not signature else "the signature does not match",
            url=url,
        )
        raise PermissionDeniedException(
            detail=f"the {TWILIO_SIGNATURE_HEADER} header is missing or does not match this request"
        )
    return params


async def requested_call(bus: EventBus, call_id: UUID) -> CallRequested:
    """The request a callback is about; a callback for no call of ours is a 404."""
    call = await call_facts.call_request(bus, call_id)
    if call is None:
        raise NotFoundException(detail=f"no call was requested with call_id {call_id}")
    return call


def call_id_parameter(request: Request[Any, Any, Any]) -> UUID:
    raw = request.query_params.get("call_id", "")
    try:
        return UUID(raw)
    except ValueError:
        raise ValidationException(
            detail=f"query parameter 'call_id' must be a UUID, got {raw!r}"
        ) from None


@post("/twilio/twiml", opt=TWILIO, status_code=200)
async def answer_twiml(
    request: Request[Any, Any, Any], telephony: NamedDependency[Telephony]
) -> Response[str]:
    """The answered call's instructions: a bidirectional media stream carrying `call_id`
    and the token conversation admits it by, bound to this call and the carrier's CallSid."""
    params = await verified_params(request, telephony)
    call_id = call_id_parameter(request)
    token = issue_stream_token(
        telephony.settings.media_stream_key, call_id, params.get("CallSid", ""), time.time()
    )
    response = VoiceResponse()
    connect = Connect()
    stream = connect.stream(url=stream_url(telephony.settings.stream_base_url))
    stream.parameter(name="call_id", value=str(call_id))
    stream.parameter(name=TOKEN_PARAMETER, value=token)
    response.append(connect)
    with logger.contextualize(call_id=str(call_id)):
        logger.info("Answered TwiML: connecting the media stream")
    return Response(str(response), media_type=MediaType.XML)


# While NATS is away, a verified callback is kept on disk and replayed later.
kept_while_nats_is_away = keeper(verified_params, call_id_parameter)


@post("/twilio/status", opt=TWILIO, status_code=204)
@kept_while_nats_is_away
async def call_status(
    request: Request[Any, Any, Any],
    telephony: NamedDependency[Telephony],
    bus: NamedDependency[EventBus],
) -> None:
    """Twilio's call progress: maps statuses to call events, idempotently."""
    await record_callback(request, telephony, bus)


@post("/twilio/amd", opt=TWILIO, status_code=204)
@kept_while_nats_is_away
async def machine_detection(
    request: Request[Any, Any, Any],
    telephony: NamedDependency[Telephony],
    bus: NamedDependency[EventBus],
) -> None:
    """Twilio's asynchronous answering machine detection result, recorded as the call's
    AnswerClassified whether or not the stream has already answered it. A fax gets no
    pitch: the call is hung up as soon as Twilio tells us (and recorded as a fax)."""
    events = await record_callback(request, telephony, bus)
    for event in events:
        if isinstance(event, AnswerClassified) and event.answered_by == "fax":
            await hang_up_fax(event, telephony, bus)


async def hang_up_fax(answered: AnswerClassified, telephony: Telephony, bus: EventBus) -> None:
    placed = await bus.last_event(subject_for(CallPlaced, answered.call_id))
    if not isinstance(placed, CallPlaced):
        return
    with logger.contextualize(call_id=str(answered.call_id), lead_id=str(answered.lead_id)):
        try:
            await telephony.provider.hang_up(placed.provider_call_id, answered=True)
        except UnknownCallError:
            return  # it ended on its own
        logger.info("A fax answered: hung up")


async def record_callback(
    request: Request[Any, Any, Any], telephony: Telephony, bus: EventBus
) -> list[Event]:
    params = await verified_params(request, telephony)
    call_id = call_id_parameter(request)
    with logger.contextualize(call_id=str(call_id)):
        call = await requested_call(bus, call_id)
        callback = parse_callback(params)
        progress = await call_facts.call_progress(bus, call_id)
        events = events_for_callback(call, progress, callback, telephony.clock())
        if events:
            await bus.publish_many(events)
        logger.info(
            "Twilio {status} for call: {events}",
            status=callback.call_status or f"AMD {callback.answered_by}",
            events=",".join(type(event).__name__ for event in events) or "nothing new",
        )
        return list(events)


@post("/twilio/recording", opt=TWILIO, status_code=204)
@kept_while_nats_is_away
async def call_recording(
    request: Request[Any, Any, Any],
    telephony: NamedDependency[Telephony],
    bus: NamedDependency[EventBus],
) -> None:
    """Twilio's recording status callback (RECORD_CALLS): the recording is stored."""
    params = await verified_params(request, telephony)
    call_id = call_id_parameter(request)
    with logger.contextualize(call_id=str(call_id)):
        call = await requested_call(bus, call_id)
        if params.get("RecordingStatus", "completed") != "completed" or not params.get(
            "RecordingUrl"
        ):
            logger.info("Recording {status}", status=params.get("RecordingStatus", "?"))
            return
        await bus.publish(recording_event(call, params, telephony.clock()))
        logger.info("Recording stored at {url}", url=params["RecordingUrl"])


def parse_callback(params: Mapping[str, str]) -> StatusCallback:
    def number(name: str) -> float | None:
        try:
            return float(params[name])
        except (KeyError, ValueError):
            return None

    error_code = number("ErrorCode")
    detection = number("MachineDetectionDuration")
    return StatusCallback(
        call_status=params.get("CallStatus"),
        answered_by=params.get("AnsweredBy"),
        detection_seconds=detection / 1000 if detection is not None else None,  # from ms
        duration_seconds=number("CallDuration"),
        error_code=int(error_code) if error_code is not None else None,
        error_message=params.get("ErrorMessage", ""),
    )


@post("/telephony/calls/{call_id:uuid}/hang-up", status_code=202)
async def hang_up_call(
    call_id: FromPath[UUID], telephony: NamedDependency[Telephony], bus: NamedDependency[EventBus]
) -> dict[str, str]:
    """End a live call now: hung up if answered, its ringing canceled otherwise."""
    placed = await bus.last_event(subject_for(CallPlaced, call_id))
    if not isinstance(placed, CallPlaced):
        raise NotFoundException(detail=f"call_id {call_id} was never placed")
    progress = await call_facts.call_progress(bus, call_id)
    if progress.finished:
        raise CallNotLiveError(call_id, "has already ended")
    try:
        await telephony.provider.hang_up(placed.provider_call_id, answered=progress.answered)
    except UnknownCallError:
        raise CallNotLiveError(call_id, "is no longer live at the carrier") from None
    with logger.contextualize(call_id=str(call_id)):
        logger.info("Hang-up requested")
    return {"call_id": str(call_id), "status": "hanging-up"}


KEPT_WEBHOOKS = (call_status, machine_detection, call_recording)


def telephony_router(
    telephony: NamedDependency[Telephony], extra: Sequence[ControllerRouterHandler] = ()
) -> Router:
    return Router(
        path="/",
        route_handlers=[
            answer_twiml,
            call_status,
            machine_detection,
            call_recording,
            hang_up_call,
            *extra,
        ],
        dependencies={"telephony": Provide(lambda: telephony, sync_to_thread=False)},
    )
