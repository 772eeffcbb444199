"""The accounts operations against real databases (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any

import pytest
from argon2 import PasswordHasher
from ck_accounts import domain
from ck_accounts.admins import ensure_admin
from ck_accounts.ops import router
from ck_accounts.passwords import HASHER
from ck_accounts.settings import get_settings
from ck_accounts.tables import login_throttle, outbox, password_links, users
from ck_contracts.accounts import Ops
from ck_contracts.operations import Operation, operations_of
from ck_contracts.rpc import RpcRequest
from ck_runtime.clock import Clock
from ck_runtime.db import Database
from ck_runtime.migrations import upgrade_async
from ck_testkit import clocks
from sqlalchemy import select, update

ADMIN_PASSWORD = "beheerder wachtwoord 1"
NEW_PASSWORD = "mijn nieuwe wachtwoord"
SCHOOL = {
    "settings": {
        "name": "Nova College",
        "brin_codes": ["25lg"],
        "locations": ["Haarlem"],
        "duo_student_count": 1001,
        "contacts": [{"name": "Jan", "role": "Budgethouder", "email": "jan@nova.nl"}],
    },
    "budget_holder": {"name": "Jan Jansen", "email": "Jan@Nova.nl"},
}


@pytest.fixture
async def db(database_url: str):  # type: ignore[no-untyped-def]
    await upgrade_async("accounts", database_url)
    database = Database(database_url)
    yield database
    await database.dispose()


async def call(
    db: Database,
    op: Operation[Any, Any],
    payload: dict[str, Any],
    actor: dict[str, Any] | None = None,
    clock: Clock | None = None,
) -> dict[str, Any]:
    settings = get_settings(portal_url="https://scholen.example")
    request = RpcRequest(op=op.name, actor=actor, payload=payload)
    return await router.dispatch(request, db, settings, clock)


async def admin_actor(db: Database) -> dict[str, Any]:
    await ensure_admin(db, "admin@cjp.nl", "Admin", ADMIN_PASSWORD)
    reply = await call(db, Ops.LOGIN, {"email": "admin@cjp.nl", "password": ADMIN_PASSWORD})
    assert reply["ok"], reply
    return reply["result"]["actor"]


async def register(db: Database, school: dict[str, Any] | None = None) -> dict[str, Any]:
    reply = await call(db, Ops.SCHOOL_REGISTER, school or SCHOOL, await admin_actor(db))
    assert reply["ok"], reply
    return reply["result"]


async def welcome_link_token(db: Database) -> str:
    async with db.read() as session:
        rows = (await session.execute(select(outbox.c.body).order_by(outbox.c.seq))).all()
    mails = [r.body for r in rows if r.body["type"] == "notifier.email.requested"]
    return mails[-1]["context"]["link"].split("token=")[1]


async def test_register_school_writes_events_and_welcome_mail(db: Database) -> None:
    result = await register(db)
    assert result["school_number"] == domain.FIRST_SCHOOL_NUMBER
    async with db.read() as session:
        bodies = [r.body for r in (await session.execute(select(outbox.c.body))).all()]
    registered = [b for b in bodies if b["type"] == "accounts.school.registered"]
    mails = [b for b in bodies if b["type"] == "notifier.email.requested"]
    assert len(registered) == 1 and len(mails) == 1
    assert "jan" not in str(registered[0]).lower()  # no personal data in the broadcast event
    assert mails[0]["to"] == "jan@nova.nl"
    assert mails[0]["context"]["school_name"] == "Nova College"
    assert mails[0]["context"]["link"].startswith(
        "https://scholen.example/wachtwoord-instellen?token="
    )


async def test_second_school_gets_next_number_and_same_email_is_refused(db: Database) -> None:
    await register(db)
    other = {**SCHOOL, "budget_holder": {"name": "Piet", "email": "piet@nova.nl"}}
    assert (await register(db, other))["school_number"] == domain.FIRST_SCHOOL_NUMBER + 1
    reply = await call(db, Ops.SCHOOL_REGISTER, SCHOOL, await admin_actor(db))
    assert reply["error"]["code"] == "conflict"
    assert reply["error"]["reason"] == "account_exists"
    assert reply["error"]["field_errors"]["budget_holder.email"]["reason"] == "email_in_use"


async def test_invalid_school_data_gets_field_messages(db: Database) -> None:
    bad = {
        "settings": {**SCHOOL["settings"], "brin_codes": ["XYZ"], "duo_student_count": -1},
        "budget_holder": {"name": "", "email": "x"},
    }
    reply = await call(db, Ops.SCHOOL_REGISTER, bad, await admin_actor(db))
    assert reply["error"]["code"] == "invalid"
    assert set(reply["error"]["field_errors"]) >= {
        "settings.duo_student_count",
        "budget_holder.name",
    }


async def test_password_link_works_once_then_login(db: Database) -> None:
    await register(db)
    token = await welcome_link_token(db)
    check = await call(db, Ops.PASSWORD_LINK_CHECK, {"token": token})
    assert check["result"] == {"email": "jan@nova.nl", "user_name": "Jan Jansen"}
    too_short = await call(db, Ops.PASSWORD_LINK_USE, {"token": token, "password": "kort"})
    assert too_short["error"]["code"] == "invalid"  # the link is not used up by bad input
    assert too_short["error"]["field_errors"]["password"] == {
        "reason": "password_too_short",
        "params": {"min_length": domain.MIN_PASSWORD_LENGTH},
    }
    ok = await call(db, Ops.PASSWORD_LINK_USE, {"token": token, "password": NEW_PASSWORD})
    assert ok["ok"]
    again = await call(db, Ops.PASSWORD_LINK_USE, {"token": token, "password": "x" + NEW_PASSWORD})
    assert again["error"]["code"] == "conflict"
    assert again["error"]["reason"] == "password_link_unusable"
    assert (await call(db, Ops.PASSWORD_LINK_CHECK, {"token": token}))["error"]["code"] == (
        "conflict"
    )
    login = await call(db, Ops.LOGIN, {"email": "JAN@nova.nl ", "password": NEW_PASSWORD})
    assert login["ok"]
    assert login["result"]["school_number"] == domain.FIRST_SCHOOL_NUMBER
    assert login["result"]["actor"]["role"] == "budgethouder"
    session = await call(db, Ops.SESSION, {"token": login["result"]["token"]})
    assert session["result"]["school_name"] == "Nova College"
    await call(db, Ops.LOGOUT, {"token": login["result"]["token"]})
    assert (await call(db, Ops.SESSION, {"token": login["result"]["token"]}))["error"][
        "code"
    ] == "unauthenticated"


async def test_unknown_user_and_wrong_password_look_the_same(db: Database) -> None:
    await ensure_admin(db, "admin@cjp.nl", "Admin", ADMIN_PASSWORD)
    wrong = await call(db, Ops.LOGIN, {"email": "admin@cjp.nl", "password": "fout fout fout"})
    unknown = await call(db, Ops.LOGIN, {"email": "nobody@cjp.nl", "password": "fout fout fout"})
    assert wrong["error"] == unknown["error"]
    assert wrong["error"]["code"] == "unauthenticated"
    assert wrong["error"]["reason"] == "wrong_login"


async def test_locked_account_is_refused_even_with_the_right_password(db: Database) -> None:
    await ensure_admin(db, "admin@cjp.nl", "Admin", ADMIN_PASSWORD)
    for _ in range(domain.FREE_ATTEMPTS + 1):
        await call(db, Ops.LOGIN, {"email": "admin@cjp.nl", "password": "verkeerd wachtwoord"})
    reply = await call(db, Ops.LOGIN, {"email": "admin@cjp.nl", "password": ADMIN_PASSWORD})
    assert reply["error"]["code"] == "throttled"
    assert reply["error"]["reason"] == "login_throttled"
    assert reply["error"]["retry_after_seconds"] > 0
    assert reply["error"]["params"] == {"seconds": reply["error"]["retry_after_seconds"]}
    assert reply["error"]["message"] == ""  # a code, no prose
    # unknown accounts are throttled the same way (no hint that they do not exist)
    for _ in range(domain.FREE_ATTEMPTS + 1):
        await call(db, Ops.LOGIN, {"email": "ghost@cjp.nl", "password": "verkeerd wachtwoord"})
    ghost = await call(db, Ops.LOGIN, {"email": "ghost@cjp.nl", "password": "x"})
    assert ghost["error"]["code"] == "throttled"


async def test_successful_login_clears_the_account_count_not_the_address_count(
    db: Database,
) -> None:
    await ensure_admin(db, "admin@cjp.nl", "Admin", ADMIN_PASSWORD)
    await login(db, "admin@cjp.nl", "verkeerd wachtwoord", client="office")
    assert await throttle_counts(db) == {"account:admin@cjp.nl": 1, "address:office": 1}
    assert (await login(db, "admin@cjp.nl", ADMIN_PASSWORD, client="office"))["ok"]
    # Logging in to one's own account does not wipe what the address tried elsewhere.
    assert await throttle_counts(db) == {"address:office": 1}
    await login(db, "admin@cjp.nl", "verkeerd wachtwoord")  # no client: the account only
    assert (await login(db, "admin@cjp.nl", ADMIN_PASSWORD))["ok"]
    assert await throttle_counts(db) == {"address:office": 1}


async def test_tenant_isolation_in_the_service(db: Database) -> None:
    school_a = await register(db)
    school_b = await register(db, {**SCHOOL, "budget_holder": {"name": "B", "email": "b@b.nl"}})
    holder_a = {
        "user_id": str(uuid.uuid4()),
        "role": "budgethouder",
        "school_id": school_a["school_id"],
    }
    own = await call(db, Ops.SCHOOL_GET, {"school_id": school_a["school_id"]}, holder_a)
    assert own["ok"]
    for op, payload in [
        (Ops.SCHOOL_GET, {"school_id": school_b["school_id"]}),
        (Ops.SCHOOL_UPDATE, {"school_id": school_b["school_id"], "settings": SCHOOL["settings"]}),
        (Ops.SCHOOL_LIST, {}),
        (Ops.SCHOOL_REGISTER, SCHOOL),
    ]:
        reply = await call(db, op, payload, holder_a)
        assert reply["error"]["code"] == "forbidden", op


def school_scoped_requests(school_id: str) -> dict[str, dict[str, Any]]:
    """A minimal valid request for each school-scoped operation, about this school."""
    person = str(uuid.uuid4())
    return {
        Ops.SCHOOL_GET.name: {"school_id": school_id},
        Ops.SCHOOL_UPDATE.name: {"school_id": school_id, "settings": SCHOOL["settings"]},
        Ops.DOCENT_PLUS_LIST.name: {"school_id": school_id},
        Ops.DOCENT_PLUS_GRANT.name: {
            "school_id": school_id,
            "person_id": person,
            "name": "Dirk Docent",
            "email": "dirk@nova.nl",
        },
        Ops.DOCENT_PLUS_REVOKE.name: {"school_id": school_id, "person_id": person},
        Ops.AUDIT_LIST.name: {"school_id": school_id},  # the audit trail (issue 13)
    }


async def test_every_school_scoped_op_refuses_another_schools_actor(db: Database) -> None:
    """R-ROLE-6, structurally: for every operation declared school-scoped, the budget holder
    of school B (who holds every school permission at B) is refused a request about school A,
    while A's own budget holder gets past the check."""
    school_a = await register(db)
    school_b = await register(db, {**SCHOOL, "budget_holder": {"name": "B", "email": "b@b.nl"}})
    scoped = [op for op in operations_of(Ops) if op.school_scoped]
    requests = school_scoped_requests(school_a["school_id"])
    assert sorted(op.name for op in scoped) == sorted(requests)  # a new op needs a request here
    for who, school in (("b", school_b), ("a", school_a)):
        actor = {
            "user_id": str(uuid.uuid4()),
            "role": "budgethouder",
            "school_id": school["school_id"],
        }
        for op in scoped:
            reply = await call(db, op, requests[op.name], actor)
            refused = not reply["ok"] and reply["error"]["code"] == "forbidden"
            assert refused is (who == "b"), (who, op.name, reply)


async def test_docent_plus_may_read_but_not_change_settings(db: Database) -> None:
    school = await register(db)
    docent = {"user_id": str(uuid.uuid4()), "role": "docent_plus", "school_id": school["school_id"]}
    assert (await call(db, Ops.SCHOOL_GET, {"school_id": school["school_id"]}, docent))["ok"]
    update = {"school_id": school["school_id"], "settings": SCHOOL["settings"]}
    assert (await call(db, Ops.SCHOOL_UPDATE, update, docent))["error"]["code"] == "forbidden"


async def test_update_settings_emits_figures_not_contacts(db: Database) -> None:
    school = await register(db)
    holder = {
        "user_id": str(uuid.uuid4()),
        "role": "budgethouder",
        "school_id": school["school_id"],
    }
    settings = {**SCHOOL["settings"], "duo_student_count": 1200, "brin_codes": ["25LG", "30AB"]}
    reply = await call(
        db, Ops.SCHOOL_UPDATE, {"school_id": school["school_id"], "settings": settings}, holder
    )
    assert reply["result"]["duo_student_count"] == 1200
    assert reply["result"]["brin_codes"] == ["25LG", "30AB"]
    async with db.read() as session:
        bodies = [r.body for r in (await session.execute(select(outbox.c.body))).all()]
    changed = [b for b in bodies if b["type"] == "accounts.school.settings_changed"]
    assert changed[0]["duo_student_count"] == 1200
    assert "contacts" not in changed[0]


async def test_passwords_are_argon2id_with_owasp_parameters(db: Database) -> None:
    await ensure_admin(db, "admin@cjp.nl", "Admin", ADMIN_PASSWORD)
    async with db.read() as session:
        stored = (await session.execute(select(users.c.password_hash))).scalar_one()
    assert stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$")


async def test_expired_link_is_refused(db: Database) -> None:
    await register(db)
    token = await welcome_link_token(db)
    from ck_contracts.messaging import utcnow
    from sqlalchemy import update

    async with db.transaction() as session:
        await session.execute(update(password_links).values(expires_at=utcnow()))
    reply = await call(db, Ops.PASSWORD_LINK_USE, {"token": token, "password": NEW_PASSWORD})
    assert reply["error"]["code"] == "conflict"


# --- the log-in throttle: race-free, per account and per client address -------------------------
async def login(
    db: Database, email: str, password: str, client: str | None = None, clock: Clock | None = None
) -> dict[str, Any]:
    payload = {"email": email, "password": password, "client": client}
    return await call(db, Ops.LOGIN, payload, clock=clock)


async def throttle_counts(db: Database) -> dict[str, int]:
    async with db.read() as session:
        rows = (await session.execute(select(login_throttle))).all()
    return {r.bucket: r.failures for r in rows}


async def test_simultaneous_first_failures_are_all_counted_and_never_a_500(db: Database) -> None:
    """The old read-then-insert let simultaneous first failures collide on the primary key
    (a 500); one upsert per failure counts every one of them."""
    await ensure_admin(db, "admin@cjp.nl", "Admin", ADMIN_PASSWORD)
    replies = await asyncio.gather(
        *(login(db, "admin@cjp.nl", f"verkeerd wachtwoord {i}", client="office") for i in range(20))
    )
    assert {r["error"]["code"] for r in replies} == {"unauthenticated"}
    assert await throttle_counts(db) == {"account:admin@cjp.nl": 20, "address:office": 20}
    # The account is locked now (20 > 5 free failures), for the right password too.
    locked = await login(db, "admin@cjp.nl", ADMIN_PASSWORD, client="elsewhere")
    assert locked["error"]["code"] == "throttled"
    # Simultaneous first failures of an unknown account: the same.
    replies = await asyncio.gather(
        *(login(db, "Ghost@cjp.nl", "verkeerd wachtwoord", client=f"c{i}") for i in range(20))
    )
    assert {r["error"]["code"] for r in replies} == {"unauthenticated"}
    assert (await throttle_counts(db))["account:ghost@cjp.nl"] == 20


async def test_one_address_trying_many_accounts_is_locked(db: Database) -> None:
    """Password spraying: one failure per account stays under every account's free failures,
    the address's count stops it; other addresses are not held up, and the lock ends."""
    await ensure_admin(db, "admin@cjp.nl", "Admin", ADMIN_PASSWORD)
    clock = clocks.manual(clocks.now())
    for i in range(domain.ADDRESS_FREE_ATTEMPTS):
        reply = await login(db, f"user{i}@school.nl", "zomer2026!", client="sprayer", clock=clock)
        assert reply["error"]["code"] == "unauthenticated", i
        clock.advance(timedelta(seconds=1))
    assert (await login(db, "admin@cjp.nl", ADMIN_PASSWORD, "sprayer", clock))["ok"]
    # One more failure: the address is locked for FIRST_LOCK, whichever account it tries.
    await login(db, "user99@school.nl", "zomer2026!", client="sprayer", clock=clock)
    locked = await login(db, "admin@cjp.nl", ADMIN_PASSWORD, "sprayer", clock)
    assert locked["error"]["code"] == "throttled"
    assert locked["error"]["retry_after_seconds"] == domain.FIRST_LOCK.seconds + 1
    assert (await login(db, "admin@cjp.nl", ADMIN_PASSWORD, "colleague", clock))["ok"]
    counts = await throttle_counts(db)
    assert counts["address:sprayer"] == domain.ADDRESS_FREE_ATTEMPTS + 1
    assert max(v for k, v in counts.items() if k.startswith("account:")) == 1
    clock.advance(domain.FIRST_LOCK)
    assert (await login(db, "admin@cjp.nl", ADMIN_PASSWORD, "sprayer", clock))["ok"]


async def test_locks_grow_and_the_window_starts_again(db: Database) -> None:
    """The single upsert does what domain.after_failure says: free failures, then locks of
    30 s, 60 s, ... counted from the last failure; after the window a new count."""
    clock = clocks.manual(clocks.now())
    start = clock.now()
    for _ in range(domain.FREE_ATTEMPTS + 1):
        await login(db, "ghost@cjp.nl", "fout fout fout", client="home", clock=clock)
    first = await login(db, "ghost@cjp.nl", "fout", clock=clock)
    assert first["error"]["retry_after_seconds"] == 31
    assert first["error"]["params"] == {"seconds": 31}
    clock.advance(domain.FIRST_LOCK)
    assert (await login(db, "ghost@cjp.nl", "fout", clock=clock))["error"]["code"] == (
        "unauthenticated"
    )
    second = await login(db, "ghost@cjp.nl", "fout", clock=clock)
    assert second["error"]["retry_after_seconds"] == 61
    clock.set(start + domain.FAILURE_WINDOW + timedelta(minutes=1))
    assert (await login(db, "ghost@cjp.nl", "fout", clock=clock))["error"]["code"] == (
        "unauthenticated"
    )
    async with db.read() as session:
        row = (
            await session.execute(
                select(login_throttle).where(login_throttle.c.bucket == "account:ghost@cjp.nl")
            )
        ).one()
    assert row.failures == 1 and row.first_failure_at == clock.now()


async def test_an_older_hash_is_replaced_at_log_in(db: Database) -> None:
    """argon2's check_needs_rehash: a hash made with weaker parameters (an older default) is
    replaced by one with today's at the next successful log-in; the password still works."""
    await ensure_admin(db, "admin@cjp.nl", "Admin", ADMIN_PASSWORD)
    weak = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1).hash(ADMIN_PASSWORD)
    async with db.transaction() as session:
        await session.execute(update(users).values(password_hash=weak))
    assert (await login(db, "admin@cjp.nl", ADMIN_PASSWORD))["ok"]
    async with db.read() as session:
        stored = (await session.execute(select(users.c.password_hash))).scalar_one()
    assert stored != weak and stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert not HASHER.check_needs_rehash(stored)
    assert (await login(db, "admin@cjp.nl", ADMIN_PASSWORD))["ok"]
    async with db.read() as session:
        assert (await session.execute(select(users.c.password_hash))).scalar_one() == stored
    assert (await login(db, "admin@cjp.nl", "verkeerd wachtwoord"))["error"]["code"] == (
        "unauthenticated"
    )


# --- issue 14: the postal address (R-SCHOOL-1, printed on invoices) ----------------------------
async def test_the_postal_address_is_stored_normalised_and_announced(db: Database) -> None:
    school = await register(db)
    holder = {
        "user_id": str(uuid.uuid4()),
        "role": "budgethouder",
        "school_id": school["school_id"],
    }
    settings = {
        **SCHOOL["settings"],
        "street": " Kerkstraat 12a ",
        "postcode": "2011ab",
        "city": "Haarlem",
    }
    reply = await call(
        db, Ops.SCHOOL_UPDATE, {"school_id": school["school_id"], "settings": settings}, holder
    )
    assert reply["ok"], reply
    assert (reply["result"]["street"], reply["result"]["postcode"]) == ("Kerkstraat 12a", "2011 AB")
    got = await call(db, Ops.SCHOOL_GET, {"school_id": school["school_id"]}, holder)
    assert (got["result"]["postcode"], got["result"]["city"]) == ("2011 AB", "Haarlem")
    async with db.read() as session:
        bodies = [r.body for r in (await session.execute(select(outbox.c.body))).all()]
    registered = [b for b in bodies if b["type"] == "accounts.school.registered"]
    changed = [b for b in bodies if b["type"] == "accounts.school.settings_changed"]
    assert registered[0]["postcode"] == ""  # registered without an address
    assert (changed[0]["street"], changed[0]["postcode"], changed[0]["city"]) == (
        "Kerkstraat 12a",
        "2011 AB",
        "Haarlem",
    )


@pytest.mark.parametrize("postcode", ["123 AB", "0123 AB", "1234 A", "1234-AB", "ABCD 12"])
async def test_a_postcode_not_in_the_dutch_format_is_refused(db: Database, postcode: str) -> None:
    school = await register(db)
    holder = {
        "user_id": str(uuid.uuid4()),
        "role": "budgethouder",
        "school_id": school["school_id"],
    }
    settings = {**SCHOOL["settings"], "postcode": postcode}
    reply = await call(
        db, Ops.SCHOOL_UPDATE, {"school_id": school["school_id"], "settings": settings}, holder
    )
    assert not reply["ok"]
    assert reply["error"]["field_errors"]["settings.postcode"]["reason"] == "field.postcode"


async def test_the_check_reports_every_format_problem_and_stores_nothing(db: Database) -> None:
    """Issue 14: the forms ask before they show their errors, so one round says it all."""
    school = await register(db)
    holder = {
        "user_id": str(uuid.uuid4()),
        "role": "budgethouder",
        "school_id": school["school_id"],
    }
    query = {
        "brin_codes": ["25LG", "XYZ", "12ab"],
        "contact_emails": ["", "geen-adres", "jan@nova.nl"],
        "budget_holder_email": "ook-geen",
    }
    reply = await call(db, Ops.CHECK_SCHOOL_INPUT, query, holder)
    assert reply["ok"], reply
    fields = reply["result"]["fields"]
    assert set(fields) == {"brin_codes.1", "contacts.1.email", "budget_holder.email"}, fields
    assert fields["brin_codes.1"] == {"reason": "brin_invalid", "params": {"brin": "XYZ"}}
    assert fields["contacts.1.email"]["reason"] == "contact_email_invalid"
    clean = await call(db, Ops.CHECK_SCHOOL_INPUT, {"brin_codes": ["25LG"]}, holder)
    assert clean["result"]["fields"] == {}
    anonymous = await call(db, Ops.CHECK_SCHOOL_INPUT, query)
    assert anonymous["error"]["code"] == "unauthenticated"
