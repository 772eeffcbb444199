"""The production shape (docker-compose.yml, deploy/) covers every service of the topology.

Docker is not available where the tests run, so these files are checked by reading them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from ck_contracts.topology import EVENT_QUEUES, SERVICES
from ck_devstack.definitions import build_definitions

yaml = pytest.importorskip("yaml")

ROOT = Path(__file__).parents[3]
COMMANDS = {
    "accounts": ["ck-accounts", "serve"],
    "notifier": ["ck-notifier", "serve"],
    **{s: [f"ck-{s}"] for s in SERVICES if s not in ("accounts", "notifier")},
}


def _compose() -> dict[str, Any]:
    return dict(yaml.safe_load((ROOT / "docker-compose.yml").read_text()))


def test_definitions_file_is_generated_from_the_topology() -> None:
    path = ROOT / "deploy" / "rabbitmq" / "definitions.json"
    assert json.loads(path.read_text()) == build_definitions(), "regenerate: make definitions"
    queues = {q["name"]: q["arguments"] for q in build_definitions()["queues"]}
    for spec in EVENT_QUEUES:
        assert queues[spec.name]["x-queue-type"] == "quorum"
        assert queues[spec.name]["x-dead-letter-routing-key"] == spec.name
        assert queues[spec.name]["x-delivery-limit"] == 5
        assert f"{spec.name}.dead-letter" in queues
    for name in SERVICES:
        assert queues[f"{name}.rpc"] == {"x-queue-type": "classic"}


def test_compose_runs_every_service_on_its_own_database() -> None:
    services = _compose()["services"]
    for name in SERVICES:
        spec = services[name]
        prefix = name.upper()
        assert spec["command"] == COMMANDS[name]
        assert spec["build"]["dockerfile"] == "deploy/Dockerfile"
        assert spec["environment"][f"{prefix}_DATABASE_URL"].startswith("postgresql+asyncpg://")
        assert spec["environment"][f"{prefix}_DATABASE_URL"].endswith(f"@postgres:5432/{name}")
        assert spec["environment"][f"{prefix}_HEALTH_PORT"] == "8081"
        assert "8081/health/ready" in spec["healthcheck"]["test"][-1]
    assert services["gateway"]["command"] == ["ck-gateway"]
    assert set(services["gateway"]["depends_on"]) == set(SERVICES)


def test_postgres_init_script_creates_one_database_per_service() -> None:
    sql = (ROOT / "deploy" / "postgres" / "init-databases.sql").read_text()
    statements = [line for line in sql.splitlines() if line.startswith("CREATE DATABASE")]
    created = {line.split()[2].rstrip(";") for line in statements}
    assert created == set(SERVICES)


# Every process that builds links for mails or pages (ServiceSettings.portal_url).
NEEDS_PORTAL_URL = ("accounts", "membership", "gateway")


def test_compose_sets_the_portal_url_and_probes_readiness() -> None:
    services = _compose()["services"]
    for name in NEEDS_PORTAL_URL:
        environment = services[name]["environment"]
        assert environment["PORTAL_URL"] == "${PORTAL_URL:-http://localhost:8000}", name
        assert not [k for k in environment if k.endswith(("_PORTAL_URL", "_PUBLIC_URL"))]
    for name in (*SERVICES, "gateway"):
        check = services[name]["healthcheck"]["test"][-1]
        # Every process, the gateway too, answers probes on its health port 8081.
        assert "http://127.0.0.1:8081/health/ready'" in check, name
    for name, spec in services.items():
        assert not spec.get("image", "").endswith(":latest"), name


def test_the_dockerfile_installs_the_locked_dependencies_before_the_sources() -> None:
    lines = [
        line.strip()
        for line in (ROOT / "deploy" / "Dockerfile").read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    stages = [line for line in lines if line.startswith("FROM ")]
    assert len(stages) == 2 and stages[1].endswith("AS runtime")
    text = "\n".join(lines)
    dependencies = text.index("uv sync --frozen --no-dev --no-install-workspace")
    sources = text.index("COPY . /app")
    assert dependencies < sources < text.index("uv sync --frozen --no-dev --no-editable")
    runtime = text[text.index(stages[1]) :]
    assert "COPY --from=build /app/.venv /app/.venv" in runtime
    assert "uv" not in runtime.replace("/app/.venv", "")  # no uv, no sources in the image
    assert "USER 10001" in runtime


def test_kubernetes_has_a_probed_deployment_per_service() -> None:
    k8s = ROOT / "deploy" / "k8s"
    kustomization = yaml.safe_load((k8s / "kustomization.yaml").read_text())
    for name in (*SERVICES, "gateway"):
        assert f"{name}.yaml" in kustomization["resources"]
        documents = list(yaml.safe_load_all((k8s / f"{name}.yaml").read_text()))
        deployment = next(d for d in documents if d["kind"] == "Deployment")
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        assert container["command"] == COMMANDS.get(name, ["ck-gateway"])
        # A database or broker blip takes a pod out of rotation; it never restarts it.
        assert container["livenessProbe"]["httpGet"]["path"] == "/health/live"
        assert container["startupProbe"]["httpGet"]["path"] == "/health/live"
        assert container["readinessProbe"]["httpGet"]["path"] == "/health/ready"
        secrets = {
            e["valueFrom"]["secretKeyRef"]["key"] for e in container["env"] if "valueFrom" in e
        }
        assert f"{name.upper()}_AMQP_URL" in secrets  # a broker user per process
        if name != "gateway":
            assert f"{name.upper()}_DATABASE_URL" in secrets
        assert all("value" not in e or "PASSWORD" not in e["name"] for e in container["env"])


def test_compose_gives_every_process_its_own_broker_user_and_only_the_gateway_the_key() -> None:
    services = _compose()["services"]
    for name in (*SERVICES, "gateway"):
        environment = services[name]["environment"]
        assert environment["AMQP_URL"].startswith(f"amqp://ck-{name}:${{{name.upper()}_AMQP")
        assert "RPC_VERIFY_KEYS" in environment
        assert ("GATEWAY_RPC_SIGNING_KEY" in environment) == (name == "gateway")
    provision = services["rabbitmq-definitions"]
    assert provision["command"][:3] == ["ck-ops", "broker", "provision"]
    for name in (*SERVICES, "gateway"):
        assert f"{name.upper()}_AMQP_PASSWORD" in provision["environment"]


# Outside development mode these processes refuse to start without their secret (fail closed).
REQUIRED_SECRETS = {
    "gateway": "GATEWAY_SECRET_KEY",
    "weborders": "WEBORDERS_API_KEY_PEPPER",
}


def test_compose_and_kubernetes_supply_the_required_secrets_and_never_development_mode() -> None:
    services = _compose()["services"]
    for name, variable in REQUIRED_SECRETS.items():
        # ${VAR:?message}: compose refuses to start without the value.
        assert services[name]["environment"][variable] == f"${{{variable}:?set {variable}}}"
    for name, spec in services.items():
        assert "CK_DEV_MODE" not in (spec.get("environment") or {}), name
    k8s = ROOT / "deploy" / "k8s"
    config = yaml.safe_load((k8s / "configmap.yaml").read_text())
    assert not any(key.endswith("DEV_MODE") for key in config["data"])
    for name, variable in REQUIRED_SECRETS.items():
        documents = list(yaml.safe_load_all((k8s / f"{name}.yaml").read_text()))
        deployment = next(d for d in documents if d["kind"] == "Deployment")
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        env = {e["name"]: e for e in container["env"]}
        reference = env[variable]["valueFrom"]["secretKeyRef"]
        assert reference["name"] == "cultuurkaart-secrets"
        assert reference["key"] == variable
        assert not reference.get("optional", False)
        assert not any(e["name"].endswith("DEV_MODE") for e in container["env"])
    assert all(v in (k8s / "kustomization.yaml").read_text() for v in REQUIRED_SECRETS.values())
