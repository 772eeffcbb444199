"""Providers and their API keys (R-ROLE-3/4): issue, use, revoke, prefix, wrong keys; the admin
operations are for CJP admins only."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from ck_contracts.weborders import Ops
from ck_weborders import domain
from ck_weborders.tables import api_keys
from sqlalchemy import select

World = Any


async def test_issued_key_has_256_bits_a_prefix_and_only_its_keyed_hash_is_stored(
    world: World,
) -> None:
    key = world.keys["A"]
    assert key.startswith("ck_live_") and len(key) == 8 + 43
    admin = world.admin()
    listed = await world.ok(Ops.KEY_LIST, {"provider_id": world.providers["A"]}, admin)
    assert [k["prefix"] for k in listed] == [key[:12]]
    assert listed[0]["revoked_at"] is None and "secret" not in listed[0]
    async with world.db.read() as session:
        rows = (await session.execute(select(api_keys))).all()
    stored = {r.key_hash for r in rows}
    assert key not in stored
    assert domain.key_hash(world.deps.pepper, key) in stored
    assert domain.key_hash(b"another pepper", key) not in stored

    provider = await world.ok(Ops.PROVIDER_AUTHENTICATE, {"api_key": key})
    assert provider["provider_id"] == str(world.providers["A"])
    assert provider["name"] == "Theater A"


async def test_wrong_unknown_and_revoked_keys_are_refused(world: World) -> None:
    key = world.keys["A"]
    for wrong in (key[:-1] + ("A" if key[-1] != "A" else "B"), "ck_live_" + "x" * 20, "x" * 51):
        error = await world.error(Ops.PROVIDER_AUTHENTICATE, {"api_key": wrong})
        assert error["code"] == "unauthenticated" and error["reason"] == "api_key_invalid"
    admin = world.admin()
    second = await world.ok(Ops.KEY_ISSUE, {"provider_id": world.providers["A"]}, admin)
    first_id = (await world.ok(Ops.KEY_LIST, {"provider_id": world.providers["A"]}, admin))[1]
    revoked = await world.ok(
        Ops.KEY_REVOKE,
        {"provider_id": world.providers["A"], "key_id": first_id["key_id"]},
        admin,
    )
    assert revoked["revoked_at"] is not None
    # At once, for every operation; the other key of the provider keeps working.
    error = await world.error(Ops.WEBORDER_CREATE, {"api_key": key, "weborder": world.weborder()})
    assert error["code"] == "unauthenticated" and error["reason"] == "api_key_invalid"
    error = await world.error(Ops.WEBORDER_LIST_OWN, {"api_key": key})
    assert error["code"] == "unauthenticated"
    world.keys["A"] = second["secret"]
    assert (await world.create())["status"] == "ingediend"
    again = await world.ok(
        Ops.KEY_REVOKE,
        {"provider_id": world.providers["A"], "key_id": first_id["key_id"]},
        admin,
    )
    assert again["revoked_at"] == revoked["revoked_at"]
    # Provider B cannot be used to revoke A's key.
    error = await world.error(
        Ops.KEY_REVOKE,
        {"provider_id": world.providers["B"], "key_id": second["key_id"]},
        admin,
    )
    assert error["code"] == "not_found"


async def test_admin_operations_are_for_cjp_admins_only(world: World) -> None:
    for actor in (world.holder(), world.docent(), None):
        error = await world.error(Ops.PROVIDER_LIST, {}, actor)
        assert error["code"] in ("forbidden", "unauthenticated")
        error = await world.error(Ops.KEY_ISSUE, {"provider_id": world.providers["A"]}, actor)
        assert error["code"] in ("forbidden", "unauthenticated")
    listed = await world.ok(Ops.PROVIDER_LIST, {}, world.admin())
    assert [p["name"] for p in listed] == ["Theater A", "Theater B"]
    error = await world.error(Ops.KEY_ISSUE, {"provider_id": uuid.uuid4()}, world.admin())
    assert error["code"] == "not_found"


async def test_a_kvk_number_registers_once_and_must_be_eight_digits(world: World) -> None:
    fields = {
        "name": "Museum",
        "kvk_number": "12345678",
        "contact_name": "X",
        "contact_email": "m@example.org",
    }
    error = await world.error(Ops.PROVIDER_REGISTER, {"provider": fields}, world.admin())
    assert error["code"] == "conflict" and error["reason"] == "provider_kvk_taken"
    assert error["field_errors"]["kvk_number"]["reason"] == "provider_kvk_taken"
    error = await world.error(
        Ops.PROVIDER_REGISTER, {"provider": {**fields, "kvk_number": "1234"}}, world.admin()
    )
    assert error["code"] == "invalid"


def test_in_development_mode_a_missing_pepper_is_generated_once_and_kept(tmp_path: Any) -> None:
    from ck_weborders.settings import get_settings

    dev = {"api_key_pepper": "", "data_dir": tmp_path, "dev_mode": True}
    first = get_settings(**dev).effective_pepper()
    again = get_settings(**dev).effective_pepper()
    assert first == again and len(first) >= 40
    assert (tmp_path / "weborders-api-key-pepper").stat().st_mode & 0o077 == 0
    assert get_settings(api_key_pepper="set").effective_pepper() == b"set"


def test_outside_development_mode_a_missing_pepper_stops_the_service(tmp_path: Any) -> None:
    from ck_runtime.settings import SettingsError
    from ck_weborders.app import build
    from ck_weborders.settings import get_settings

    settings = get_settings(api_key_pepper="", data_dir=tmp_path, dev_mode=False)
    with pytest.raises(SettingsError, match=r"^WEBORDERS_API_KEY_PEPPER is not set: "):
        build(settings)
    with pytest.raises(SettingsError, match=r"^WEBORDERS_API_KEY_PEPPER is not set: "):
        settings.effective_pepper()
    assert not (tmp_path / "weborders-api-key-pepper").exists()  # nothing generated
