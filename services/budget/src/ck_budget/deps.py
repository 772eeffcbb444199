"""What the budget service's handlers, consumers and scheduler get: settings and a clock."""

from __future__ import annotations

from dataclasses import dataclass, field

from ck_runtime.clock import Clock, current_clock

from ck_budget.settings import BudgetSettings


@dataclass(frozen=True)
class BudgetDeps:
    settings: BudgetSettings
    clock: Clock = field(default_factory=current_clock)
