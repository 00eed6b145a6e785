"""Conversation settings: real vendors in live mode, simulated voices in simulation."""

from __future__ import annotations

from typing import Literal

from libs.runtime.settings import SIMULATED_ACCOUNT_SID, TWILIO_API, SharedSettings
from libs.runtime.stream_tokens import stream_keys

Voices = Literal["real", "simulated"]


class ConversationSettings(SharedSettings, frozen=True, kw_only=True):
    deepgram_api_key: str | None = None
    google_api_key: str | None = None
    google_model: str = "gemini-2.5-flash"
    cartesia_api_key: str | None = None
    cartesia_voice_id: str = "a0e99841-438c-4a64-b679-ae501e7d6091"  # a calm professional voice
    # Simulation's defaults: MODE=live refuses to start without all three set, and refuses
    # a fictional callback number (libs/runtime/mode.py).
    agent_name: str = "Alex"
    agent_company: str = "Brightline Reception"
    callback_number: str = "+1 555 010 0199"
    silence_timeout_seconds: float = 20.0
    # The agent ends a call this long before Twilio's TimeLimit would, so that its goodbye
    # is heard whole rather than cut off mid-word.
    goodbye_before_limit_seconds: float = 10.0
    max_live_calls: int = 12  # per process; /readyz says degraded at this many
    # Open media sockets per process, those still awaiting their start message included;
    # beyond it a connection is refused at once (1013), so a flood cannot pile up sockets.
    max_open_streams: int = 32
    # Twilio sends `start` at once: a socket silent for this long is closed.
    stream_start_timeout_seconds: float = 5.0
    # After the carrier reports an answered call ended, how long its transcript has to be
    # stored before the sweeper records a fallback one (the agent was lost). Long enough
    # for a live call's summary and its publish retries; counted on the stream's clock.
    outcome_grace_seconds: float = 60.0
    # How long a finished call keeps trying to store its transcript and outcome while NATS
    # is away, before it gives up and leaves the call to the sweeper.
    record_retry_seconds: float = 45.0
    max_loop_lag_seconds: float = 0.05  # event-loop lag above which the process is overloaded
    simulated_seconds_per_character: float = 0.06  # simulated speech pace, ~170 words a minute
    playbooks_path: str = ""  # unset: the bundled playbooks.toml
    # The calendar meetings are booked in: the team (reps, hours, meeting length), and
    # optionally a CalDAV calendar that holds their busy times and receives each booking.
    calendar_team_path: str = ""  # unset: the bundled example team (calendar/team.toml)
    caldav_url: str = ""  # set: use this CalDAV calendar beside the stream's bookings
    caldav_username: str = ""
    caldav_password: str = ""
    caldav_timeout_seconds: float = 10.0  # one request to the CalDAV server, at most
    # Invites by email: sent only when SMTP_HOST is set.
    smtp_host: str = ""
    smtp_port: int = 587
    smtp_username: str = ""
    smtp_password: str = ""
    smtp_from: str = ""  # unset: each meeting's rep sends their own invites
    smtp_security: Literal["starttls", "tls", "none"] = "starttls"
    # Vendor endpoints: fakes in tests
    deepgram_base_url: str | None = None
    google_base_url: str | None = None
    cartesia_url: str | None = None

    @property
    def voices(self) -> Voices:
        return "real" if self.mode == "live" else "simulated"

    @property
    def media_stream_keys(self) -> tuple[bytes, ...]:
        """The keys a media stream's token may be signed with: telephony's, then the one
        being rotated out."""
        return stream_keys(
            self.media_stream_secret, self.media_stream_previous_secret, self.auth_token
        )

    @property
    def hang_up_account_sid(self) -> str:
        if self.voices == "real" or self.twilio_api_base_url:
            return self.twilio_account_sid or SIMULATED_ACCOUNT_SID
        return SIMULATED_ACCOUNT_SID

    @property
    def auth_token(self) -> str:
        """The token Twilio signs with: the stream's upgrade, and our hang-up requests."""
        if self.voices == "real":
            return self.twilio_auth_token or ""
        return self.simulation_auth_token or self.twilio_auth_token or ""

    @property
    def hang_up_base_url(self) -> str:
        if self.twilio_api_base_url:
            return self.twilio_api_base_url
        if self.voices == "real":
            return TWILIO_API
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        return f"http://{host}:{self.port}/simulated-twilio"
