"""Subjects and the stream that holds them. Subjects are built here and nowhere else.

Entity first, so that one entity's history is one wildcard (`sales.call.<id>.>`) and
the latest fact of a kind about it is one direct get (`sales.call.<id>.requested`).
"""

from __future__ import annotations

from uuid import UUID

from libs.events.model import (
    CallEvent,
    CampaignEvent,
    Event,
    LeadEvent,
    SlotEvent,
    SystemEvent,
)

STREAM_NAME = "SALES"
ALL_SUBJECTS = "sales.>"
ENTITIES = ("lead", "campaign", "call", "slot")


def _entity(event_type: type[Event]) -> str:
    if issubclass(event_type, CallEvent):
        return "call"
    if issubclass(event_type, CampaignEvent):
        return "campaign"
    if issubclass(event_type, LeadEvent):
        return "lead"
    if issubclass(event_type, SlotEvent):
        return "slot"
    raise TypeError(f"{event_type.__name__} is not a lead, campaign, call or slot event")


def subject_filter(event_type: type[Event]) -> str:
    """Every event of one type, e.g. `sales.call.*.requested`."""
    if issubclass(event_type, SystemEvent):
        return f"sales.system.{event_type.subject_verb}"
    return f"sales.{_entity(event_type)}.*.{event_type.subject_verb}"


def subject_for(event_type: type[Event], entity_id: UUID) -> str:
    """One entity's event of one type, e.g. `sales.call.<call_id>.requested`."""
    return f"sales.{_entity(event_type)}.{entity_id}.{event_type.subject_verb}"


def every_event_of(entity: str) -> str:
    """Every event about every entity of a kind: `sales.<entity>.>`."""
    if entity not in ENTITIES:
        raise ValueError(f"unknown entity {entity!r}: expected one of {', '.join(ENTITIES)}")
    return f"sales.{entity}.>"


def history_of(entity: str, entity_id: UUID) -> str:
    """Everything about one entity: `sales.<entity>.<id>.>`."""
    if entity not in ENTITIES:
        raise ValueError(f"unknown entity {entity!r}: expected one of {', '.join(ENTITIES)}")
    return f"sales.{entity}.{entity_id}.>"
