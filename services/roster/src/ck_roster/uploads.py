"""Storing a validated roster (R-ROSTER-4): the one transaction the upload operation and an
upload job share (ck_roster.ops.school.upload, ck_roster.jobs)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from ck_contracts.roster import (
    PEOPLE_PER_EVENT,
    PersonFields,
    PersonRemoved,
    RosterKind,
    RosterPeopleAdded,
    RosterUploaded,
    TeacherRemoved,
    UploadResult,
)
from ck_runtime.db import erases_personal_data
from ck_runtime.logs import get_logger
from ck_runtime.outbox import add_to_outbox
from sqlalchemy.ext.asyncio import AsyncSession

from ck_roster import store
from ck_roster.domain import matching

log = get_logger(__name__)


def teacher_removed(school_id: uuid.UUID, teacher: matching.RemovedTeacher) -> TeacherRemoved:
    """For the weborders service, which erases the teacher's name and address (R-AVG-2)."""
    return TeacherRemoved(
        school_id=school_id,
        person_id=teacher.id,
        voornaam=teacher.voornaam,
        achternaam=teacher.achternaam,
        email=teacher.email,
    )


async def apply_upload(
    session: AsyncSession,
    school_id: uuid.UUID,
    kind: RosterKind,
    rows: Sequence[PersonFields],
    now: datetime,
    progress: store.Progress | None = None,
) -> UploadResult:
    """Replace the roster in the caller's transaction, with its events in the outbox. The
    cyclic garbage collector waits meanwhile (store.gc_paused): the events of 50,000 new
    people are made while the file's people are still alive, and each collection would walk
    them all."""
    with store.gc_paused():
        return await _apply_upload(session, school_id, kind, rows, now, progress)


async def _apply_upload(
    session: AsyncSession,
    school_id: uuid.UUID,
    kind: RosterKind,
    rows: Sequence[PersonFields],
    now: datetime,
    progress: store.Progress | None,
) -> UploadResult:
    upload_id = uuid.uuid4()
    await store.lock_school(session, school_id)
    plan = await store.replace_roster(session, school_id, kind, rows, now, progress)
    outcome = UploadResult(
        upload_id=upload_id,
        added=len(plan.added),
        kept=len(plan.kept),
        removed=len(plan.removed),
        total=len(plan.added) + len(plan.kept),
    )
    removed: list[Any] = [
        PersonRemoved(school_id=school_id, person_id=pid, kind=kind) for pid in plan.removed
    ]
    # The new people's ids, in chunks, for the services that check person ids (R-DOSSIER-1).
    added = [
        RosterPeopleAdded(
            school_id=school_id,
            upload_id=upload_id,
            kind=kind,
            person_ids=plan.added_ids[start : start + PEOPLE_PER_EVENT],
        )
        for start in range(0, len(plan.added_ids), PEOPLE_PER_EVENT)
    ]
    removed += [teacher_removed(school_id, t) for t in plan.removed_teachers]
    uploaded = RosterUploaded(school_id=school_id, kind=kind, **outcome.model_dump())
    # RosterUploaded last: once it is out, so is every removal and addition before it.
    await add_to_outbox(session, *removed, *added, uploaded)
    if plan.removed or plan.changed:
        erases_personal_data(session)  # no old copy of them stays in the files (R-AVG-2)
    log.info(
        "roster.uploaded",
        kind=kind.value,
        added=outcome.added,
        kept=outcome.kept,
        removed=outcome.removed,
        changed=len(plan.changed),
    )
    return outcome
