"""The deployment files, checked where they cannot be run: parsed, complete, consistent."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from libs.bus.embedded_server import find_nats_server

ROOT = Path(__file__).parents[2]
DEPLOY = ROOT / "deploy"
SERVICES = ("ingest", "scheduler", "telephony", "conversation", "analytics")
PUBLIC_PATHS = (
    "/leads/upload",
    "/leads/template",
    "/leads/pending",
    "/campaign/start",
    "/campaign/status",
    "/campaign/stop",
    "/campaign/retry",
    "/dnc/upload",
    "/twilio/twiml",
    "/twilio/status",
    "/twilio/stream",
    "/results/statistics",
    "/results/download",
)
OWNER = {
    "/leads/upload": "ingest",
    "/leads/template": "ingest",
    "/leads/pending": "scheduler",
    "/campaign": "scheduler",
    "/dnc": "scheduler",
    "/twilio/twiml": "telephony",
    "/twilio/status": "telephony",
    "/twilio/stream": "conversation",
    "/results": "analytics",
}


def owner_of(path: str) -> str:
    return next(service for prefix, service in OWNER.items() if path.startswith(prefix))


def dockerfile_targets() -> dict[str, str]:
    text = (DEPLOY / "Dockerfile").read_text()
    targets = {}
    for block in re.split(r"^FROM ", text, flags=re.M)[1:]:
        name = block.split()[2] if " AS " in block.splitlines()[0] else "?"
        command = re.search(r"^CMD \[(.*)\]", block, flags=re.M)
        if command:
            targets[name] = command.group(1)
    return targets


def test_every_service_has_an_image_target_running_its_own_entry_point():
    targets = dockerfile_targets()
    for service in SERVICES:
        assert targets[service].endswith(f'"-m", "services.{service}"')
        assert (ROOT / "services" / service / "__main__.py").is_file()
    assert targets["all"].endswith('"-m", "services"')


def test_compose_runs_a_three_node_cluster_and_every_service():
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"nats-1", "nats-2", "nats-3", "gateway", *SERVICES} <= set(services)
    for service in SERVICES:
        assert services[service]["build"]["target"] == service
        environment = services[service]["environment"]
        assert environment["STREAM_REPLICAS"] == "3"
        assert environment["NATS_URL"].count("nats://") == 3
    assert services["scheduler"]["deploy"]["replicas"] == 1
    assert services["analytics"]["deploy"]["replicas"] == 1


def test_every_service_reads_the_projects_env_file_and_mode_stays_required():
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    for service in SERVICES:
        settings = compose["services"][service]
        [env_file] = settings["env_file"]
        # Relative to the compose file's folder, as the build context is.
        assert (DEPLOY / env_file["path"]).resolve() == ROOT / ".env"
        assert env_file["required"] is False  # without a .env every default holds
        environment = settings["environment"]
        assert environment["MODE"].startswith("${MODE:?")
        assert environment["API_TOKEN"].startswith("${API_TOKEN:?")
        # An empty default here would win over the same variable in .env and blank it.
        masked = [name for name, value in environment.items() if ":-" in str(value)]
        assert masked == []


def test_the_gateway_routes_every_public_path_to_its_owner():
    config = (DEPLOY / "gateway" / "nginx.conf").read_text()
    locations = dict(re.findall(r"location (?:= )?(\S+)\s*\{[^}]*?proxy_pass http://(\w+)", config))
    for path in PUBLIC_PATHS:
        matches = [prefix for prefix in locations if path.startswith(prefix)]
        assert matches, f"{path} is not routed"
        assert locations[max(matches, key=len)] == owner_of(path)
    stream = config[config.index("location /twilio/stream") :]
    assert "proxy_set_header Upgrade $http_upgrade" in stream.split("}")[0]


def test_kubernetes_has_every_service_and_routes_every_path():
    documents = [
        doc
        for file in sorted((DEPLOY / "k8s").glob("*.yaml"))
        for doc in yaml.safe_load_all(file.read_text())
        if doc
    ]
    deployments = {d["metadata"]["name"]: d for d in documents if d["kind"] == "Deployment"}
    assert set(deployments) == set(SERVICES)
    for service, deployment in deployments.items():
        [container] = deployment["spec"]["template"]["spec"]["containers"]
        assert container["command"][-2:] == ["-m", f"services.{service}"]
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    [nats] = [d for d in documents if d["kind"] == "StatefulSet"]
    assert nats["spec"]["replicas"] == 3
    [ingress] = [d for d in documents if d["kind"] == "Ingress"]
    routes = {
        p["path"]: p["backend"]["service"]["name"]
        for rule in ingress["spec"]["rules"]
        for p in rule["http"]["paths"]
    }
    for path in PUBLIC_PATHS:
        prefix = max((p for p in routes if path.startswith(p)), key=len)
        assert routes[prefix] == owner_of(path)


@pytest.mark.parametrize("config", ["nats/nats-server.conf"])
def test_the_nats_configuration_is_valid(config):
    result = subprocess.run(
        [str(find_nats_server()), "-t", "-c", str(DEPLOY / config)],
        capture_output=True,
        text=True,
        env={**os.environ, "NATS_SERVER_NAME": "nats-1"},
    )
    assert result.returncode == 0, result.stderr
    assert "is valid" in result.stderr + result.stdout
