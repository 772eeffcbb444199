"""The audit trail's page (issue 13): Instellingen > Geschiedenis for a budget holder (its own
school's decisions and money movements), Beheer > Geschiedenis for a CJP admin (every school,
with filters on school, service, action, role and dates). The entries come from every service
that records actions, merged by time (ck_gateway.usecases.audit); the words from the catalogue
(msgids `audit.*`). Entries hold ids only: the page names the actor by role and user id."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import date
from typing import Any
from uuid import UUID

from ck_contracts.audit import (
    ACTIONS_BY_SERVICE,
    AUDITED_SERVICES,
    AuditAction,
    AuditEntry,
    AuditRole,
    DetailValue,
)
from ck_contracts.roles import Permission, Role
from ck_runtime.rpc_client import ServiceUnavailable
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from ck_gateway import i18n
from ck_gateway.auth import PageSession
from ck_gateway.errors import forbidden
from ck_gateway.rendering import render
from ck_gateway.usecases import audit as usecase
from ck_gateway.usecases import schools
from ck_gateway.weborder_views import parse_date

router = APIRouter(include_in_schema=False)

SCHOOL_PATH = "/instellingen/geschiedenis"
ADMIN_PATH = "/beheer/geschiedenis"
# Actions about a provider, not a school: not in a school's filter.
WITHOUT_SCHOOL = frozenset({AuditAction.API_KEY_ISSUED, AuditAction.API_KEY_REVOKED})


@dataclass(frozen=True)
class Row:
    at: Any
    action: str  # the code, for tests and styling
    action_label: str
    service_label: str
    role_label: str
    actor_id: str
    subject_label: str
    subject_id: str
    school_id: str
    school_name: str
    details: list[tuple[str, str]]
    correlation_id: str


def detail_value(key: str, value: DetailValue) -> str:
    """A detail in Dutch: money in euros, flags as ja/nee, dates the Dutch way, reasons from
    the catalogue; anything else as it is (codes and numbers)."""
    if isinstance(value, bool):
        return i18n.gettext("audit.yes") if value else i18n.gettext("audit.no")
    if key.endswith("_cents") and isinstance(value, int):
        return i18n.euro(value)
    if key.endswith("_on") and isinstance(value, str):
        with contextlib.suppress(ValueError):
            return i18n.dutch_date(date.fromisoformat(value))
    if key == "reason" and isinstance(value, str) and i18n.has(f"audit.detail.reason.{value}"):
        return i18n.gettext(f"audit.detail.reason.{value}")
    return "-" if value is None else str(value)


def label(msgid: str, fallback: str) -> str:
    return i18n.gettext(msgid) if i18n.has(msgid) else fallback


def row_of(entry: AuditEntry, school_names: dict[UUID, str]) -> Row:
    return Row(
        at=entry.at,
        action=entry.action.value,
        action_label=label(f"audit.{entry.action.value}", entry.action.value),
        service_label=label(f"audit.service.{entry.service}", entry.service),
        role_label=label(f"audit.role.{entry.actor_role.value}", entry.actor_role.value),
        actor_id=str(entry.actor_id) if entry.actor_id else "",
        subject_label=label(f"audit.subject.{entry.subject_type}", entry.subject_type),
        subject_id=entry.subject_id,
        school_id=str(entry.school_id) if entry.school_id else "",
        school_name=school_names.get(entry.school_id, "") if entry.school_id else "",
        details=[
            (label(f"audit.detail.{key}", key), detail_value(key, value))
            for key, value in entry.details.items()
        ],
        correlation_id=entry.correlation_id or "",
    )


def _choice(raw: str | None, options: list[str]) -> str | None:
    return raw if raw in options else None


def parse_filters(
    params: Any, *, admin: bool, school_id: UUID | None
) -> tuple[usecase.HistoryFilter, dict[str, str], dict[str, str]]:
    """(filter, values as typed, errors per field). Choices that are not on offer are ignored
    (a hand-edited address); a date that is no date is refused with a Dutch message, keeping
    what was typed."""
    values = {name: str(params.get(name, "")).strip()[:100] for name in ("van", "tot")}
    errors: dict[str, str] = {}
    days: dict[str, date | None] = {}
    for name in ("van", "tot"):
        days[name] = parse_date(values[name]) if values[name] else None
        if values[name] and days[name] is None:
            errors[name] = i18n.gettext("audit.field.date")
    if days["van"] and days["tot"] and days["tot"] < days["van"]:
        errors["tot"] = i18n.gettext("audit.field.range")
    action = _choice(params.get("actie"), [a.value for a in AuditAction])
    role = _choice(params.get("rol"), [r.value for r in AuditRole])
    service = _choice(params.get("dienst"), list(AUDITED_SERVICES)) if admin else None
    if admin:
        with contextlib.suppress(ValueError, TypeError):
            school_id = UUID(str(params.get("school", ""))) if params.get("school") else None
    values.update(
        actie=action or "",
        rol=role or "",
        dienst=service or "",
        school=str(school_id) if admin and school_id else "",
    )
    filters = usecase.HistoryFilter(
        school_id=school_id,
        service=service,
        action=AuditAction(action) if action else None,
        actor_role=AuditRole(role) if role else None,
        since=None if errors else days["van"],
        until=None if errors else days["tot"],
        after=usecase.Cursor.parse(params.get("na")),
    )
    return filters, values, errors


async def _page(
    request: Request, session: PageSession, *, admin: bool, school_id: UUID | None
) -> Response:
    filters, values, errors = parse_filters(request.query_params, admin=admin, school_id=school_id)
    found = await usecase.history(request, session.actor, filters)
    school_names: dict[UUID, str] = {}
    school_options: list[tuple[str, str]] = []
    if admin:
        with contextlib.suppress(ServiceUnavailable):
            listed = await schools.list_schools(request, session)
            school_names = {s.school_id: s.name for s in listed}
            school_options = sorted(
                ((str(s.school_id), s.name) for s in listed), key=lambda o: o[1]
            )
    actions = [
        (a.value, label(f"audit.{a.value}", a.value))
        for owned in ACTIONS_BY_SERVICE.values()
        for a in owned
        if admin or a not in WITHOUT_SCHOOL
    ]
    query = {k: v for k, v in values.items() if v and k not in errors}
    return render(
        request,
        "audit_history.html",
        {
            "title": "Geschiedenis",
            "admin": admin,
            "action_path": ADMIN_PATH if admin else SCHOOL_PATH,
            "rows": [row_of(e, school_names) for e in found.items],
            "next_query": {**query, "na": found.next_cursor.text()} if found.next_cursor else None,
            "first_query": query,
            "paged": filters.after is not None,
            "unavailable": [label(f"audit.service.{s}", s) for s in found.unavailable],
            "values": values,
            "errors": errors,
            "actions": actions,
            "roles": [(r.value, label(f"audit.role.{r.value}", r.value)) for r in AuditRole],
            "services": [(s, label(f"audit.service.{s}", s)) for s in AUDITED_SERVICES],
            "school_options": school_options,
        },
        status_code=422 if errors else 200,
    )


@router.get(SCHOOL_PATH, response_class=HTMLResponse)
async def school_history(request: Request, session: PageSession) -> Response:
    """A budget holder's own school; a CJP admin has no school of its own and goes to Beheer."""
    actor = session.actor
    if actor.role is Role.CJP_ADMIN:
        return RedirectResponse(ADMIN_PATH, status_code=303)
    if actor.school_id is None or not actor.may(Permission.VIEW_AUDIT, actor.school_id):
        raise forbidden()
    return await _page(request, session, admin=False, school_id=actor.school_id)


@router.get(ADMIN_PATH, response_class=HTMLResponse)
async def admin_history(request: Request, session: PageSession) -> Response:
    if not session.actor.may(Permission.VIEW_AUDIT, None):
        raise forbidden()
    return await _page(request, session, admin=True, school_id=None)
