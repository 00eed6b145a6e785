"""Ids that decide whether a phone rings are derived, never random: a replayed decision
produces the same id, and JetStream (or the projection) drops it."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from uuid import UUID, uuid5

# Fixed forever: changing it would give every existing lead a new id.
LEAD_NAMESPACE = UUID("5c0f6a52-8f3e-4e0b-9d47-3b1e2a6c9d15")
_LEAD_NAMESPACE_BYTES = LEAD_NAMESPACE.bytes


def lead_id_for(phone_number: str) -> UUID:
    """One lead per normalised (E.164) number, whoever uploads it and however it was
    written: uuid5(LEAD_NAMESPACE, E.164). Leads, do-not-call entries and opt-outs all
    name a number by this id."""
    return fast_uuid5(_LEAD_NAMESPACE_BYTES, phone_number.encode())


def fast_uuid5(namespace: bytes, name: bytes) -> UUID:
    # uuid.uuid5 itself, without re-deriving the namespace's bytes or re-encoding the
    # name: ingest makes ids twice per row, and this is a tenth of a row's cost.
    digest = hashlib.sha1(namespace + name, usedforsecurity=False).digest()
    return UUID(bytes=digest[:16], version=5)


def call_id_for(campaign_id: UUID, lead_id: UUID, attempt: int) -> UUID:
    """One call per (campaign, lead, attempt): a restarted scheduler cannot dial twice."""
    return uuid5(campaign_id, f"{lead_id}/attempt/{attempt}")


# Fixed forever: changing it would give every booked slot a new id, and free it again.
SLOT_NAMESPACE = UUID("0d9e4b8a-3f61-4c2e-8a57-6b1f0c2d4e93")


def slot_id_for(rep_id: str, starts_at: datetime) -> UUID:
    """One slot per (rep, start instant), however the time was written: the subject two
    calls racing for the same time both publish to."""
    return uuid5(SLOT_NAMESPACE, f"{rep_id}/{starts_at.astimezone(UTC).isoformat()}")
