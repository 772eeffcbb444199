"""Settings of the accounts service (environment variables ACCOUNTS_*)."""

from __future__ import annotations

from ck_runtime.settings import ServiceSettings, load_settings


class AccountsSettings(ServiceSettings):
    # Where the portal lives, for links in mails (password links).
    portal_url: str = "http://127.0.0.1:8000"
    # A CJP admin created at start-up when both are set (and none with that e-mail exists).
    bootstrap_admin_email: str = ""
    bootstrap_admin_password: str = ""


def get_settings(**overrides: object) -> AccountsSettings:
    return load_settings(AccountsSettings, "accounts", **overrides)
