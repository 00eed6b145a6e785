"""A nats-server with the deployment's users and permissions (deploy/nats/permissions.conf),
each service's password made up for the run."""

from __future__ import annotations

import secrets
from pathlib import Path

from libs.bus import EmbeddedNatsServer, EventBus
from libs.bus.access import SERVICE_ACCESS
from libs.bus.permissions import password_variable

ROOT = Path(__file__).parents[1]
PERMISSIONS = ROOT / "deploy" / "nats" / "permissions.conf"


def made_up_passwords() -> dict[str, str]:
    return {service: secrets.token_hex(16) for service in SERVICE_ACCESS}


def server_with_users(store_dir: Path, passwords: dict[str, str]) -> EmbeddedNatsServer:
    """A private server (loopback, a free port) that admits only the services' users."""
    return EmbeddedNatsServer(
        store_dir,
        config_file=PERMISSIONS,
        environment={password_variable(user): password for user, password in passwords.items()},
    )


async def connect_as(
    service: str, server: EmbeddedNatsServer, passwords: dict[str, str], ack_timeout: float = 5.0
) -> EventBus:
    return await EventBus.connect(
        server.url,
        name=service,
        user=service,
        password=passwords[service],
        ack_timeout=ack_timeout,
    )


def violations(records: list[dict[str, object]]) -> list[str]:
    """The server's complaints about a permission, as forwarded to the log."""
    return [
        str(record["message"])
        for record in records
        if "nats-server" in str(record["message"]) and "Violation" in str(record["message"])
    ]
