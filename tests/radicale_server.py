"""A real Radicale CalDAV server for the calendar tests: a subprocess on a free loopback port.

Its collections live in a folder of the test's own, and it asks for a login from an
htpasswd file holding one plain-text user. Each calendar is made with MKCALENDAR through
the caldav library, as a person's calendar app would make one.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import caldav
import httpx

USERNAME = "sales"
PASSWORD = "secret"
_ATTEMPTS = 3  # a free port can be taken between choosing it and Radicale binding it


class RadicaleError(RuntimeError):
    """Radicale did not start or answer; the message holds the end of its log."""


@dataclass(frozen=True)
class RadicaleServer:
    url: str  # http://127.0.0.1:<port>/
    username: str
    password: str
    folder: Path
    process: subprocess.Popen[bytes]

    def calendar_url(self, name: str) -> str:
        """Where the calendar `name` of the user lives (it need not exist)."""
        return f"{self.url}{self.username}/{name}/"

    def client(self, password: str | None = None) -> caldav.DAVClient:
        """A plain caldav client logged in as the user (or with another password)."""
        return caldav.DAVClient(
            url=self.url,
            username=self.username,
            password=self.password if password is None else password,
            timeout=10,
        )

    def make_calendar(self, name: str) -> str:
        """MKCALENDAR `name` in the user's home; its URL."""
        with self.client() as client:
            calendar = client.principal().make_calendar(name=name, cal_id=name)
            return str(calendar.url)


@contextlib.contextmanager
def radicale_server(
    folder: Path,
    calendars: Iterable[str] = (),
    *,
    username: str = USERNAME,
    password: str = PASSWORD,
    timeout: float = 15.0,
) -> Iterator[RadicaleServer]:
    """Radicale serving from `folder`, with the calendars named made; stopped on exit."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "users").write_text(f"{username}:{password}\n", encoding="utf-8")
    server = None
    for _ in range(_ATTEMPTS):
        server = _start(folder, username, password, timeout)
        if server is not None:
            break
    if server is None:
        raise RadicaleError(f"Radicale did not start on a free port: {_log_tail(folder)}")
    try:
        for name in calendars:
            server.make_calendar(name)
        yield server
    finally:
        _stop(server.process)


def _start(folder: Path, username: str, password: str, timeout: float) -> RadicaleServer | None:
    """Radicale answering on a free port; None if another process took the port first."""
    port = _free_port()
    config = folder / "config"
    config.write_text(_config(folder, port), encoding="utf-8")
    with (folder / "radicale.log").open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "radicale", "--config", str(config)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=1.0) as http:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                return None  # most likely the port: the caller tries another
            try:
                # Any answer (401 without a login) means it serves requests.
                http.request("OPTIONS", url)
            except httpx.TransportError:
                # Not listening yet: ask again shortly (a poll, not a guess of how long).
                time.sleep(0.02)
                continue
            return RadicaleServer(url, username, password, folder, process)
    _stop(process)
    raise RadicaleError(f"Radicale did not answer at {url} within {timeout}s: {_log_tail(folder)}")


def _config(folder: Path, port: int) -> str:
    return f"""\
[server]
hosts = 127.0.0.1:{port}
# Nor a pause after a server error.
delay_on_error = 0

[auth]
type = htpasswd
htpasswd_filename = {folder / "users"}
htpasswd_encryption = plain
# Radicale slows every refused or login-less request by a second; tests need no such guard.
delay = 0

[rights]
type = owner_only

[storage]
filesystem_folder = {folder / "collections"}

[web]
type = none

[logging]
level = warning
"""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _log_tail(folder: Path) -> str:
    log = folder / "radicale.log"
    lines = log.read_text(errors="replace").splitlines() if log.exists() else []
    return "\n".join(lines[-10:])
