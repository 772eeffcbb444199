"""A benchmark against a baseline commit, in the same run: the two trees take turns
(baseline, current, current, baseline, ...) so that a machine whose speed drifts, and a bias
of the first or second seat of a round, affect both alike, and every figure is printed for
both with their ratio. Use an even number of rounds.

    uv run python bench/paired.py BASELINE_REF bench/bench_weborders.py [--rounds 2] [--env K=V]

The baseline is checked out into a temporary git worktree with its own locked virtual
environment (`uv sync --frozen`); each round runs the benchmark script of each tree with
that tree's interpreter. With --same-harness the current tree's bench/ files are copied over
the baseline's first, so that a change to the load generator drives both trees alike.
Printed: `metric <name>_baseline ...`, `metric <name> ...` (the median over the rounds) and
`metric <name>_vs_baseline <ratio> ratio` for every figure both printed.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
METRIC = re.compile(r"^metric (\S+) (\S+) (.+)$")


def run(tree: Path, script: str, env: dict[str, str]) -> dict[str, tuple[float, str]]:
    """One run of the script in that tree; a run that fails is tried once more (a loaded
    machine can time a client out), then the whole comparison stops."""
    try:
        return _run_once(tree, script, env)
    except RuntimeError as first:
        print(f"# retrying after: {first}", file=sys.stderr, flush=True)
        try:
            return _run_once(tree, script, env)
        except RuntimeError as second:
            raise SystemExit(str(second)) from None


def _run_once(tree: Path, script: str, env: dict[str, str]) -> dict[str, tuple[float, str]]:
    python = tree / ".venv" / "bin" / "python"
    completed = subprocess.run(
        [str(python), str(tree / script)],
        cwd=tree,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=False,
    )
    figures: dict[str, tuple[float, str]] = {}
    for line in completed.stdout.splitlines():
        if match := METRIC.match(line.strip()):
            figures[match.group(1)] = (float(match.group(2)), match.group(3))
    if completed.returncode != 0 or not figures:
        tail = (completed.stderr or completed.stdout)[-2000:]
        raise RuntimeError(f"{script} failed in {tree} (exit {completed.returncode}):\n{tail}")
    for name, (value, unit) in figures.items():  # as they come, in case a later run fails
        print(f"#   {name} {value:.4g} {unit}", file=sys.stderr, flush=True)
    return figures


def baseline_tree(ref: str, where: Path, same_harness: bool = False) -> Path:
    tree = where / "baseline"
    subprocess.run(
        ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(tree), ref],
        check=True,
        capture_output=True,
    )
    if same_harness:
        for source in (ROOT / "bench").glob("*.py"):
            shutil.copy2(source, tree / "bench" / source.name)
    uv = shutil.which("uv") or str(Path.home() / ".local" / "bin" / "uv")
    subprocess.run([uv, "sync", "--frozen", "--quiet"], cwd=tree, check=True)
    return tree


def seats(round_: int, baseline: Path, current: Path) -> list[tuple[str, Path]]:
    """The order of the trees in a round: each takes the first seat every other round
    (baseline, current, current, baseline, ...). The same tree against itself, always second,
    measured a 10 % higher re-upload CPU in 5 of 6 rounds (docs/performance.md)."""
    order = [("baseline", baseline), ("current", current)]
    return order if round_ % 2 == 0 else order[::-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("baseline", help="a git ref: the commit before the change")
    parser.add_argument("script", help="the benchmark, e.g. bench/bench_weborders.py")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--env", action="append", default=[], help="K=V for both runs")
    parser.add_argument(
        "--same-harness",
        action="store_true",
        help="run the current tree's bench/ scripts in the baseline tree too (a fix to the "
        "load generator then applies to both sides)",
    )
    args = parser.parse_args()
    env = dict(item.split("=", 1) for item in args.env)
    with tempfile.TemporaryDirectory(prefix="ck-paired-") as temp:
        base = baseline_tree(args.baseline, Path(temp), args.same_harness)
        try:
            seen: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
            units: dict[str, str] = {}
            for round_ in range(args.rounds):
                for label, tree in seats(round_, base, ROOT):
                    print(f"# round {round_ + 1}: {label}", file=sys.stderr, flush=True)
                    for name, (value, unit) in run(tree, args.script, env).items():
                        seen[name][label].append(value)
                        units[name] = unit
            for name in sorted(seen):
                both = seen[name]
                if not both["baseline"] or not both["current"]:
                    continue
                old, new = statistics.median(both["baseline"]), statistics.median(both["current"])
                print(f"metric {name}_baseline {old:.4g} {units[name]}")
                print(f"metric {name} {new:.4g} {units[name]}")
                if old:
                    print(f"metric {name}_vs_baseline {new / old:.4g} ratio")
        finally:
            subprocess.run(
                ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(base)],
                check=False,
                capture_output=True,
            )


if __name__ == "__main__":
    main()
