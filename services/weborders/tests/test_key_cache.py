"""The weborder hot path keeps its key lookup for a few seconds (ck_weborders.key_cache, issue
15): a revoke through this service still refuses the key at once; one made elsewhere (another
replica, here straight in the database) holds after at most the window, by the service's
clock."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from ck_contracts.accounts import SchoolRegistered
from ck_contracts.roles import Actor, Role
from ck_contracts.weborders import Ops
from ck_runtime.known_schools import known_schools_consumer
from ck_weborders.key_cache import WINDOW, KeyAndSchool, KeyCache
from ck_weborders.tables import api_keys
from sqlalchemy import update

World = Any


def refused(error: dict[str, Any]) -> bool:
    return error["code"] == "unauthenticated" and error["reason"] == "api_key_invalid"


async def create_with(world: World, key: str) -> dict[str, Any]:
    return dict(
        await world.call(Ops.WEBORDER_CREATE, {"api_key": key, "weborder": world.weborder()}, None)
    )


async def revoke_behind_the_service(world: World, key_id: str) -> None:
    """As another replica's revoke: the row changes, this process's cache is not told."""
    async with world.db.transaction() as session:
        await session.execute(
            update(api_keys)
            .where(api_keys.c.id == uuid.UUID(key_id))
            .values(revoked_at=world.clock.now())
        )


async def key_ids(world: World, provider: str = "A") -> list[str]:
    listed = await world.ok(Ops.KEY_LIST, {"provider_id": world.providers[provider]}, world.admin())
    return [k["key_id"] for k in listed]


async def test_a_key_revoked_by_the_admin_is_refused_at_once_though_it_was_kept(
    world: World,
) -> None:
    key = world.keys["A"]
    assert (await create_with(world, key))["ok"]  # looked up and kept
    [key_id] = await key_ids(world)
    revoke = {"provider_id": world.providers["A"], "key_id": key_id}
    await world.ok(Ops.KEY_REVOKE, revoke, world.admin())
    assert refused(
        await world.error(Ops.WEBORDER_CREATE, {"api_key": key, "weborder": world.weborder()})
    )


async def test_a_key_revoked_in_the_portal_is_refused_at_once_though_it_was_kept(
    world: World,
) -> None:
    key = world.keys["A"]
    assert (await create_with(world, key))["ok"]
    [key_id] = await key_ids(world)
    user = Actor(user_id=uuid.uuid4(), role=Role.PROVIDER, provider_id=world.providers["A"])
    await world.ok(Ops.OWN_KEY_REVOKE, {"key_id": key_id}, user)
    assert refused(
        await world.error(Ops.WEBORDER_CREATE, {"api_key": key, "weborder": world.weborder()})
    )


async def test_a_key_revoked_elsewhere_holds_after_the_window(world: World) -> None:
    key = world.keys["A"]
    assert (await create_with(world, key))["ok"]
    [key_id] = await key_ids(world)
    await revoke_behind_the_service(world, key_id)
    # Within the window this process still has the lookup: the documented window.
    assert (await create_with(world, key))["ok"]
    world.clock.advance(WINDOW)
    assert refused(
        await world.error(Ops.WEBORDER_CREATE, {"api_key": key, "weborder": world.weborder()})
    )
    # Another operation never used the kept lookup.
    assert refused(await world.error(Ops.WEBORDER_LIST_OWN, {"api_key": key}))


async def test_after_a_revoke_nothing_is_kept_for_the_window(world: World) -> None:
    """A lookup made while a revoke may not have committed yet is not kept."""
    admin = world.admin()
    second = await world.ok(Ops.KEY_ISSUE, {"provider_id": world.providers["A"]}, admin)
    first_id = next(k for k in await key_ids(world) if k != second["key_id"])
    await world.ok(Ops.KEY_REVOKE, {"provider_id": world.providers["A"], "key_id": first_id}, admin)
    assert (await create_with(world, second["secret"]))["ok"]  # looked up, not kept
    await revoke_behind_the_service(world, second["key_id"])
    assert refused(
        await world.error(
            Ops.WEBORDER_CREATE, {"api_key": second["secret"], "weborder": world.weborder()}
        )
    )


async def test_an_unknown_school_number_is_not_kept(world: World) -> None:
    number = 20555
    error = await world.error(
        Ops.WEBORDER_CREATE,
        {"api_key": world.keys["A"], "weborder": world.weborder(school_number=number)},
    )
    assert error["code"] == "invalid" and error["reason"] == "school_number_unknown"
    school = uuid.uuid4()
    event = SchoolRegistered(school_id=school, school_number=number, name="Nieuw College")
    await known_schools_consumer("weborders").handle(event.envelope(), world.db)
    made = await world.create(school_number=number)  # known at once
    assert made["school_id"] == str(school)


def test_an_entry_expires_after_the_window_and_a_use_does_not_extend_it() -> None:
    cache = KeyCache()
    t0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    found = KeyAndSchool(uuid.uuid4(), "Theater A", uuid.uuid4(), uuid.uuid4(), None)
    cache.put("digest", 10289, found, t0)
    assert cache.get("digest", 10289, t0 + WINDOW - timedelta(microseconds=1)) == found
    assert cache.get("digest", 10290, t0) is None  # another school number
    cache.used("digest", 10289, t0 + timedelta(seconds=1))
    kept = cache.get("digest", 10289, t0 + timedelta(seconds=2))
    assert kept is not None and kept.last_used_at == t0 + timedelta(seconds=1)
    assert cache.get("digest", 10289, t0 + WINDOW) is None


def test_a_clock_set_back_does_not_extend_an_entry() -> None:
    cache = KeyCache()
    t0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    cache.put(
        "digest", 10289, KeyAndSchool(uuid.uuid4(), "A", uuid.uuid4(), uuid.uuid4(), None), t0
    )
    assert cache.get("digest", 10289, t0 - timedelta(hours=1)) is None
    assert cache.get("digest", 10289, t0) is None  # forgotten, not kept for later


def test_a_key_without_a_known_school_is_not_kept() -> None:
    cache = KeyCache()
    t0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    cache.put("digest", 1, KeyAndSchool(uuid.uuid4(), "A", None, uuid.uuid4(), None), t0)
    assert cache.get("digest", 1, t0) is None
