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
    CallRequested,
    CampaignFinished,
    CampaignStarted,
    LeadImported,
    LeadOptedOut,
    LeadProfile,
    OutcomeRecorded,
    TimeWindow,
    TranscriptFinalized,
    Turn,
)

START = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)
BUSINESS_TYPES = ("Restaurant", "Retail", "Healthcare", "Real Estate", "Other")
SIZES = ("small", "medium", "large", "unknown")


class History:
    """Builds a plausible stream, deterministic for a seed."""

    def __init__(self, seed: int = 7) -> None:
        self.random = random.Random(seed)
        self.clock = START
        self.events: list[AnyEvent] = []

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
        self.events.append(
            OutcomeRecorded(
                event_id=self.uuid(),
                occurred_at=self.tick(),
                **ids,
                conversation_summary=f"Talked about {profile.current_challenges.lower()}",
                interest_level=interest,
                scheduled_meeting=interest == "high",
                next_steps="Send the invite" if interest == "high" else "",
            )
        )
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


def realistic_events(count: int, *, campaign_size: int = 1000, seed: int = 7) -> list[AnyEvent]:
    """Exactly `count` events: whole campaigns, the last one cut where the count is reached."""
    history = History(seed)
    while len(history.events) < count:
        history.campaign(campaign_size, first_number=len(history.events))
    return history.events[:count]
