"""The deployment files, checked where they cannot be run: parsed, complete, consistent."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from libs.bus.access import SERVICE_ACCESS
from libs.bus.authorization import authorization_values, render_authorization
from libs.bus.embedded_server import find_nats_server
from libs.bus.permissions import password_variable
from tests.certificates import write_certificates

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
    "/twilio/amd",
    "/twilio/recording",
    "/twilio/stream",
    "/telephony/calls/00000000-0000-4000-8000-000000000001/hang-up",
    "/results/statistics",
    "/results/download",
    "/calls",
    "/calls/00000000-0000-4000-8000-000000000001",
)
OWNER = {
    "/leads/upload": "ingest",
    "/leads/template": "ingest",
    "/leads/pending": "scheduler",
    "/campaign": "scheduler",
    "/dnc": "scheduler",
    "/twilio/twiml": "telephony",
    "/twilio/status": "telephony",
    "/twilio/amd": "telephony",
    "/twilio/recording": "telephony",
    "/telephony": "telephony",
    "/twilio/stream": "conversation",
    "/results": "analytics",
    "/calls": "analytics",
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


def nats_environment() -> dict[str, str]:
    """What every node's environment holds: its name and the passwords it checks."""
    passwords = {password_variable(user): "a-password" for user in SERVICE_ACCESS}
    return {"NATS_SERVER_NAME": "nats-1", "NATS_CLUSTER_PASSWORD": "a-password", **passwords}


def check_nats_config(
    config: Path, environment: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(find_nats_server()), "-t", "-c", str(config)],
        capture_output=True,
        text=True,
        env={**os.environ, **environment},
    )


def test_the_nats_configuration_is_valid():
    result = check_nats_config(DEPLOY / "nats" / "nats-server.conf", nats_environment())
    assert result.returncode == 0, result.stderr
    assert "is valid" in result.stderr + result.stdout


@pytest.mark.parametrize("missing", ["NATS_CLUSTER_PASSWORD", "NATS_PASSWORD_TELEPHONY"])
def test_the_nats_configuration_refuses_to_start_without_a_password(missing):
    environment = {k: v for k, v in nats_environment().items() if k != missing}
    result = check_nats_config(DEPLOY / "nats" / "nats-server.conf", environment)
    assert result.returncode != 0
    assert missing in result.stderr


def compose_services() -> dict[str, dict]:
    return yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())["services"]


def test_compose_gives_each_service_its_own_nats_user_and_password_alone():
    services = compose_services()
    for service in SERVICES:
        environment = services[service]["environment"]
        assert environment["NATS_USER"] == service
        assert environment["NATS_PASSWORD"].startswith(f"${{{password_variable(service)}:?")
        others = [password_variable(other) for other in SERVICES if other != service]
        assert [v for v in environment.values() if any(o in str(v) for o in others)] == []
    for node in ("nats-1", "nats-2", "nats-3"):
        environment = services[node]["environment"]
        for variable in (*(password_variable(s) for s in SERVICES), "NATS_CLUSTER_PASSWORD"):
            assert environment[variable].startswith(f"${{{variable}:?"), (node, variable)
        assert "./nats:/etc/nats:ro" in services[node]["volumes"]  # both config files


def kubernetes_documents(name: str) -> list[dict]:
    return [doc for doc in yaml.safe_load_all((DEPLOY / "k8s" / name).read_text()) if doc]


def nats_config_map() -> dict[str, str]:
    [config] = [
        doc
        for doc in kubernetes_documents("nats.yaml")
        if doc["kind"] == "ConfigMap" and doc["metadata"]["name"] == "nats-config"
    ]
    return config["data"]


def test_kubernetes_carries_the_rendered_permissions():
    # Paste deploy/nats/permissions.conf there when the table changes.
    assert nats_config_map()["permissions.conf"] == render_authorization()


def test_the_kubernetes_nats_configuration_is_valid_with_its_certificates(tmp_path):
    # The certificates' mount point, pointed at test certificates instead.
    ca, certificate, key = write_certificates(tmp_path)
    assert (ca.name, certificate.name, key.name) == ("ca.crt", "tls.crt", "tls.key")
    for name, text in nats_config_map().items():
        (tmp_path / name).write_text(text.replace("/etc/nats-tls/", f"{tmp_path}/"))
    result = check_nats_config(tmp_path / "nats-server.conf", nats_environment())
    assert result.returncode == 0, result.stderr


def test_kubernetes_services_speak_tls_to_nats_each_as_its_own_user():
    documents = kubernetes_documents("services.yaml")
    [settings] = [doc for doc in documents if doc["kind"] == "ConfigMap"]
    urls = settings["data"]["NATS_URL"].split(",")
    assert len(urls) == 3 and all(url.startswith("tls://") for url in urls)
    ca_file = Path(settings["data"]["NATS_TLS_CA"])
    for deployment in (doc for doc in documents if doc["kind"] == "Deployment"):
        service = deployment["metadata"]["name"]
        pod = deployment["spec"]["template"]["spec"]
        [container] = pod["containers"]
        environment = {variable["name"]: variable for variable in container["env"]}
        assert environment["NATS_USER"]["value"] == service
        password = environment["NATS_PASSWORD"]["valueFrom"]["secretKeyRef"]
        assert password == {"name": "nats-passwords", "key": password_variable(service)}
        [mount] = [m for m in container["volumeMounts"] if m["mountPath"] == str(ca_file.parent)]
        [volume] = [v for v in pod["volumes"] if v["name"] == mount["name"]]
        assert volume["secret"] == {
            "secretName": "nats-tls",
            "items": [{"key": ca_file.name, "path": ca_file.name}],
        }


def helm_reference(variable: str) -> str:
    """How the chart writes a variable into the config unquoted."""
    return f"<< ${variable} >>"


def test_the_helm_values_carry_the_same_users_and_tls():
    values = yaml.safe_load((DEPLOY / "helm" / "nats-values.yaml").read_text())
    config = values["config"]
    assert config["merge"]["authorization"] == authorization_values(helm_reference)
    assert config["nats"]["tls"] == {"enabled": True, "secretName": "nats-tls"}
    assert config["cluster"]["tls"]["secretName"] == "nats-tls"
    environment = values["container"]["env"]
    for variable in (*(password_variable(s) for s in SERVICES), "NATS_CLUSTER_PASSWORD"):
        reference = environment[variable]["valueFrom"]["secretKeyRef"]
        assert reference == {"name": "nats-passwords", "key": variable}


# Served to nobody outside: probes, the API's own schema pages, the simulated carrier.
UNROUTED = ("/healthz", "/readyz", "/schema", "/simulated-twilio", "/conversation/load")


def served_paths(tmp_path: Path) -> dict[str, str]:
    """Every path each service's app serves (up to its first parameter), with its service."""
    import importlib

    from libs.runtime.app import build_app

    environ = {"SIMULATION_AUTH_TOKEN": "a-token", "DATA_DIR": str(tmp_path)}
    served = {}
    for service in SERVICES:
        plugin = importlib.import_module(f"services.{service}.plugin").build_plugin(environ)
        app = build_app([plugin], bus=None, api_token=None, title=service)  # type: ignore[arg-type]
        for route in app.routes:
            path = route.path.split("{")[0]
            if not path.startswith(UNROUTED):
                served[path] = service
    return served


def test_every_path_a_service_serves_is_routed_to_it_by_the_gateway_and_the_ingress(tmp_path):
    served = served_paths(tmp_path)
    config = (DEPLOY / "gateway" / "nginx.conf").read_text()
    gateway = dict(re.findall(r"location (?:= )?(\S+)\s*\{[^}]*?proxy_pass http://(\w+)", config))
    [ingress] = [d for d in kubernetes_documents("ingress.yaml") if d["kind"] == "Ingress"]
    routes = {
        p["path"]: p["backend"]["service"]["name"]
        for rule in ingress["spec"]["rules"]
        for p in rule["http"]["paths"]
    }
    for table in (gateway, routes):
        unrouted = {
            path: service
            for path, service in served.items()
            if not any(path.startswith(prefix) for prefix in table)
            or table[max((p for p in table if path.startswith(p)), key=len)] != service
        }
        assert unrouted == {}
    assert "/twilio/amd" in served and "/calls/" in served
