"""Every script in bench/ imports: a name a bench takes from benchkit (or from the product) and
that is gone fails here, in the suite, and not only in `make bench` (it did once: benchkit's
free_port moved to ck_devstack.ports and three benches failed to start)."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"
SCRIPTS = sorted(p.stem for p in BENCH.glob("*.py"))


def test_there_are_benches() -> None:
    assert "benchkit" in SCRIPTS and len([s for s in SCRIPTS if s.startswith("bench_")]) >= 10


@pytest.mark.parametrize("name", SCRIPTS)
def test_the_script_imports(name: str, bench_on_path: Path) -> None:
    module = importlib.import_module(name)  # the scripts run their work under __main__ only
    assert module.__file__ is not None and Path(module.__file__).parent == bench_on_path
