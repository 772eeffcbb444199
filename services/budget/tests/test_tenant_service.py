"""The tenant check (R-ROLE-6): every school-scoped operation refuses an actor of another
school, before it looks at anything of the school it was asked about."""

from __future__ import annotations

import uuid
from typing import Any

from ck_contracts.budget import Ops
from ck_contracts.operations import operations_of
from ck_contracts.roles import CROSS_TENANT_ROLES, ROLE_PERMISSIONS, Actor, Permission, Role

World = Any  # the `world` fixture of conftest.py

COUNTS = {"collective_students": 1, "individual_students": 0, "reference": ""}


def scoped_requests(school: uuid.UUID) -> dict[str, dict[str, Any]]:
    """A minimal valid request about `school` for every school-scoped operation, and for
    cancelling (which either a school or a CJP admin may do, so its handler checks)."""
    order = {"school_id": school, "order_id": uuid.uuid4()}
    return {
        Ops.ORDER_FORM.name: {"school_id": school},
        Ops.ORDER_PLACE.name: {"school_id": school, **COUNTS},
        Ops.ORDER_CHANGE.name: {**order, **COUNTS},
        Ops.ORDER_CANCEL.name: order,
        Ops.ORDER_LIST.name: {"school_id": school},
        Ops.ORDER_APPROVE.name: order,
        Ops.LEDGER.name: {"school_id": school},
        Ops.ALLOCATE.name: {
            "school_id": school,
            "person_ids": [uuid.uuid4()],
            "amount_cents_each": 100,
        },
        Ops.AUDIT_LIST.name: {"school_id": school},  # the audit trail (issue 13)
        Ops.ALLOCATIONS.name: {"school_id": school},  # Budget toewijzen (issue 14)
    }


def actor_of(school: uuid.UUID, permission: Permission | None) -> Actor:
    """Someone of `school` who holds the permission there (when a school's role can)."""
    role = next(
        (
            r
            for r in Role
            if r not in CROSS_TENANT_ROLES and permission in ROLE_PERMISSIONS.get(r, frozenset())
        ),
        Role.BUDGET_HOLDER,
    )
    return Actor(user_id=uuid.uuid4(), role=role, school_id=school)


async def test_every_school_scoped_operation_refuses_another_schools_actor(world: World) -> None:
    requests = scoped_requests(world.school)
    scoped = [op for op in operations_of(Ops) if op.school_scoped or op is Ops.ORDER_CANCEL]
    assert {op.name for op in scoped} == set(requests)
    for op in scoped:
        stranger = actor_of(world.other_school, op.permission)
        error = await world.error(op, requests[op.name], stranger)
        assert error["code"] == "forbidden", (op.name, error)
        # The same request from the school's own budget holder gets past the check.
        own = await world.call(op, requests[op.name], world.holder())
        assert own["ok"] or own["error"]["code"] != "forbidden" or op is Ops.ORDER_APPROVE, (
            op.name,
            own,
        )
