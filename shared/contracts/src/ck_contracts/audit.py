"""The audit trail (issue 13, capability 6): who decided or moved money, when, in which service.

Every service that owns such an action keeps its own `audit_log` table (ck_runtime.audit) and
writes an entry in the same transaction as the action. Each of them answers the same read
operation, `<service>.audit.list`, declared once here (`audit_list_op`): the gateway asks all of
them at once and merges their pages by time.

An entry names the actor by id and role only ("system" for the schedulers and event handlers),
the subject by type and id, the school and provider by id, and `details` holds non-personal
values (amounts, counts, statuses, numbers): never a name, an e-mail address, a card number or
free text someone typed.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated
from uuid import UUID

from pydantic import BaseModel, Field

from ck_contracts.operations import Audience, Operation
from ck_contracts.roles import Permission, Role

# The role of an entry written by the platform itself: a scheduler, an event handler.
SYSTEM = "system"


class AuditRole(StrEnum):
    """Who acted: a portal role, or the platform itself."""

    BUDGET_HOLDER = Role.BUDGET_HOLDER.value
    DOCENT_PLUS = Role.DOCENT_PLUS.value
    PROVIDER = Role.PROVIDER.value
    CJP_ADMIN = Role.CJP_ADMIN.value
    MEMBER = Role.MEMBER.value
    SYSTEM = SYSTEM


class AuditAction(StrEnum):
    """Every action the trail records; the gateway's catalogue has "audit.<value>" in Dutch."""

    # budget
    BUDGET_ORDER_PLACED = "budget_order.placed"
    BUDGET_ORDER_CHANGED = "budget_order.changed"
    BUDGET_ORDER_CANCELLED = "budget_order.cancelled"
    BUDGET_ORDER_APPROVED = "budget_order.approved"
    BUDGET_ALLOCATED = "budget.allocated"
    # invoicing
    INVOICE_ISSUED = "invoice.issued"
    INVOICE_PAID = "invoice.paid"
    PROVIDER_STATEMENT_PAID = "provider_statement.paid"
    # weborders
    WEBORDER_APPROVED = "weborder.approved"
    WEBORDER_REJECTED = "weborder.rejected"
    WEBORDER_APPROVAL_CANCELLED = "weborder.approval_cancelled"
    WEBORDER_CANCELLED = "weborder.cancelled"  # by the provider, before the school decided
    API_KEY_ISSUED = "api_key.issued"
    API_KEY_REVOKED = "api_key.revoked"
    # accounts
    DOCENT_PLUS_GRANTED = "docent_plus.granted"
    DOCENT_PLUS_REVOKED = "docent_plus.revoked"


# Which service records which action (the admin's filter by service; the gateway asks only the
# services that can hold an action filtered on).
ACTIONS_BY_SERVICE: dict[str, tuple[AuditAction, ...]] = {
    "accounts": (AuditAction.DOCENT_PLUS_GRANTED, AuditAction.DOCENT_PLUS_REVOKED),
    "budget": (
        AuditAction.BUDGET_ORDER_PLACED,
        AuditAction.BUDGET_ORDER_CHANGED,
        AuditAction.BUDGET_ORDER_CANCELLED,
        AuditAction.BUDGET_ORDER_APPROVED,
        AuditAction.BUDGET_ALLOCATED,
    ),
    "invoicing": (
        AuditAction.INVOICE_ISSUED,
        AuditAction.INVOICE_PAID,
        AuditAction.PROVIDER_STATEMENT_PAID,
    ),
    "weborders": (
        AuditAction.WEBORDER_APPROVED,
        AuditAction.WEBORDER_REJECTED,
        AuditAction.WEBORDER_APPROVAL_CANCELLED,
        AuditAction.WEBORDER_CANCELLED,
        AuditAction.API_KEY_ISSUED,
        AuditAction.API_KEY_REVOKED,
    ),
}
AUDITED_SERVICES: tuple[str, ...] = tuple(ACTIONS_BY_SERVICE)

# What a detail may hold: a number, a flag, or a short code-like text (a status, an invoice
# number, a key's prefix). Checked again by ck_runtime.audit.record.
DetailValue = str | int | bool | None
DETAIL_TEXT_MAX = 64
MAX_AUDIT_PAGE = 100


class AuditQuery(BaseModel):
    """One page of a service's entries, newest first. A school's actor must name its own
    school; only a CJP admin may leave school_id empty (every school) or filter on a provider.

    Paging is by keyset: `before_at`/`before_id` are the last entry of the previous page (the
    order is (at, id) descending, the same in every service), so the gateway can merge the
    pages of several services without offsets."""

    school_id: UUID | None = None
    provider_id: UUID | None = None
    action: AuditAction | None = None
    actor_role: AuditRole | None = None
    since: datetime | None = None  # at >= since
    until: datetime | None = None  # at < until
    before_at: datetime | None = None
    before_id: UUID | None = None
    limit: Annotated[int, Field(ge=1, le=MAX_AUDIT_PAGE)] = 50


class AuditEntry(BaseModel):
    id: UUID
    service: str
    at: datetime
    actor_id: UUID | None  # None: the platform itself (actor_role "system")
    actor_role: AuditRole
    action: AuditAction
    subject_type: str
    subject_id: str
    school_id: UUID | None = None
    provider_id: UUID | None = None
    details: dict[str, DetailValue] = Field(default_factory=dict)
    correlation_id: str | None = None


class AuditPage(BaseModel):
    items: list[AuditEntry]
    has_more: bool  # the service holds older entries matching the query


def audit_list_op(service: str) -> Operation[AuditQuery, AuditPage]:
    """`<service>.audit.list`: the same read operation in every service that records actions.
    School-scoped: the router refuses another school's actor before the handler, and the
    handler (ck_runtime.audit) refuses an empty school_id to anyone but a CJP admin."""
    return Operation[AuditQuery, AuditPage](
        service,
        f"{service}.audit.list",
        AuditQuery,
        AuditPage,
        Audience.SCHOOL,
        permission=Permission.VIEW_AUDIT,
        school_scoped=True,
    )
