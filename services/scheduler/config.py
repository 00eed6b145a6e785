"""The scheduler's settings, read once at start."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta

import msgspec

from libs.compliance import CallingHours, Law
from libs.runtime.settings import SettingsError, load_settings
from services.scheduler.domain import DispatchLimits, parse_window
from services.scheduler.state import RetryPolicy

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class SchedulerSettings(msgspec.Struct, frozen=True, kw_only=True, rename="upper"):
    max_concurrent_calls: int = 5
    calls_per_second: float = 1.0  # Twilio's default account limit
    call_timeout_seconds: int = 300
    call_timeout_margin_seconds: int = 60
    call_hours_start: str = "09:00"
    call_hours_end: str = "17:00"
    calling_days: str = "mon,tue,wed,thu,fri"
    max_attempts: int = 3
    retry_backoff_minutes: str = "30,120"
    failure_brake_window: int = 10
    failure_brake_ratio: float = 0.8
    default_region: str = "US"

    def calling_rules(self) -> CallingHours:
        return CallingHours(
            hours=parse_window(self.call_hours_start, self.call_hours_end),
            days=parse_days(self.calling_days),
        )

    def limits(self, law: Law) -> DispatchLimits:
        return DispatchLimits(
            law=law,
            max_concurrent_calls=self.max_concurrent_calls,
            calls_per_second=self.calls_per_second,
            call_timeout=timedelta(seconds=self.call_timeout_seconds),
            timeout_margin=timedelta(seconds=self.call_timeout_margin_seconds),
            brake_window=self.failure_brake_window,
            brake_ratio=self.failure_brake_ratio,
        )

    def retry_policy(self) -> RetryPolicy:
        try:
            minutes = [int(part) for part in self.retry_backoff_minutes.split(",")]
        except ValueError:
            raise SettingsError(
                f"RETRY_BACKOFF_MINUTES must be minutes like 30,120, "
                f"got {self.retry_backoff_minutes!r}"
            ) from None
        return RetryPolicy(
            max_attempts=self.max_attempts,
            backoff=tuple(timedelta(minutes=m) for m in minutes),
        )


def parse_days(text: str) -> tuple[int, ...]:
    names = [part.strip().lower()[:3] for part in text.split(",") if part.strip()]
    unknown = [name for name in names if name not in DAY_NAMES]
    if unknown or not names:
        raise ValueError(f"calling days must be names like mon,tue,wed, got {text!r}")
    return tuple(sorted({DAY_NAMES.index(name) for name in names}))


def load_scheduler_settings(environ: Mapping[str, str]) -> SchedulerSettings:
    settings = load_settings(SchedulerSettings, environ)
    try:  # fail at start, naming the variable, rather than at the first campaign
        settings.calling_rules()
        settings.retry_policy()
    except ValueError as exc:
        raise SettingsError(f"invalid configuration: {exc}") from None
    if settings.calls_per_second <= 0 or settings.max_concurrent_calls <= 0:
        raise SettingsError(
            "invalid configuration: CALLS_PER_SECOND and MAX_CONCURRENT_CALLS must be positive"
        )
    return settings
