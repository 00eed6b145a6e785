"""Each environment variable is declared once, with one type and one default."""

from __future__ import annotations

from collections import Counter

import msgspec

from libs.compliance.loading import ComplianceSettings
from libs.runtime.settings import RuntimeSettings, SharedSettings
from services.analytics.config import AnalyticsSettings
from services.conversation.config import ConversationSettings
from services.ingest.config import IngestSettings
from services.scheduler.config import SchedulerSettings
from services.telephony.config import TelephonySettings

SETTINGS = (
    SharedSettings,
    RuntimeSettings,
    ComplianceSettings,
    AnalyticsSettings,
    ConversationSettings,
    IngestSettings,
    SchedulerSettings,
    TelephonySettings,
)


def own_fields(settings: type[msgspec.Struct]) -> set[str]:
    inherited = {
        name
        for base in settings.__mro__[1:]
        if isinstance(base, type) and issubclass(base, msgspec.Struct)
        for name in base.__struct_fields__
    }
    return set(settings.__struct_fields__) - inherited


def test_no_variable_is_declared_twice():
    declared = Counter(name for settings in SETTINGS for name in own_fields(settings))
    assert [name for name, times in declared.items() if times > 1] == []


def test_a_shared_variable_reads_the_same_everywhere():
    environ = {"PORT": "9000", "CALL_TIMEOUT_SECONDS": "120", "MODE": "live"}
    for settings in SETTINGS[1:]:
        if issubclass(settings, SharedSettings):
            loaded = msgspec.convert(environ, settings, strict=False)
            assert (loaded.port, loaded.call_timeout_seconds, loaded.mode) == (9000, 120, "live")
