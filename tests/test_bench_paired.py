"""bench/paired.py: the two trees take the first seat of a round in turn."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "bench"


def test_each_tree_takes_the_first_seat_every_other_round() -> None:
    spec = importlib.util.spec_from_file_location("bench_paired", BENCH / "paired.py")
    assert spec is not None and spec.loader is not None
    paired = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = paired
    spec.loader.exec_module(paired)
    base, current = Path("/base"), Path("/current")
    firsts = [paired.seats(r, base, current)[0][0] for r in range(6)]
    assert firsts == ["baseline", "current"] * 3
    assert all(
        sorted(label for label, _ in paired.seats(r, base, current)) == ["baseline", "current"]
        for r in range(6)
    )
    assert dict(paired.seats(1, base, current)) == {"baseline": base, "current": current}
