"""The nats-server a process starts for itself, and the TLS a deployment's servers speak."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import shutil
import socket
from contextlib import AsyncExitStack

import pytest

from libs.runtime.runner import connect_bus
from libs.runtime.settings import RuntimeSettings, load_settings
from tests.certificates import write_certificates
from tests.nats_users import PERMISSIONS, made_up_passwords, server_with_users


def this_machines_other_address() -> str | None:
    """The address this machine reaches the network from, if it has one (no packet sent)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1: routed like any outside address
        except OSError:
            return None
        address = probe.getsockname()[0]
    return None if ipaddress.ip_address(address).is_loopback else address


async def test_the_embedded_server_listens_on_loopback_and_nowhere_else(nats_server):
    # No monitoring port, no cluster routes, no websocket: the client port, on loopback.
    assert nats_server.listening == {"client": f"127.0.0.1:{nats_server.port}"}
    other = this_machines_other_address()
    if other is None:
        pytest.skip("this machine has no address but loopback to try")
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((other, nats_server.port), timeout=5).close()


async def test_a_service_connects_over_tls_as_its_user_and_only_with_the_ca(tmp_path, log_watch):
    ca, certificate, key = write_certificates(tmp_path)
    config = tmp_path / "nats-tls.conf"
    # The Kubernetes profile's shape: TLS on the client port, the deployment's users (an
    # include is relative to the including file, as deploy/nats has them side by side).
    shutil.copy(PERMISSIONS, tmp_path / PERMISSIONS.name)
    config.write_text(
        f'tls {{ cert_file: "{certificate}", key_file: "{key}" }}\ninclude "{PERMISSIONS.name}"\n'
    )
    passwords = made_up_passwords()
    server = server_with_users(tmp_path / "nats", passwords)
    server.config_file = config
    async with server:
        environment = {
            "NATS_URL": f"tls://127.0.0.1:{server.port}",
            "NATS_USER": "scheduler",
            "NATS_PASSWORD": passwords["scheduler"],
        }
        async with AsyncExitStack() as stack:
            settings = load_settings(RuntimeSettings, {**environment, "NATS_TLS_CA": str(ca)})
            async with asyncio.timeout(30):  # without the CA it would retry for ever
                bus = await connect_bus(settings, stack, "scheduler")
            assert await bus.has_stream()  # created, as the scheduler does
        # Without the CA it keeps trying, as it would through an outage, and never connects.
        untrusting = load_settings(RuntimeSettings, environment)  # the system's CAs only
        async with AsyncExitStack() as stack:
            connecting = asyncio.ensure_future(connect_bus(untrusting, stack, "scheduler"))
            try:
                await log_watch.wait_for(
                    lambda record: "CERTIFICATE_VERIFY_FAILED" in str(record["message"])
                )
                assert not connecting.done()
            finally:
                connecting.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await connecting
