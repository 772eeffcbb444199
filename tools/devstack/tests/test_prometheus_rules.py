"""deploy/prometheus: the scrape configuration loads the alert rules and scrapes every process;
the four alerts exist and their expressions name metrics the processes really export."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from ck_contracts.topology import SERVICES
from ck_runtime import metrics
from prometheus_client import REGISTRY

yaml = pytest.importorskip("yaml")

DEPLOY = Path(__file__).parents[3] / "deploy" / "prometheus"
SUFFIXES = {
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
}


def _exported_names() -> set[str]:
    """Every sample name ck_runtime.metrics can export (the registry's ck_ families)."""
    assert metrics.READY is not None  # the module's families are registered on import
    return {
        family.name + suffix
        for family in REGISTRY.collect()
        if family.name.startswith("ck_")
        for suffix in SUFFIXES.get(family.type, ("",))
    }


def _rules() -> dict[str, dict[str, Any]]:
    document = yaml.safe_load((DEPLOY / "alerts.yml").read_text())
    return {rule["alert"]: rule for group in document["groups"] for rule in group["rules"]}


def test_the_four_alerts_exist_and_name_real_metrics() -> None:
    rules = _rules()
    wanted = {
        "DeadLetters": ("ck_dead_letter_messages", "> 0"),
        "OutboxLag": ("ck_outbox_oldest_pending_seconds", "> 60"),
        "ReadinessDown": ("ck_ready", "== 0"),
        "MailsFailed": ("ck_mails_failed", "> 0"),
    }
    exported = _exported_names()
    for alert, (metric, threshold) in wanted.items():
        expr = rules[alert]["expr"]
        assert metric in expr and threshold in expr, (alert, expr)
        named = set(re.findall(r"\bck_[a-z_]+\b", expr))
        assert named and named <= exported, (alert, named - exported)
        assert rules[alert]["annotations"]["summary"]


def test_prometheus_scrapes_every_process_and_loads_the_rules() -> None:
    config = yaml.safe_load((DEPLOY / "prometheus.yml").read_text())
    assert config["rule_files"] == ["alerts.yml"]
    job = next(j for j in config["scrape_configs"] if j["job_name"] == "cultuurkaart")
    assert job["metrics_path"] == "/metrics"
    targets = {t for sc in job["static_configs"] for t in sc["targets"]}
    assert targets == {f"{name}:8081" for name in (*SERVICES, "gateway")}
    # ReadinessDown's `up{job=...}` names this job
    assert 'job="cultuurkaart"' in _rules()["ReadinessDown"]["expr"]
