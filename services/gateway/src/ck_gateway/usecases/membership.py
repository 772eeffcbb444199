"""The membership use cases the activation page (routes/pages_membership.py) and the JSON API
(routes/api_membership.py) share: activating a CJP with a code (R-MEMBER-4), and a CJP
admin ending a membership (R-MEMBER-1)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any
from uuid import UUID

from ck_contracts.bounds import CODE_MAX, RequiredEmail, Text
from ck_contracts.membership import (
    Activate,
    Activated,
    CheckActivationCode,
    EndMembership,
    MemberName,
    Ops,
)
from ck_contracts.roles import Actor, Permission
from ck_contracts.rpc import FieldProblems
from fastapi import Request
from pydantic import BaseModel, ConfigDict, Field

from ck_gateway import backend
from ck_gateway.client_address import client_key
from ck_gateway.errors import forbidden

# The personal link's second value (/activeren?code=...&sleutel=...): a hidden form field.
LINK_KEY = "sleutel"
MAX_LINK_KEY = 64


class ActivationBody(BaseModel):
    """What the member fills in on the activation page (R-MEMBER-4)."""

    model_config = ConfigDict(str_strip_whitespace=True)

    code: Annotated[str, Text(CODE_MAX, min_length=1)] = Field(description="The activation code")
    voornaam: MemberName
    achternaam: MemberName
    email: RequiredEmail
    geboortedatum: date
    sleutel: str = Field(
        default="",
        max_length=MAX_LINK_KEY,
        description="The `sleutel` of the personal link in the invitation mail, if the member "
        "came by it: with the right pair of code and sleutel the activation is never throttled.",
    )


async def activate(request: Request, payload: dict[str, Any]) -> Activated:
    """payload: the member's fields, and `sleutel` when they came by the personal link. The
    client's address goes to the membership service only as a keyed hash (throttling)."""
    fields = dict(payload)
    link_key = fields.pop(LINK_KEY, "") or ""
    command = Activate.model_validate(
        {**fields, "link_key": link_key, "client": client_key(request)}
    )
    return await backend.send(request, Ops.ACTIVATE, command)


async def check_activation_code(request: Request, code: str) -> FieldProblems:
    """Whether the typed code can be a code at all (issue 14: asked when the page refuses the
    form for its own reasons, so a malformed code is said in the same round)."""
    query = CheckActivationCode(code=code[:CODE_MAX])
    return await backend.send(request, Ops.CHECK_ACTIVATION_CODE, query)


async def end_membership(request: Request, actor: Actor, school_id: UUID, person_id: UUID) -> None:
    if not actor.may(Permission.END_MEMBERSHIP, school_id):
        raise forbidden()
    command = EndMembership(school_id=school_id, person_id=person_id)
    await backend.send(request, Ops.END, command, actor=actor)
