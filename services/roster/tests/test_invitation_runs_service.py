"""Invitation runs (issue 14): one click's people, chunks and mails counted from the membership
service's InvitationsSent and the notifier's EmailsSent, through the router and the consumers
against real databases (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from typing import Any

from ck_contracts.membership import InvitationsSent, SentInvitation
from ck_contracts.notifier import EmailsSent
from ck_contracts.roster import Ops, RosterKind, RosterReason
from ck_roster import runs
from ck_roster.app import get_settings
from ck_roster.consumers import status_consumer
from ck_roster.retention import retention_rules
from ck_roster.runs import runs_consumer
from ck_roster.tables import outbox
from ck_runtime.clock import ManualClock
from ck_runtime.db import Database
from ck_runtime.retention import Retention
from ck_testkit.clocks import MONDAY
from sqlalchemy import select

from .test_invitations_service import (
    SCHOOL_A,
    SCHOOL_B,
    actor,
    call,
    db,
    fill,
    invite_payload,
    student,
)

__all__ = ["db"]  # the fixture, shared with the invitations' tests

REQUESTED = "roster.invitations.requested"
OLD, RECENT = uuid.uuid4(), uuid.uuid4()


async def chunks(db: Database) -> list[dict[str, Any]]:
    async with db.read() as session:
        rows = (
            await session.execute(select(outbox.c.body).where(outbox.c.routing_key == REQUESTED))
        ).all()
    return [r.body if isinstance(r.body, dict) else json.loads(r.body) for r in rows]


async def run(db: Database, run_id: str, school: uuid.UUID = SCHOOL_A) -> dict[str, Any]:
    ref = {"school_id": str(school), "run_id": run_id}
    return await call(db, Ops.INVITATION_RUN_GET, ref, actor(school))


def handled(chunk: dict[str, Any], *, without_mail: int = 0) -> dict[str, Any]:
    """The membership service's answer to a chunk: everyone invited, the first `without_mail`
    people without an e-mail address (a code only)."""
    invitations = [
        SentInvitation(
            person_id=uuid.UUID(p["person_id"]), activation_code="CODE", mailed=i >= without_mail
        )
        for i, p in enumerate(chunk["people"])
    ]
    return InvitationsSent(
        school_id=uuid.UUID(chunk["school_id"]),
        kind=RosterKind.STUDENTS,
        invitations=invitations,
        request_id=uuid.UUID(chunk["request_id"]),
    ).envelope()


async def test_a_run_counts_its_chunks_and_mails_until_every_mail_is_sent(db: Database) -> None:
    await fill(db, [student(i) for i in range(1, 1201)])  # 1,200 people: three chunks
    reply = await call(db, Ops.INVITE, invite_payload({"all": True}))
    assert reply["ok"], reply
    run_id = reply["result"]["request_id"]
    first = await run(db, run_id)
    assert first["ok"], first
    assert first["result"] | {"created_at": None} == {
        "run_id": run_id,
        "kind": "students",
        "status": "queued",
        "requested": 1200,
        "skipped_active": 0,
        "chunks": 3,
        "chunks_handled": 0,
        "queued": 0,
        "sent": 0,
        "failed": 0,
        "created_at": None,
    }

    status, runs = status_consumer(), runs_consumer()
    events = await chunks(db)
    assert len(events) == 3
    assert {e["request_id"] for e in events} == {run_id}
    # The first chunk handled, ten of its people without an address: 490 mails queued.
    first_handled = handled(events[0], without_mail=10)
    assert await status.handle(first_handled, db)
    assert not await status.handle(first_handled, db)  # redelivered: counted once
    middle = (await run(db, run_id))["result"]
    assert (middle["status"], middle["chunks_handled"], middle["queued"]) == ("queued", 1, 490)
    for event in events[1:]:
        assert await status.handle(handled(event), db)
    sending = (await run(db, run_id))["result"]
    assert (sending["status"], sending["queued"], sending["sent"]) == ("sending", 1190, 0)

    # The notifier's passes: counts only, one event per run per pass.
    progress = [EmailsSent(run_id=uuid.UUID(run_id), sent=200).envelope() for _ in range(5)]
    seen = []
    for event in progress:
        assert await runs.handle(event, db)
        seen.append((await run(db, run_id))["result"]["sent"])
    assert not await runs.handle(progress[0], db)  # redelivered: counted once
    assert seen == [200, 400, 600, 800, 1000]
    await runs.handle(EmailsSent(run_id=uuid.UUID(run_id), sent=188, failed=2).envelope(), db)
    done = (await run(db, run_id))["result"]
    assert (done["status"], done["queued"], done["sent"], done["failed"]) == (
        "done",
        1190,
        1188,
        2,
    )


async def test_another_schools_run_is_not_found(db: Database) -> None:
    await fill(db, [student(i) for i in range(1, 4)])
    run_id = (await call(db, Ops.INVITE, invite_payload({"all": True})))["result"]["request_id"]
    # School B asks for A's run under its own school id: not found, nothing told.
    other = await run(db, run_id, SCHOOL_B)
    assert not other["ok"]
    assert other["error"]["code"] == "not_found"
    assert other["error"]["reason"] == RosterReason.RUN_NOT_FOUND
    # School B's user naming school A: refused by the router before anything is read.
    ref = {"school_id": str(SCHOOL_A), "run_id": run_id}
    refused = await call(db, Ops.INVITATION_RUN_GET, ref, actor(SCHOOL_B))
    assert refused["error"]["code"] == "forbidden"
    unknown = await run(db, str(uuid.uuid4()))
    assert unknown["error"]["code"] == "not_found"
    # Events naming another school's run change nothing of it.
    (chunk,) = await chunks(db)
    forged = handled(chunk) | {"school_id": str(SCHOOL_B)}
    await status_consumer().handle(forged, db)
    assert (await run(db, run_id))["result"]["chunks_handled"] == 0


async def test_a_run_that_selects_no_one_is_done_at_once(db: Database) -> None:
    await fill(db, [student(1)])
    filt = {"klas": "niemand"}
    reply = await call(db, Ops.INVITE, invite_payload({"filter": filt}))
    empty = (await run(db, reply["result"]["request_id"]))["result"]
    assert (empty["status"], empty["requested"], empty["chunks"]) == ("done", 0, 0)


async def test_a_run_is_deleted_once_it_has_not_moved_for_the_retention_period(
    db: Database,
) -> None:
    clock = ManualClock(MONDAY)
    retention = Retention(db, clock, retention_rules(get_settings(job_retention_days=30)))
    async with db.transaction() as session:
        for run_id, days in ((OLD, 0), (RECENT, 5)):
            await runs.add_run(
                session,
                run_id=run_id,
                school_id=SCHOOL_A,
                kind=RosterKind.STUDENTS,
                requested=1,
                skipped_active=0,
                chunks=1,
                now=MONDAY + timedelta(days=days),
            )
    clock.set(MONDAY + timedelta(days=30) - timedelta(seconds=1))
    assert (await retention.run_once())["invitation_runs.idle"] == 0
    clock.set(MONDAY + timedelta(days=30))
    assert (await retention.run_once())["invitation_runs.idle"] == 1
    assert (await run(db, str(OLD)))["error"]["code"] == "not_found"
    assert (await run(db, str(RECENT)))["ok"]
