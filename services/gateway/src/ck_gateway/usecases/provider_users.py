"""Provider users (issue 13): a CJP admin invites an employee of a cultural provider to the
provider portal (menu Aanbieders). The accounts service makes the account (role provider, the
provider's id) and mails the password link, as for a budget holder."""

from __future__ import annotations

from collections.abc import Mapping
from uuid import UUID

from ck_contracts.accounts import (
    CheckSchoolInput,
    InviteProviderUser,
    Ops,
    ProviderUser,
    ProviderUsersRef,
)
from ck_contracts.bounds import EMAIL_MAX
from ck_contracts.roles import Actor
from ck_contracts.weborders import Provider
from fastapi import Request

from ck_gateway import backend, i18n
from ck_gateway.forms import also_checked, merged, validated
from ck_gateway.usecases.requests import request_of


def invite_errors(values: dict[str, str], provider: Provider) -> dict[str, str]:
    """The form's own checks, all at once (issue 14): a blank name or address, then the
    contract's limits (lengths, control characters) for the fields not judged yet."""
    errors: dict[str, str] = {}
    if not values.get("naam"):
        errors["naam"] = i18n.render("provider_users.name_missing")
    if "@" not in values.get("email", ""):
        errors["email"] = i18n.render("provider_users.email_invalid")
    data = {
        "provider_id": provider.provider_id,
        "provider_name": provider.name,
        "name": values.get("naam", ""),
        "email": values.get("email", ""),
    }
    _, limits = validated(InviteProviderUser, data, {"name": "naam", "email": "email"})
    return merged(errors, limits)


async def all_invite_errors(
    request: Request, actor: Actor, values: dict[str, str], provider: Provider
) -> dict[str, str]:
    """invite_errors and, when the form is refused anyway, accounts' rule for a user's address
    in the same round (its check operation, as for a budget holder's address: the same rule)."""
    errors = invite_errors(values, provider)
    if not errors or "email" in errors:
        return errors
    query = CheckSchoolInput(budget_holder_email=values.get("email", "")[:EMAIL_MAX])
    check = backend.send(request, Ops.CHECK_SCHOOL_INPUT, query, actor=actor)
    return await also_checked(errors, check, _to_form)


def _to_form(fields: Mapping[str, str]) -> dict[str, str]:
    """The check's "budget_holder.email" is this form's "email"."""
    found = [message for path, message in fields.items() if path.endswith("email")]
    return {"email": found[0]} if found else {}


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
