"""Provider users (issue 13, the provider portal): a CJP admin invites an employee of a
cultural provider. The account has role provider and the provider's id; the invitation is the
budget holder's welcome mechanism exactly: a password link (7 days, once) in a mail through
the notifier, then the same log-in page with the same throttles. The session's Actor carries
the provider_id, which the weborders and budget services use instead of an API key."""

from __future__ import annotations

import uuid

from ck_contracts.accounts import (
    AccountsReason,
    InviteProviderUser,
    Ops,
    ProviderUser,
    ProviderUsersRef,
)
from ck_contracts.notifier import EmailRequested, MailTemplate
from ck_contracts.roles import Role
from ck_contracts.rpc import FieldError
from ck_runtime.errors import Conflict, Invalid
from ck_runtime.logs import get_logger
from ck_runtime.outbox import add_to_outbox
from ck_runtime.rpc_server import Call, RpcRouter
from sqlalchemy.exc import IntegrityError

from ck_accounts import domain, store
from ck_accounts.ops.common import portal_link

log = get_logger(__name__)
router = RpcRouter("accounts")


def _email_taken() -> Conflict:
    reason = AccountsReason.PROVIDER_USER_EMAIL_TAKEN
    return Conflict(reason, fields={"email": FieldError(reason=reason)})


@router.handles(Ops.PROVIDER_USER_INVITE)
async def invite_provider_user(call: Call, cmd: InviteProviderUser) -> ProviderUser:
    email = domain.normalise_email(cmd.email)
    if (problem := domain.email_error(email)) is not None:
        raise Invalid(AccountsReason.EMAIL_INVALID, fields={"email": problem})
    user_id, now = uuid.uuid4(), call.clock.now()
    try:
        async with call.db.transaction() as session:
            if await store.email_taken(session, email):
                raise _email_taken()
            await store.keep_provider_name(session, cmd.provider_id, cmd.provider_name)
            await store.add_user(
                session,
                user_id=user_id,
                email=email,
                name=cmd.name,
                role=Role.PROVIDER,
                provider_id=cmd.provider_id,
                now=now,
            )
            token = await store.issue_password_link(session, user_id, now)
            await add_to_outbox(
                session,
                EmailRequested(
                    template=MailTemplate.PROVIDER_ACCESS,
                    to=email,
                    context={
                        "recipient_name": cmd.name,
                        "provider_name": cmd.provider_name,
                        "link": portal_link(call, token),
                    },
                ),
            )
    except IntegrityError as exc:  # a simultaneous invitation took the address
        raise _email_taken() from exc
    log.info("provider_user.invited", provider_id=str(cmd.provider_id), user_id=str(user_id))
    return ProviderUser(
        user_id=user_id,
        provider_id=cmd.provider_id,
        name=cmd.name,
        email=email,
        created_at=now,
        password_set=False,
    )


@router.handles(Ops.PROVIDER_USER_LIST)
async def list_provider_users(call: Call, query: ProviderUsersRef) -> list[ProviderUser]:
    async with call.db.read() as session:
        return await store.provider_users(session, query.provider_id)
