"""CJP platform admins (R-ROLE-4): created from the command line or from settings."""

from __future__ import annotations

import uuid

from ck_contracts.messaging import utcnow
from ck_contracts.roles import Role
from ck_runtime.db import Database
from ck_runtime.errors import Invalid
from sqlalchemy import insert, select, update

from ck_accounts import domain
from ck_accounts.passwords import hash_password
from ck_accounts.tables import users


async def ensure_admin(db: Database, email: str, name: str, password: str) -> uuid.UUID:
    """Create the admin, or set the password of an existing one. Returns the user id."""
    email = domain.normalise_email(email)
    if problem := domain.email_error(email):
        raise Invalid(problem)
    if problem := domain.password_error(password, email):
        raise Invalid(problem)
    hashed = await hash_password(password)
    async with db.transaction() as session:
        row = (
            await session.execute(select(users.c.id, users.c.role).where(users.c.email == email))
        ).first()
        if row is not None:
            if row.role != Role.CJP_ADMIN:
                raise Invalid("Dit e-mailadres hoort bij een ander soort account.")
            await session.execute(
                update(users).where(users.c.id == row.id).values(password_hash=hashed, active=True)
            )
            return uuid.UUID(str(row.id))
        user_id = uuid.uuid4()
        await session.execute(
            insert(users).values(
                id=user_id,
                email=email,
                name=name,
                role=Role.CJP_ADMIN,
                school_id=None,
                password_hash=hashed,
                active=True,
                created_at=utcnow(),
            )
        )
        return user_id
