"""What several audiences' operations share: the settings check and the links in mails."""

from __future__ import annotations

from ck_contracts.accounts import SchoolSettings
from ck_runtime.errors import Invalid
from ck_runtime.rpc_server import Call

from ck_accounts import domain
from ck_accounts.settings import AccountsSettings


def validated_settings(settings: SchoolSettings) -> SchoolSettings:
    """The settings cleaned (domain.clean_settings); Invalid with per-field reasons when a
    rule beyond the schema is broken."""
    settings = domain.clean_settings(settings)
    if errors := domain.settings_errors(settings):
        raise Invalid(fields=errors)
    return settings


def password_link_url(portal_url: str, token: str) -> str:
    return f"{portal_url.rstrip('/')}/wachtwoord-instellen?token={token}"


def portal_link(call: Call, token: str) -> str:
    """The password link for a mail, on the portal the service is configured with."""
    settings = call.deps
    assert isinstance(settings, AccountsSettings)
    return password_link_url(settings.portal_url, token)
