"""Ids that decide whether a phone rings are derived, never random: a replayed decision
produces the same id, and JetStream (or the projection) drops it."""

from __future__ import annotations

from uuid import UUID, uuid5

# Fixed forever: changing it would give every existing lead a new id.
LEAD_NAMESPACE = UUID("6f1c2a57-3b7e-4d0a-9c55-0b4f8e2d7a10")


def lead_id_for(phone_number: str) -> UUID:
    """One lead per normalised (E.164) number, however often and wherever it is uploaded."""
    return uuid5(LEAD_NAMESPACE, phone_number)


def call_id_for(campaign_id: UUID, lead_id: UUID, attempt: int) -> UUID:
    """One call per (campaign, lead, attempt): a restarted scheduler cannot dial twice."""
    return uuid5(campaign_id, f"{lead_id}/attempt/{attempt}")
