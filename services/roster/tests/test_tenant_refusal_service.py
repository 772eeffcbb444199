"""Every school-scoped roster operation refuses an actor of another school (R-ROLE-6): the
router checks the request's school before the handler runs, so nothing of school A is read,
written or announced for a budget holder of school B."""

from __future__ import annotations

import base64
import uuid
from typing import Any

import pytest
from ck_contracts.operations import operations_of
from ck_contracts.roster import Ops
from ck_contracts.rpc import RpcRequest
from ck_roster import jobs
from ck_roster.app import get_settings
from ck_roster.ops import router
from ck_roster.tables import known_schools, outbox, people
from ck_runtime.db import Database
from ck_runtime.migrations import upgrade_async
from ck_testkit import clocks
from ck_testkit.rosters import student_rows, student_xlsx
from sqlalchemy import func, select

SCHOOL_A = uuid.uuid4()
SCHOOL_B = uuid.uuid4()
FILE = base64.b64encode(student_xlsx(student_rows(2, seed=1))).decode()
PERSON = {"voornaam": "Anna", "achternaam": "Bos", "locatienaam": "Zwolle", "studiejaar": 2,
          "opleiding": "Zorg"}  # fmt: skip

# A valid request for school A of every school-scoped operation.
REQUESTS: dict[str, dict[str, Any]] = {
    Ops.VALIDATE.name: {"kind": "students", "filename": "l.xlsx", "content_b64": FILE},
    Ops.UPLOAD.name: {
        "kind": "students",
        "filename": "l.xlsx",
        "content_b64": FILE,
        "confirmed": True,
    },
    Ops.ADD_PERSON.name: {"kind": "students", "fields": PERSON},
    Ops.REMOVE_PERSON.name: {"person_id": str(uuid.uuid4())},
    Ops.LIST.name: {"kind": "students"},
    Ops.INVITE.name: {"kind": "students", "selection": {"all": True}, "school_name": "A"},
    Ops.EXPORT.name: {"kind": "students"},
    Ops.PERSON_GET.name: {"person_id": str(uuid.uuid4())},
    Ops.JOB_START.name: {
        "kind": "students",
        "filename": "l.xlsx",
        "content_b64": FILE,
        "action": "validate",
    },
    Ops.JOB_GET.name: {"job_id": str(uuid.uuid4())},
    Ops.INVITATION_RUN_GET.name: {"run_id": str(uuid.uuid4())},
    Ops.CHECK_PERSON.name: {"kind": "students", "fields": {"voornaam": "Anna"}},
}
SCOPED = sorted(op.name for op in operations_of(Ops) if op.school_scoped)


@pytest.fixture
async def db(database_url: str):  # type: ignore[no-untyped-def]
    await upgrade_async("roster", database_url)
    database = Database(database_url)
    async with database.transaction() as session:
        for number, school in ((10289, SCHOOL_A), (10290, SCHOOL_B)):
            await session.execute(
                known_schools.insert().values(
                    school_id=school, school_number=number, updated_at=clocks.now()
                )
            )
    yield database
    await jobs.stop_jobs(database)  # a job the insider's request started ends with its test
    await database.dispose()


def test_every_school_scoped_operation_has_a_request_here() -> None:
    assert sorted(REQUESTS) == SCOPED


@pytest.mark.parametrize("name", SCOPED)
async def test_another_schools_actor_is_refused(db: Database, name: str) -> None:
    payload = {"school_id": str(SCHOOL_A), **REQUESTS[name]}
    outsider = {"user_id": str(uuid.uuid4()), "role": "budgethouder", "school_id": str(SCHOOL_B)}
    insider = {**outsider, "school_id": str(SCHOOL_A)}
    settings = get_settings()
    refused = await router.dispatch(
        RpcRequest(op=name, actor=outsider, payload=payload), db, settings
    )
    assert refused["error"]["code"] == "forbidden", refused
    assert refused["error"]["reason"] == "forbidden"
    async with db.read() as session:
        assert (await session.execute(select(func.count()).select_from(people))).scalar() == 0
        assert (await session.execute(select(func.count()).select_from(outbox))).scalar() == 0
    # The same request by the school's own budget holder is not refused (the test means it).
    own = await router.dispatch(RpcRequest(op=name, actor=insider, payload=payload), db, settings)
    assert own["ok"] or own["error"]["code"] != "forbidden", own
