"""Provider users (issue 13): a CJP admin invites an employee of a cultural provider to the
provider portal (menu Aanbieders). The accounts service makes the account (role provider, the
provider's id) and mails the password link, as for a budget holder."""

from __future__ import annotations

from uuid import UUID

from ck_contracts.accounts import InviteProviderUser, Ops, ProviderUser, ProviderUsersRef
from ck_contracts.roles import Actor
from ck_contracts.weborders import Provider
from fastapi import Request

from ck_gateway import backend, i18n
from ck_gateway.usecases.requests import request_of


def invite_errors(values: dict[str, str]) -> dict[str, str]:
    """The form's own checks (accounts checks the address again)."""
    errors: dict[str, str] = {}
    if not values.get("naam"):
        errors["naam"] = i18n.render("provider_users.name_missing")
    if "@" not in values.get("email", ""):
        errors["email"] = i18n.render("provider_users.email_invalid")
    return errors


async def invite(
    request: Request, actor: Actor, provider: Provider, values: dict[str, str]
) -> ProviderUser:
    command = request_of(
        InviteProviderUser,
        provider_id=provider.provider_id,
        provider_name=provider.name,
        name=values["naam"],
        email=values["email"],
    )
    return await backend.send(request, Ops.PROVIDER_USER_INVITE, command, actor=actor)


async def users_of(request: Request, actor: Actor, provider_id: UUID) -> list[ProviderUser]:
    ref = ProviderUsersRef(provider_id=provider_id)
    return await backend.send(request, Ops.PROVIDER_USER_LIST, ref, actor=actor)
