"""bench/paired.py: the two trees take the first seat of a round in turn."""

from __future__ import annotations

import importlib
from pathlib import Path


def test_each_tree_takes_the_first_seat_every_other_round(bench_on_path: Path) -> None:
    paired = importlib.import_module("paired")
    base, current = Path("/base"), Path("/current")
    firsts = [paired.seats(r, base, current)[0][0] for r in range(6)]
    assert firsts == ["baseline", "current"] * 3
    assert all(
        sorted(label for label, _ in paired.seats(r, base, current)) == ["baseline", "current"]
        for r in range(6)
    )
    assert dict(paired.seats(1, base, current)) == {"baseline": base, "current": current}
