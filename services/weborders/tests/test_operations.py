"""The operations as declared: every school-scoped one refuses another school's actor before
its handler runs (R-ROLE-6), and the rules the portal's forms check hold for the API too."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from ck_contracts.operations import operations_of
from ck_contracts.roles import Actor, Role
from ck_contracts.weborders import Ops

World = Any


def _sample(world: World) -> dict[str, dict[str, Any]]:
    """A valid request of every school-scoped operation, for the world's school."""
    school = world.school
    some = str(uuid.uuid4())
    return {
        Ops.WEBORDER_LIST.name: {"school_id": school},
        Ops.WEBORDER_DECIDE.name: {"school_id": school, "weborder_id": some, "approve": True},
        Ops.WEBORDER_CANCEL_APPROVAL.name: {
            "school_id": school,
            "weborder_id": some,
            "reason": "Afgelast",
        },
        Ops.SCHOOLTOER_ORDER.name: {
            "school_id": school,
            "travel_date": "2027-02-03",
            "from_place": "Utrecht",
            "to_place": "Arnhem",
            "travellers": 2,
            "amount_cents": 2700,
        },
        Ops.SCHOOLTOER_LIST.name: {"school_id": school},
        Ops.OFFER_REQUEST.name: {
            "school_id": school,
            "offering_id": some,
            "message": "Kan dit in maart?",
            "requested_by": "Docent",
        },
        Ops.EXPORT.name: {"school_id": school},
        # issue 13
        Ops.WEBORDER_REAPPROVE.name: {"school_id": school, "weborder_id": some},
        Ops.WEBORDER_GET.name: {"school_id": school, "weborder_id": some},
        Ops.PARTICIPANTS_MARK.name: {"school_id": school, "weborder_id": some, "add": [some]},
        Ops.DOSSIER_GET.name: {"school_id": school, "person_id": some},
        Ops.DOSSIER_NOTE.name: {
            "school_id": school,
            "person_id": some,
            "text": "Enthousiast",
            "author": "Docent",
        },
        Ops.AUDIT_LIST.name: {"school_id": school},  # the audit trail (issue 13)
    }


async def test_every_school_scoped_operation_refuses_another_schools_actor(world: World) -> None:
    samples = _sample(world)
    scoped = [op for op in operations_of(Ops) if op.school_scoped]
    assert sorted(op.name for op in scoped) == sorted(samples)  # a new op needs a sample here
    for op in scoped:
        payload = samples[op.name]
        op.request.model_validate(payload)  # a valid request: only the school is wrong
        assert op.permission is not None
        # Someone who holds the permission, for the other school.
        role = next(
            r
            for r in (Role.BUDGET_HOLDER, Role.DOCENT_PLUS)
            if Actor(user_id=uuid.uuid4(), role=r, school_id=world.other_school).may(
                op.permission, world.other_school
            )
        )
        stranger = Actor(user_id=uuid.uuid4(), role=role, school_id=world.other_school)
        error = await world.error(op, payload, stranger)
        assert error["code"] == "forbidden", op.name
        assert error["reason"] == "forbidden", op.name


async def test_a_travel_date_in_the_past_is_refused_by_the_service(world: World) -> None:
    """The portal's form checked it; the service checks it too, with the same code, so the
    JSON API gets it. The day is the Dutch one: 23:30 UTC on 1 December is 2 December in
    Amsterdam, so a trip on 1 December has passed."""
    world.clock.set(datetime(2026, 12, 1, 23, 30, tzinfo=UTC))
    order = _sample(world)[Ops.SCHOOLTOER_ORDER.name]
    error = await world.error(
        Ops.SCHOOLTOER_ORDER, {**order, "travel_date": "2026-12-01"}, world.holder()
    )
    assert error["code"] == "invalid" and error["reason"] == "travel_date_in_past"
    assert error["params"] == {"travel_date": "2026-12-01", "today": "2026-12-02"}
    assert error["field_errors"]["travel_date"]["reason"] == "travel_date_in_past"
    listed = await world.ok(Ops.SCHOOLTOER_LIST, {"school_id": world.school}, world.holder())
    assert listed == []  # nothing ordered, nothing debited
    today = await world.ok(
        Ops.SCHOOLTOER_ORDER, {**order, "travel_date": "2026-12-02"}, world.holder()
    )
    assert today["status"] == "in_behandeling"
