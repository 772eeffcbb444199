"""Settings of the budget service (environment variables BUDGET_*).

The programme's amounts are configuration (R-BUDGET-1); the defaults are the pilot's, in euro
cents. The pilot ended on 31 July 2024 (end of school year 2023/2024, R-BUDGET-8); a default in
the past would report every balance as expired on a fresh installation, so the default end date
is the end of the *current* school year (31 July after today, Amsterdam date; a school year runs
from 1 August to 31 July). A real programme period sets BUDGET_SPENDING_ENDS_ON, e.g.
`BUDGET_SPENDING_ENDS_ON=2024-07-31` for the pilot.
"""

from __future__ import annotations

from datetime import date

from ck_contracts.budget import Rates
from ck_runtime.clock import amsterdam_today
from ck_runtime.settings import ServiceSettings, load_settings
from pydantic import Field, model_validator


def end_of_current_school_year(today: date) -> date:
    """31 July that ends the school year containing `today` (1 August .. 31 July)."""
    return date(today.year + 1 if today.month >= 8 else today.year, 7, 31)


class BudgetSettings(ServiceSettings):
    # R-BUDGET-1: what a student "met bijdrage school" gives the school to spend, and what the
    # school pays for it (its share; OCW adds the same).
    collective_budget_per_student_cents: int = Field(default=2100, ge=0)
    collective_invoice_per_student_cents: int = Field(default=1050, ge=0)
    # A student "zonder bijdrage school": OCW's 10.50 reaches the student, the school pays the
    # administration costs.
    individual_budget_per_student_cents: int = Field(default=1050, ge=0)
    individual_invoice_per_student_cents: int = Field(default=250, ge=0)
    ocw_per_student_cents: int = Field(default=1050, ge=0)
    # R-BUDGET-8: last day budget can be spent (inclusive, Amsterdam date).
    # Not set: the end of the school year the service's clock is in when it starts.
    spending_ends_on: date | None = None
    # R-BUDGET-3: length of the objection period.
    objection_working_days: int = Field(default=5, ge=1, le=30)
    # The approval scheduler: how often it looks for orders whose period ended, and how many
    # it approves per transaction.
    approval_poll_seconds: float = Field(default=15.0, gt=0)
    approval_batch: int = Field(default=100, ge=1, le=10_000)
    # issue 13: the budget holders are mailed this many days (24 h each) before an order's
    # objection period ends; 0 turns the mail off. The job shares the approval's poll interval.
    objection_mail_days_before: int = Field(default=2, ge=0, le=30)

    def rates(self) -> Rates:
        return Rates(
            collective_budget_per_student_cents=self.collective_budget_per_student_cents,
            collective_invoice_per_student_cents=self.collective_invoice_per_student_cents,
            individual_budget_per_student_cents=self.individual_budget_per_student_cents,
            individual_invoice_per_student_cents=self.individual_invoice_per_student_cents,
            ocw_per_student_cents=self.ocw_per_student_cents,
            spending_ends_on=self.ends_on,
        )

    @model_validator(mode="after")
    def _default_end(self) -> BudgetSettings:
        if self.spending_ends_on is None:
            self.spending_ends_on = end_of_current_school_year(amsterdam_today(self.clock()))
        return self

    @property
    def ends_on(self) -> date:
        """R-BUDGET-8's last spending day (always set once the settings are validated)."""
        assert self.spending_ends_on is not None
        return self.spending_ends_on


def get_settings(**overrides: object) -> BudgetSettings:
    return load_settings(BudgetSettings, "budget", **overrides)
