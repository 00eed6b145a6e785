""".env.example, checked against the settings structs: every variable, once, with its
default and its meaning, under the heading of the file that declares it."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import msgspec
import pytest

from libs.compliance.loading import ComplianceSettings
from libs.runtime.mode import LIVE_REQUIREMENTS, PROVIDER_VARIABLES
from libs.runtime.settings import RuntimeSettings, SharedSettings
from services.analytics.config import AnalyticsSettings
from services.conversation.config import ConversationSettings
from services.ingest.config import IngestSettings
from services.scheduler.config import SchedulerSettings
from services.telephony.config import TelephonySettings

ROOT = Path(__file__).parents[2]
EXAMPLE = ROOT / ".env.example"
SETTINGS: tuple[type[msgspec.Struct], ...] = (
    SharedSettings,
    RuntimeSettings,
    ComplianceSettings,
    IngestSettings,
    SchedulerSettings,
    TelephonySettings,
    ConversationSettings,
    AnalyticsSettings,
)
SECRETS = (
    "API_TOKEN",
    "NATS_PASSWORD",
    "TWILIO_AUTH_TOKEN",
    "SIMULATION_AUTH_TOKEN",
    "MEDIA_STREAM_SECRET",
    "MEDIA_STREAM_PREVIOUS_SECRET",
    "DEEPGRAM_API_KEY",
    "GOOGLE_API_KEY",
    "CARTESIA_API_KEY",
)
# "# NAME=value" (commented: the default is kept) or "NAME=value".
SETTING = re.compile(r"^(?:#\s?)?([A-Z][A-Z0-9_]*)=(.*)$")
HEADING = re.compile(r"^# --- .*\((\S+\.py)\) -*$")


class Line(msgspec.Struct, frozen=True):
    value: str
    section: str  # the file its heading names
    meaning: str  # the comment right above it


def read_example() -> dict[str, list[Line]]:
    lines: dict[str, list[Line]] = {}
    section, previous = "", ""
    for text in EXAMPLE.read_text().splitlines():
        if heading := HEADING.match(text):
            section, previous = heading.group(1), ""
            continue
        if setting := SETTING.match(text):
            name, value = setting.groups()
            meaning = previous.removeprefix("#").strip() if previous.startswith("#") else ""
            lines.setdefault(name, []).append(Line(value.strip(), section, meaning))
        previous = text
    return lines


def declaring_struct(field: str) -> type[msgspec.Struct]:
    """The struct whose own annotations declare the field (a subclass inherits the rest)."""
    return next(
        owner
        for struct in SETTINGS
        for owner in struct.__mro__
        if field in inspect.get_annotations(owner)
    )


def every_field() -> dict[str, tuple[type[msgspec.Struct], msgspec.structs.FieldInfo]]:
    fields = {}
    for struct in SETTINGS:
        for field in msgspec.structs.fields(struct):
            fields[field.encode_name] = (declaring_struct(field.name), field)
    return fields


FIELDS = every_field()
EXAMPLE_LINES = read_example()


def test_a_variable_has_one_default_whichever_service_reads_it():
    defaults: dict[str, set[str]] = {}
    for struct in SETTINGS:
        for field in msgspec.structs.fields(struct):
            defaults.setdefault(field.encode_name, set()).add(repr(field.default))
    assert {name: shown for name, shown in defaults.items() if len(shown) > 1} == {}


def test_every_setting_appears_exactly_once():
    missing = sorted(set(FIELDS) - set(EXAMPLE_LINES))
    repeated = sorted(name for name, lines in EXAMPLE_LINES.items() if len(lines) > 1)
    assert (missing, repeated) == ([], [])


def test_nothing_is_listed_that_no_settings_struct_reads():
    assert sorted(set(EXAMPLE_LINES) - set(FIELDS)) == []


def test_what_live_mode_requires_is_listed():
    required = {name for needs in LIVE_REQUIREMENTS.values() for name, _ in needs}
    assert required | set(PROVIDER_VARIABLES) <= set(EXAMPLE_LINES)


@pytest.mark.parametrize("name", sorted(FIELDS))
def test_each_setting_shows_its_default(name):
    struct, field = FIELDS[name]
    [line] = EXAMPLE_LINES[name]
    if field.default in (None, ""):
        assert line.value == ""  # empty means unset: the default
        return
    # Read the way a process reads it, so "100" shows a float 100.0 and "true" a bool.
    shown = msgspec.convert({name: line.value}, struct, strict=False)
    assert getattr(shown, field.name) == field.default


@pytest.mark.parametrize("name", sorted(FIELDS))
def test_each_setting_has_a_meaning_under_the_heading_of_the_file_declaring_it(name):
    struct, _ = FIELDS[name]
    [line] = EXAMPLE_LINES[name]
    declared_in = Path(inspect.getfile(struct)).relative_to(ROOT).as_posix()
    assert (line.section, bool(line.meaning)) == (declared_in, True)
    assert SETTING.match(f"# {line.meaning}") is None  # a meaning, not another setting


def test_secrets_are_empty():
    assert {name: EXAMPLE_LINES[name][0].value for name in SECRETS} == dict.fromkeys(SECRETS, "")


def test_a_copy_of_the_example_sets_nothing():
    # Copied to .env as it is, the example must leave every default in force.
    from dotenv import dotenv_values

    assert {k: v for k, v in dotenv_values(EXAMPLE).items() if v} == {}
