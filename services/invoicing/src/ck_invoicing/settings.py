"""Settings of the invoicing service (environment variables INVOICING_*).

CJP's own details on the invoice are configuration, not code: set INVOICING_CJP_NAME,
INVOICING_CJP_ADDRESS (lines separated by "|"), INVOICING_CJP_KVK, INVOICING_CJP_IBAN, and
optionally INVOICING_CJP_BIC, INVOICING_CJP_EMAIL, INVOICING_CJP_VAT_NUMBER. A detail left
empty is left off the PDF.
"""

from __future__ import annotations

from uuid import UUID

from ck_runtime.settings import ServiceSettings, load_settings
from pydantic import Field, field_validator

_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class InvoicingSettings(ServiceSettings):
    cjp_name: str = ""
    cjp_address: str = ""  # "Street 1|1234 AB Place"
    cjp_kvk: str = ""
    cjp_iban: str = ""
    cjp_bic: str = ""
    cjp_email: str = ""
    cjp_vat_number: str = ""
    # Days the school has to pay, printed as the due date.
    payment_term_days: int = Field(default=30, ge=0, le=365)

    # --- payouts to providers (issue 13, capability 4) ---
    # Periods end at 00:00 Europe/Amsterdam on these weekdays (twice a week by default:
    # Monday and Thursday), INVOICING_PAYOUT_PERIOD_ENDS="mon,thu".
    payout_period_ends: str = "mon,thu"
    # A period is closed this long after its end, so events in flight at midnight make it
    # (a later one simply lands on the next statement).
    payout_close_delay_minutes: int = Field(default=60, ge=0, le=24 * 60)
    payout_poll_seconds: float = Field(default=60.0, gt=0)
    # Who is paid for Schooltoer orders: CJP's transport partner registered as a provider
    # (its provider id). Unset: Schooltoer debits are kept but go on no provider statement
    # (CJP settles transport under its own contract).
    schooltoer_payee_id: UUID | None = None

    @field_validator("payout_period_ends")
    @classmethod
    def _weekdays(cls, value: str) -> str:
        days = [d.strip().lower()[:3] for d in value.split(",") if d.strip()]
        if not days or any(d not in _WEEKDAYS for d in days):
            raise ValueError("weekdays as mon,tue,wed,thu,fri,sat,sun, comma-separated")
        return ",".join(days)

    def payout_weekdays(self) -> tuple[int, ...]:
        """Monday = 0, as date.weekday()."""
        return tuple(sorted({_WEEKDAYS.index(d) for d in self.payout_period_ends.split(",")}))

    def cjp_address_lines(self) -> list[str]:
        return [line.strip() for line in self.cjp_address.split("|") if line.strip()]


def get_settings(**overrides: object) -> InvoicingSettings:
    return load_settings(InvoicingSettings, "invoicing", **overrides)
