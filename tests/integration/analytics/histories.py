"""Realistic event histories: leads imported, campaigns run, calls with every fate."""

from __future__ import annotations

import random
from datetime import UTC, datetime, time, timedelta
from uuid import UUID

from libs.events import (
    AnyEvent,
    CallAnswered,
    CallCompleted,
    CallFailed,
    CallPlaced,
    CallRecorded,
    CallRequested,
    CallsWithheld,
    CampaignFinished,
    CampaignStarted,
    LeadImported,
    LeadOptedOut,
    LeadProfile,
    MeetingBooked,
    MeetingCanceled,
    OutcomeRecorded,
    TimeWindow,
    TranscriptFinalized,
    Turn,
    slot_id_for,
)

START = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)
REP = {"rep_id": "alex", "rep_name": "Alex Morgan", "rep_email": "alex@example.com"}
MEETING_MINUTES = 30


def booking(
    ids: dict[str, UUID],
    profile: LeadProfile,
    *,
    event_id: UUID,
    at: datetime,
    meeting_id: UUID,
    starts_at: datetime,
    zone: str = "America/New_York",
    revision: int = 0,
    rep: dict[str, str] = REP,
) -> MeetingBooked:
    """The meeting a call books, in the rep's slot at `starts_at`."""
    return MeetingBooked(
        event_id=event_id,
        occurred_at=at,
        slot_id=slot_id_for(rep["rep_id"], starts_at),
        meeting_id=meeting_id,
        **rep,
        starts_at=starts_at,
        ends_at=starts_at + timedelta(minutes=MEETING_MINUTES),
        lead_zone=zone,
        **ids,
        business_name=profile.business_name,
        contact_name=profile.contact_name,
        contact_number=profile.phone_number,
        revision=revision,
    )


BUSINESS_TYPES = ("Restaurant", "Retail", "Healthcare", "Real Estate", "Other")
SIZES = ("small", "medium", "large", "unknown")


class History:
    """Builds a plausible stream, deterministic for a seed."""

    def __init__(self, seed: int = 7) -> None:
        self.random = random.Random(seed)
        self.clock = START
        self.events: list[AnyEvent] = []
        self.booked: dict[UUID, MeetingBooked] = {}  # each meeting's current booking
        self.slots = 0

    def uuid(self) -> UUID:
        return UUID(int=self.random.getrandbits(128), version=4)

    def tick(self, seconds: float = 1.0) -> datetime:
        self.clock += timedelta(seconds=seconds)
        return self.clock

    def profile(self, number: int) -> LeadProfile:
        return LeadProfile(
            phone_number=f"+1415{number:07d}",
            business_name=f"Business {number}",
            contact_name=f"Contact {number}",
            business_type=self.random.choice(BUSINESS_TYPES),
            company_size=self.random.choice(SIZES),
            current_challenges="Too many missed calls",
            best_call_time="2pm-4pm",
            time_zones=("America/New_York",),
        )

    def campaign(self, leads: int, first_number: int = 0) -> None:
        lead_ids, profiles = [], []
        for number in range(first_number, first_number + leads):
            lead_id, profile = self.uuid(), self.profile(number)
            lead_ids.append(lead_id)
            profiles.append(profile)
            self.events.append(
                LeadImported(
                    event_id=self.uuid(),
                    occurred_at=self.tick(0.01),
                    lead_id=lead_id,
                    lead=profile,
                    source="leads.csv",
                )
            )
        campaign_id = self.uuid()
        self.events.append(
            CampaignStarted(
                event_id=self.uuid(),
                occurred_at=self.tick(),
                campaign_id=campaign_id,
                name=f"Campaign {first_number}",
                lead_ids=tuple(lead_ids),
                max_concurrent_calls=5,
                calling_hours=TimeWindow(start=time(9), end=time(17)),
            )
        )
        for lead_id, profile in zip(lead_ids, profiles, strict=True):
            self.calls(campaign_id, lead_id, profile)
        self.events.append(
            CampaignFinished(event_id=self.uuid(), occurred_at=self.tick(), campaign_id=campaign_id)
        )

    def calls(self, campaign_id: UUID, lead_id: UUID, profile: LeadProfile) -> None:
        for attempt in (1, 2, 3):
            ids = {"call_id": self.uuid(), "lead_id": lead_id, "campaign_id": campaign_id}
            self.events.append(
                CallRequested(
                    event_id=self.uuid(),
                    occurred_at=self.tick(),
                    **ids,
                    attempt=attempt,
                    lead=profile,
                )
            )
            self.events.append(
                CallPlaced(
                    event_id=self.uuid(),
                    occurred_at=self.tick(),
                    **ids,
                    provider="simulated",
                    provider_call_id="CA" + "0" * 32,
                )
            )
            fate = self.random.random()
            if fate < 0.2:  # busy or no answer: try again
                reason = self.random.choice(("busy", "no-answer"))
                self.events.append(
                    CallFailed(
                        event_id=self.uuid(), occurred_at=self.tick(20), **ids, reason=reason
                    )
                )
                continue
            if fate < 0.25:
                self.events.append(
                    CallFailed(
                        event_id=self.uuid(),
                        occurred_at=self.tick(),
                        **ids,
                        reason="failed",
                        provider_error_code=31005,
                    )
                )
            elif fate < 0.35:
                self.voicemail(ids)
            else:
                self.conversation(ids, profile)
            return

    def voicemail(self, ids: dict[str, UUID]) -> None:
        self.events.append(
            CallAnswered(
                event_id=self.uuid(), occurred_at=self.tick(5), **ids, answered_by="machine"
            )
        )
        self.events.append(
            CallCompleted(
                event_id=self.uuid(), occurred_at=self.tick(20), **ids, duration_seconds=20.0
            )
        )

    def conversation(self, ids: dict[str, UUID], profile: LeadProfile) -> None:
        answered_at = self.tick(8)
        self.events.append(
            CallAnswered(event_id=self.uuid(), occurred_at=answered_at, **ids, answered_by="human")
        )
        turns = []
        for index in range(self.random.randint(4, 10)):
            role = "agent" if index % 2 == 0 else "prospect"
            started = self.tick(3)
            turns.append(
                Turn(
                    role=role,
                    text=f"{role} says something about {profile.business_type}",
                    started_at=started,
                    ended_at=self.tick(4),
                    response_latency_seconds=round(self.random.uniform(0.4, 1.6), 3)
                    if role == "agent"
                    else None,
                )
            )
        duration = (self.clock - answered_at).total_seconds()
        opted_out = self.random.random() < 0.04
        self.events.append(
            TranscriptFinalized(
                event_id=self.uuid(),
                occurred_at=self.tick(),
                **ids,
                turns=tuple(turns),
                duration_seconds=duration,
                ended_by="opt-out" if opted_out else "goodbye",
            )
        )
        interest = self.random.choice(("high", "medium", "low"))
        meeting = self.meeting(ids, profile) if interest == "high" else None
        self.events.append(
            OutcomeRecorded(
                event_id=self.uuid(),
                occurred_at=self.tick(),
                **ids,
                conversation_summary=f"Talked about {profile.current_challenges.lower()}",
                interest_level=interest,
                scheduled_meeting=interest == "high",
                next_steps="Send the invite" if interest == "high" else "",
                meeting_id=meeting,
            )
        )
        if meeting is not None:
            self.meeting_fate(ids, profile, meeting)
        if opted_out:
            self.events.append(
                LeadOptedOut(
                    event_id=self.uuid(),
                    occurred_at=self.tick(),
                    lead_id=ids["lead_id"],
                    phone_number=profile.phone_number,
                    source="call",
                    call_id=ids["call_id"],
                    campaign_id=ids["campaign_id"],
                )
            )
        self.events.append(
            CallCompleted(
                event_id=self.uuid(), occurred_at=self.tick(), **ids, duration_seconds=duration
            )
        )

    def meeting(self, ids: dict[str, UUID], profile: LeadProfile) -> UUID | None:
        """Most keen leads book a meeting; some the model only says they did."""
        if self.random.random() < 0.1:
            return None  # the model's word alone: no booking
        meeting_id = self.uuid()
        self.booked[meeting_id] = booking(
            ids,
            profile,
            event_id=self.uuid(),
            at=self.tick(),
            meeting_id=meeting_id,
            starts_at=self.slot(),
        )
        self.events.append(self.booked[meeting_id])
        return meeting_id

    def slot(self) -> datetime:
        """A free half hour of the rep's, days after the call."""
        self.slots += 1
        day = self.clock.replace(hour=15, minute=0, second=0, microsecond=0)
        return day + timedelta(days=2 + self.slots // 16, minutes=30 * (self.slots % 16))

    def meeting_fate(self, ids: dict[str, UUID], profile: LeadProfile, meeting_id: UUID) -> None:
        """Later: a booking is canceled, moved to another slot, or refused by the calendar."""
        booked = self.booked[meeting_id]
        fate = self.random.random()
        if fate < 0.15:
            reason = "canceled"
        elif fate < 0.2:
            reason = "calendar-failed"
        elif fate < 0.35:
            moved = booking(
                ids,
                profile,
                event_id=self.uuid(),
                at=self.tick(),
                meeting_id=meeting_id,
                starts_at=self.slot(),
                revision=booked.revision + 1,
            )
            self.booked[meeting_id] = moved
            self.events.append(moved)
            reason = "rescheduled"
        else:
            return
        self.events.append(
            MeetingCanceled(
                event_id=self.uuid(),
                occurred_at=self.tick(),
                slot_id=booked.slot_id,
                meeting_id=meeting_id,
                reason=reason,  # type: ignore[arg-type]
            )
        )


def realistic_events(count: int, *, campaign_size: int = 1000, seed: int = 7) -> list[AnyEvent]:
    """Exactly `count` events: whole campaigns, the last one cut where the count is reached."""
    history = History(seed)
    while len(history.events) < count:
        history.campaign(campaign_size, first_number=len(history.events))
    return history.events[:count]


FATES_CAMPAIGN = UUID("00000000-0000-4000-8000-0000000fa7e5")
FATES_DAY = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
RECORDING = "https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE1"


class Fates:
    """One lead for every way a call (or a lead) can end, in one campaign, "Fates".

    `leads` names each lead by its fate; `calls` names each lead's latest call, and
    `meetings` the meeting it booked.
    """

    def __init__(self) -> None:
        self.events: list[AnyEvent] = []
        self.leads: dict[str, UUID] = {}
        self.profiles: dict[str, LeadProfile] = {}
        self.calls: dict[str, UUID] = {}
        self.meetings: dict[str, UUID] = {}  # each lead's meeting, by fate
        self.clock = FATES_DAY
        self.count = 0

    def uuid(self) -> UUID:
        self.count += 1
        return UUID(int=0xFA7E_0000 + self.count, version=4)

    def at(self, seconds: float = 1.0) -> datetime:
        self.clock += timedelta(seconds=seconds)
        return self.clock

    def lead(self, fate: str, **profile: object) -> UUID:
        number = len(self.leads) + 1
        lead_id = self.leads[fate] = self.uuid()
        self.profiles[fate] = LeadProfile(
            **{
                "phone_number": f"+1202555{number:04d}",
                "business_name": f"{fate.title()} Co",
                "contact_name": f"{fate} owner",
                "business_type": "Restaurant",
                "company_size": "small",
                "best_call_time": "2pm-4pm",
                **profile,
            }  # type: ignore[arg-type]
        )
        self.events.append(
            LeadImported(
                event_id=self.uuid(),
                occurred_at=FATES_DAY - timedelta(hours=1),
                lead_id=lead_id,
                lead=self.profiles[fate],
                source="leads.csv",
            )
        )
        return lead_id

    def call(self, fate: str, *, placed: bool = True, attempt: int = 1) -> dict[str, UUID]:
        ids = {
            "call_id": self.uuid(),
            "lead_id": self.leads[fate],
            "campaign_id": FATES_CAMPAIGN,
        }
        self.calls[fate] = ids["call_id"]
        self.events.append(
            CallRequested(
                event_id=self.uuid(),
                occurred_at=self.at(60),
                **ids,
                attempt=attempt,
                lead=self.profiles[fate],
            )
        )
        if placed:
            self.events.append(
                CallPlaced(
                    event_id=self.uuid(),
                    occurred_at=self.at(),
                    **ids,
                    provider="simulated",
                    provider_call_id=f"CA{self.count:032d}",
                )
            )
        return ids

    def book(
        self,
        ids: dict[str, UUID],
        starts_at: datetime,
        *,
        zone: str = "America/New_York",
        meeting_id: UUID | None = None,
        revision: int = 0,
    ) -> UUID:
        """A booking for the call's lead (or a move of `meeting_id`); its id."""
        fate = next(name for name, lead in self.leads.items() if lead == ids["lead_id"])
        meeting_id = meeting_id or self.uuid()
        self.meetings[fate] = meeting_id
        self.events.append(
            booking(
                ids,
                self.profiles[fate],
                event_id=self.uuid(),
                at=self.clock,
                meeting_id=meeting_id,
                starts_at=starts_at,
                zone=zone,
                revision=revision,
            )
        )
        return meeting_id

    def add(self, kind: type, ids: dict[str, UUID] | None = None, **fields: object) -> None:
        self.events.append(
            kind(event_id=self.uuid(), occurred_at=self.at(), **(ids or {}), **fields)
        )

    def talk(
        self,
        ids: dict[str, UUID],
        *,
        answered_by: str = "human",
        ended_by: str = "goodbye",
        interest: str = "medium",
        completed: bool = True,
        book_at: datetime | None = None,
        zone: str = "America/New_York",
        **outcome: object,
    ) -> None:
        self.add(CallAnswered, ids, answered_by=answered_by)
        started = self.at(2)
        turns = (
            Turn(role="agent", text="Hi, this is Alex", started_at=started, ended_at=self.at(3)),
            Turn(
                role="prospect",
                text="Tell me more",
                started_at=self.at(1),
                ended_at=self.at(2),
            ),
            Turn(
                role="agent",
                text="We answer every call",
                started_at=self.at(1),
                ended_at=self.at(4),
                response_latency_seconds=0.7,
            ),
        )
        self.add(TranscriptFinalized, ids, turns=turns, duration_seconds=42.0, ended_by=ended_by)
        if book_at is not None:  # booked while on the call, the moment it ended
            outcome["meeting_id"] = self.book(ids, book_at, zone=zone)
        self.add(
            OutcomeRecorded,
            ids,
            conversation_summary=f"{interest} interest",
            interest_level=interest,
            **outcome,
        )
        if completed:
            self.add(CallCompleted, ids, duration_seconds=42.0)


def every_fate() -> Fates:
    """Every call_result and every status_reason the results file can show."""
    fates = Fates()
    fates.lead(
        "answered",
        business_type="Restaurant",
        business_type_original="Italian restaurant",
        company_size="medium",
        company_size_original="12 employees",
    )
    for fate in (
        "voicemail", "busy", "no-answer", "invalid-number", "failed", "canceled", "timeout",
        "opted-out", "fax", "agent-lost", "silent", "refused", "withheld", "ringing",
        "queued", "callback", "retried",
    ):  # fmt: skip
        fates.lead(fate)
    dnc = fates.lead("dnc")
    fates.lead("untouched")
    fates.lead("=formula", business_name='=HYPERLINK("http://evil")')
    members = tuple(lead for fate, lead in fates.leads.items() if fate not in ("dnc", "untouched"))
    fates.add(
        CampaignStarted,
        campaign_id=FATES_CAMPAIGN,
        name="Fates",
        lead_ids=members,
        max_concurrent_calls=5,
        calling_hours=TimeWindow(start=time(9), end=time(17)),
    )
    fates.add(
        LeadOptedOut,
        lead_id=dnc,
        phone_number=fates.profiles["dnc"].phone_number,
        source="do-not-call-list",
    )
    answered = fates.call("answered")
    fates.talk(
        answered,
        interest="high",
        scheduled_meeting=True,
        meeting_time=FATES_DAY + timedelta(days=2),
        book_at=FATES_DAY + timedelta(days=2),  # 10:00 AM EST
        next_steps="Send the invite",
        summary_written_by="model",
    )
    fates.add(CallCompleted, answered, duration_seconds=42.0)
    fates.add(CallRecorded, answered, recording_url=RECORDING, duration_seconds=41.0)
    fates.talk(fates.call("voicemail"), answered_by="machine", ended_by="voicemail", interest="low")
    for reason in ("busy", "no-answer", "invalid-number", "failed", "canceled", "timeout"):
        code = {"invalid-number": 21211, "failed": 31005}.get(reason)
        fates.add(CallFailed, fates.call(reason), reason=reason, provider_error_code=code)
    opted_out = fates.call("opted-out")
    fates.talk(opted_out, ended_by="opt-out", interest="low", completed=False)
    fates.add(
        LeadOptedOut,
        lead_id=opted_out["lead_id"],
        phone_number=fates.profiles["opted-out"].phone_number,
        source="call",
        call_id=opted_out["call_id"],
        campaign_id=FATES_CAMPAIGN,
    )
    fates.add(CallCompleted, opted_out, duration_seconds=42.0)
    fax = fates.call("fax")
    fates.add(CallAnswered, fax, answered_by="fax")
    fates.add(CallCompleted, fax, duration_seconds=3.0)
    fates.talk(fates.call("agent-lost"), ended_by="error", interest="low", source="fallback")
    silent = fates.call("silent")  # answered, then nothing from the agent at all
    fates.add(CallAnswered, silent, answered_by="human")
    fates.add(CallCompleted, silent, duration_seconds=9.0)
    fates.add(
        CallFailed,
        fates.call("refused", placed=False),
        reason="canceled",
        rule="frequency_cap",
        detail="3 calls to this number in the last 24 hours",
    )
    fates.add(
        CallsWithheld,
        campaign_id=FATES_CAMPAIGN,
        rule="calling_window",
        lead_ids=(fates.leads["withheld"],),
        detail="Mon 07:00 in America/New_York is outside 08:00-21:00",
        retry_at=FATES_DAY + timedelta(hours=2),
    )
    fates.call("ringing")
    fates.call("queued", placed=False)
    fates.talk(
        fates.call("callback"),
        interest="medium",
        callback_at=FATES_DAY + timedelta(days=1, hours=2),
        summary_written_by="template",
    )
    fates.add(CallFailed, fates.call("retried"), reason="busy")
    fates.talk(fates.call("retried", attempt=2), interest="low")
    fates.add(CallFailed, fates.call("=formula"), reason="no-answer")
    return fates
