"""One log sink per process, set up once by the entry point."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

from loguru import logger

# Ids bound with logger.contextualize(...) that a reader follows across lines.
CONTEXT_KEYS = ("campaign_id", "call_id", "lead_id")


def _text_format(record: Any) -> str:
    context = " ".join(f"{key}={{extra[{key}]}}" for key in CONTEXT_KEYS if key in record["extra"])
    return (
        "<green>{time:HH:mm:ss.SSS}</green> <level>{level: <7}</level> "
        "<cyan>{extra[service]}</cyan> {message}"
        + (f" <dim>{context}</dim>" if context else "")
        + "\n{exception}"
    )


class _ToLoguru(logging.Handler):
    """Libraries log through `logging` (uvicorn, nats, pipecat's deps): one sink for all."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            level: str | int = logger.level(record.levelname).name
        except ValueError:
            level = record.levelno
        logger.opt(depth=6, exception=record.exc_info).log(level, record.getMessage())


def configure_logging(
    *, service: str, level: str = "INFO", json: bool = False, quiet_file: Path | None = None
) -> None:
    """Log to stderr; with `quiet_file`, only warnings reach the terminal (someone is
    reading a live display there) and every line goes to that file."""
    logger.remove()
    logger.configure(extra={"service": service})
    if quiet_file is not None:
        quiet_file.parent.mkdir(parents=True, exist_ok=True)
        logger.add(quiet_file, level=level, serialize=json, format=_text_format)
        level = "WARNING"
    if json:
        logger.add(sys.stderr, level=level, serialize=True)
    else:
        logger.add(sys.stderr, level=level, format=_text_format)
    logging.basicConfig(handlers=[_ToLoguru()], level=logging.INFO, force=True)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers = []
        logging.getLogger(name).propagate = True
