"""The bus that carries the events: publishing with JetStream's acks, durable consumers,
followers, and the embedded nats-server for a single machine."""

from libs.bus.acks import PublishDeniedError, PublishRefusedError, Stored
from libs.bus.bus import EventBus, PublishError
from libs.bus.consumer import ConsumerSettings, Delivery, DurableConsumer, RetryLater
from libs.bus.embedded_server import EmbeddedNatsServer, NatsServerError

__all__ = [
    "ConsumerSettings",
    "Delivery",
    "DurableConsumer",
    "EmbeddedNatsServer",
    "EventBus",
    "NatsServerError",
    "PublishDeniedError",
    "PublishError",
    "PublishRefusedError",
    "RetryLater",
    "Stored",
]
