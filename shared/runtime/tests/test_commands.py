"""Exactly-once commands (ck_runtime.commands): a repeat of a request id gets the first answer,
on SQLite and PostgreSQL, with the real runtime tables (the roster service's schema)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any

from ck_contracts.operations import Audience, Operation
from ck_contracts.rpc import CommonReason, ErrorCode, RpcRequest
from ck_runtime import commands
from ck_runtime.commands import RPC_REQUESTS
from ck_runtime.db import Database
from ck_runtime.errors import Invalid, Throttled
from ck_runtime.rpc_server import Call, RpcRouter
from ck_runtime.tables import add_runtime_tables
from ck_testkit import migrated_database
from ck_testkit.clocks import manual
from pydantic import BaseModel
from sqlalchemy import Column, Integer, MetaData, String, Table, func, select

# A table of effects, in the roster service's database (its tables are all migrated).
_metadata = MetaData()
add_runtime_tables(_metadata)
EFFECTS = Table(
    "test_effects",
    _metadata,
    Column("n", Integer, primary_key=True, autoincrement=True),
    Column("what", String(50)),
)


class Bump(BaseModel):
    what: str = "x"


class Bumped(BaseModel):
    count: int
    secret: str


def _op(name: str, response: Any) -> Operation[Bump, Any]:
    return Operation[Bump, Any]("roster", name, Bump, response, Audience.PUBLIC)


BUMP = _op("bump", Bumped)
COUNT_THEN_REFUSE = _op("count_then_refuse", None)
REFUSE_FIRST_THEN_COUNT = _op("refuse_first_then_count", None)
CRASH_AFTER_WRITE = _op("crash_after_write", None)
QUERY = _op("query", int)

router = RpcRouter()
runs: list[str] = []


@router.handles(BUMP)
async def bump(call: Call, payload: Bump) -> Bumped:
    runs.append(payload.what)
    async with call.db.transaction() as session:
        await session.execute(EFFECTS.insert().values(what=payload.what))
    async with call.db.read() as session:  # sees its own write inside the command
        count = (await session.execute(select(func.count()).select_from(EFFECTS))).scalar_one()
    await asyncio.sleep(0.05)  # a second delivery gets in between
    return Bumped(count=count, secret=f"kaart {payload.what}")


@router.handles(COUNT_THEN_REFUSE)
async def count_then_refuse(call: Call, payload: Bump) -> None:
    """Like the log-in throttle: a failure is counted, then the command is refused."""
    async with call.db.transaction() as session:
        await session.execute(EFFECTS.insert().values(what="counted"))
    try:
        async with call.db.transaction() as session:
            await session.execute(EFFECTS.insert().values(what="undone"))
            raise Invalid()
    except Invalid:
        pass
    raise Throttled()


@router.handles(REFUSE_FIRST_THEN_COUNT)
async def refuse_first_then_count(call: Call, payload: Bump) -> None:
    """The block that begins the command's transaction fails (it has no savepoint: the
    transaction is rolled back and begun again, with the repeat check, at the next write)."""
    try:
        async with call.db.transaction() as session:
            await session.execute(EFFECTS.insert().values(what="undone"))
            raise Invalid()
    except Invalid:
        pass
    runs.append(payload.what)  # a repeat stops at its first write, above
    async with call.db.read() as session:  # the undone write is not seen
        undone = select(func.count()).select_from(EFFECTS).where(EFFECTS.c.what == "undone")
        assert (await session.execute(undone)).scalar() == 0
    if payload.what == "count":
        async with call.db.transaction() as session:
            await session.execute(EFFECTS.insert().values(what="counted"))
    raise Throttled()


@router.handles(CRASH_AFTER_WRITE)
async def crash_after_write(call: Call, payload: Bump) -> None:
    async with call.db.transaction() as session:
        await session.execute(EFFECTS.insert().values(what="lost"))
    raise ZeroDivisionError


@router.handles(QUERY)
async def query(call: Call, payload: Bump) -> int:
    async with call.db.read() as session:
        return int((await session.execute(select(func.count()).select_from(EFFECTS))).scalar_one())


async def _database(url: str) -> Database:
    db = await migrated_database(url)
    async with db.engine.begin() as connection:
        await connection.run_sync(EFFECTS.create)
    return db


async def _effects(db: Database) -> list[str]:
    async with db.read() as session:
        return list((await session.execute(select(EFFECTS.c.what).order_by(EFFECTS.c.n))).scalars())


def _request(op: str, what: str = "x", request_id: str | None = None) -> RpcRequest:
    return RpcRequest(op=op, payload={"what": what}, request_id=request_id or uuid.uuid4().hex)


async def test_a_repeat_gets_the_first_answer_and_changes_nothing(database_url: str) -> None:
    db = await _database(database_url)
    clock = manual()
    first = _request("bump", "a")
    answer = await router.dispatch(first, db, clock=clock)
    assert answer["ok"] and answer["result"]["count"] == 1
    again = await router.dispatch(first, db, clock=clock)
    assert again == answer
    assert await _effects(db) == ["a"]
    # Another request is another command.
    assert (await router.dispatch(_request("bump", "b"), db, clock=clock))["result"]["count"] == 2
    await db.dispose()


async def test_the_same_id_with_another_body_is_refused(database_url: str) -> None:
    db = await _database(database_url)
    request_id = uuid.uuid4().hex
    await router.dispatch(_request("bump", "a", request_id), db, clock=manual())
    other = await router.dispatch(_request("bump", "b", request_id), db, clock=manual())
    assert other["error"]["code"] == ErrorCode.CONFLICT
    assert other["error"]["reason"] == CommonReason.REUSED_REQUEST
    assert await _effects(db) == ["a"]
    await db.dispose()


async def test_simultaneous_deliveries_of_one_request_run_it_once(database_url: str) -> None:
    db = await _database(database_url)
    request = _request("bump", "once")
    answers = await asyncio.gather(
        *(router.dispatch(request, db, clock=manual()) for _ in range(5))
    )
    assert all(a == answers[0] for a in answers), answers
    assert await _effects(db) == ["once"]
    await db.dispose()


async def test_a_refusal_keeps_what_was_counted_and_is_answered_again(database_url: str) -> None:
    db = await _database(database_url)
    request = _request("count_then_refuse")
    first = await router.dispatch(request, db, clock=manual())
    assert first["error"]["code"] == ErrorCode.THROTTLED
    assert await _effects(db) == ["counted"]  # the failed block was undone, the count kept
    assert await router.dispatch(request, db, clock=manual()) == first
    assert await _effects(db) == ["counted"]
    await db.dispose()


async def test_a_failed_first_block_is_undone_and_the_answer_recorded(database_url: str) -> None:
    db = await _database(database_url)
    for what, kept in (("count", ["counted"]), ("nothing", ["counted"])):
        request = _request("refuse_first_then_count", what)
        runs.clear()
        first = await router.dispatch(request, db, clock=manual())
        assert first["error"]["code"] == ErrorCode.THROTTLED
        assert await _effects(db) == kept
        assert await router.dispatch(request, db, clock=manual()) == first
        assert runs == [what]  # the repeat got the recorded answer, it did not run again
        assert await _effects(db) == kept
    await db.dispose()


async def test_a_crash_commits_nothing_and_a_retry_runs_again(database_url: str) -> None:
    db = await _database(database_url)
    request = _request("crash_after_write")
    for _ in range(2):
        reply = await router.dispatch(request, db, clock=manual())
        assert reply["error"]["code"] == ErrorCode.INTERNAL
    assert await _effects(db) == []
    async with db.read() as session:
        assert (await session.execute(select(func.count()).select_from(RPC_REQUESTS))).scalar() == 0
    await db.dispose()


async def test_queries_are_not_recorded(sqlite_url: str) -> None:
    db = await _database(sqlite_url)
    assert (await router.dispatch(_request("query"), db, clock=manual()))["result"] == 0
    async with db.read() as session:
        assert (await session.execute(select(func.count()).select_from(RPC_REQUESTS))).scalar() == 0
    await db.dispose()


async def test_answers_are_stored_unreadable_and_expire(database_url: str) -> None:
    db = await _database(database_url)
    clock = manual()
    request = _request("bump", "geheim")
    await router.dispatch(request, db, clock=clock)
    async with db.read() as session:
        stored = (await session.execute(select(RPC_REQUESTS))).one()
    assert b"geheim" not in bytes(stored.reply) and request.request_id not in stored.request_key
    # After its time the answer is pruned; a repeat then finds nothing to repeat.
    clock.advance(timedelta(seconds=request.keep_reply_seconds + 1))
    async with db.transaction() as session:
        assert await commands.prune(session, clock.now()) == 1
    await db.dispose()


def test_a_sealed_answer_opens_only_with_its_request_id() -> None:
    sealed = commands.seal("a" * 32, {"ok": True, "result": "kaart 1234"})
    assert commands.unseal("a" * 32, sealed) == {"ok": True, "result": "kaart 1234"}
    assert commands.unseal("b" * 32, sealed) is None
    # The request key passed in (record_step) seals as the one derived from the id.
    given = commands.seal("a" * 32, {"ok": True}, commands.request_key("a" * 32))
    assert commands.unseal("a" * 32, given) == {"ok": True}
