"""Read a process's health port as Prometheus and an orchestrator would: GET /metrics parsed
with prometheus-client's own parser, GET /health/* as status and JSON."""

from __future__ import annotations

from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families


async def get(port: int, path: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as client:
        return await client.get(path)


async def health(port: int, path: str = "/health/ready") -> tuple[int, dict[str, Any]]:
    response = await get(port, path)
    return response.status_code, dict(response.json())


Samples = list[tuple[str, dict[str, str], float]]


async def scrape(port: int) -> Samples:
    response = await get(port, "/metrics")
    response.raise_for_status()
    return [
        (s.name, dict(s.labels), float(s.value))
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    ]


def value(samples: Samples, name: str, **labels: str) -> float:
    """The sum of the samples named `name` whose labels include `labels` (0 when none)."""
    return sum(
        v
        for n, have, v in samples
        if n == name and all(have.get(k) == want for k, want in labels.items())
    )


def label_values(samples: Samples, name: str, label: str) -> set[str]:
    return {have[label] for n, have, _ in samples if n == name and label in have}
