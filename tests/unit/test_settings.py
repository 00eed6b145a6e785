"""Each environment variable is declared once, with one type and one default."""

from __future__ import annotations

from collections import Counter

import msgspec
import pytest

from libs.compliance.loading import ComplianceSettings
from libs.runtime.mode import resolve_mode
from libs.runtime.settings import RuntimeSettings, SettingsError, SharedSettings, load_settings
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


SECRET_VALUES = {
    "API_TOKEN": "api-token-0b1c2d3e",
    "TWILIO_AUTH_TOKEN": "0123456789abcdef0123456789abcdef",
    "SIMULATION_AUTH_TOKEN": "simulation-token-4f5a6b",
    "DEEPGRAM_API_KEY": "deepgram-key-7c8d9e",
    "GOOGLE_API_KEY": "google-key-0f1a2b",
    "CARTESIA_API_KEY": "cartesia-key-3c4d5e",
}


def refusals(environ: dict[str, str]) -> list[str]:
    """What starting with `environ` says: the mode's problems, then each struct's."""
    messages = []
    with pytest.raises(SettingsError) as refused:
        resolve_mode(environ, ("telephony", "conversation"))
    messages.append(str(refused.value))
    for settings in (s for s in SETTINGS if issubclass(s, SharedSettings)):  # all read PORT
        with pytest.raises(SettingsError) as refused:
            load_settings(settings, environ)
        messages.append(str(refused.value))
    return messages


def test_a_refused_configuration_names_variables_and_never_repeats_a_secret():
    environ = {
        **SECRET_VALUES,
        "MODE": "live",
        "TWILIO_ACCOUNT_SID": SECRET_VALUES["TWILIO_AUTH_TOKEN"],  # pasted in the wrong place
        "PORT": "seventy",
    }
    messages = refusals(environ)
    assert "TWILIO_ACCOUNT_SID must be AC followed by 32 hex digits" in messages[0]
    assert all("`$.PORT`" in message for message in messages[1:])
    leaked = {name for name, value in SECRET_VALUES.items() for m in messages if value in m}
    assert leaked == set()
