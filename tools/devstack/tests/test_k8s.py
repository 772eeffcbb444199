"""deploy/k8s as the cluster gets it: `kubectl kustomize` renders it, every object is valid
against the Kubernetes schemas (kubernetes-validate), and the production properties hold:
separate probes, a PodDisruptionBudget and an autoscaler per Deployment, default-deny
NetworkPolicies with ingress only to the gateway, an Ingress with TLS on the portal's host, the
image by version, restricted pods."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from ck_contracts.topology import SERVICES

yaml = pytest.importorskip("yaml")
kubernetes_validate = pytest.importorskip("kubernetes_validate")

ROOT = Path(__file__).parents[3]
KUBERNETES_VERSION = "1.30.0"  # the oldest version the manifests must work on
DEPLOYMENTS = {*SERVICES, "gateway"}
HEALTH_PORT = 8081


@pytest.fixture(scope="module")
def objects() -> list[dict[str, Any]]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed")
    rendered = subprocess.run(
        [kubectl, "kustomize", str(ROOT / "deploy" / "k8s")],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    return [o for o in yaml.safe_load_all(rendered) if o]


def of_kind(objects: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


def containers(deployment: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield from deployment["spec"]["template"]["spec"]["containers"]


def test_every_object_is_valid_against_the_kubernetes_schemas(
    objects: list[dict[str, Any]],
) -> None:
    for obj in objects:
        # strict: a misspelt or misplaced field is an error, not silently dropped
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
    assert {o["metadata"].get("namespace") for o in objects if o["kind"] != "Namespace"} == {
        "cultuurkaart"
    }


def test_every_deployment_has_separate_liveness_and_readiness_probes(
    objects: list[dict[str, Any]],
) -> None:
    deployments = of_kind(objects, "Deployment")
    assert set(deployments) == DEPLOYMENTS
    for name, deployment in deployments.items():
        (container,) = containers(deployment)
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        assert ports["health"] == HEALTH_PORT, name
        probe_port = "http" if name == "gateway" else "health"
        for probe, path in (
            ("startupProbe", "/health/live"),
            ("livenessProbe", "/health/live"),
            ("readinessProbe", "/health/ready"),
        ):
            assert container[probe]["httpGet"] == {"path": path, "port": probe_port}, name
        # a broker or database outage makes pods unready, never restarts them
        assert (
            container["livenessProbe"]["httpGet"]["path"]
            != container["readinessProbe"]["httpGet"]["path"]
        )


def test_every_deployment_has_a_disruption_budget_and_an_autoscaler(
    objects: list[dict[str, Any]],
) -> None:
    deployments = of_kind(objects, "Deployment")
    budgets = list(of_kind(objects, "PodDisruptionBudget").values())
    scalers = list(of_kind(objects, "HorizontalPodAutoscaler").values())
    for name, deployment in deployments.items():
        pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
        matching = [
            b for b in budgets if b["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
        ]
        assert len(matching) == 1, name
        assert matching[0]["spec"]["maxUnavailable"] == 1
        (scaler,) = [s for s in scalers if s["spec"]["scaleTargetRef"]["name"] == name]
        assert scaler["spec"]["scaleTargetRef"]["kind"] == "Deployment"
        assert scaler["spec"]["minReplicas"] >= 2  # one replica may be disrupted
        assert scaler["spec"]["maxReplicas"] > scaler["spec"]["minReplicas"]
        # the autoscaler owns the count: an apply must not reset it
        assert "replicas" not in deployment["spec"], name
        (container,) = containers(deployment)
        assert "cpu" in container["resources"]["requests"]  # what utilisation is measured on


def test_pods_are_restricted_and_run_the_image_by_version(objects: list[dict[str, Any]]) -> None:
    (namespace,) = of_kind(objects, "Namespace").values()
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    for name, deployment in of_kind(objects, "Deployment").items():
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, name
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["automountServiceAccountToken"] is False
        for container in containers(deployment):
            image = container["image"]
            tag = image.rpartition(":")[2]
            assert "@sha256:" in image or (tag and tag != "latest" and "/" not in tag), image
            context = container["securityContext"]
            assert context["readOnlyRootFilesystem"] is True
            assert context["allowPrivilegeEscalation"] is False
            assert context["capabilities"]["drop"] == ["ALL"]


def _allows_from(policy: dict[str, Any]) -> list[dict[str, Any]]:
    return list(policy["spec"].get("ingress") or [])


def test_network_policies_deny_by_default_and_admit_only_the_gateway(
    objects: list[dict[str, Any]],
) -> None:
    policies = list(of_kind(objects, "NetworkPolicy").values())
    deny = [
        p
        for p in policies
        if p["spec"]["podSelector"] == {}
        and set(p["spec"]["policyTypes"]) == {"Ingress", "Egress"}
        and not p["spec"].get("ingress")
        and not p["spec"].get("egress")
    ]
    assert len(deny) == 1, "a default-deny policy for every pod, both directions"

    for policy in policies:
        for rule in _allows_from(policy):
            ports = {p["port"] for p in rule["ports"]}
            if policy["spec"]["podSelector"] == {
                "matchLabels": {"app.kubernetes.io/name": "gateway"}
            }:
                assert ports == {8000}  # the portal, from the ingress controller only
                (source,) = rule["from"]
                assert "ipBlock" not in source
            else:
                # everyone else takes only Prometheus on the health port
                assert ports == {HEALTH_PORT}, policy["metadata"]["name"]
                (source,) = rule["from"]
                assert source["podSelector"]["matchLabels"] == {
                    "app.kubernetes.io/name": "prometheus"
                }

    def egress_ports(pod: str) -> set[int]:
        ports: set[int] = set()
        for policy in policies:
            selector = policy["spec"]["podSelector"]
            applies = selector == {} or selector.get("matchLabels") == {
                "app.kubernetes.io/name": pod
            }
            for expression in selector.get("matchExpressions", []):
                applies = applies or pod in expression["values"]
            if applies:
                for rule in policy["spec"].get("egress") or []:
                    ports |= {p["port"] for p in rule["ports"]}
        return ports

    common = {53, 4317, 4318}  # DNS, the OTLP collector
    amqp = {5672, 5671}
    assert egress_ports("gateway") == common | amqp
    for service in SERVICES:
        smtp = {25, 465, 587} if service == "notifier" else set()
        assert egress_ports(service) == common | amqp | {5432} | smtp, service


def test_the_ingress_serves_the_portal_url_over_tls(objects: list[dict[str, Any]]) -> None:
    (ingress,) = of_kind(objects, "Ingress").values()
    (config,) = of_kind(objects, "ConfigMap").values()
    portal = urlsplit(config["data"]["PORTAL_URL"])
    assert portal.scheme == "https"
    (tls,) = ingress["spec"]["tls"]
    assert tls["hosts"] == [portal.hostname]
    assert tls["secretName"]
    (rule,) = ingress["spec"]["rules"]
    assert rule["host"] == portal.hostname
    (path,) = rule["http"]["paths"]
    assert path["backend"]["service"] == {"name": "gateway", "port": {"name": "http"}}
    service = of_kind(objects, "Service")["gateway"]
    assert service["spec"]["ports"][0]["name"] == "http"
    # behind TLS: secure cookies; no per-service names of the portal's address left
    assert config["data"]["GATEWAY_SECURE_COOKIES"] == "true"
    assert not [k for k in config["data"] if k.endswith(("_PORTAL_URL", "_PUBLIC_URL"))]
