"""Telephony decisions: from a call request and the provider's callbacks to call events.

Every event id derives from the call id and the fact, so a callback Twilio retries, a
request redelivered by NATS, or the same callback reaching two replicas, publishes
nothing new: JetStream drops the duplicate id.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Literal
from urllib.parse import urlencode, urlsplit, urlunsplit
from uuid import UUID, uuid5

import msgspec

from libs.events import (
    AnswerClassified,
    AnyEvent,
    CallAnswered,
    CallCompleted,
    CallDialing,
    CallEvent,
    CallFailed,
    CallPlaced,
    CallRecorded,
    CallRequested,
)
from libs.events.model import AnsweredBy, CallFailureReason, ComplianceRule

CallFact = Literal["placed", "answered", "classified", "failed", "completed"]

# Twilio's statuses after which a call changes no more.
FINAL_STATUSES = frozenset({"completed", "busy", "no-answer", "failed", "canceled"})
# Twilio's final statuses that mean nobody talked, and what we call them.
FAILED_STATUSES: dict[str, CallFailureReason] = {
    "busy": "busy",
    "no-answer": "no-answer",
    "failed": "failed",
    "canceled": "canceled",
}
# Twilio's AnsweredBy values (answering machine detection) folded into ours.
MACHINE_ANSWERS = frozenset(
    {"machine_start", "machine_end_beep", "machine_end_silence", "machine_end_other"}
)
# Twilio error codes that mean the number itself cannot be called.
INVALID_NUMBER_CODES = frozenset({21211, 21214, 21217, 21401, 21407, 13224})
REJECTED_CODES = frozenset({21610})  # the number unsubscribed from this account


class StatusCallback(msgspec.Struct, frozen=True, kw_only=True):
    """The parts of a Twilio status or AMD callback that decide events."""

    call_status: str | None = None  # absent on the AMD callback
    answered_by: str | None = None  # AMD result, when known
    detection_seconds: float | None = None  # MachineDetectionDuration, on the AMD callback
    duration_seconds: float | None = None  # CallDuration, on completed
    error_code: int | None = None
    error_message: str = ""


class CallProgress(msgspec.Struct, frozen=True, kw_only=True):
    """What the stream already says about a call: the callbacks may not move it backwards."""

    answered: bool = False
    finished: bool = False  # failed or completed


def event_id_for(call_id: UUID, fact: CallFact) -> UUID:
    return uuid5(call_id, fact)


def _call_ids(request: CallRequested) -> dict[str, UUID]:
    return {
        "call_id": request.call_id,
        "lead_id": request.lead_id,
        "campaign_id": request.campaign_id,
    }


def call_placed(
    request: CallRequested, provider: str, provider_call_id: str, now: datetime
) -> CallPlaced:
    return CallPlaced(
        event_id=event_id_for(request.call_id, "placed"),
        occurred_at=now,
        provider=provider,
        provider_call_id=provider_call_id,
        requested_at=request.occurred_at,
        **_call_ids(request),
    )


def call_dialing(
    request: CallRequested, provider: str, claimant: str, now: datetime
) -> CallDialing:
    """The claim on dialling the request. Its id names the claimant: a claimant's own retry
    is a duplicate JetStream drops, another's a different event the subject check refuses."""
    return CallDialing(
        event_id=uuid5(request.call_id, f"dialing/{claimant}"),
        occurred_at=now,
        provider=provider,
        claimed_by=claimant,
        **_call_ids(request),
    )


def replica_of(claimant: str) -> str:
    """The replica part of a claimant (`replica/pid`)."""
    return claimant.rpartition("/")[0] or claimant


def call_failed(
    request: CallRequested,
    reason: CallFailureReason,
    now: datetime,
    *,
    detail: str = "",
    error_code: int | None = None,
    rule: ComplianceRule | None = None,
) -> CallFailed:
    return CallFailed(
        event_id=event_id_for(request.call_id, "failed"),
        occurred_at=now,
        reason=reason,
        detail=detail,
        provider_error_code=error_code,
        rule=rule,
        **_call_ids(request),
    )


def failure_reason_for_error(code: int | None) -> CallFailureReason:
    """The reason a call the provider refused to place failed, from Twilio's error code."""
    if code in INVALID_NUMBER_CODES:
        return "invalid-number"
    if code in REJECTED_CODES:
        return "rejected"
    return "failed"


def answered_by_from_twilio(value: str | None) -> AnsweredBy:
    if value is None or value == "unknown":
        return "unknown"
    if value == "human":
        return "human"
    if value == "fax":
        return "fax"
    if value in MACHINE_ANSWERS:
        return "machine"
    return "unknown"


def recording_event(
    request: CallRequested, params: Mapping[str, str], now: datetime
) -> CallRecorded:
    """Twilio's recording status callback: the recording is complete at RecordingUrl. Its
    id derives from the recording, so a repeated callback is the same event."""
    sid = params.get("RecordingSid", "")
    duration = params.get("RecordingDuration")
    return CallRecorded(
        event_id=uuid5(request.call_id, f"recorded/{sid}"),
        occurred_at=now,
        recording_url=params["RecordingUrl"],
        duration_seconds=float(duration) if duration else None,
        channels=int(params.get("RecordingChannels") or 2),
        **_call_ids(request),
    )


def events_for_callback(
    request: CallRequested, progress: CallProgress, callback: StatusCallback, now: datetime
) -> list[CallEvent]:
    """The events one callback adds; none for progress the stream already holds.

    The detection verdict is always its own fact, AnswerClassified: with AsyncAmd Twilio
    opens the media stream first, so conversation has usually stored CallAnswered (a
    person, as far as it knows) by the time the verdict says it was a machine. Without an
    answer yet, the verdict also answers the call; with no verdict at all, completion
    records "unknown".
    """
    if progress.finished:
        return []  # a late or retried callback after the end changes nothing
    status = callback.call_status
    events: list[CallEvent] = []
    if callback.answered_by is not None:  # a retried callback's is the same event id
        events.append(
            AnswerClassified(
                event_id=event_id_for(request.call_id, "classified"),
                occurred_at=now,
                answered_by=answered_by_from_twilio(callback.answered_by),
                detection_seconds=callback.detection_seconds,
                **_call_ids(request),
            )
        )
    if status in FAILED_STATUSES:
        reason = FAILED_STATUSES[status]
        if status == "failed":
            reason = failure_reason_for_error(callback.error_code)
        detail = callback.error_message or f"Twilio reported the call {status}"
        return [call_failed(request, reason, now, detail=detail, error_code=callback.error_code)]
    knows_who = callback.answered_by is not None
    if not progress.answered and (knows_who or status == "completed"):
        events.append(_answered(request, answered_by_from_twilio(callback.answered_by), now))
    if status == "completed":
        events.append(
            CallCompleted(
                event_id=event_id_for(request.call_id, "completed"),
                occurred_at=now,
                duration_seconds=callback.duration_seconds or 0.0,
                **_call_ids(request),
            )
        )
    return events


def _answered(request: CallRequested, answered_by: AnsweredBy, now: datetime) -> CallAnswered:
    return CallAnswered(
        event_id=event_id_for(request.call_id, "answered"),
        occurred_at=now,
        answered_by=answered_by,
        **_call_ids(request),
    )


def progress_from(
    answered: CallAnswered | None, failed: CallFailed | None, completed: CallCompleted | None
) -> CallProgress:
    return CallProgress(answered=answered is not None, finished=bool(failed or completed))


def events_for_lost_call(request: CallRequested, call: LiveCall, now: datetime) -> list[CallEvent]:
    """A live call the carrier no longer knows (it died with its process): it ended with
    no final status. Answered, it completed, for as long as it had been answered; else
    nobody knows whether it rang, so it failed as dropped, to be tried again."""
    if call.answered:
        since = call.answered_at or now
        return [
            CallCompleted(
                event_id=event_id_for(request.call_id, "completed"),
                occurred_at=now,
                duration_seconds=max((now - since).total_seconds(), 0.0),
                **_call_ids(request),
            )
        ]
    detail = "the carrier lost the call without a final status (its process restarted)"
    return [call_failed(request, "dropped", now, detail=detail)]


def effective_time_limit(request: CallRequested, configured_seconds: int) -> int:
    """The tighter of the request's limit and CALL_TIMEOUT_SECONDS."""
    return max(1, min(request.time_limit_seconds, configured_seconds))


class LiveCall(msgspec.Struct, frozen=True, kw_only=True):
    call_id: UUID
    campaign_id: UUID
    provider_call_id: str
    answered: bool = False
    answered_at: datetime | None = None


def live_calls(events: list[AnyEvent]) -> dict[UUID, LiveCall]:
    """Calls placed and not yet ended, folded from the call events in stream order."""
    calls: dict[UUID, LiveCall] = {}
    ended: set[UUID] = set()
    for event in events:
        if isinstance(event, CallPlaced) and event.call_id not in ended:
            calls[event.call_id] = LiveCall(
                call_id=event.call_id,
                campaign_id=event.campaign_id,
                provider_call_id=event.provider_call_id,
            )
        elif isinstance(event, CallAnswered) and event.call_id in calls:
            call = calls[event.call_id]
            if not call.answered:
                calls[event.call_id] = msgspec.structs.replace(
                    call, answered=True, answered_at=event.occurred_at
                )
        elif isinstance(event, CallFailed | CallCompleted):
            ended.add(event.call_id)
            calls.pop(event.call_id, None)
    return calls


def webhook_url(base_url: str, path: str, call_id: UUID) -> str:
    """A webhook address Twilio calls back at, carrying the call id as `call_id`."""
    return f"{base_url.rstrip('/')}{path}?{urlencode({'call_id': str(call_id)})}"


def stream_url(base_url: str) -> str:
    """The media stream's websocket address on the same host: https -> wss, http -> ws."""
    parts = urlsplit(base_url.rstrip("/"))
    scheme = "wss" if parts.scheme == "https" else "ws"
    return urlunsplit((scheme, parts.netloc, f"{parts.path}/twilio/stream", "", ""))


def signed_url(base_url: str, path: str, query: str) -> str:
    """The URL Twilio signed: rebuilt from WEBHOOK_BASE_URL, never from the Host header."""
    url = f"{base_url.rstrip('/')}{path}"
    return f"{url}?{query}" if query else url
