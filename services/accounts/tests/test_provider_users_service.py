"""Provider users (issue 13): a CJP admin invites a provider's employee, the mail carries a
password link (the budget holder's mechanism), and the session's actor has role provider and
the provider's id. SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from ck_accounts.ops import router
from ck_accounts.settings import get_settings
from ck_accounts.tables import outbox
from ck_contracts.accounts import Ops
from ck_contracts.operations import Operation
from ck_contracts.rpc import RpcRequest
from ck_runtime.db import Database
from ck_runtime.migrations import upgrade_async
from sqlalchemy import select

PORTAL = "https://portaal.example"
PASSWORD = "een lang aanbiederswachtwoord"
PROVIDER = uuid.uuid4()


@pytest.fixture
async def db(database_url: str):  # type: ignore[no-untyped-def]
    await upgrade_async("accounts", database_url)
    database = Database(database_url)
    yield database
    await database.dispose()


async def call(
    db: Database, op: Operation[Any, Any], payload: dict[str, Any], actor: Any = None
) -> dict[str, Any]:
    request = RpcRequest(op=op.name, actor=actor, payload=payload)
    return await router.dispatch(request, db, get_settings(portal_url=PORTAL))


def admin() -> dict[str, Any]:
    return {"user_id": str(uuid.uuid4()), "role": "cjp_admin"}


def invite(email: str = "Piet@Theater.example", provider: uuid.UUID = PROVIDER) -> dict[str, Any]:
    return {
        "provider_id": str(provider),
        "provider_name": "Stadstheater",
        "name": "Piet Programmeur",
        "email": email,
    }


async def mails(db: Database) -> list[dict[str, Any]]:
    async with db.read() as session:
        rows = (await session.execute(select(outbox.c.body).order_by(outbox.c.seq))).all()
    return [r.body for r in rows if r.body.get("template") == "provider_access"]


async def test_an_invited_provider_user_sets_a_password_and_logs_in_as_the_provider(
    db: Database,
) -> None:
    reply = await call(db, Ops.PROVIDER_USER_INVITE, invite(), admin())
    assert reply["ok"], reply
    user = reply["result"]
    assert user["email"] == "piet@theater.example" and not user["password_set"]
    [mail] = await mails(db)
    assert mail["to"] == "piet@theater.example"
    assert mail["context"]["provider_name"] == "Stadstheater"
    link = mail["context"]["link"]
    assert link.startswith(f"{PORTAL}/wachtwoord-instellen?token=")
    token = parse_qs(urlsplit(link).query)["token"][0]
    used = await call(db, Ops.PASSWORD_LINK_USE, {"token": token, "password": PASSWORD})
    assert used["ok"], used
    login = await call(db, Ops.LOGIN, {"email": "piet@theater.example", "password": PASSWORD})
    assert login["ok"], login
    session = login["result"]
    assert session["actor"]["role"] == "provider"
    assert session["actor"]["provider_id"] == str(PROVIDER)
    assert session["actor"]["school_id"] is None
    assert session["provider_name"] == "Stadstheater" and session["school_number"] is None
    again = await call(db, Ops.SESSION, {"token": session["token"]})
    assert again["result"]["actor"]["provider_id"] == str(PROVIDER)
    listed = await call(db, Ops.PROVIDER_USER_LIST, {"provider_id": str(PROVIDER)}, admin())
    assert [(u["name"], u["password_set"]) for u in listed["result"]] == [
        ("Piet Programmeur", True)
    ]
    other = await call(db, Ops.PROVIDER_USER_LIST, {"provider_id": str(uuid.uuid4())}, admin())
    assert other["result"] == []


async def test_an_address_invites_once_and_only_cjp_admins_invite(db: Database) -> None:
    assert (await call(db, Ops.PROVIDER_USER_INVITE, invite(), admin()))["ok"]
    taken = await call(db, Ops.PROVIDER_USER_INVITE, invite("piet@theater.EXAMPLE"), admin())
    assert taken["error"]["reason"] == "provider_user_email_taken"
    assert "email" in taken["error"]["field_errors"]
    bad = await call(db, Ops.PROVIDER_USER_INVITE, invite("geen-adres"), admin())
    assert bad["error"]["code"] == "invalid"
    provider_actor = {
        "user_id": str(uuid.uuid4()),
        "role": "provider",
        "provider_id": str(PROVIDER),
    }
    holder = {"user_id": str(uuid.uuid4()), "role": "budgethouder", "school_id": str(uuid.uuid4())}
    for actor in (provider_actor, holder, None):
        refused = await call(db, Ops.PROVIDER_USER_INVITE, invite("x@y.example"), actor)
        assert refused["error"]["code"] in ("forbidden", "unauthenticated"), actor
        listed = await call(db, Ops.PROVIDER_USER_LIST, {"provider_id": str(PROVIDER)}, actor)
        assert listed["error"]["code"] in ("forbidden", "unauthenticated"), actor
    assert len(await mails(db)) == 1
