"""The weborders service's audit trail (issue 13): a school approving, rejecting and cancelling
the approval of a weborder, a provider cancelling its own, and a CJP admin issuing and revoking
an API key each write one entry in the action's own transaction; the rejection's and the
cancellation's free text stays out; a school lists only its own entries. A provider user issuing
and revoking its own keys in the provider portal is recorded too, the user as the actor."""

from __future__ import annotations

import uuid
from typing import Any

from ck_contracts.audit import AuditAction, AuditRole
from ck_contracts.roles import Actor, Role
from ck_contracts.weborders import Ops
from ck_testkit.audit import assert_no_personal_data, break_audit_log, entries

World = Any
REASON = "Afgewezen door Bea de Vries: te duur"


async def test_decisions_cancellations_and_keys_are_recorded(world: World) -> None:
    setup = await entries(world.db)  # the world's providers got a key each
    assert [e.action for e in setup] == [AuditAction.API_KEY_ISSUED] * 2
    holder, admin = world.holder(), world.admin()
    approved = await world.create(activity="Hamlet")
    rejected = await world.create(activity="Macbeth")
    withdrawn = await world.create(activity="Lear")
    await world.ok(
        Ops.WEBORDER_DECIDE,
        {"school_id": world.school, "weborder_id": approved["weborder_id"], "approve": True},
        holder,
    )
    await world.ok(
        Ops.WEBORDER_DECIDE,
        {
            "school_id": world.school,
            "weborder_id": rejected["weborder_id"],
            "approve": False,
            "reason": REASON,
        },
        holder,
    )
    await world.debited(approved["weborder_id"], amount=approved["amount_cents"])
    await world.ok(
        Ops.WEBORDER_CANCEL_APPROVAL,
        {"school_id": world.school, "weborder_id": approved["weborder_id"], "reason": REASON},
        holder,
    )
    await world.ok(
        Ops.WEBORDER_CANCEL_OWN,
        {"api_key": world.keys["A"], "weborder_id": withdrawn["weborder_id"]},
    )
    provider = world.providers["A"]
    issued = await world.ok(Ops.KEY_ISSUE, {"provider_id": provider}, admin)
    revoke = {"provider_id": provider, "key_id": issued["key_id"]}
    await world.ok(Ops.KEY_REVOKE, revoke, admin)
    await world.ok(Ops.KEY_REVOKE, revoke, admin)  # revoked before: no second entry

    found = (await entries(world.db))[2:]
    assert [(e.action, e.subject_id) for e in found] == [
        (AuditAction.WEBORDER_APPROVED, approved["weborder_id"]),
        (AuditAction.WEBORDER_REJECTED, rejected["weborder_id"]),
        (AuditAction.WEBORDER_APPROVAL_CANCELLED, approved["weborder_id"]),
        (AuditAction.WEBORDER_CANCELLED, withdrawn["weborder_id"]),
        (AuditAction.API_KEY_ISSUED, issued["key_id"]),
        (AuditAction.API_KEY_REVOKED, issued["key_id"]),
    ]
    school_side = found[:3]
    assert {(e.actor_id, e.actor_role) for e in school_side} == {
        (holder.user_id, AuditRole.BUDGET_HOLDER)
    }
    assert all(e.school_id == world.school and e.provider_id == provider for e in school_side)
    assert school_side[0].details == {"amount_cents": approved["amount_cents"]}
    # An API key has no user behind it: the provider acts, by its id.
    assert (found[3].actor_id, found[3].actor_role) == (provider, AuditRole.PROVIDER)
    assert found[3].school_id == world.school
    assert {(e.actor_id, e.actor_role) for e in found[4:]} == {(admin.user_id, AuditRole.CJP_ADMIN)}
    assert all(e.school_id is None and e.provider_id == provider for e in found[4:])
    assert_no_personal_data(found, REASON, "Bea", "Hamlet", issued["secret"], world.keys["A"])


async def test_a_decision_and_its_entry_commit_together(world: World) -> None:
    made = await world.create()
    await break_audit_log(world.db)
    error = await world.error(
        Ops.WEBORDER_DECIDE,
        {"school_id": world.school, "weborder_id": made["weborder_id"], "approve": True},
        world.holder(),
    )
    assert error["code"] == "internal"
    ref = {"api_key": world.keys["A"], "weborder_id": made["weborder_id"]}
    assert (await world.ok(Ops.WEBORDER_GET_OWN, ref))["status"] == "ingediend"


async def test_a_key_and_its_entry_commit_together(world: World) -> None:
    admin = world.admin()
    before = await world.ok(Ops.KEY_LIST, {"provider_id": world.providers["A"]}, admin)
    await break_audit_log(world.db)
    error = await world.error(Ops.KEY_ISSUE, {"provider_id": world.providers["A"]}, admin)
    assert error["code"] == "internal"
    after = await world.ok(Ops.KEY_LIST, {"provider_id": world.providers["A"]}, admin)
    assert after == before


async def test_a_school_lists_only_its_own_entries(world: World) -> None:
    mine = await world.create()
    theirs = await world.create(school_number=world.other_number)
    await world.approve(mine["weborder_id"])
    await world.approve(theirs["weborder_id"], school=world.other_school)
    page = await world.ok(Ops.AUDIT_LIST, {"school_id": world.school}, world.holder())
    assert [e["subject_id"] for e in page["items"]] == [mine["weborder_id"]]
    error = await world.error(Ops.AUDIT_LIST, {"school_id": world.other_school}, world.holder())
    assert error["code"] == "forbidden"
    # A CJP admin sees both schools' and the API keys' entries; filters on a provider.
    everything = await world.ok(Ops.AUDIT_LIST, {}, world.admin())
    assert len(everything["items"]) == 4
    of_b = await world.ok(Ops.AUDIT_LIST, {"provider_id": world.providers["B"]}, world.admin())
    assert [e["action"] for e in of_b["items"]] == ["api_key.issued"]


async def test_a_provider_users_own_keys_are_recorded_with_the_user_as_actor(world: World) -> None:
    """The provider portal's self-service keys (issue 13): the provider user acts (its user id,
    role provider), the provider is named, no school; the secret never appears."""
    provider = world.providers["A"]
    user = Actor(user_id=uuid.uuid4(), role=Role.PROVIDER, provider_id=provider)
    before = len(await entries(world.db))
    issued = await world.ok(Ops.OWN_KEY_ISSUE, {}, user)
    await world.ok(Ops.OWN_KEY_REVOKE, {"key_id": issued["key_id"]}, user)
    await world.ok(Ops.OWN_KEY_REVOKE, {"key_id": issued["key_id"]}, user)  # no second entry
    other = Actor(user_id=uuid.uuid4(), role=Role.PROVIDER, provider_id=world.providers["B"])
    error = await world.error(Ops.OWN_KEY_REVOKE, {"key_id": issued["key_id"]}, other)
    assert error["code"] == "not_found"  # B's refused attempt records nothing

    found = (await entries(world.db))[before:]
    assert [(e.action, e.subject_type, e.subject_id) for e in found] == [
        (AuditAction.API_KEY_ISSUED, "api_key", issued["key_id"]),
        (AuditAction.API_KEY_REVOKED, "api_key", issued["key_id"]),
    ]
    assert {(e.actor_id, e.actor_role) for e in found} == {(user.user_id, AuditRole.PROVIDER)}
    assert all(e.provider_id == provider and e.school_id is None for e in found)
    assert_no_personal_data(found, issued["secret"])
    # A CJP admin finds them filtered on the provider.
    of_a = await world.ok(Ops.AUDIT_LIST, {"provider_id": provider}, world.admin())
    assert {e["id"] for e in of_a["items"]} >= {str(e.id) for e in found}


async def test_an_own_key_and_its_entry_commit_together(world: World) -> None:
    user = Actor(user_id=uuid.uuid4(), role=Role.PROVIDER, provider_id=world.providers["A"])
    before = await world.ok(Ops.OWN_KEY_LIST, {}, user)
    await break_audit_log(world.db)
    error = await world.error(Ops.OWN_KEY_ISSUE, {}, user)
    assert error["code"] == "internal"
    assert await world.ok(Ops.OWN_KEY_LIST, {}, user) == before
