"""Settings of the invoicing service (environment variables INVOICING_*).

CJP's own details on the invoice are configuration, not code: set INVOICING_CJP_NAME,
INVOICING_CJP_ADDRESS (lines separated by "|"), INVOICING_CJP_KVK, INVOICING_CJP_IBAN, and
optionally INVOICING_CJP_BIC, INVOICING_CJP_EMAIL, INVOICING_CJP_VAT_NUMBER. A detail left
empty is left off the PDF.
"""

from __future__ import annotations

from ck_runtime.settings import ServiceSettings, load_settings
from pydantic import Field


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

    def cjp_address_lines(self) -> list[str]:
        return [line.strip() for line in self.cjp_address.split("|") if line.strip()]


def get_settings(**overrides: object) -> InvoicingSettings:
    return load_settings(InvoicingSettings, "invoicing", **overrides)
