"""The provider portal's side of the weborders service (issue 13): provider operations with the
portal's provider actor instead of an API key, offerings listed, edited and withdrawn, the
provider's own API keys with their last use, and isolation between providers (provider A
never sees, edits, cancels or revokes provider B's things). SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from ck_contracts.roles import Actor, Role
from ck_contracts.weborders import Ops

World = Any


def portal(world: World, provider: str = "A") -> Actor:
    """A provider user's session, as the gateway sends it (role provider, provider_id)."""
    return Actor(user_id=uuid.uuid4(), role=Role.PROVIDER, provider_id=world.providers[provider])


async def create_as(world: World, provider: str = "A", key: str = "", **changes: Any) -> Any:
    payload: dict[str, Any] = {"weborder": world.weborder(**changes)}
    if key:
        payload["idempotency_key"] = key
    return await world.ok(Ops.WEBORDER_CREATE, payload, portal(world, provider))


async def test_a_portal_session_creates_lists_and_cancels_its_own_weborders(world: World) -> None:
    made = await create_as(world, key="form-1")
    assert made["provider_id"] == str(world.providers["A"]) and made["status"] == "ingediend"
    # The same idempotency as the API: a double submit answers the original.
    again = await create_as(world, key="form-1")
    assert again["weborder_id"] == made["weborder_id"]
    error = await world.error(
        Ops.WEBORDER_CREATE,
        {"idempotency_key": "form-1", "weborder": world.weborder(participants=3)},
        portal(world),
    )
    assert error["reason"] == "idempotency_key_reused"
    error = await world.error(
        Ops.WEBORDER_CREATE, {"weborder": world.weborder(school_number=99999)}, portal(world)
    )
    assert error["reason"] == "school_number_unknown"
    # The key path and the session path see the same weborders.
    by_key = await world.ok(Ops.WEBORDER_LIST_OWN, {"api_key": world.keys["A"]})
    by_session = await world.ok(Ops.WEBORDER_LIST_OWN, {}, portal(world))
    assert by_key == by_session and by_session["total"] == 1
    cancelled = await world.ok(
        Ops.WEBORDER_CANCEL_OWN, {"weborder_id": made["weborder_id"]}, portal(world)
    )
    assert cancelled["status"] == "geannuleerd"


async def test_the_portals_filters_school_and_activity_dates(world: World) -> None:
    await create_as(world, activity="Dec", activity_date="2026-12-15")
    await create_as(world, activity="Jan", activity_date="2027-01-20")
    await create_as(world, activity="Other", school_number=world.other_number)

    async def activities(**filters: Any) -> list[str]:
        page = await world.ok(Ops.WEBORDER_LIST_OWN, filters, portal(world))
        return sorted(w["activity"] for w in page["items"])

    assert await activities() == ["Dec", "Jan", "Other"]
    assert await activities(school_number=world.number) == ["Dec", "Jan"]
    assert await activities(activity_from="2027-01-01") == ["Jan"]
    assert await activities(activity_to="2026-12-31", school_number=world.number) == ["Dec"]
    assert await activities(status="goedgekeurd") == []


async def test_provider_b_never_reaches_provider_as_weborders(world: World) -> None:
    made = await create_as(world, "A")
    b = portal(world, "B")
    assert (await world.ok(Ops.WEBORDER_LIST_OWN, {}, b))["total"] == 0
    ref = {"weborder_id": made["weborder_id"]}
    assert (await world.error(Ops.WEBORDER_GET_OWN, ref, b))["code"] == "not_found"
    assert (await world.error(Ops.WEBORDER_CANCEL_OWN, ref, b))["code"] == "not_found"
    # A provider id in the payload changes nothing: the actor's is used.
    sneaky = {**ref, "provider_id": str(world.providers["A"])}
    assert (await world.error(Ops.WEBORDER_GET_OWN, sneaky, b))["code"] == "not_found"
    mine = await world.ok(Ops.WEBORDER_GET_OWN, ref, portal(world, "A"))
    assert mine["status"] == "ingediend"


async def test_only_a_provider_actor_stands_in_for_a_key(world: World) -> None:
    provider_a = world.providers["A"]
    for actor in (
        world.holder(),
        world.docent(),
        world.admin(),
        # Another role with a provider id is still not a provider.
        Actor(
            user_id=uuid.uuid4(),
            role=Role.BUDGET_HOLDER,
            school_id=world.school,
            provider_id=provider_a,
        ),
        Actor(user_id=uuid.uuid4(), role=Role.PROVIDER),  # a provider user without a provider
    ):
        error = await world.error(Ops.WEBORDER_LIST_OWN, {}, actor)
        assert error["code"] == "forbidden", actor
        error = await world.error(Ops.WEBORDER_CREATE, {"weborder": world.weborder()}, actor)
        assert error["code"] == "forbidden", actor
    error = await world.error(Ops.WEBORDER_LIST_OWN, {}, None)
    assert error["code"] == "unauthenticated" and error["reason"] == "provider_actor_required"
    gone = Actor(user_id=uuid.uuid4(), role=Role.PROVIDER, provider_id=uuid.uuid4())
    error = await world.error(Ops.WEBORDER_CREATE, {"weborder": world.weborder()}, gone)
    assert error["code"] == "unauthenticated"


async def test_offerings_are_listed_edited_and_withdrawn_by_their_own_provider(
    world: World,
) -> None:
    a, b = portal(world, "A"), portal(world, "B")
    fields = {"title": "Hamlet", "discipline": "theater", "city": "Utrecht", "price_cents": 1250}
    made = await world.ok(Ops.OFFERING_PUBLISH, {"offering": fields}, a)
    oid = made["offering_id"]
    edited = await world.ok(
        Ops.OFFERING_PUBLISH, {"offering_id": oid, "offering": {**fields, "price_cents": 999}}, a
    )
    assert edited["price_cents"] == 999 and edited["withdrawn_at"] is None
    # B neither sees, edits nor withdraws A's offering.
    assert await world.ok(Ops.OFFERINGS_OWN, {}, b) == []
    error = await world.error(
        Ops.OFFERING_PUBLISH, {"offering_id": oid, "offering": {**fields, "title": "X"}}, b
    )
    assert error["code"] == "not_found"
    error = await world.error(Ops.OFFERING_WITHDRAW, {"offering_id": oid}, b)
    assert error["code"] == "not_found"
    found = await world.ok(Ops.OFFER_SEARCH, {"text": "hamlet"}, world.docent())
    assert [o["offering_id"] for o in found] == [oid]

    withdrawn = await world.ok(Ops.OFFERING_WITHDRAW, {"offering_id": oid}, a)
    assert withdrawn["withdrawn_at"] is not None
    twice = await world.ok(Ops.OFFERING_WITHDRAW, {"offering_id": oid}, a)
    assert twice["withdrawn_at"] == withdrawn["withdrawn_at"]
    # Out of the offer, no new requests, no more edits; still in the provider's own list.
    assert await world.ok(Ops.OFFER_SEARCH, {"text": "hamlet"}, world.docent()) == []
    error = await world.error(
        Ops.OFFER_REQUEST,
        {"school_id": world.school, "offering_id": oid, "message": "m", "requested_by": "D"},
        world.docent(),
    )
    assert error["reason"] == "offering_not_found"
    error = await world.error(Ops.OFFERING_PUBLISH, {"offering_id": oid, "offering": fields}, a)
    assert error["code"] == "conflict" and error["reason"] == "offering_withdrawn"
    own = await world.ok(Ops.OFFERINGS_OWN, {"api_key": world.keys["A"]})
    assert [(o["offering_id"], o["withdrawn_at"] is not None) for o in own] == [(oid, True)]


async def test_offer_requests_reach_only_their_providers_portal(world: World) -> None:
    offering = await world.ok(
        Ops.OFFERING_PUBLISH, {"offering": {"title": "Dans", "price_cents": 500}}, portal(world)
    )
    request = await world.ok(
        Ops.OFFER_REQUEST,
        {
            "school_id": world.school,
            "offering_id": offering["offering_id"],
            "message": "Voor 2 klassen?",
            "requested_by": "J. Docent",
        },
        world.docent(),
    )
    mine = await world.ok(Ops.REQUESTS_OWN, {}, portal(world, "A"))
    assert [r["request_id"] for r in mine] == [request["request_id"]]
    assert await world.ok(Ops.REQUESTS_OWN, {}, portal(world, "B")) == []
    answer = await create_as(
        world, request_id=request["request_id"], offering_id=offering["offering_id"]
    )
    assert answer["request_id"] == request["request_id"]
    error = await world.error(
        Ops.WEBORDER_CREATE,
        {"weborder": world.weborder(request_id=request["request_id"])},
        portal(world, "B"),
    )
    assert error["reason"] == "offer_request_not_found"


async def test_own_api_keys_are_issued_listed_and_revoked_only_by_their_provider(
    world: World,
) -> None:
    a, b = portal(world, "A"), portal(world, "B")
    issued = await world.ok(Ops.OWN_KEY_ISSUE, {}, a)
    assert issued["secret"].startswith("ck_live_") and issued["prefix"] == issued["secret"][:12]
    listed = await world.ok(Ops.OWN_KEY_LIST, {}, a)
    assert {k["key_id"] for k in listed} >= {issued["key_id"]} and len(listed) == 2
    assert all("secret" not in k for k in listed)
    assert issued["key_id"] not in {k["key_id"] for k in await world.ok(Ops.OWN_KEY_LIST, {}, b)}
    # The new key works at once; B cannot revoke it; A can, and then it stops working.
    assert (await world.ok(Ops.PROVIDER_AUTHENTICATE, {"api_key": issued["secret"]}))["name"]
    error = await world.error(Ops.OWN_KEY_REVOKE, {"key_id": issued["key_id"]}, b)
    assert error["code"] == "not_found"
    revoked = await world.ok(Ops.OWN_KEY_REVOKE, {"key_id": issued["key_id"]}, a)
    assert revoked["revoked_at"] is not None
    error = await world.error(Ops.PROVIDER_AUTHENTICATE, {"api_key": issued["secret"]})
    assert error["reason"] == "api_key_invalid"
    # Key management needs a portal session: not a key, not another role.
    for actor in (None, world.holder(), world.admin()):
        error = await world.error(Ops.OWN_KEY_ISSUE, {"api_key": world.keys["A"]}, actor)
        assert error["code"] in ("unauthenticated", "forbidden"), actor


async def test_a_keys_last_use_is_recorded_at_most_once_a_minute(world: World) -> None:
    a = portal(world)

    async def last_used() -> str | None:
        keys = await world.ok(Ops.OWN_KEY_LIST, {}, a)
        return next(k["last_used_at"] for k in keys if k["prefix"] == world.keys["A"][:12])

    assert await last_used() is None
    await world.create()  # the hot path records it in its own transaction
    first = await last_used()
    assert first is not None
    await world.ok(Ops.WEBORDER_LIST_OWN, {"api_key": world.keys["A"]})
    assert await last_used() == first  # within the minute: not written again
    world.clock.advance(timedelta(seconds=61))
    await world.ok(Ops.WEBORDER_LIST_OWN, {"api_key": world.keys["A"]})
    later = await last_used()
    assert later is not None and later > first
    # A portal session uses no key: nothing recorded for it.
    world.clock.advance(timedelta(minutes=5))
    await world.ok(Ops.WEBORDER_LIST_OWN, {}, a)
    assert await last_used() == later
