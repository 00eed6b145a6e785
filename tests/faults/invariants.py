"""What must hold after any fault: nothing lost, nothing doubled.

Every scenario checks the same things, from the stream, the carrier's record of its dials,
the results file, the campaign's status and each process's readiness. Each violation is
one line naming the call (or lead, or process) and what was wrong with it.
"""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from uuid import UUID, uuid5

from libs.events import (
    AnyEvent,
    CallAnswered,
    CallCompleted,
    CallFailed,
    CallPlaced,
    CallRequested,
    CampaignFinished,
    CampaignLeadsAdded,
    CampaignStarted,
    OutcomeRecorded,
    TranscriptFinalized,
)
from services.analytics.results_contract import CALL_STATUSES

# The simulated carrier logs each call it creates; its CallSid is derived from the call id.
CREATED = re.compile(r"Simulated call (CA[0-9a-f]{32}) will be")


@dataclass
class CallHistory:
    call_id: UUID
    lead_id: UUID | None = None
    attempt: int | None = None
    requested: int = 0
    placed: list[CallPlaced] = field(default_factory=list)
    answered: list[CallAnswered] = field(default_factory=list)
    failed: list[CallFailed] = field(default_factory=list)
    completed: list[CallCompleted] = field(default_factory=list)
    transcripts: list[TranscriptFinalized] = field(default_factory=list)
    outcomes: list[OutcomeRecorded] = field(default_factory=list)
    struck: bool = False  # live when the fault struck

    @property
    def ended(self) -> bool:
        return bool(self.failed or self.completed)

    @property
    def live(self) -> bool:
        """Placed and not over: the carrier has it."""
        return bool(self.placed) and not self.ended

    @property
    def talking(self) -> bool:
        """Answered and not over: an agent is on the line."""
        return bool(self.answered) and not self.ended

    def name(self) -> str:
        said = f"call {self.call_id}"
        if self.lead_id is not None:
            said += f" (lead {self.lead_id}, attempt {self.attempt})"
        if self.struck:
            said += " [live at the fault]"
        return said


def histories(events: Iterable[AnyEvent]) -> dict[UUID, CallHistory]:
    calls: dict[UUID, CallHistory] = {}

    def of(call_id: UUID) -> CallHistory:
        return calls.setdefault(call_id, CallHistory(call_id))

    for event in events:
        if isinstance(event, CallRequested):
            call = of(event.call_id)
            call.requested += 1
            call.lead_id, call.attempt = event.lead_id, event.attempt
        elif isinstance(event, CallPlaced):
            of(event.call_id).placed.append(event)
        elif isinstance(event, CallAnswered):
            of(event.call_id).answered.append(event)
        elif isinstance(event, CallFailed):
            of(event.call_id).failed.append(event)
        elif isinstance(event, CallCompleted):
            of(event.call_id).completed.append(event)
        elif isinstance(event, TranscriptFinalized):
            of(event.call_id).transcripts.append(event)
        elif isinstance(event, OutcomeRecorded):
            of(event.call_id).outcomes.append(event)
    return calls


def selected_leads(events: Iterable[AnyEvent]) -> list[UUID]:
    leads: list[UUID] = []
    for event in events:
        if isinstance(event, CampaignStarted | CampaignLeadsAdded):
            leads.extend(event.lead_ids)
    return list(dict.fromkeys(leads))


@dataclass(frozen=True)
class Dial:
    call_id: UUID | str  # the CallSid, for a call the stream does not know
    by: str  # the telephony process
    place: str  # the ledger or log line it was read from


@dataclass(frozen=True)
class Dials:
    """Each call the carriers created."""

    calls: list[Dial]
    source: str  # "ledger" or "log"

    def by(self, name: str) -> list[Dial]:
        return [dial for dial in self.calls if dial.by == name]


@dataclass(frozen=True)
class DialRecord:
    """Where one telephony process's carrier says what it dialled."""

    name: str
    ledger: Path  # one JSON line per create: call_id, call_sid, to, at
    logs: Sequence[Path]  # the process's logs, one per life


def read_dials(records: Sequence[DialRecord], events: Sequence[AnyEvent]) -> Dials:
    """From the carriers' ledgers when any exists, else from their logs."""
    calls: list[Dial] = []
    if any(record.ledger.exists() for record in records):
        for record in records:
            if record.ledger.exists():
                lines = record.ledger.read_text().splitlines()
                for number, line in enumerate(lines, 1):
                    if line.strip():
                        call_id = UUID(json.loads(line)["call_id"])
                        calls.append(Dial(call_id, record.name, f"{record.ledger}:{number}"))
        return Dials(calls, "ledger")
    by_sid: dict[str, UUID] = {}
    for event in events:
        if isinstance(event, CallRequested):
            by_sid["CA" + uuid5(event.call_id, "simulated-call").hex] = event.call_id
        elif isinstance(event, CallPlaced):
            by_sid[event.provider_call_id] = event.call_id
    for record in records:
        for log in record.logs:
            for number, line in enumerate(log.read_text(errors="replace").splitlines(), 1):
                if match := CREATED.search(line):
                    sid = match.group(1)
                    calls.append(Dial(by_sid.get(sid, sid), record.name, f"{log.name}:{number}"))
    return Dials(calls, "log")


@dataclass(frozen=True)
class Evidence:
    events: list[AnyEvent]
    dials: Dials
    results: list[dict[str, str]]
    status: dict
    not_ready: dict[str, str]
    struck: frozenset[UUID] = frozenset()  # the calls live when the fault struck


def violations(evidence: Evidence) -> list[str]:
    """Everything that went wrong, one line each; empty when nothing was lost or doubled."""
    calls = histories(evidence.events)
    for call_id in evidence.struck:
        calls[call_id].struck = True
    found = [
        *_dialled_once(calls, evidence.dials),
        *_one_ending(calls),
        *_one_transcript_and_outcome(calls),
        *_campaign_finished(evidence.events, evidence.status),
        *_every_lead_has_a_result(evidence.events, calls, evidence.results),
    ]
    found += [f"{name}: /readyz is {said}" for name, said in evidence.not_ready.items()]
    return found


def _dialled_once(calls: dict[UUID, CallHistory], dials: Dials) -> list[str]:
    found = []
    where: dict[UUID | str, list[str]] = defaultdict(list)
    for dial in dials.calls:
        where[dial.call_id].append(dial.place)
    for call_id, places in where.items():
        call = calls.get(call_id) if isinstance(call_id, UUID) else None
        if call is None:
            found.append(f"dial of {call_id}, a call never requested ({dials.source} {places})")
        elif len(places) > 1:
            found.append(f"{call.name()}: dialled {len(places)} times ({dials.source} {places})")
    for call in calls.values():
        if len(call.placed) > 1:
            sids = [placed.provider_call_id for placed in call.placed]
            found.append(f"{call.name()}: CallPlaced stored {len(call.placed)} times: {sids}")
        if call.placed and call.call_id not in where:
            sid = call.placed[0].provider_call_id
            found.append(f"{call.name()}: placed as {sid}, but no dial of it ({dials.source})")
    return found


def _endings(call: CallHistory) -> str:
    return ", ".join(
        [f"CallFailed({failed.reason})" for failed in call.failed]
        + ["CallCompleted"] * len(call.completed)
    )


def _one_ending(calls: dict[UUID, CallHistory]) -> list[str]:
    found = []
    for call in calls.values():
        endings = len(call.failed) + len(call.completed)
        if call.placed and endings == 0:
            sid = call.placed[0].provider_call_id
            answered = " and answered" if call.answered else ""
            found.append(f"{call.name()}: placed as {sid}{answered}, not ended when checked")
        elif endings > 1:
            found.append(f"{call.name()}: {endings} endings: {_endings(call)}")
        # Calls here last seconds, far less than their limit: a timeout is the scheduler's
        # last resort for a call that nobody said the end of, so it was lost.
        found += [
            f"{call.name()}: ended only by the scheduler's timeout ({failed.detail})"
            for failed in call.failed
            if failed.reason == "timeout"
        ]
        if call.requested > 1:
            found.append(f"{call.name()}: CallRequested stored {call.requested} times")
    return found


def _one_transcript_and_outcome(calls: dict[UUID, CallHistory]) -> list[str]:
    found = []
    for call in calls.values():
        expected = 1 if call.answered and call.completed else None
        for kind, recorded in (
            ("TranscriptFinalized", call.transcripts),
            ("OutcomeRecorded", call.outcomes),
        ):
            if expected is not None and len(recorded) != expected:
                found.append(f"{call.name()}: answered and completed, with {len(recorded)} {kind}")
            elif expected is None and len(recorded) > 1:
                found.append(f"{call.name()}: {len(recorded)} {kind}")
        if len(call.answered) > 1:
            found.append(f"{call.name()}: CallAnswered stored {len(call.answered)} times")
    return found


def _campaign_finished(events: Sequence[AnyEvent], status: dict) -> list[str]:
    found = []
    if status.get("state") != "finished":
        found.append(f"campaign not finished: /campaign/status says {status}")
    finished = sum(isinstance(event, CampaignFinished) for event in events)
    if finished != 1:
        found.append(f"campaign: CampaignFinished stored {finished} times")
    return found


def _every_lead_has_a_result(
    events: Sequence[AnyEvent], calls: dict[UUID, CallHistory], results: list[dict[str, str]]
) -> list[str]:
    found = []
    rows = {row.get("call_id", ""): row for row in results}
    by_lead: dict[UUID, list[CallHistory]] = defaultdict(list)
    for call in calls.values():
        if call.lead_id is not None:
            by_lead[call.lead_id].append(call)
    leads = selected_leads(events)
    if not leads:
        found.append("campaign: no lead was selected")
    for lead_id in leads:
        lead_calls = by_lead.get(lead_id, [])
        matching = [rows[str(call.call_id)] for call in lead_calls if str(call.call_id) in rows]
        if not lead_calls:
            found.append(f"lead {lead_id}: selected, but never called")
        elif not matching:
            ids = [str(call.call_id) for call in lead_calls]
            found.append(f"lead {lead_id}: no results row for any of its calls {ids}")
        elif (status := matching[0]["call_status"]) not in CALL_STATUSES:
            row_call = matching[0]["call_id"]
            found.append(
                f"lead {lead_id}: results row (call {row_call}) has call_status {status!r}"
            )
    statuses = Counter(row["call_status"] for row in results)
    if len(results) < len(leads):
        found.append(f"results: {len(results)} rows for {len(leads)} leads ({dict(statuses)})")
    return found


def results_settled(leads: int) -> Callable[[list[dict[str, str]]], bool]:
    """Whether a results file has a final call_status for `leads` rows."""

    def settled(rows: list[dict[str, str]]) -> bool:
        return sum(row["call_status"] in CALL_STATUSES for row in rows) >= leads

    return settled
