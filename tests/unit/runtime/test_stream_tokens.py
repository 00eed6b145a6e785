"""A media stream token admits one call's stream, for its CallSid, for a minute."""

from __future__ import annotations

from uuid import uuid4

import pytest

from libs.runtime.stream_tokens import (
    LIFETIME_SECONDS,
    StreamTokenError,
    issue_stream_token,
    stream_keys,
    verify_stream_token,
)

CALL_ID, CALL_SID, NOW = uuid4(), "CA" + "1" * 32, 1_800_000_000.0
[KEY] = stream_keys("the current secret", None, None)


def test_a_fresh_token_admits_its_call():
    token = issue_stream_token(KEY, CALL_ID, CALL_SID, NOW)
    expires = verify_stream_token(token, (KEY,), CALL_ID, CALL_SID, NOW + LIFETIME_SECONDS - 1)
    assert expires == NOW + LIFETIME_SECONDS


@pytest.mark.parametrize(
    ("call_id", "call_sid", "now", "why"),
    [
        (uuid4(), CALL_SID, NOW, "not issued for this call"),
        (CALL_ID, "CA" + "2" * 32, NOW, "not issued for this call"),
        (CALL_ID, CALL_SID, NOW + LIFETIME_SECONDS, "expired"),
    ],
)
def test_a_token_is_bound_to_its_call_its_callsid_and_its_minute(call_id, call_sid, now, why):
    token = issue_stream_token(KEY, CALL_ID, CALL_SID, NOW)
    with pytest.raises(StreamTokenError, match=why):
        verify_stream_token(token, (KEY,), call_id, call_sid, now)


@pytest.mark.parametrize(
    "token",
    ["", "v1", "v2.1.a.b", "v1.abc.a.b", "v1.1.a", "v1.²³.a.b", "v1.1.ñ.ü", "v1." + "9" * 5000],
)
def test_a_malformed_token_is_refused_with_a_reason(token):
    with pytest.raises(StreamTokenError):
        verify_stream_token(token, (KEY,), CALL_ID, CALL_SID, NOW)


def test_a_token_from_a_far_future_is_refused():
    token = issue_stream_token(KEY, CALL_ID, CALL_SID, NOW + 3600)
    with pytest.raises(StreamTokenError, match="too far ahead"):
        verify_stream_token(token, (KEY,), CALL_ID, CALL_SID, NOW)


def test_during_a_rotation_tokens_signed_with_the_previous_secret_still_admit():
    old = issue_stream_token(KEY, CALL_ID, CALL_SID, NOW)
    keys = stream_keys("the next secret", "the current secret", None)
    assert verify_stream_token(old, keys, CALL_ID, CALL_SID, NOW) == NOW + LIFETIME_SECONDS
    with pytest.raises(StreamTokenError):
        verify_stream_token(old, stream_keys("the next secret", None, None), CALL_ID, CALL_SID, NOW)


def test_without_a_secret_the_key_derives_from_the_auth_token_and_is_not_it():
    [derived] = stream_keys(None, None, "twilio-auth-token")
    assert derived != b"twilio-auth-token"
    assert stream_keys(None, None, "twilio-auth-token") == (derived,)
    assert stream_keys(None, None, None) == ()
