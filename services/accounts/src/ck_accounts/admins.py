"""CJP platform admins (R-ROLE-4): created from the command line or from settings."""

from __future__ import annotations

import uuid

from ck_contracts.accounts import AccountsReason
from ck_contracts.roles import Role
from ck_runtime.clock import Clock, current_clock
from ck_runtime.db import Database
from ck_runtime.errors import Invalid

from ck_accounts import domain, store
from ck_accounts.passwords import hash_password


async def ensure_admin(
    db: Database, email: str, name: str, password: str, clock: Clock | None = None
) -> uuid.UUID:
    """Create the admin, or set the password of an existing one. Returns the user id."""
    email = domain.normalise_email(email)
    if (problem := domain.email_error(email)) is not None:
        raise Invalid(fields={"email": problem})
    if (problem := domain.password_error(password, email)) is not None:
        raise Invalid(fields={"password": problem})
    hashed = await hash_password(password)
    async with db.transaction() as session:
        row = await store.user_by_email(session, email)
        if row is not None:
            if row.role != Role.CJP_ADMIN:
                raise Invalid(AccountsReason.NOT_AN_ADMIN_ACCOUNT)
            await store.activate_with_password(session, row.id, hashed)
            return uuid.UUID(str(row.id))
        user_id = uuid.uuid4()
        await store.add_user(
            session,
            user_id=user_id,
            email=email,
            name=name,
            role=Role.CJP_ADMIN,
            password_hash=hashed,
            now=(clock or current_clock()).now(),
        )
        return user_id
