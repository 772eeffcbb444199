"""The service's malloc setting (ck_roster.filework.fix_mmap_threshold)."""

from __future__ import annotations

import pytest
from ck_roster import app, filework


class FakeLibc:
    def __init__(self) -> None:
        self.calls: list[tuple[int, int]] = []

    def mallopt(self, param: int, value: int) -> int:
        self.calls.append((param, value))
        return 1


def test_the_mmap_threshold_is_fixed_at_128_kib() -> None:
    libc = FakeLibc()
    assert filework.fix_mmap_threshold({}, libc) is True
    assert libc.calls == [(-3, 128 * 1024)]  # M_MMAP_THRESHOLD in glibc's malloc.h


@pytest.mark.parametrize(
    "environ",
    [
        {"MALLOC_MMAP_THRESHOLD_": "65536"},
        {"GLIBC_TUNABLES": "glibc.malloc.arena_max=2:glibc.malloc.mmap_threshold=65536"},
    ],
)
def test_a_threshold_from_the_environment_wins(environ: dict[str, str]) -> None:
    libc = FakeLibc()
    assert filework.fix_mmap_threshold(environ, libc) is False
    assert libc.calls == []


def test_without_mallopt_nothing_is_set() -> None:
    assert filework.fix_mmap_threshold({}, object()) is False


def test_the_real_glibc_takes_it() -> None:
    if filework._libc() is None or not hasattr(filework._libc(), "mallopt"):
        pytest.skip("not glibc")
    assert filework.fix_mmap_threshold({}) is True


def test_main_fixes_the_threshold_before_the_service_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    order: list[str] = []
    monkeypatch.setattr(app, "fix_mmap_threshold", lambda: order.append("mallopt") or True)
    monkeypatch.setattr(app, "run_service", lambda build: order.append("run"))
    app.main()
    assert order == ["mallopt", "run"]
