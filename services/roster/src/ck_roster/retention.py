"""What the roster service deletes once its time is up (ck_runtime.retention, R-AVG-2).

A finished validation or upload job (issue 14) keeps its counts and its result (a red report
names rows, columns and sometimes a cell's value) so that its progress page and the API's job
resource can be opened again for a while; after `job_retention_days` (default 30) the row is
deleted. A finished job's heartbeat (`updated_at`) is the moment it finished (it is written
with the last update), so the rule uses the index on (status, updated_at). Unfinished jobs are
never touched: they end, or are failed as interrupted (ck_roster.jobs), first.

An invitation run (issue 14, ck_roster.runs) holds counts only, but is of no use once its mails
are out: it is deleted `job_retention_days` after its last change (`updated_at`, written with
every count; index ix_invitation_runs_updated), finished or not: a run that has not moved for
that long will not (its mails were sent or given up; an operator's replay much later is not
followed).
"""

from __future__ import annotations

from datetime import timedelta

from ck_contracts.roster import JobStatus
from ck_runtime.retention import RetentionRule, delete_expired

from ck_roster.settings import RosterSettings
from ck_roster.tables import invitation_runs, roster_jobs

FINISHED = (JobStatus.DONE.value, JobStatus.FAILED.value)


def retention_rules(settings: RosterSettings) -> list[RetentionRule]:
    return [
        delete_expired(
            "roster_jobs.finished",
            roster_jobs,
            roster_jobs.c.updated_at,
            lambda: timedelta(days=settings.job_retention_days),
            roster_jobs.c.status.in_(FINISHED),
        ),
        delete_expired(
            "invitation_runs.idle",
            invitation_runs,
            invitation_runs.c.updated_at,
            lambda: timedelta(days=settings.job_retention_days),
        ),
    ]
