"""A live agent says who it is with real values: no stand-in name, company or number."""

from __future__ import annotations

import pytest

from libs.runtime.mode import ModeError, live_problems, resolve_mode

LIVE = {
    "MODE": "live",
    "DEEPGRAM_API_KEY": "deepgram-key",
    "GOOGLE_API_KEY": "google-key",
    "CARTESIA_API_KEY": "cartesia-key",
    "TWILIO_ACCOUNT_SID": "AC" + "0123456789abcdef" * 2,
    "TWILIO_AUTH_TOKEN": "0123456789abcdef0123456789abcdef",
    "AGENT_NAME": "Sam",
    "AGENT_COMPANY": "Northwind Reception",
    "CALLBACK_NUMBER": "+1 (415) 200-7000",
}
IDENTITY = ("AGENT_NAME", "AGENT_COMPANY", "CALLBACK_NUMBER")


def test_a_live_agent_with_its_identity_set_starts():
    assert resolve_mode(LIVE, ("conversation",)) == "live"


def test_a_live_agent_without_its_identity_is_refused_naming_each_variable():
    environ = {k: v for k, v in LIVE.items() if k not in IDENTITY}
    with pytest.raises(ModeError) as refused:
        resolve_mode(environ, ("conversation",))
    for name in IDENTITY:
        assert f"{name} is missing (needed by conversation)" in str(refused.value)


@pytest.mark.parametrize(
    "number",
    ["+1 555 010 0199", "+15550100100", "+1 202 555 0143", "+1-212-555-0100", "(+1) 415 555 0199"],
)
def test_a_fictional_callback_number_is_refused(number: str):
    [problem] = live_problems({**LIVE, "CALLBACK_NUMBER": number}, ("conversation",))
    assert problem.startswith(f"CALLBACK_NUMBER is {number!r}, a fictional 555 number")


@pytest.mark.parametrize("number", ["+1 202 555 0200", "+1 212 555 1234", "+44 20 7946 0123"])
def test_a_callback_number_outside_the_fictional_range_is_accepted(number: str):
    assert live_problems({**LIVE, "CALLBACK_NUMBER": number}, ("conversation",)) == []


def test_a_callback_number_without_its_country_code_is_refused():
    [problem] = live_problems({**LIVE, "CALLBACK_NUMBER": "415 200 7000"}, ("conversation",))
    assert (
        problem
        == "CALLBACK_NUMBER must be a phone number with its country code: + and up to 15 digits"
    )


def test_a_simulated_agent_keeps_its_stand_ins():
    assert resolve_mode({"MODE": "simulation"}, ("conversation",)) == "simulation"
