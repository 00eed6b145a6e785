"""The analytics settings, read once at start."""

from __future__ import annotations

from pathlib import Path

from libs.runtime.settings import SharedSettings


class AnalyticsSettings(SharedSettings, frozen=True, kw_only=True):
    duckdb_path: str | None = None  # default: DATA_DIR/analytics.duckdb
    results_csv_path: str | None = None  # default: DATA_DIR/results.csv
    results_csv_interval_seconds: float = 1.0  # the file is rewritten at most this often
    analytics_batch_size: int = 1000  # events per transaction, at most
    analytics_idle_wait: float = 1.0
    analytics_durable: str = "analytics"  # the consumer's name on the stream
    analytics_ack_wait: float = 30.0  # an unacked batch comes back after this long
    analytics_replay_batch: int = 2000

    @property
    def duckdb_file(self) -> Path:
        return Path(self.duckdb_path or Path(self.data_dir) / "analytics.duckdb")

    @property
    def results_csv_file(self) -> Path:
        return Path(self.results_csv_path or Path(self.data_dir) / "results.csv")
