"""The scheduler's settings, read once at start."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta

from libs.compliance import Law
from libs.runtime.settings import SettingsError, SharedSettings, load_settings
from libs.runtime.uploads import UploadLimit
from services.scheduler.domain import DispatchLimits
from services.scheduler.state import RetryPolicy


class SchedulerSettings(SharedSettings, frozen=True, kw_only=True):
    max_concurrent_calls: int = 5
    calls_per_second: float = 1.0  # Twilio's default account limit
    call_timeout_margin_seconds: int = 60
    # CALL_HOURS_START/END and CALLING_DAYS are the compliance settings' (libs.compliance).
    max_attempts: int = 3
    retry_backoff_minutes: str = "30,120"
    failure_brake_window: int = 10
    failure_brake_ratio: float = 0.8
    # A national do-not-call extract for a region is some millions of numbers: allow its size.
    max_dnc_upload_mb: float = 512.0

    @property
    def dnc_upload_limit(self) -> UploadLimit:
        return UploadLimit(self.max_dnc_upload_mb, "MAX_DNC_UPLOAD_MB")

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


def load_scheduler_settings(environ: Mapping[str, str]) -> SchedulerSettings:
    settings = load_settings(SchedulerSettings, environ)
    try:  # fail at start, naming the variable, rather than at the first campaign
        settings.retry_policy()
    except ValueError as exc:
        raise SettingsError(f"invalid configuration: {exc}") from None
    if settings.calls_per_second <= 0 or settings.max_concurrent_calls <= 0:
        raise SettingsError(
            "invalid configuration: CALLS_PER_SECOND and MAX_CONCURRENT_CALLS must be positive"
        )
    return settings
