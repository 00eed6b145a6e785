"""The facts the rules need, folded from the stream: blocked numbers, campaign states, and
the calls each number has had. The scheduler and telephony each keep one."""

from __future__ import annotations

from collections import deque
from datetime import datetime
from uuid import UUID

from libs.compliance.rules import CAP_PERIOD, Block, CallFacts, CallingHours, CampaignState
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
    MediaStreamStarted,
    MeetingBooked,
    MeetingCanceled,
    ModeRecorded,
    OutcomeRecorded,
    TranscriptFinalized,
    TurnRecorded,
)
from libs.events.ids import lead_id_for
from libs.events.subjects import every_event_of, subject_filter

# The subjects a fold needs: a follower subscribes to exactly these.
SUBJECTS = (subject_filter(LeadOptedOut), every_event_of("campaign"), subject_filter(CallPlaced))


def opted_out_leads(event: LeadOptedOut) -> set[UUID]:
    """The lead the event names, and the lead its number is. Do-not-call is by number, and
    lists uploaded by earlier builds named their entries under another id namespace."""
    return {event.lead_id, lead_id_for(event.phone_number)}


class ComplianceFacts:
    """A fold, idempotent: a replayed or redelivered event changes nothing the second time.

    A lead's id derives from its number (libs.events.ids), so "this number" is the lead id.
    """

    def __init__(self) -> None:
        self.blocked: dict[UUID, Block] = {}
        self.campaign_hours: dict[UUID, CallingHours] = {}
        # A campaign the fold has not seen start is running until a fact says otherwise.
        self.campaign_states: dict[UUID, CampaignState] = {}
        self._dials: dict[UUID, deque[tuple[datetime, UUID]]] = {}  # lead -> (when, call)

    def apply(self, event: AnyEvent) -> None:
        match event:
            case LeadOptedOut():
                block: Block = "do_not_call" if event.source == "do-not-call-list" else "opted_out"
                for lead_id in opted_out_leads(event):
                    self.blocked.setdefault(lead_id, block)
            case CampaignStarted():
                hours = CallingHours(hours=event.calling_hours, days=event.calling_days)
                self.campaign_hours.setdefault(event.campaign_id, hours)
            case CampaignPaused():
                self._move(event.campaign_id, "running", "paused")
            case CampaignResumed():
                self._move(event.campaign_id, "paused", "running")
            case CampaignStopped():
                self.campaign_states[event.campaign_id] = "stopped"  # for good
            case CampaignFinished():
                self._move(event.campaign_id, "running", "finished")
            case CampaignLeadsRequeued():
                self._move(event.campaign_id, "finished", "running")
            case CallPlaced():
                self._record_dial(event)
            case (
                ModeRecorded()
                | LeadImported()
                | CampaignLeadsAdded()
                | CallsWithheld()
                | CallRequested()
                | CallAnswered()
                | CallFailed()
                | CallCompleted()
                | CallRecorded()
                | MediaStreamStarted()
                | CallDialing()
                | AnswerClassified()
                | TurnRecorded()
                | TranscriptFinalized()
                | OutcomeRecorded()
                | MeetingBooked()
                | MeetingCanceled()
            ):
                pass  # nothing the rules read

    def facts_for(
        self, lead_id: UUID, campaign_id: UUID, decided_at: datetime | None = None
    ) -> CallFacts:
        return CallFacts(
            blocked=self.blocked.get(lead_id),
            campaign_state=self.campaign_states.get(campaign_id, "running"),
            recent_calls=tuple(when for when, _ in self._dials.get(lead_id, ())),
            decided_at=decided_at,
        )

    def _move(self, campaign_id: UUID, source: CampaignState, target: CampaignState) -> None:
        if self.campaign_states.get(campaign_id, "running") == source:
            self.campaign_states[campaign_id] = target

    def _record_dial(self, event: CallPlaced) -> None:
        # The decision's time, not the carrier's: every rule reads the scheduler's clock.
        when = event.requested_at or event.occurred_at
        dials = self._dials.setdefault(event.lead_id, deque())
        if any(call_id == event.call_id for _, call_id in dials):
            return
        dials.append((when, event.call_id))
        newest = max(t for t, _ in dials)
        while dials and dials[0][0] <= newest - CAP_PERIOD:
            dials.popleft()  # only the last 24 hours can count against the cap
