"""The nats-server a process starts for itself, and the TLS a deployment's servers speak."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import ipaddress
import shutil
import socket
from contextlib import AsyncExitStack
from pathlib import Path

import pytest

# Comes with google-auth (the conversation service's Gemini client): no extra dependency.
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from libs.runtime.runner import connect_bus
from libs.runtime.settings import RuntimeSettings, load_settings
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


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def write_certificates(folder: Path) -> tuple[Path, Path, Path]:
    """A CA, and a certificate it signed for 127.0.0.1: (ca, certificate, key) files."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key, server_key = (
        ec.generate_private_key(ec.SECP256R1()),
        ec.generate_private_key(ec.SECP256R1()),
    )
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("sales test CA"))
        .issuer_name(_name("sales test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    server = (
        x509.CertificateBuilder()
        .subject_name(_name("nats"))
        .issuer_name(ca.subject)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    paths = folder / "ca.crt", folder / "tls.crt", folder / "tls.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(server.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        server_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return paths


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
