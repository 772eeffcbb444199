"""Which incoming correlation ids are trusted (no I/O)."""

from __future__ import annotations

import pytest
from ck_gateway.middleware.correlation import sane_correlation_id


@pytest.mark.parametrize(
    "value", ["0f8e2a4c9b7d4e1f", "trace-123.abc_XYZ", "a" * 64, "4bf92f35-77b3-4da6-a3ce-929d0e0e"]
)
def test_plain_tokens_are_kept(value: str) -> None:
    assert sane_correlation_id(value) == value


@pytest.mark.parametrize(
    "value", [None, "", "short", "a" * 65, "has space inside", "line\nbreak-12345", "<script>x"]
)
def test_anything_else_is_replaced(value: str | None) -> None:
    assert sane_correlation_id(value) is None
