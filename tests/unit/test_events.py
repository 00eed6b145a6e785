import json
from datetime import datetime
from pathlib import Path
from uuid import uuid4

import msgspec
import pytest

from libs.events import (
    EVENT_TYPES,
    CallRequested,
    LeadImported,
    MalformedEventError,
    decode_event,
    encode_event,
    event_schema,
    history_of,
    subject_filter,
    subject_for,
)
from tests.factories import (
    CALL_ID,
    CAMPAIGN_ID,
    LEAD_ID,
    NOW,
    SLOT_ID,
    lead_imported,
    one_of_each_event,
)

COMMITTED_SCHEMA = Path(__file__).parents[2] / "libs" / "events" / "event_schema.json"


@pytest.mark.parametrize("event", one_of_each_event(), ids=lambda e: type(e).__name__)
def test_every_event_round_trips_through_json_unchanged(event):
    decoded = decode_event(encode_event(event))
    assert type(decoded) is type(event)
    assert decoded == event


def test_the_samples_cover_every_event_type():
    assert {type(e) for e in one_of_each_event()} == set(EVENT_TYPES)


def test_events_are_tagged_with_their_class_name_for_readers_in_any_language():
    payload = json.loads(encode_event(lead_imported()))
    assert payload["type"] == "LeadImported"
    assert payload["occurred_at"] == "2026-03-04T15:30:00.123456Z"
    assert payload["schema_version"] == 1


def test_subjects_put_the_entity_first():
    subjects = {type(e).__name__: e.subject for e in one_of_each_event()}
    assert subjects == {
        "ModeRecorded": "sales.system.mode",
        "CallsWithheld": f"sales.campaign.{CAMPAIGN_ID}.withheld",
        "LeadImported": f"sales.lead.{LEAD_ID}.imported",
        "MeetingBooked": f"sales.slot.{SLOT_ID}.booked",
        "MeetingCanceled": f"sales.slot.{SLOT_ID}.canceled",
        "LeadOptedOut": f"sales.lead.{LEAD_ID}.opted_out",
        "CampaignStarted": f"sales.campaign.{CAMPAIGN_ID}.started",
        "CampaignLeadsAdded": f"sales.campaign.{CAMPAIGN_ID}.leads_added",
        "CampaignStopped": f"sales.campaign.{CAMPAIGN_ID}.stopped",
        "CampaignPaused": f"sales.campaign.{CAMPAIGN_ID}.paused",
        "CampaignResumed": f"sales.campaign.{CAMPAIGN_ID}.resumed",
        "CampaignLeadsRequeued": f"sales.campaign.{CAMPAIGN_ID}.requeued",
        "CampaignFinished": f"sales.campaign.{CAMPAIGN_ID}.finished",
        "CallRequested": f"sales.call.{CALL_ID}.requested",
        "CallPlaced": f"sales.call.{CALL_ID}.placed",
        "CallDialing": f"sales.call.{CALL_ID}.dialing",
        "CallAnswered": f"sales.call.{CALL_ID}.answered",
        "AnswerClassified": f"sales.call.{CALL_ID}.classified",
        "MediaStreamStarted": f"sales.call.{CALL_ID}.stream_started",
        "CallFailed": f"sales.call.{CALL_ID}.failed",
        "CallCompleted": f"sales.call.{CALL_ID}.completed",
        "CallRecorded": f"sales.call.{CALL_ID}.recorded",
        "TurnRecorded": f"sales.call.{CALL_ID}.turn",
        "TranscriptFinalized": f"sales.call.{CALL_ID}.transcript",
        "OutcomeRecorded": f"sales.call.{CALL_ID}.outcome",
    }


def test_subject_helpers_agree_with_the_events_own_subjects():
    requested = next(e for e in one_of_each_event() if isinstance(e, CallRequested))
    assert subject_for(CallRequested, CALL_ID) == requested.subject
    assert subject_filter(CallRequested) == "sales.call.*.requested"
    assert subject_filter(LeadImported) == "sales.lead.*.imported"
    assert history_of("call", CALL_ID) == f"sales.call.{CALL_ID}.>"
    with pytest.raises(ValueError, match="unknown entity 'deal'"):
        history_of("deal", CALL_ID)


def test_an_event_from_a_newer_producer_still_decodes():
    event = lead_imported()
    payload = json.loads(encode_event(event))
    payload["a_field_added_later"] = {"nested": True}
    assert decode_event(json.dumps(payload).encode()) == event


def test_a_malformed_payload_names_its_subject_and_the_problem():
    with pytest.raises(MalformedEventError, match=r"'sales.lead.x.imported'.*Expected `object`"):
        decode_event(b"[1, 2]", "sales.lead.x.imported")
    with pytest.raises(MalformedEventError, match="Invalid value 'Telepathy'"):
        decode_event(b'{"type": "Telepathy"}', "sales.lead.x.imported")
    with pytest.raises(MalformedEventError, match="JSON is malformed"):
        decode_event(b"\xff\xfe garbage", "sales.lead.x.imported")


def test_occurred_at_must_be_utc():
    with pytest.raises(ValueError, match="occurred_at must be in UTC"):
        LeadImported(
            event_id=uuid4(),
            occurred_at=datetime(2026, 3, 4, 15, 30),
            lead_id=LEAD_ID,
            lead=lead_imported().lead,
        )
    naive = json.loads(encode_event(lead_imported()))
    naive["occurred_at"] = "2026-03-04T15:30:00"
    with pytest.raises(MalformedEventError, match="occurred_at must be in UTC"):
        decode_event(json.dumps(naive).encode())


def test_events_are_frozen():
    event = lead_imported()
    with pytest.raises(AttributeError):
        event.lead_id = uuid4()  # type: ignore[misc]
    assert event.occurred_at == NOW


def test_the_schema_only_grows_compared_with_the_committed_copy():
    # Regenerate with: python -m libs.events schema > libs/events/event_schema.json
    committed = json.loads(COMMITTED_SCHEMA.read_text())
    current = msgspec.json.decode(msgspec.json.encode(event_schema()))
    assert current == committed


def test_ids_that_decide_whether_a_phone_rings_are_derived():
    from libs.events import call_id_for, lead_id_for

    assert lead_id_for("+12025550143") == lead_id_for("+12025550143")
    assert lead_id_for("+12025550143") != lead_id_for("+12025550144")
    assert call_id_for(CAMPAIGN_ID, LEAD_ID, 1) == call_id_for(CAMPAIGN_ID, LEAD_ID, 1)
    assert call_id_for(CAMPAIGN_ID, LEAD_ID, 1) != call_id_for(CAMPAIGN_ID, LEAD_ID, 2)
