"""Helpers for the audit trail's tests (ck_runtime.audit): read a service's entries, break the
table so a test can show that an action and its entry commit together, and check that no
entry holds personal data."""

from __future__ import annotations

import json
import re

from ck_contracts.audit import AuditAction, AuditEntry, AuditQuery
from ck_runtime.audit import list_entries
from ck_runtime.db import Database
from sqlalchemy import text

ALLOWED_SUBJECTS = {
    "budget_order",
    "school",
    "invoice",
    "weborder",
    "api_key",
    "teacher",
    "provider_statement",
}


async def entries(db: Database, service: str = "test") -> list[AuditEntry]:
    """Every entry of the service's audit_log, oldest first."""
    found: list[AuditEntry] = []
    query = AuditQuery(limit=100)
    async with db.read() as session:
        while True:
            page = await list_entries(session, service, query)
            found.extend(page.items)
            if not page.has_more:
                break
            last = page.items[-1]
            query = AuditQuery(limit=100, before_at=last.at, before_id=last.id)
    return list(reversed(found))


async def actions(db: Database) -> list[AuditAction]:
    return [entry.action for entry in await entries(db)]


async def break_audit_log(db: Database) -> None:
    """Drop the table: from now on every `record` fails, and with it (when it runs in the
    action's transaction) the action."""
    async with db.transaction() as session:
        await session.execute(text("DROP TABLE audit_log"))


# Random ids in an entry (UUIDs, 32-hex correlation ids): a short name made of hex letters
# ("Bea") turns up inside one now and then (a CI run failed on "...4bea..." once).
_RANDOM_IDS = re.compile(r"[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}")


def assert_no_personal_data(found: list[AuditEntry], *personal: str) -> None:
    """Entries hold ids, roles, codes and numbers only: none of the given texts (names,
    addresses, card numbers, free text the test typed) appears anywhere in them, in any case.
    A text is looked for outside the entry's random ids, unless it is such an id itself."""
    for entry in found:
        dumped = json.dumps(entry.model_dump(mode="json")).lower()
        without_ids = _RANDOM_IDS.sub("<id>", dumped)
        for value in personal:
            text = value.lower()
            where = dumped if _RANDOM_IDS.fullmatch(text) else without_ids
            assert text not in where, (entry.action, value)
        assert entry.subject_type in ALLOWED_SUBJECTS, entry.subject_type
