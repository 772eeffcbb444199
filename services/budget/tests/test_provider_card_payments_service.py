"""The provider portal's card payments (issue 13): a provider lists its own card payments,
newest first with the school, never another provider's; only a provider actor may ask, and the
provider comes from the actor, never from the payload. SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from ck_contracts.budget import Ops
from ck_contracts.roles import Actor, Role

World = Any  # the `world` fixture of conftest.py


async def student_with_budget(world: World, cents: int) -> uuid.UUID:
    student = uuid.uuid4()
    await world.activate(student)
    await world.paid(0, cents, number=f"{student.int % 10**8:08d}")
    await world.ok(
        Ops.ALLOCATE,
        {"school_id": world.school, "person_ids": [student], "amount_cents_each": cents},
    )
    return student


def charge(card: str, cents: int, text: str) -> dict[str, Any]:
    return {
        "card_number": card,
        "amount_cents": cents,
        "description": text,
        "provider_reference": uuid.uuid4().hex,
    }


async def test_a_provider_sees_only_its_own_card_payments(world: World) -> None:
    student = await student_with_budget(world, 5_000)
    a, b = world.provider(uuid.uuid4()), world.provider(uuid.uuid4())
    await world.ok(Ops.CARD_CHARGE, charge(world.card(student), 1_000, "Film A1"), a)
    world.clock.advance(timedelta(minutes=1))
    await world.ok(Ops.CARD_CHARGE, charge(world.card(student), 700, "Film A2"), a)
    await world.ok(Ops.CARD_CHARGE, charge(world.card(student), 300, "Concert B"), b)

    mine = await world.ok(Ops.CARD_PAYMENTS_OWN, {}, a)
    assert mine["total"] == 2 and mine["total_cents"] == 1_700
    assert [p["description"] for p in mine["items"]] == ["Film A2", "Film A1"]
    assert all(p["school_number"] is not None for p in mine["items"])
    assert "person_id" not in mine["items"][0] and "card_number" not in mine["items"][0]
    theirs = await world.ok(Ops.CARD_PAYMENTS_OWN, {"page_size": 1}, b)
    assert theirs["total"] == 1 and [p["description"] for p in theirs["items"]] == ["Concert B"]
    paged = await world.ok(Ops.CARD_PAYMENTS_OWN, {"page": 2, "page_size": 1}, a)
    assert [p["description"] for p in paged["items"]] == ["Film A1"]
    # A provider id in the payload is ignored; the actor's counts.
    sneaky = await world.ok(Ops.CARD_PAYMENTS_OWN, {"provider_id": str(a.provider_id)}, b)
    assert sneaky["total"] == 1


async def test_only_a_provider_actor_lists_card_payments(world: World) -> None:
    for actor in (world.holder(), world.admin()):
        error = await world.error(Ops.CARD_PAYMENTS_OWN, {}, actor)
        assert error["code"] == "forbidden", actor
    anonymous = await world.call(Ops.CARD_PAYMENTS_OWN, {}, None)
    assert anonymous["error"]["code"] == "unauthenticated"
    no_provider = Actor(user_id=uuid.uuid4(), role=Role.PROVIDER)
    error = await world.error(Ops.CARD_PAYMENTS_OWN, {}, no_provider)
    assert error["code"] == "forbidden"
