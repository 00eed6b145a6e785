"""One realistic instance of every event, every optional field filled in."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from uuid import UUID, uuid4

from libs.events import (
    AnswerClassified,
    AnyEvent,
    CallAnswered,
    CallCompleted,
    CallDialing,
    CallFailed,
    CallPlaced,
    CallRecorded,
    CallRequested,
    CallsWithheld,
    CampaignFinished,
    CampaignLeadsAdded,
    CampaignLeadsRequeued,
    CampaignPaused,
    CampaignResumed,
    CampaignStarted,
    CampaignStopped,
    LeadImported,
    LeadOptedOut,
    LeadProfile,
    MediaStreamStarted,
    MeetingBooked,
    MeetingCanceled,
    ModeRecorded,
    OutcomeRecorded,
    TimeWindow,
    TranscriptFinalized,
    Turn,
    TurnRecorded,
)

NOW = datetime(2026, 3, 4, 15, 30, 0, 123456, tzinfo=UTC)
LEAD_ID = UUID("00000000-0000-4000-8000-000000000001")
CAMPAIGN_ID = UUID("00000000-0000-4000-8000-000000000002")
CALL_ID = UUID("00000000-0000-4000-8000-000000000003")
MEETING_ID = UUID("00000000-0000-4000-8000-000000000004")
SLOT_ID = UUID("00000000-0000-4000-8000-000000000005")


def lead_profile(phone_number: str = "+12025550143") -> LeadProfile:
    return LeadProfile(
        phone_number=phone_number,
        business_name="Rosa's Trattoria",
        contact_name="Rosa Marino",
        business_type="Restaurant",
        company_size="small",
        current_challenges="Missed reservations during the dinner rush",
        best_call_time="2pm-4pm",
        best_call_window=TimeWindow(start=time(14), end=time(16)),
        time_zones=("America/New_York",),
        business_type_original="Italian restaurant",
        attributes={"city": "Washington"},
    )


def lead_imported(lead_id: UUID = LEAD_ID, phone_number: str = "+12025550143") -> LeadImported:
    return LeadImported(
        event_id=uuid4(),
        occurred_at=NOW,
        lead_id=lead_id,
        lead=lead_profile(phone_number),
        status="pending",
        source="leads.csv",
    )


def one_of_each_event() -> list[AnyEvent]:
    call = {"call_id": CALL_ID, "lead_id": LEAD_ID, "campaign_id": CAMPAIGN_ID}
    common = {"occurred_at": NOW}
    return [
        ModeRecorded(event_id=uuid4(), **common, mode="simulation", recorded_by="scheduler"),
        lead_imported(),
        LeadOptedOut(
            event_id=uuid4(),
            **common,
            lead_id=LEAD_ID,
            phone_number="+12025550143",
            source="call",
            call_id=CALL_ID,
            campaign_id=CAMPAIGN_ID,
        ),
        CampaignStarted(
            event_id=uuid4(),
            **common,
            campaign_id=CAMPAIGN_ID,
            name="Spring",
            lead_ids=(LEAD_ID,),
            max_concurrent_calls=5,
            calling_hours=TimeWindow(start=time(9), end=time(17)),
            calling_days=(0, 1, 2),
            lead_parts=1,
            filters={"business_type": "Restaurant"},
        ),
        CampaignLeadsAdded(
            event_id=uuid4(), **common, campaign_id=CAMPAIGN_ID, part=1, lead_ids=(LEAD_ID,)
        ),
        CampaignStopped(
            event_id=uuid4(),
            **common,
            campaign_id=CAMPAIGN_ID,
            reason="stopped by user",
            hang_up_live_calls=True,
        ),
        CampaignPaused(
            event_id=uuid4(),
            **common,
            campaign_id=CAMPAIGN_ID,
            reason="8 of the last 10 calls failed",
            automatic=True,
        ),
        CampaignResumed(event_id=uuid4(), **common, campaign_id=CAMPAIGN_ID),
        CampaignLeadsRequeued(
            event_id=uuid4(), **common, campaign_id=CAMPAIGN_ID, lead_ids=(LEAD_ID,), reason="busy"
        ),
        CallsWithheld(
            event_id=uuid4(),
            **common,
            campaign_id=CAMPAIGN_ID,
            rule="calling_window",
            lead_ids=(LEAD_ID,),
            detail="Wed 20:05 in America/New_York is outside 09:00-20:00",
            retry_at=NOW,
        ),
        CampaignFinished(
            event_id=uuid4(), **common, campaign_id=CAMPAIGN_ID, summary={"completed": 1}
        ),
        CallRequested(
            event_id=uuid4(),
            **common,
            **call,
            attempt=2,
            lead=lead_profile(),
            time_limit_seconds=120,
        ),
        CallPlaced(
            event_id=uuid4(),
            **common,
            **call,
            provider="twilio",
            provider_call_id="CA0123456789abcdef0123456789abcdef",
        ),
        CallDialing(
            event_id=uuid4(), **common, **call, provider="twilio", claimed_by="telephony-1/4242"
        ),
        CallAnswered(event_id=uuid4(), **common, **call, answered_by="human"),
        AnswerClassified(
            event_id=uuid4(), **common, **call, answered_by="machine", detection_seconds=1.8
        ),
        CallFailed(
            event_id=uuid4(),
            **common,
            **call,
            reason="invalid-number",
            detail="The 'To' number is not a valid phone number.",
            provider_error_code=21211,
        ),
        MediaStreamStarted(
            event_id=uuid4(),
            **common,
            **call,
            stream_sid="MZ" + "4" * 32,
            provider_call_id="CA" + "3" * 32,
        ),
        CallCompleted(event_id=uuid4(), **common, **call, duration_seconds=84.5),
        CallRecorded(
            event_id=uuid4(),
            **common,
            **call,
            recording_url="https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE1",
            duration_seconds=84.0,
        ),
        TurnRecorded(
            event_id=uuid4(),
            **common,
            **call,
            index=0,
            turn=Turn(role="agent", text="Hi Rosa, this is Alex.", started_at=NOW, ended_at=NOW),
        ),
        TranscriptFinalized(
            event_id=uuid4(),
            **common,
            **call,
            duration_seconds=84.5,
            ended_by="goodbye",
            turns=(
                Turn(
                    role="agent",
                    text="Hi Rosa, this is an automated assistant...",
                    started_at=NOW,
                    ended_at=NOW,
                ),
                Turn(
                    role="prospect",
                    text="Sure, go ahead.",
                    started_at=NOW,
                    ended_at=NOW,
                    response_latency_seconds=0.8,
                ),
            ),
        ),
        OutcomeRecorded(
            event_id=uuid4(),
            **common,
            **call,
            conversation_summary="Keen on a demo",
            interest_level="high",
            scheduled_meeting=True,
            meeting_time=NOW,
            next_steps="Send the calendar invite",
            notes="Prefers email",
            source="summary",
            meeting_id=MEETING_ID,
        ),
        MeetingBooked(
            event_id=uuid4(),
            **common,
            slot_id=SLOT_ID,
            meeting_id=MEETING_ID,
            rep_id="alex",
            rep_name="Alex Morgan",
            rep_email="alex@example.com",
            starts_at=NOW + timedelta(days=1),
            ends_at=NOW + timedelta(days=1, minutes=30),
            lead_zone="America/New_York",
            calendar="caldav",
            **call,
            business_name="Acme Plumbing",
            contact_name="Ada Lovelace",
            contact_number="+12025550143",
            contact_email="ada@example.com",
            revision=1,
        ),
        MeetingCanceled(
            event_id=uuid4(),
            **common,
            slot_id=SLOT_ID,
            meeting_id=MEETING_ID,
            revision=1,
            reason="rescheduled",
            detail="Moved to Thursday",
        ),
    ]
