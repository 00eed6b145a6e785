"""Telephony decisions: callbacks to events, refusals to reasons, the live calls of a campaign."""

import ast
from datetime import timedelta
from pathlib import Path
from uuid import UUID

import pytest

from libs.events import (
    AnswerClassified,
    CallAnswered,
    CallCompleted,
    CallFailed,
    CallPlaced,
    CallRequested,
)
from services.telephony import domain
from services.telephony.domain import CallProgress, StatusCallback, events_for_callback
from tests.factories import CALL_ID, CAMPAIGN_ID, LEAD_ID, NOW, lead_profile

REQUEST = CallRequested(
    event_id=UUID(int=1),
    occurred_at=NOW,
    call_id=CALL_ID,
    lead_id=LEAD_ID,
    campaign_id=CAMPAIGN_ID,
    attempt=1,
    lead=lead_profile(),
    time_limit_seconds=300,
)
IDS = {"call_id": CALL_ID, "lead_id": LEAD_ID, "campaign_id": CAMPAIGN_ID}
NEW = CallProgress()
ANSWERED = CallProgress(answered=True)
FINISHED = CallProgress(answered=True, finished=True)


def answered(by):
    return CallAnswered(
        event_id=domain.event_id_for(CALL_ID, "answered"), occurred_at=NOW, answered_by=by, **IDS
    )


def classified(by, seconds=None):
    return AnswerClassified(
        event_id=domain.event_id_for(CALL_ID, "classified"),
        occurred_at=NOW,
        answered_by=by,
        detection_seconds=seconds,
        **IDS,
    )


def completed(seconds):
    return CallCompleted(
        event_id=domain.event_id_for(CALL_ID, "completed"),
        occurred_at=NOW,
        duration_seconds=seconds,
        **IDS,
    )


def failed(reason, detail, code=None):
    return CallFailed(
        event_id=domain.event_id_for(CALL_ID, "failed"),
        occurred_at=NOW,
        reason=reason,
        detail=detail,
        provider_error_code=code,
        **IDS,
    )


@pytest.mark.parametrize("status", ["queued", "initiated", "ringing"])
def test_progress_before_answer_adds_nothing(status):
    assert events_for_callback(REQUEST, NEW, StatusCallback(call_status=status), NOW) == []


def test_in_progress_waits_for_machine_detection_to_say_who_answered():
    callback = StatusCallback(call_status="in-progress")
    assert events_for_callback(REQUEST, NEW, callback, NOW) == []


@pytest.mark.parametrize(
    ("twilio", "ours"),
    [
        ("human", "human"),
        ("machine_start", "machine"),
        ("machine_end_beep", "machine"),
        ("fax", "fax"),
        ("unknown", "unknown"),
    ],
)
def test_the_detection_result_classifies_and_answers_the_call(twilio, ours):
    callback = StatusCallback(answered_by=twilio, detection_seconds=1.8)
    expected = [classified(ours, 1.8), answered(ours)]
    assert events_for_callback(REQUEST, NEW, callback, NOW) == expected


def test_a_verdict_after_the_stream_answered_is_still_recorded():
    # AsyncAmd: conversation answered at the stream's start; the machine verdict follows.
    callback = StatusCallback(answered_by="machine_end_beep")
    assert events_for_callback(REQUEST, ANSWERED, callback, NOW) == [classified("machine")]


def test_a_second_detection_result_is_the_same_event_and_answers_nothing():
    callback = StatusCallback(answered_by="human")
    # The same event id: JetStream drops the copy of a callback Twilio retried.
    assert events_for_callback(REQUEST, ANSWERED, callback, NOW) == [classified("human")]


def test_completed_records_the_duration():
    callback = StatusCallback(call_status="completed", duration_seconds=84.0)
    assert events_for_callback(REQUEST, ANSWERED, callback, NOW) == [completed(84.0)]


def test_completed_without_a_detection_result_records_an_unknown_answer_first():
    callback = StatusCallback(call_status="completed", duration_seconds=12.0)
    assert events_for_callback(REQUEST, NEW, callback, NOW) == [answered("unknown"), completed(12)]


@pytest.mark.parametrize("status", ["busy", "no-answer", "canceled"])
def test_unanswered_endings_are_failures_with_their_reason(status):
    callback = StatusCallback(call_status=status)
    expected = [failed(status, f"Twilio reported the call {status}")]
    assert events_for_callback(REQUEST, NEW, callback, NOW) == expected


def test_a_failed_call_keeps_twilios_error():
    callback = StatusCallback(call_status="failed", error_code=21211, error_message="Invalid To")
    expected = [failed("invalid-number", "Invalid To", 21211)]
    assert events_for_callback(REQUEST, NEW, callback, NOW) == expected


@pytest.mark.parametrize(
    "callback",
    [
        StatusCallback(call_status="ringing"),
        StatusCallback(call_status="in-progress"),
        StatusCallback(answered_by="human"),
        StatusCallback(call_status="completed", duration_seconds=3),
        StatusCallback(call_status="no-answer"),
    ],
)
def test_nothing_moves_a_finished_call(callback):
    assert events_for_callback(REQUEST, FINISHED, callback, NOW) == []


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        (21211, "invalid-number"),
        (21214, "invalid-number"),
        (21610, "rejected"),
        (21210, "failed"),
        (21215, "failed"),
        (None, "failed"),
    ],
)
def test_refusals_map_to_reasons(code, reason):
    assert domain.failure_reason_for_error(code) == reason


def test_event_ids_derive_from_the_call_and_the_fact():
    placed = domain.call_placed(REQUEST, "twilio", "CA1", NOW)
    assert placed == CallPlaced(
        event_id=domain.event_id_for(CALL_ID, "placed"),
        occurred_at=NOW,
        provider="twilio",
        provider_call_id="CA1",
        requested_at=REQUEST.occurred_at,  # the rules count calls by the decision's clock
        **IDS,
    )
    assert domain.event_id_for(CALL_ID, "placed") != domain.event_id_for(CALL_ID, "failed")


def test_live_calls_are_placed_and_not_yet_ended():
    other = UUID(int=99)
    events = [
        domain.call_placed(REQUEST, "twilio", "CA1", NOW),
        CallPlaced(
            event_id=UUID(int=5),
            occurred_at=NOW,
            provider="twilio",
            provider_call_id="CA2",
            call_id=other,
            lead_id=LEAD_ID,
            campaign_id=CAMPAIGN_ID,
        ),
        answered("human"),
        completed(3.0).__class__(
            event_id=UUID(int=6),
            occurred_at=NOW,
            duration_seconds=1,
            call_id=other,
            lead_id=LEAD_ID,
            campaign_id=CAMPAIGN_ID,
        ),
    ]
    assert domain.live_calls(events) == {
        CALL_ID: domain.LiveCall(
            call_id=CALL_ID,
            campaign_id=CAMPAIGN_ID,
            provider_call_id="CA1",
            answered=True,
            answered_at=NOW,
        )
    }


def test_a_call_the_carrier_lost_is_completed_if_answered_else_dropped():
    live = domain.LiveCall(call_id=CALL_ID, campaign_id=CAMPAIGN_ID, provider_call_id="CA1")
    [dropped] = domain.events_for_lost_call(REQUEST, live, NOW)
    assert isinstance(dropped, CallFailed) and dropped.reason == "dropped"
    talking = domain.LiveCall(
        call_id=CALL_ID,
        campaign_id=CAMPAIGN_ID,
        provider_call_id="CA1",
        answered=True,
        answered_at=NOW - timedelta(seconds=40),
    )
    assert domain.events_for_lost_call(REQUEST, talking, NOW) == [completed(40.0)]


def test_a_claim_names_its_replica_and_its_id_its_claimant():
    first = domain.call_dialing(REQUEST, "twilio", "dialer-0/12", NOW)
    again = domain.call_dialing(REQUEST, "twilio", "dialer-0/12", NOW)
    other = domain.call_dialing(REQUEST, "twilio", "dialer-1/12", NOW)
    assert first.event_id == again.event_id != other.event_id
    assert domain.replica_of(first.claimed_by) == "dialer-0"
    assert domain.replica_of("a.host.name/7") == "a.host.name"


def _fields(event):
    return {name: getattr(event, name) for name in event.__struct_fields__}


def test_time_limit_is_the_tighter_one():
    assert domain.effective_time_limit(REQUEST, 120) == 120
    assert domain.effective_time_limit(REQUEST, 900) == 300


def test_webhook_addresses():
    call_id = UUID("00000000-0000-4000-8000-000000000003")
    assert domain.webhook_url("https://x.example/", "/twilio/status", call_id) == (
        "https://x.example/twilio/status?call_id=00000000-0000-4000-8000-000000000003"
    )
    assert domain.stream_url("https://x.example/base/") == "wss://x.example/base/twilio/stream"
    assert domain.stream_url("http://127.0.0.1:7860") == "ws://127.0.0.1:7860/twilio/stream"
    assert domain.signed_url("https://x.example", "/a", "b=1") == "https://x.example/a?b=1"
    assert domain.signed_url("https://x.example", "/a", "") == "https://x.example/a"


def test_domain_imports_only_pure_modules():
    tree = ast.parse(Path(domain.__file__).read_text())
    imported = {
        (node.module or "").split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
    } | {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    }
    allowed = {"__future__", "collections", "datetime", "typing", "urllib", "uuid", "msgspec"}
    allowed.add("libs")
    assert imported <= allowed, imported - allowed


@pytest.mark.parametrize(
    ("environ", "base", "api"),
    [
        ({}, "http://127.0.0.1:7860", "http://127.0.0.1:7860/simulated-twilio"),
        ({"HOST": "0.0.0.0", "PORT": "8000"}, "http://127.0.0.1:8000", None),
        ({"HOST": "::1"}, "http://[::1]:7860", None),
        ({"WEBHOOK_BASE_URL": "https://calls.example.com/"}, "https://calls.example.com", None),
    ],
)
def test_simulation_calls_back_the_process_itself_unless_told(environ, base, api):
    from services.telephony.config import load_telephony_settings

    settings = load_telephony_settings({"MODE": "simulation", **environ})
    assert settings.public_base_url == base
    if api is not None:
        assert settings.simulated_api_base_url == api


def test_twilio_is_used_in_live_mode_and_half_a_configuration_is_refused():
    from libs.runtime.mode import ModeError
    from services.telephony.config import load_telephony_settings

    full = {
        "TWILIO_ACCOUNT_SID": "AC" + "1" * 32,
        "TWILIO_AUTH_TOKEN": "secret",
        "TWILIO_FROM_NUMBER": "+15005550006",
        "WEBHOOK_BASE_URL": "https://calls.example.com",
    }
    live = load_telephony_settings({**full, "MODE": "live"})
    assert (live.carrier, live.auth_token) == ("twilio", "secret")
    for missing in full:
        partial = {k: v for k, v in full.items() if k != missing}
        with pytest.raises(ModeError, match=f"{missing} is missing"):
            load_telephony_settings({**partial, "MODE": "live"})
        with pytest.raises(ModeError, match="MODE is unset"):
            load_telephony_settings(partial)  # keys without a mode: ask, never guess
    assert load_telephony_settings({**full, "MODE": "simulation"}).carrier == "simulated"
    shared = load_telephony_settings({"SIMULATION_AUTH_TOKEN": "shared-token"})
    assert (shared.account_sid, shared.auth_token) == (
        "AC5151ca11ed0000000000000000000000",
        "shared-token",
    )
