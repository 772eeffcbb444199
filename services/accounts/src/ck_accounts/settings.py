"""Settings of the accounts service (environment variables ACCOUNTS_*)."""

from __future__ import annotations

from ck_runtime.settings import ServiceSettings, load_settings


class AccountsSettings(ServiceSettings):
    # A CJP admin created at start-up when both are set (and none with that e-mail exists).
    bootstrap_admin_email: str = ""
    bootstrap_admin_password: str = ""


def get_settings(**overrides: object) -> AccountsSettings:
    return load_settings(AccountsSettings, "accounts", **overrides)
