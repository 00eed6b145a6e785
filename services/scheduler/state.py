"""The scheduler's projection of the stream: leads, do-not-call numbers, campaigns, calls.

`apply` is a fold over events and is idempotent: a redelivered or replayed event, or one
the dispatcher already applied when it published it, changes nothing the second time.
"""

from __future__ import annotations

import heapq
from collections import Counter, deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import count
from typing import Literal
from uuid import UUID

from libs.compliance import Callee, CallingHours, ComplianceFacts, opted_out_leads
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
    TranscriptFinalized,
    TurnRecorded,
)
from libs.events.model import NOT_A_PERSON

CampaignState = Literal["running", "paused", "stopped", "finished"]
CallStatus = Literal["requested", "placed", "answered", "completed", "failed"]
LIVE_STATUSES = frozenset({"requested", "placed", "answered"})
# Failures that another attempt may fix; anything else ends the lead's attempts.
# Dropped: the carrier lost the call without a final status; agent-lost: the conversation
# process was lost on an answered call. Nobody knows how either went.
RETRYABLE_FAILURES = frozenset({"busy", "no-answer", "timeout", "machine", "dropped", "agent-lost"})
# A lead a rule kept from a call is looked at again no sooner than this.
RECHECK_AFTER = timedelta(minutes=1)
# Results another attempt cannot change: the number is wrong, it unsubscribed from the
# account (Twilio 21610), or it asked not to be called. They are never retried.
PERMANENT_RESULTS = frozenset({"invalid-number", "rejected", "opted-out", "never callable"})
# Callbacks one lead gets in one campaign: a prospect who asks every time is not called
# for ever (they spend no retries, so something else must end them).
MAX_CALLBACKS = 2
# Failures that say the carrier, not the prospect, refused: they trip the failure brake.
CARRIER_FAILURES = frozenset({"failed", "rejected", "invalid-number"})


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int = 3
    backoff: tuple[timedelta, ...] = (timedelta(minutes=30), timedelta(hours=2))

    def delay_after(self, attempt: int) -> timedelta:
        return self.backoff[min(attempt, len(self.backoff)) - 1]


@dataclass(slots=True)
class Lead:
    lead_id: UUID
    profile: LeadProfile
    imported_status: str
    callee: Callee  # what the calling rules need to know about where the phone rings

    @classmethod
    def imported(cls, event: LeadImported) -> Lead:
        return cls(event.lead_id, event.lead, event.status, Callee.of(event.lead))


@dataclass(slots=True)
class Call:
    call_id: UUID
    lead_id: UUID
    campaign_id: UUID
    attempt: int
    requested_at: datetime
    status: CallStatus = "requested"
    answered_by: str = "unknown"
    answered_at: datetime | None = None
    result: str | None = None  # completed, voicemail, or the failure reason
    ended_at: datetime | None = None
    callback_at: datetime | None = None  # the prospect asked to be called back then

    @property
    def live(self) -> bool:
        return self.status in LIVE_STATUSES


@dataclass(slots=True)
class LeadProgress:
    """One lead within one campaign."""

    attempts: int = 0
    budget: int = 0  # the highest attempt number allowed
    refused: int = 0  # attempts a rule stopped at dial time: not dialled, not counted
    callbacks: int = 0  # callbacks the prospect asked for and got (MAX_CALLBACKS at most)
    due_at: datetime | None = None  # when the next attempt may go; None: live or final
    live_call_id: UUID | None = None
    result: str | None = None  # the last attempt's result
    result_at: datetime | None = None
    final: bool = False


@dataclass(slots=True)
class Campaign:
    campaign_id: UUID
    name: str
    started_at: datetime
    lead_ids: tuple[UUID, ...]
    max_concurrent_calls: int
    rules: CallingHours
    progress: dict[UUID, LeadProgress]
    state: CampaignState = "running"
    reason: str = ""  # why it is paused or stopped
    # The latest results, as many as the failure brake reads (FAILURE_BRAKE_WINDOW).
    recent_results: deque[str] = field(default_factory=deque)
    # Calls not made, by the rule that stopped them: at decision and at dial time.
    not_called: Counter[str] = field(default_factory=Counter)
    # Leads waiting for their next attempt, earliest first: (due_at, tiebreak, lead_id).
    queue: list[tuple[datetime, int, UUID]] = field(default_factory=list)
    live_call_ids: set[UUID] = field(default_factory=set)

    open_leads: int = 0  # leads without a final result: kept, not counted, at every decision
    # Pauses, resumes and re-queues folded so far: what a command's id derives from.
    revision: int = 0
    requeues: set[UUID] = field(default_factory=set)  # folded once each

    def schedule(self, lead_id: UUID, due_at: datetime, tiebreak: int) -> None:
        self.progress[lead_id].due_at = due_at
        heapq.heappush(self.queue, (due_at, tiebreak, lead_id))

    def is_current(self, entry: tuple[datetime, int, UUID]) -> bool:
        """False for an entry the lead has moved on from since it was queued."""
        due_at, _, lead_id = entry
        progress = self.progress[lead_id]
        return not progress.final and progress.live_call_id is None and progress.due_at == due_at

    def drop_stale(self) -> None:
        """The fold keeps the queue's head current, so decisions only read it."""
        while self.queue and not self.is_current(self.queue[0]):
            heapq.heappop(self.queue)

    def due_entries(self, now: datetime) -> Iterator[tuple[datetime, int, UUID]]:
        """The current entries due by `now`, earliest first, without touching the queue:
        a walk of the heap in order (a frontier of its nodes), O(k log k) for k read."""
        queue = self.queue
        frontier = [(queue[0], 0)] if queue else []
        while frontier:
            entry, index = heapq.heappop(frontier)
            if entry[0] > now:
                return  # every node below is due later still
            if self.is_current(entry):
                yield entry
            for child in (2 * index + 1, 2 * index + 2):
                if child < len(queue):
                    heapq.heappush(frontier, (queue[child], child))

    def finish_lead(self, progress: LeadProgress, result: str, at: datetime | None) -> None:
        if not progress.final:
            self.open_leads -= 1
        progress.result, progress.result_at, progress.final, progress.due_at = (
            result,
            at,
            True,
            None,
        )

    def reopen_lead(self, progress: LeadProgress, budget: int) -> None:
        if progress.final:
            self.open_leads += 1
        progress.final, progress.budget = False, budget

    @property
    def done(self) -> bool:
        return not self.live_call_ids and self.open_leads == 0


class SchedulerState:
    def __init__(self, retry_policy: RetryPolicy, brake_window: int = 10) -> None:
        self.retry_policy = retry_policy
        self.brake_window = brake_window  # how many recent results the failure brake reads
        self.leads: dict[UUID, Lead] = {}
        # Opt-outs, do-not-call and each number's recent calls: what the rules read.
        self.compliance = ComplianceFacts()
        self.campaigns: dict[UUID, Campaign] = {}  # in start order
        self.calls: dict[UUID, Call] = {}
        self.live_call_ids: set[UUID] = set()
        self.last_dispatch_at: datetime | None = None
        self._tiebreak = count()
        # Parts of a selection that arrived before their CampaignStarted.
        self._lead_parts: dict[UUID, dict[int, tuple[UUID, ...]]] = {}

    def apply(self, event: AnyEvent) -> None:
        self.compliance.apply(event)
        match event:
            case LeadImported():
                self._on_lead_imported(event)
            case LeadOptedOut():
                self._on_lead_opted_out(event)
            case CampaignLeadsAdded():
                self._on_campaign_leads_added(event)
            case CampaignStarted():
                self._on_campaign_started(event)
            case CampaignStopped():
                self._on_campaign_stopped(event)
            case CampaignPaused():
                self._on_campaign_paused(event)
            case CampaignResumed():
                self._on_campaign_resumed(event)
            case CampaignLeadsRequeued():
                self._on_campaign_leads_requeued(event)
            case CallsWithheld():
                self._on_calls_withheld(event)
            case CampaignFinished():
                self._on_campaign_finished(event)
            case CallRequested():
                self._on_call_requested(event)
            case CallPlaced():
                self._on_call_placed(event)
            case CallAnswered():
                self._on_call_answered(event)
            case AnswerClassified():
                self._on_answer_classified(event)
            case CallFailed():
                self._on_call_failed(event)
            case CallCompleted():
                self._on_call_completed(event)
            case OutcomeRecorded():
                self._on_outcome_recorded(event)
            case (
                ModeRecorded()
                | TranscriptFinalized()
                | CallRecorded()
                | MediaStreamStarted()
                | CallDialing()
                | TurnRecorded()
                | MeetingBooked()
                | MeetingCanceled()
            ):
                return  # not the scheduler's to act on
        for campaign in self.campaigns.values():
            campaign.drop_stale()

    def is_blocked(self, lead_id: UUID) -> bool:
        return lead_id in self.compliance.blocked

    def campaign_of(self, campaign_id: UUID) -> Campaign | None:
        return self.campaigns.get(campaign_id)

    def latest_campaign(self) -> Campaign | None:
        return next(reversed(self.campaigns.values()), None)

    # --- leads -------------------------------------------------------------------------

    def _on_lead_imported(self, event: LeadImported) -> None:
        self.leads[event.lead_id] = Lead.imported(event)

    def _on_lead_opted_out(self, event: LeadOptedOut) -> None:
        for lead_id in opted_out_leads(event):
            for campaign in self.campaigns.values():
                progress = campaign.progress.get(lead_id)
                if progress is not None and not progress.final and progress.live_call_id is None:
                    campaign.finish_lead(progress, "opted-out", event.occurred_at)

    # --- campaigns ---------------------------------------------------------------------

    def _on_campaign_leads_added(self, event: CampaignLeadsAdded) -> None:
        if event.campaign_id not in self.campaigns:
            self._lead_parts.setdefault(event.campaign_id, {})[event.part] = event.lead_ids

    def _on_campaign_started(self, event: CampaignStarted) -> None:
        if event.campaign_id in self.campaigns:
            return
        parts = self._lead_parts.pop(event.campaign_id, {})
        lead_ids = event.lead_ids + tuple(
            lead_id for part in range(1, event.lead_parts + 1) for lead_id in parts.get(part, ())
        )
        budget = self.retry_policy.max_attempts
        campaign = Campaign(
            campaign_id=event.campaign_id,
            name=event.name,
            started_at=event.occurred_at,
            lead_ids=lead_ids,
            max_concurrent_calls=event.max_concurrent_calls,
            rules=CallingHours(hours=event.calling_hours, days=event.calling_days),
            progress={lead_id: LeadProgress(budget=budget) for lead_id in lead_ids},
            recent_results=deque(maxlen=self.brake_window),
        )
        campaign.open_leads = len(campaign.progress)
        self.campaigns[event.campaign_id] = campaign
        for lead_id in lead_ids:
            campaign.schedule(lead_id, event.occurred_at, next(self._tiebreak))

    def _on_campaign_stopped(self, event: CampaignStopped) -> None:
        campaign = self.campaigns.get(event.campaign_id)
        if campaign is not None and campaign.state in ("running", "paused"):
            campaign.state, campaign.reason = "stopped", event.reason

    def _on_campaign_paused(self, event: CampaignPaused) -> None:
        campaign = self.campaigns.get(event.campaign_id)
        if campaign is not None and campaign.state == "running":
            campaign.state, campaign.reason = "paused", event.reason
            campaign.revision += 1

    def _on_campaign_resumed(self, event: CampaignResumed) -> None:
        campaign = self.campaigns.get(event.campaign_id)
        if campaign is not None and campaign.state == "paused":
            campaign.state, campaign.reason = "running", ""
            campaign.recent_results.clear()  # a fresh start for the failure brake
            campaign.revision += 1

    def _on_campaign_leads_requeued(self, event: CampaignLeadsRequeued) -> None:
        campaign = self.campaigns.get(event.campaign_id)
        if campaign is None or event.event_id in campaign.requeues:
            return
        campaign.requeues.add(event.event_id)
        campaign.revision += 1
        for lead_id in event.lead_ids:
            progress = campaign.progress.get(lead_id)
            if progress is None or not progress.final or progress.result == "opted-out":
                continue  # unknown, still in play, or must never be called again
            campaign.reopen_lead(progress, progress.attempts + self.retry_policy.max_attempts)
            campaign.schedule(lead_id, event.occurred_at, next(self._tiebreak))
        if campaign.state == "finished":
            campaign.state = "running"

    def _on_calls_withheld(self, event: CallsWithheld) -> None:
        """The rules kept these leads from a call: look again when they may allow it."""
        campaign = self.campaigns.get(event.campaign_id)
        if campaign is None:
            return
        for lead_id in event.lead_ids:
            progress = campaign.progress.get(lead_id)
            if progress is None or progress.final or progress.live_call_id is not None:
                continue
            if progress.due_at is not None and progress.due_at > event.occurred_at:
                continue  # already moved on: a replayed or repeated decision
            campaign.not_called[event.rule] += 1
            if event.rule in ("do_not_call", "opted_out"):
                campaign.finish_lead(progress, "opted-out", event.occurred_at)
            elif event.retry_at is None:
                campaign.finish_lead(progress, "never callable", event.occurred_at)
            else:
                campaign.schedule(lead_id, event.retry_at, next(self._tiebreak))

    def _on_campaign_finished(self, event: CampaignFinished) -> None:
        campaign = self.campaigns.get(event.campaign_id)
        if campaign is not None and campaign.done:
            campaign.state = "finished"

    # --- calls -------------------------------------------------------------------------

    def _on_call_requested(self, event: CallRequested) -> None:
        if event.call_id in self.calls:
            return
        call = Call(
            event.call_id,
            event.lead_id,
            event.campaign_id,
            event.attempt,
            requested_at=event.occurred_at,
        )
        self.calls[event.call_id] = call
        self.live_call_ids.add(event.call_id)
        if self.last_dispatch_at is None or event.occurred_at > self.last_dispatch_at:
            self.last_dispatch_at = event.occurred_at
        campaign = self.campaigns.get(event.campaign_id)
        if campaign is None or (progress := campaign.progress.get(event.lead_id)) is None:
            return
        campaign.live_call_ids.add(event.call_id)
        progress.attempts = max(progress.attempts, event.attempt)
        progress.live_call_id, progress.due_at = event.call_id, None

    def _on_call_placed(self, event: CallPlaced) -> None:
        call = self.calls.get(event.call_id)
        if call is not None and call.status == "requested":
            call.status = "placed"

    def _on_call_answered(self, event: CallAnswered) -> None:
        call = self.calls.get(event.call_id)
        if call is not None and call.live:
            call.status, call.answered_at = "answered", event.occurred_at
            if call.answered_by not in NOT_A_PERSON:  # a machine stays one, whatever
                call.answered_by = event.answered_by  # the stream's start said

    def _on_answer_classified(self, event: AnswerClassified) -> None:
        """The carrier's detection verdict, often after the stream answered for a person: a
        machine's verdict makes the call a voicemail, retried as one."""
        call = self.calls.get(event.call_id)
        if call is None or not call.live:
            return
        if event.answered_by in NOT_A_PERSON or call.answered_by == "unknown":
            call.answered_by = event.answered_by

    def _on_call_failed(self, event: CallFailed) -> None:
        if event.rule is not None or event.reason == "not-dialled":
            self._not_dialled(event)
        else:
            self._end_call(event.call_id, "failed", event.reason, event.occurred_at)

    def _not_dialled(self, event: CallFailed) -> None:
        """Telephony's rules check refused the call, or the carrier never took it: no
        attempt was made, so it does not count against the lead's retries, and the lead is
        asked again when it may be."""
        result = "canceled" if event.rule is not None else event.reason
        closed = self._close_call(event.call_id, "failed", result, event.occurred_at)
        if closed is None:
            return
        call, campaign, progress = closed
        campaign.not_called[event.rule or event.reason] += 1
        progress.refused += 1
        progress.budget += 1
        if event.rule in ("do_not_call", "opted_out") or self.is_blocked(call.lead_id):
            campaign.finish_lead(progress, "opted-out", call.ended_at)
        else:
            # The decision-time check works out the next window; not sooner than a minute,
            # so a telephony that refuses everything is not asked every second.
            retry_at = (call.ended_at or event.occurred_at) + RECHECK_AFTER
            campaign.schedule(call.lead_id, retry_at, next(self._tiebreak))

    def _on_outcome_recorded(self, event: OutcomeRecorded) -> None:
        call = self.calls.get(event.call_id)
        if event.failure is not None and call is not None:
            self._failed_after_answer(call, event.failure, event.occurred_at)
            return
        if event.callback_at is None or call is None or call.callback_at is not None:
            return  # no callback, a call we never asked for, or one already folded
        call.callback_at = event.callback_at
        if not call.live and call.result == "completed":  # the outcome came after the end
            self._schedule_callback(call)

    def _failed_after_answer(self, call: Call, reason: str, at: datetime) -> None:
        """The call was answered, then lost (the agent's process died): it failed for that
        reason, and the lead is retried like any retryable failure, the attempt counted.
        The carrier's CallCompleted usually came first and closed the call as completed,
        so a closed call is reopened; a live one simply ends failed."""
        if call.live:
            self._end_call(call.call_id, "failed", reason, at)
            return
        if call.status == "failed":
            return  # a repeated outcome
        call.status, call.result = "failed", reason
        campaign = self.campaigns.get(call.campaign_id)
        progress = campaign.progress.get(call.lead_id) if campaign else None
        if campaign is None or progress is None:
            return
        if progress.live_call_id is not None or self.is_blocked(call.lead_id):
            return  # already called again, or may not be
        if progress.result not in ("completed", "voicemail", None):
            return  # the lead moved on from this call's result (a callback, an opt-out)
        ended_at = call.ended_at or at
        if not progress.final:  # a voicemail's retry is already due: it stands
            progress.result, progress.result_at = reason, ended_at
        elif progress.attempts < progress.budget:
            campaign.reopen_lead(progress, progress.budget)
            progress.result, progress.result_at = reason, ended_at
            dialled = progress.attempts - progress.refused
            retry_at = ended_at + self.retry_policy.delay_after(dialled)
            campaign.schedule(call.lead_id, retry_at, next(self._tiebreak))
            if campaign.state == "finished":
                campaign.state = "running"  # as a re-queue does: the lead is open again
        else:
            campaign.finish_lead(progress, reason, ended_at)

    def _schedule_callback(self, call: Call) -> None:
        """The prospect asked for another call then: an attempt that is not a retry. The
        rules still decide at that moment, in the lead's zone."""
        campaign = self.campaigns.get(call.campaign_id)
        progress = campaign.progress.get(call.lead_id) if campaign else None
        if campaign is None or progress is None or call.callback_at is None:
            return
        if progress.live_call_id is not None or self.is_blocked(call.lead_id):
            return
        if progress.callbacks >= MAX_CALLBACKS:  # asked once too often: the call stands
            if not progress.final:
                campaign.finish_lead(progress, "completed", call.ended_at)
            return
        progress.callbacks += 1
        if progress.final:
            campaign.reopen_lead(progress, progress.budget + 1)
        else:
            progress.budget += 1
        progress.result, progress.result_at = "callback", call.ended_at
        due = max(call.callback_at, call.ended_at or call.callback_at)
        campaign.schedule(call.lead_id, due, next(self._tiebreak))

    def _on_call_completed(self, event: CallCompleted) -> None:
        call = self.calls.get(event.call_id)
        voicemail = call is not None and call.answered_by == "machine"
        self._end_call(
            event.call_id, "completed", "voicemail" if voicemail else "completed", event.occurred_at
        )

    def _close_call(
        self, call_id: UUID, status: CallStatus, result: str, at: datetime
    ) -> tuple[Call, Campaign, LeadProgress] | None:
        """Mark a live call ended and free its line; its campaign's lead, if it has one."""
        call = self.calls.get(call_id)
        if call is None or not call.live:
            return None  # unknown, or already ended: a late or repeated report changes nothing
        # Other services stamp events with their own clocks; in simulation ours runs ahead
        # of theirs. A call cannot end before we asked for it, so backoffs count from here.
        at = max(at, call.requested_at)
        call.status, call.result, call.ended_at = status, result, at
        self.live_call_ids.discard(call_id)
        campaign = self.campaigns.get(call.campaign_id)
        if campaign is None or (progress := campaign.progress.get(call.lead_id)) is None:
            return None
        campaign.live_call_ids.discard(call_id)
        progress.live_call_id = None
        return call, campaign, progress

    def _end_call(self, call_id: UUID, status: CallStatus, result: str, at: datetime) -> None:
        closed = self._close_call(call_id, status, result, at)
        if closed is None:
            return
        call, campaign, progress = closed
        at = call.ended_at or at
        campaign.recent_results.append(result)
        if self.is_blocked(call.lead_id):
            campaign.finish_lead(progress, "opted-out", at)
        elif result == "completed" and call.callback_at is not None:
            self._schedule_callback(call)
        elif result in RETRYABLE_FAILURES or result == "voicemail":
            progress.result, progress.result_at = result, at
            if progress.attempts < progress.budget:
                dialled = progress.attempts - progress.refused
                retry_at = at + self.retry_policy.delay_after(dialled)
                campaign.schedule(call.lead_id, retry_at, next(self._tiebreak))
            else:
                campaign.finish_lead(progress, result, at)
        else:
            campaign.finish_lead(progress, result, at)
