"""Input bounded at the weborders service's door, and stored text that predates the rules
(issue 10, capability 7): the service refuses what the gateway refuses, the spending export
never fails on a stored row, and the cleaning migration repairs old rows. SQLite and
PostgreSQL (the `world` fixture of conftest.py)."""

from __future__ import annotations

import base64
import io
import uuid
from typing import Any

from ck_contracts.weborders import Ops
from ck_testkit import run_migration
from openpyxl import load_workbook
from sqlalchemy import text

World = Any
CLEANING = "16436576bcc8"  # migrations/versions/16436576bcc8_clean_stored_text_...


def cells(xlsx_b64: str) -> list[str]:
    book = load_workbook(io.BytesIO(base64.b64decode(xlsx_b64)), read_only=True)
    return [str(c) for row in book.worksheets[0].iter_rows(values_only=True) for c in row if c]


async def test_a_control_character_in_an_activity_is_refused_with_the_field_named(
    world: World,
) -> None:
    payload = {"api_key": world.keys["A"], "weborder": world.weborder(activity="Hamlet\vvoor")}
    error = await world.error(Ops.WEBORDER_CREATE, payload)
    assert error["code"] == "invalid"
    assert error["field_errors"]["weborder.activity"] == {
        "reason": "field.control_characters",
        "params": {"position": 7},
    }


async def test_text_limits_and_pasted_whitespace(world: World) -> None:
    huge = {"api_key": world.keys["A"], "weborder": world.weborder(activity="x" * 300_000)}
    error = await world.error(Ops.WEBORDER_CREATE, huge)
    assert error["field_errors"] == {
        "weborder.activity": {"reason": "field.too_long", "params": {"max_length": 200}}
    }
    # A tab or a line break pasted into a one-line field is whitespace, not an error.
    made = await world.create(activity="  Hamlet\t\r\nmet nagesprek\r\n", provider_reference="R\t1")
    assert made["activity"] == "Hamlet met nagesprek"
    assert made["provider_reference"] == "R 1"


async def test_page_numbers_are_bounded(world: World) -> None:
    for page in (27090769733286449102454784, 0, -1):
        error = await world.error(
            Ops.WEBORDER_LIST, {"school_id": world.school, "page": page}, world.holder()
        )
        assert error["code"] == "invalid" and "page" in error["field_errors"]
    error = await world.error(Ops.OFFER_SEARCH, {"page": 10**30}, world.holder())
    assert error["code"] == "invalid"


async def _dirty(world: World, statement: str, **values: Any) -> None:
    async with world.db.transaction() as session:
        await session.execute(text(statement), values)


async def test_the_export_works_with_a_row_stored_before_the_rules(world: World) -> None:
    made = await world.create(activity="Voorstelling", provider_reference="REF-1")
    await world.approve(made["weborder_id"])
    await world.debited(made["weborder_id"])
    # Written past the boundary, as rows were before the rules (openpyxl refuses \v and \x01).
    await _dirty(
        world,
        "UPDATE weborders SET activity = :activity, provider_reference = :ref WHERE id = :id",
        activity="Voorstelling\vHamlet",
        ref="\x01=REF-2",
        id=_db_id(world, made["weborder_id"]),
    )
    await world.card_payment(uuid.uuid4(), description="Film\x0bkaartje")
    exported = await world.ok(Ops.EXPORT, {"school_id": world.school}, world.holder())
    found = cells(exported["content_b64"])
    assert "VoorstellingHamlet" in found
    assert "'=REF-2" in found  # cleaned first, then neutralised
    assert "Filmkaartje" in found


async def test_the_cleaning_migration_repairs_stored_rows(world: World) -> None:
    made = await world.create(activity="Voorstelling", provider_reference="REF-1")
    weborder_id = _db_id(world, made["weborder_id"])
    await _dirty(
        world,
        "UPDATE weborders SET activity = :activity, reason = :reason WHERE id = :id",
        activity="  Voor\vstelling\u202e " + "x" * 150,
        reason="Regel 1\r\nRegel\x012",  # PostgreSQL stores no NUL; SQLite does
        id=weborder_id,
    )
    offering = await world.ok(
        Ops.OFFERING_PUBLISH,
        {"api_key": world.keys["A"], "offering": {"title": "Workshop", "price_cents": 100}},
    )
    await _dirty(
        world,
        "UPDATE offerings SET city = :city, city_lc = :city, description = :description "
        "WHERE id = :id",
        city="Ut\x1frecht",
        description="Eerste regel\r\n\tTweede\x7f",
        id=_db_id(world, offering["offering_id"]),
    )
    await run_migration(world.db.url, "weborders", CLEANING)

    async with world.db.read() as session:
        row = (
            await session.execute(
                text("SELECT activity, reason FROM weborders WHERE id = :id"), {"id": weborder_id}
            )
        ).one()
        city, city_lc, description, search = (
            await session.execute(
                text(
                    "SELECT city, city_lc, description, search_text FROM offerings WHERE id = :id"
                ),
                {"id": _db_id(world, offering["offering_id"])},
            )
        ).one()
    assert row.activity == "Voorstelling " + "x" * 150
    assert row.reason == "Regel 1\nRegel2"
    assert (city, city_lc) == ("Utrecht", "utrecht")
    assert description == "Eerste regel\n\tTweede"
    assert "\x7f" not in search and "tweede" in search
    # And the service reads the repaired weborder as it is now.
    listed = await world.ok(Ops.WEBORDER_LIST, {"school_id": world.school}, world.holder())
    assert any(w["activity"].startswith("Voorstelling xxx") for w in listed["items"])


def _db_id(world: World, value: str) -> Any:
    """An id as the database column holds it (Uuid is CHAR(32) hex on SQLite)."""
    if world.db.engine.dialect.name == "sqlite":
        return uuid.UUID(value).hex
    return uuid.UUID(value)
