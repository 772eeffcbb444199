"""`ck-accounts`: run the service, create a CJP admin, set up the demo school.

ck-accounts serve
ck-accounts create-admin --email beheer@cjp.nl --name "CJP beheer"   (password on stdin)
ck-accounts demo --email demo@school.nl                               (password on stdin)
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from ck_contracts.accounts import Contact, Person, RegisterSchool, SchoolSettings
from ck_runtime.db import Database
from ck_runtime.errors import Invalid, ServiceError
from ck_runtime.migrations import upgrade_async

from ck_accounts import domain, store
from ck_accounts.admins import ensure_admin
from ck_accounts.app import main as serve
from ck_accounts.ops.admin import register_school
from ck_accounts.passwords import hash_password
from ck_accounts.settings import get_settings

DEMO_SCHOOL = SchoolSettings(
    name="Demo MBO College",
    brin_codes=["00AA"],
    locations=["Hoofdlocatie"],
    duo_student_count=1200,
    contacts=[Contact(name="Demo Budgethouder", role="Budgethouder")],
    default_order_reference="",
)


async def _database() -> Database:
    settings = get_settings()
    db = Database(settings.resolved_database_url())
    await upgrade_async("accounts", db.url)
    return db


async def _create_admin(email: str, name: str, password: str) -> None:
    db = await _database()
    try:
        await ensure_admin(db, email, name, password)
    finally:
        await db.dispose()


async def _demo(email: str, password: str) -> None:
    """Register the demo school once (through the normal path, so its events go out) and give
    its budget holder the password from stdin."""
    db = await _database()
    try:
        email = domain.normalise_email(email)
        async with db.read() as session:
            exists = await store.email_taken(session, email)
        if not exists:
            await register_school(
                db,
                RegisterSchool(
                    settings=DEMO_SCHOOL,
                    budget_holder=Person(name="Demo Budgethouder", email=email),
                ),
                get_settings().portal_url,
            )
        if (problem := domain.password_error(password, email)) is not None:
            raise Invalid(fields={"password": problem})
        hashed = await hash_password(password)
        async with db.transaction() as session:
            await store.set_password_by_email(session, email, hashed)
    finally:
        await db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(prog="ck-accounts")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("serve", help="run the accounts service")
    admin = sub.add_parser("create-admin", help="create a CJP admin (password on stdin)")
    admin.add_argument("--email", required=True)
    admin.add_argument("--name", default="CJP beheerder")
    demo = sub.add_parser("demo", help="register the demo school (password on stdin)")
    demo.add_argument("--email", required=True)
    args = parser.parse_args()
    if args.command == "serve":
        serve()
        return
    password = sys.stdin.readline().rstrip("\n")
    try:
        if args.command == "create-admin":
            asyncio.run(_create_admin(args.email, args.name, password))
        else:
            asyncio.run(_demo(args.email, password))
    except ServiceError as exc:
        # The reason code and its params (the portal's catalogue has their Dutch).
        details = [f"{key}={value}" for key, value in exc.params.items()] + [
            f"{path}: {error.reason} {error.params or ''}".rstrip()
            for path, error in exc.field_errors.items()
        ]
        suffix = " (" + "; ".join(details) + ")" if details else ""
        print(f"ck-accounts: {exc.reason}{suffix}", file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
