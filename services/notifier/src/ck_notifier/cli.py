"""`ck-notifier`: run the service, and look after mails that could not be sent.

ck-notifier serve              run the notifier
ck-notifier failed             list failed mails: id, template, tries, last error (no addresses)
ck-notifier replay ID [ID ...] put these failed mails back in the queue
ck-notifier replay --all       put every failed mail back in the queue

A mail that can never be sent (an invalid address in a batch: no recipient kept) is listed
among the failed mails but is not replayed.

A running notifier picks replayed mails up within its poll interval.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from uuid import UUID

from ck_runtime.clock import current_clock
from ck_runtime.db import Database
from ck_runtime.migrations import upgrade_async

from ck_notifier import store
from ck_notifier.app import main as serve
from ck_notifier.settings import get_settings

DESCRIPTION = "Run the notifier; list and replay mails that could not be sent."


async def _database() -> Database:
    db = Database(get_settings().resolved_database_url())
    await upgrade_async("notifier", db.url)
    return db


async def show_failed() -> int:
    db = await _database()
    try:
        async with db.read() as session:
            mails = await store.list_failed(session)
    finally:
        await db.dispose()
    if not mails:
        print("No failed mails.")
        return 0
    print(f"{'id':36}  {'template':24}  {'attempts':>8}  {'created (UTC)':20}  last error")
    for mail in mails:
        created = mail.created_at.strftime("%Y-%m-%d %H:%M:%S")
        print(
            f"{mail.id!s:36}  {mail.template:24}  {mail.attempts:>8}  {created:20}  "
            f"{mail.last_error or ''}"
        )
    print(f"{len(mails)} failed mail(s).")
    return 0


async def replay(ids: list[UUID] | None) -> int:
    db = await _database()
    try:
        async with db.transaction() as session:
            replayed = await store.replay(session, ids, current_clock().now())
    finally:
        await db.dispose()
    for mail_id in replayed:
        print(f"replayed: {mail_id}")
    missing = sorted(set(ids or ()) - set(replayed), key=str)
    for mail_id in missing:
        print(f"no failed mail with id {mail_id} that can be sent", file=sys.stderr)
    print(f"{len(replayed)} mail(s) back in the queue.")
    return 1 if missing else 0


def _mail_id(value: str) -> UUID:
    try:
        return UUID(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a mail id: {value!r}") from None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="ck-notifier", description=DESCRIPTION)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("serve", help="run the notifier")
    sub.add_parser("failed", help="list failed mails (no addresses)")
    again = sub.add_parser("replay", help="put failed mails back in the queue")
    which = again.add_mutually_exclusive_group(required=True)
    which.add_argument("ids", nargs="*", default=[], type=_mail_id, metavar="ID")
    which.add_argument("--all", action="store_true", help="every failed mail")
    args = parser.parse_args(argv)
    if args.command == "serve":
        serve()
        return
    if args.command == "failed":
        raise SystemExit(asyncio.run(show_failed()))
    raise SystemExit(asyncio.run(replay(None if args.all else args.ids)))


if __name__ == "__main__":
    main()
