"""Each service's nats-server permissions, derived from its row in `libs.bus.access`.

Everything is allowed by name and the rest is denied. A JetStream publish is a publish
on the event's own subject, so a service denied `sales.call.*.outcome` cannot record an
outcome; the JetStream API is a set of subjects too, so a service gets the calls its
code makes and nothing that could delete, purge or rewrite the stream.
"""

from __future__ import annotations

from dataclasses import dataclass

from libs.bus.access import SERVICE_ACCESS, ServiceAccess, durable_owners
from libs.events.model import EVENT_TYPES, Event, ModeRecorded
from libs.events.subjects import STREAM_NAME, subject_filter

API = "$JS.API"
# Every process records the deployment's mode, or reads the one recorded (libs.runtime.mode).
EVERY_PROCESS_PUBLISHES: frozenset[type[Event]] = frozenset({ModeRecorded})
EVERY_PROCESS_LOOKS_UP: frozenset[type[Event]] = frozenset({ModeRecorded})


def inbox_prefix(user: str) -> str:
    """The reply subjects of a process connected as `user`: its own, so that no other
    service can listen to the events delivered to it or the acks it waits for."""
    return f"_INBOX_{user}"


def stream_created_advisory(stream: str) -> str:
    """What the server publishes when a stream is created: a process that may not create
    it listens here instead of asking over and over."""
    return f"$JS.EVENT.ADVISORY.STREAM.CREATED.{stream}"


def password_variable(user: str) -> str:
    """The nats-server environment variable holding the user's password."""
    return f"NATS_PASSWORD_{user.upper()}"


@dataclass(frozen=True, slots=True)
class Permissions:
    publish_allow: tuple[str, ...]
    publish_deny: tuple[str, ...]
    subscribe_allow: tuple[str, ...]


def _in_contract_order(event_types: frozenset[type[Event]]) -> list[type[Event]]:
    return [event_type for event_type in EVENT_TYPES if event_type in event_types]


def _event_subjects(access: ServiceAccess) -> list[str]:
    published = _in_contract_order(access.publishes | EVERY_PROCESS_PUBLISHES)
    return [subject_filter(event_type) for event_type in published]


def _stream_calls(access: ServiceAccess, stream: str) -> list[str]:
    calls = [f"{API}.STREAM.INFO.{stream}"]
    if access.manages_stream:
        calls += [f"{API}.STREAM.CREATE.{stream}", f"{API}.STREAM.UPDATE.{stream}"]
    looked_up = _in_contract_order(access.looks_up | EVERY_PROCESS_LOOKS_UP)
    # A direct get of the latest message names its subject: pinned to the events it reads.
    calls += [f"{API}.DIRECT.GET.{stream}.{subject_filter(t)}" for t in looked_up]
    return calls


def _durable_calls(access: ServiceAccess, stream: str) -> list[str]:
    calls: list[str] = []
    for durable in access.durables:
        calls += [
            f"{API}.CONSUMER.DURABLE.CREATE.{stream}.{durable}",
            f"{API}.CONSUMER.INFO.{stream}.{durable}",
            f"{API}.CONSUMER.DELETE.{stream}.{durable}",
            f"{API}.CONSUMER.MSG.NEXT.{stream}.{durable}",
            f"$JS.ACK.{stream}.{durable}.>",
        ]
    return calls


def _ephemeral_calls(access: ServiceAccess, stream: str) -> list[str]:
    if access.ephemeral == "none":
        return []
    if access.ephemeral == "one-event":
        creates = [
            f"{API}.CONSUMER.CREATE.{stream}.*.{subject_filter(t)}"
            for t in _in_contract_order(access.consumes)
        ]
    else:
        creates = [
            f"{API}.CONSUMER.CREATE.{stream}",
            f"{API}.CONSUMER.CREATE.{stream}.*",
            f"{API}.CONSUMER.CREATE.{stream}.*.>",
        ]
    # Named by the client or the server at random, so any name; others' durables are denied.
    return [
        *creates,
        f"{API}.CONSUMER.INFO.{stream}.*",
        f"{API}.CONSUMER.DELETE.{stream}.*",
        f"{API}.CONSUMER.MSG.NEXT.{stream}.*",
    ]


def _others_durables(service: str, access: ServiceAccess, stream: str) -> list[str]:
    """What a service's any-name consumer calls must not reach: another service's durable,
    whose messages it could take or whose position it could reset."""
    if access.ephemeral == "none":
        return []
    denied: list[str] = []
    for durable, owner in durable_owners().items():
        if owner == service:
            continue
        denied += [
            f"{API}.CONSUMER.CREATE.{stream}.{durable}",
            f"{API}.CONSUMER.CREATE.{stream}.{durable}.>",
            f"{API}.CONSUMER.INFO.{stream}.{durable}",
            f"{API}.CONSUMER.DELETE.{stream}.{durable}",
            f"{API}.CONSUMER.MSG.NEXT.{stream}.{durable}",
        ]
    return denied


def permissions_for(service: str, stream: str = STREAM_NAME) -> Permissions:
    access = SERVICE_ACCESS[service]
    return Permissions(
        publish_allow=(
            *_event_subjects(access),
            *_stream_calls(access, stream),
            *_durable_calls(access, stream),
            *_ephemeral_calls(access, stream),
        ),
        publish_deny=tuple(_others_durables(service, access, stream)),
        subscribe_allow=(
            f"{inbox_prefix(service)}.>",
            *(subject_filter(t) for t in _in_contract_order(access.listens_to)),
            *(() if access.manages_stream else (stream_created_advisory(stream),)),
        ),
    )


def all_permissions(stream: str = STREAM_NAME) -> dict[str, Permissions]:
    return {service: permissions_for(service, stream) for service in SERVICE_ACCESS}
