"""Validation and upload as background jobs (issue 14): start one, read how far it got.
The work itself is ck_roster.jobs."""

from __future__ import annotations

import uuid

from ck_contracts.roster import (
    JobAction,
    JobRef,
    JobStart,
    JobStatus,
    Ops,
    RosterJob,
    RosterReason,
)
from ck_contracts.rpc import FieldError
from ck_runtime.errors import Invalid, NotFound
from ck_runtime.known_schools import require_known_school
from ck_runtime.logs import get_logger
from ck_runtime.rpc_server import Call, RpcRouter

from ck_roster import jobs, store
from ck_roster.ops.school import CONFIRM
from ck_roster.settings import (
    DEFAULT_JOB_STALE_SECONDS,
    DEFAULT_JOB_WORKERS,
    DEFAULT_MAX_UPLOAD_BYTES,
)

log = get_logger(__name__)
router = RpcRouter("roster")


def _setting(call: Call, name: str, default: float) -> float:
    return float(getattr(call.deps, name, default))


@router.handles(Ops.JOB_START)
async def start_job(call: Call, start: JobStart) -> RosterJob:
    if start.action == JobAction.UPLOAD and not start.confirmed:
        reason = CONFIRM[start.kind]
        raise Invalid(reason, fields={"confirmed": FieldError(reason=reason)})
    content = jobs.decode(start.content_b64)
    if content is None:
        reason = RosterReason.FILE_NOT_BASE64
        raise Invalid(reason, fields={"content_b64": FieldError(reason=reason)})
    job_id = uuid.uuid4()
    now = call.clock.now()
    async with call.db.transaction() as session:
        await require_known_school(session, start.school_id)
        await store.create_job(session, job_id, start, now)
    jobs.start_job(
        call.db,
        call.clock,
        job_id,
        start,
        content,
        max_bytes=int(_setting(call, "max_upload_bytes", DEFAULT_MAX_UPLOAD_BYTES)),
        workers=int(_setting(call, "job_workers", DEFAULT_JOB_WORKERS)),
    )
    log.info(
        "roster.job_started", job_id=str(job_id), action=start.action.value, bytes=len(content)
    )
    return RosterJob(
        job_id=job_id,
        kind=start.kind,
        action=start.action,
        status=JobStatus.QUEUED,
        filename=start.filename,
        created_at=now,
    )


@router.handles(Ops.JOB_GET)
async def get_job(call: Call, ref: JobRef) -> RosterJob:
    stale = _setting(call, "job_stale_seconds", DEFAULT_JOB_STALE_SECONDS)
    job = await jobs.read_job(call.db, call.clock, ref.school_id, ref.job_id, stale)
    if job is None:
        raise NotFound(RosterReason.JOB_NOT_FOUND)
    return job
