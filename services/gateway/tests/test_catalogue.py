"""The Dutch catalogue covers every code a service or the gateway can answer with."""

from __future__ import annotations

import importlib
import pkgutil
import re

import ck_contracts
from ck_contracts import bounds
from ck_contracts.operations import Operation, operations_of
from ck_contracts.rpc import CommonReason, Reasons
from ck_gateway import i18n
from ck_runtime import validation


def _contract_modules() -> list[object]:
    return [
        importlib.import_module(f"ck_contracts.{info.name}")
        for info in pkgutil.iter_modules(ck_contracts.__path__)
    ]


def declared_reasons() -> set[str]:
    """Every member of a Reasons enum in the contracts and every reason an operation names."""
    reasons: set[str] = {reason.value for reason in CommonReason}
    for module in _contract_modules():
        for name, value in vars(module).items():
            if isinstance(value, type) and issubclass(value, Reasons):
                reasons.update(member.value for member in value)
            if isinstance(value, type) and name == "Ops":
                for op in operations_of(value):
                    reasons.update(op.reasons)
    return reasons


def test_every_reason_has_dutch() -> None:
    missing = sorted(reason for reason in declared_reasons() if not i18n.has(reason))
    assert missing == []


def test_every_field_reason_has_dutch() -> None:
    reasons = set(validation._FIELD_REASONS.values()) | {"field.invalid", bounds.POSTCODE}
    assert sorted(r for r in reasons if not i18n.has(r)) == []


def test_a_missing_reason_is_caught() -> None:
    """The check above can fail: a made-up reason is not in the catalogue."""
    assert not i18n.has("no_such_reason_anywhere")


def test_every_param_a_message_uses_is_well_formed() -> None:
    """Each msgstr is a format string whose fields are plain names (no stray braces)."""
    for msgid, text in i18n.messages().items():
        for name in re.findall(r"\{([^{}]*)\}", text):
            assert re.fullmatch(r"[a-z_][a-z0-9_]*", name), (msgid, name)


def test_money_and_dates_are_written_the_dutch_way() -> None:
    text = i18n.prepared({"amount_cents": 2100, "ends_on": "2026-03-02"})
    assert text["amount"] == "€ 21,00"
    assert text["ends_on"] == "2 maart 2026"


def test_declared_operations_are_found() -> None:
    """The walk over the contracts sees the operations (so the tests above are not vacuous)."""
    ops = [
        op
        for module in _contract_modules()
        if isinstance(ops_class := vars(module).get("Ops"), type)
        for op in operations_of(ops_class)
    ]
    assert all(isinstance(op, Operation) for op in ops)
