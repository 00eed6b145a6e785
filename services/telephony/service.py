"""The telephony service object: what its routes and its dialer share."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from services.telephony.config import TelephonySettings
from services.telephony.providers import CallProvider
from services.telephony.webhook_outbox import WebhookOutbox


@dataclass(frozen=True)
class Telephony:
    """What the routes share: settings, the provider, the clock, the webhook outbox."""

    settings: TelephonySettings
    provider: CallProvider
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    outbox: WebhookOutbox | None = None  # Twilio's webhooks kept while NATS is away
