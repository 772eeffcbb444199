"""CJP admins' operations (R-ROLE-4): every school, and registering a new one (R-SCHOOL-1)."""

from __future__ import annotations

import uuid

from ck_contracts.accounts import (
    AccountsReason,
    Ops,
    RegisteredSchool,
    RegisterSchool,
    School,
    SchoolRegistered,
)
from ck_contracts.notifier import EmailRequested, MailTemplate
from ck_contracts.roles import Role
from ck_contracts.rpc import Empty, FieldError
from ck_runtime.clock import Clock, current_clock
from ck_runtime.db import Database
from ck_runtime.errors import Conflict, Invalid
from ck_runtime.logs import get_logger
from ck_runtime.outbox import add_to_outbox
from ck_runtime.rpc_server import Call, RpcRouter
from sqlalchemy.exc import IntegrityError

from ck_accounts import domain, store
from ck_accounts.ops.common import password_link_url, validated_settings
from ck_accounts.settings import AccountsSettings

log = get_logger(__name__)
router = RpcRouter("accounts")


async def register_school(
    db: Database, cmd: RegisterSchool, portal_url: str, clock: Clock | None = None
) -> RegisteredSchool:
    """R-SCHOOL-1: a CJP admin registers a school with its budget holder, who gets a welcome
    mail with a link to set a password. Also the command line's demo school."""
    settings = validated_settings(cmd.settings)
    email = domain.normalise_email(cmd.budget_holder.email)
    if (problem := domain.email_error(email)) is not None:
        raise Invalid(fields={"budget_holder.email": problem})
    school_id, user_id = uuid.uuid4(), uuid.uuid4()
    now = (clock or current_clock()).now()
    try:
        async with db.transaction() as session:
            if await store.email_taken(session, email):
                raise Conflict(
                    AccountsReason.ACCOUNT_EXISTS,
                    fields={"budget_holder.email": FieldError(reason=AccountsReason.EMAIL_IN_USE)},
                )
            number = domain.next_school_number(await store.highest_school_number(session))
            await store.add_school(session, school_id, number, settings, now)
            await store.add_user(
                session,
                user_id=user_id,
                email=email,
                name=cmd.budget_holder.name,
                role=Role.BUDGET_HOLDER,
                school_id=school_id,
                now=now,
            )
            token = await store.issue_password_link(session, user_id, now)
            await add_to_outbox(
                session,
                SchoolRegistered(
                    school_id=school_id,
                    school_number=number,
                    name=settings.name,
                    duo_student_count=settings.duo_student_count,
                    street=settings.street,
                    postcode=settings.postcode,
                    city=settings.city,
                ),
                EmailRequested(
                    school_id=school_id,
                    template=MailTemplate.WELCOME_BUDGET_HOLDER,
                    to=email,
                    context={
                        "recipient_name": cmd.budget_holder.name,
                        "school_name": settings.name,
                        "school_number": str(number),
                        "link": password_link_url(portal_url, token),
                    },
                ),
            )
    except IntegrityError as exc:  # two registrations raced for a number or an address
        raise Conflict(AccountsReason.REGISTRATION_RACED) from exc
    log.info("school.registered", school_id=str(school_id), school_number=number)
    return RegisteredSchool(school_id=school_id, school_number=number)


@router.handles(Ops.SCHOOL_REGISTER)
async def register_school_op(call: Call, cmd: RegisterSchool) -> RegisteredSchool:
    settings = call.deps
    assert isinstance(settings, AccountsSettings)
    return await register_school(call.db, cmd, settings.portal_url, call.clock)


@router.handles(Ops.SCHOOL_LIST)
async def list_schools(call: Call, _query: Empty) -> list[School]:
    async with call.db.read() as session:
        return await store.all_schools(session)
