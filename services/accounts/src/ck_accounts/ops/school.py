"""Operations of a school's own users: the school's settings (R-SCHOOL-1) and its Docent+
access (R-ROLE-2, menu Docenten+). Every one is school-scoped: the router checks the actor
against the request's school before a handler runs."""

from __future__ import annotations

import uuid

from ck_contracts.accounts import (
    AccountsReason,
    CheckSchoolInput,
    DocentPlusAccess,
    DocentPlusGrant,
    DocentPlusList,
    DocentPlusRef,
    Ops,
    School,
    SchoolRef,
    SchoolSettingsChanged,
    UpdateSchool,
)
from ck_contracts.audit import AuditAction
from ck_contracts.notifier import EmailRequested, MailTemplate
from ck_contracts.roles import Role
from ck_contracts.rpc import FieldError, FieldProblems
from ck_runtime import audit
from ck_runtime.errors import Conflict, Invalid, NotFound
from ck_runtime.logs import get_logger
from ck_runtime.outbox import add_to_outbox
from ck_runtime.rpc_server import Call, RpcRouter
from sqlalchemy.exc import IntegrityError

from ck_accounts import domain, store
from ck_accounts.ops.common import portal_link, validated_settings

log = get_logger(__name__)
router = RpcRouter("accounts")


# --- Instellingen --------------------------------------------------------------------------------
@router.handles(Ops.SCHOOL_GET)
async def get_school(call: Call, query: SchoolRef) -> School:
    async with call.db.read() as session:
        school = await store.school(session, query.school_id)
    if school is None:
        raise NotFound(AccountsReason.SCHOOL_NOT_FOUND)
    return school


@router.handles(Ops.SCHOOL_UPDATE)
async def update_school(call: Call, cmd: UpdateSchool) -> School:
    settings = validated_settings(cmd.settings)
    async with call.db.transaction() as session:
        school = await store.update_school(session, cmd.school_id, settings, call.clock.now())
        if school is None:
            raise NotFound(AccountsReason.SCHOOL_NOT_FOUND)
        await add_to_outbox(
            session,
            SchoolSettingsChanged(
                school_id=cmd.school_id,
                school_number=school.school_number,
                duo_student_count=settings.duo_student_count,
                name=settings.name,
                street=settings.street,
                postcode=settings.postcode,
                city=settings.city,
            ),
        )
    log.info("school.updated", school_id=str(cmd.school_id))
    return school


@router.handles(Ops.CHECK_SCHOOL_INPUT)
async def check_school_input(call: Call, query: CheckSchoolInput) -> FieldProblems:
    """Issue 14: the format rules of the settings and registration forms, nothing stored."""
    call.require_actor()
    return FieldProblems(
        fields=domain.format_errors(
            query.brin_codes, query.contact_emails, query.budget_holder_email
        )
    )


# --- Docent+ -------------------------------------------------------------------------------------
@router.handles(Ops.DOCENT_PLUS_LIST)
async def list_docent_plus(call: Call, query: SchoolRef) -> DocentPlusList:
    async with call.db.read() as session:
        return DocentPlusList(items=await store.docent_plus_list(session, query.school_id))


def _email_taken() -> Conflict:
    reason = AccountsReason.TEACHER_EMAIL_TAKEN
    return Conflict(reason, fields={"email": FieldError(reason=reason)})


@router.handles(Ops.DOCENT_PLUS_GRANT)
async def grant_docent_plus(call: Call, cmd: DocentPlusGrant) -> DocentPlusAccess:
    """Give a teacher with an active membership an account with role Docent+ and mail them a
    link to set a password (like the budget holder's welcome mail). Granting a teacher who
    already has access changes nothing and sends no second mail."""
    email = domain.normalise_email(cmd.email)
    if (problem := domain.email_error(email)) is not None:
        raise Invalid(AccountsReason.TEACHER_EMAIL_INVALID, fields={"email": problem})
    user_id, now = uuid.uuid4(), call.clock.now()
    try:
        async with call.db.transaction() as session:
            # Locked (PostgreSQL): a MembershipEnded handled at the same time waits for this
            # grant and then ends it, or this grant sees the membership already ended.
            membership = await store.teacher_membership(session, cmd.person_id, lock=True)
            if (
                membership is None
                or membership.school_id != cmd.school_id
                or not membership.active
                or membership.removed
            ):
                raise Conflict(AccountsReason.NO_ACTIVE_MEMBERSHIP)
            existing = await store.docent_plus_access(session, cmd.school_id, cmd.person_id)
            if existing is not None:
                return existing
            if await store.email_taken(session, email):
                raise _email_taken()
            school = await store.school(session, cmd.school_id)
            if school is None:
                raise NotFound(AccountsReason.SCHOOL_NOT_FOUND)
            await store.add_user(
                session,
                user_id=user_id,
                email=email,
                name=cmd.name,
                role=Role.DOCENT_PLUS,
                school_id=cmd.school_id,
                person_id=cmd.person_id,
                now=now,
            )
            token = await store.issue_password_link(session, user_id, now)
            await add_to_outbox(
                session,
                EmailRequested(
                    school_id=cmd.school_id,
                    template=MailTemplate.DOCENT_PLUS_ACCESS,
                    to=email,
                    context={
                        "recipient_name": cmd.name,
                        "school_name": school.name,
                        "school_number": str(school.school_number),
                        "link": portal_link(call, token),
                    },
                ),
            )
            await audit.record(
                session,
                call.require_actor(),
                AuditAction.DOCENT_PLUS_GRANTED,
                "teacher",
                cmd.person_id,
                school_id=cmd.school_id,
                details={"user_id": str(user_id)},
                at=now,
            )
    except IntegrityError as exc:  # a simultaneous grant took the address or the teacher
        raise _email_taken() from exc
    log.info("docent_plus.granted", school_id=str(cmd.school_id), user_id=str(user_id))
    return DocentPlusAccess(
        person_id=cmd.person_id, user_id=user_id, email=email, name=cmd.name, granted_at=now
    )


@router.handles(Ops.DOCENT_PLUS_REVOKE)
async def revoke_docent_plus(call: Call, cmd: DocentPlusRef) -> None:
    """The account is deleted with its sessions and password links: the teacher is logged out
    at once and cannot log in again (the gateway asks accounts on every request)."""
    async with call.db.transaction() as session:
        user_id = await store.delete_docent_plus(session, cmd.person_id, cmd.school_id)
        if user_id is not None:
            await audit.record(
                session,
                call.require_actor(),
                AuditAction.DOCENT_PLUS_REVOKED,
                "teacher",
                cmd.person_id,
                school_id=cmd.school_id,
                details={"user_id": str(user_id)},
                clock=call.clock,
            )
    if user_id is None:
        raise NotFound(AccountsReason.NO_DOCENT_PLUS_ACCESS)
    log.info("docent_plus.revoked", school_id=str(cmd.school_id), user_id=str(user_id))
