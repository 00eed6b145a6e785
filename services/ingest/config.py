"""Ingest settings, read once at start from the environment."""

from __future__ import annotations

from pathlib import Path

from libs.runtime.settings import SharedSettings
from libs.runtime.uploads import UploadLimit


class IngestSettings(SharedSettings, frozen=True, kw_only=True):
    # The drop folder is DATA_DIR/inbox.
    leads_csv_path: str | None = "data/test_sample.csv"  # imported at start when present
    max_upload_mb: float = 100.0  # larger uploads get 413
    inbox_poll_seconds: float = 2.0  # how often the drop folder is looked at
    publish_chunk_rows: int = 500  # rows validated, then published pipelined, at a time
    validation_processes: int = 0  # processes validating big files beside the publisher
    parallel_min_mb: float = 1.0  # files from this size are validated in those processes

    @property
    def upload_limit(self) -> UploadLimit:
        return UploadLimit(
            self.max_upload_mb,
            "MAX_UPLOAD_MB",
            advice="split the file, import it from the drop folder or the command line",
        )

    @property
    def inbox_dir(self) -> Path:
        return Path(self.data_dir) / "inbox"
