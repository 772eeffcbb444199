"""Roles (R-ROLE-1..6) and what each may do.

The gateway checks these before it sends a command; each service checks them again against
the school id the command is about (defence in depth: a bug in one layer does not leak data).
"""

from __future__ import annotations

from enum import StrEnum
from uuid import UUID

from pydantic import BaseModel, ConfigDict


class Role(StrEnum):
    BUDGET_HOLDER = "budgethouder"  # R-ROLE-1
    DOCENT_PLUS = "docent_plus"  # R-ROLE-2
    PROVIDER = "provider"  # R-ROLE-3
    CJP_ADMIN = "cjp_admin"  # R-ROLE-4
    MEMBER = "member"  # R-ROLE-5: activates anonymously, never logs in to the portal


class Permission(StrEnum):
    VIEW_SCHOOL = "view_school"
    EDIT_SETTINGS = "edit_settings"
    ORDER_BUDGET = "order_budget"
    UPLOAD_ROSTER = "upload_roster"
    VIEW_ROSTER = "view_roster"
    INVITE_MEMBERS = "invite_members"
    APPROVE_WEBORDERS = "approve_weborders"
    BROWSE_OFFER = "browse_offer"
    REQUEST_OFFER = "request_offer"
    MANAGE_DOCENT_PLUS = "manage_docent_plus"
    ASSIGN_BUDGET = "assign_budget"
    # CJP platform only
    REGISTER_SCHOOL = "register_school"
    REGISTER_PROVIDER = "register_provider"
    RECORD_PAYMENT = "record_payment"
    DECIDE_BUDGET_ORDER = "decide_budget_order"
    END_MEMBERSHIP = "end_membership"
    VIEW_OPERATIONS = "view_operations"  # the platform's own state: dead letters
    # providers
    CREATE_WEBORDER = "create_weborder"
    PUBLISH_OFFER = "publish_offer"
    CHARGE_CARD = "charge_card"
    # the Cultuurkaart-dossier (R-DOSSIER-1): teachers follow their students
    VIEW_DOSSIER = "view_dossier"
    WRITE_DOSSIER_NOTE = "write_dossier_note"
    # payouts to providers (issue 13): a provider reads its own reimbursement statements
    VIEW_PAYOUTS = "view_payouts"
    # members (public activation page)
    ACTIVATE_MEMBERSHIP = "activate_membership"
    # --- audit trail (issue 13, capability 6) ---
    VIEW_AUDIT = "view_audit"  # the action history: a budget holder its school's, CJP all
    # --- provider portal (issue 13) ---
    MANAGE_API_KEYS = "manage_api_keys"  # a provider user's own API keys (portal session only)


_SCHOOL_STAFF = {
    Permission.VIEW_SCHOOL,
    Permission.VIEW_ROSTER,
    Permission.INVITE_MEMBERS,
    Permission.BROWSE_OFFER,
    Permission.REQUEST_OFFER,
    Permission.VIEW_DOSSIER,
    Permission.WRITE_DOSSIER_NOTE,
}

ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.BUDGET_HOLDER: frozenset(
        _SCHOOL_STAFF
        | {
            Permission.EDIT_SETTINGS,
            Permission.ORDER_BUDGET,
            Permission.UPLOAD_ROSTER,
            Permission.APPROVE_WEBORDERS,
            Permission.MANAGE_DOCENT_PLUS,
            Permission.ASSIGN_BUDGET,
            Permission.VIEW_AUDIT,  # audit trail (issue 13)
        }
    ),
    # R-ROLE-2: browse, request, see and invite students; nothing that moves money or settings.
    Role.DOCENT_PLUS: frozenset(_SCHOOL_STAFF),
    Role.PROVIDER: frozenset(
        {
            Permission.CREATE_WEBORDER,
            Permission.PUBLISH_OFFER,
            Permission.CHARGE_CARD,
            Permission.MANAGE_API_KEYS,  # provider portal (issue 13)
        }
        # payouts (issue 13, capability 4)
        | {Permission.VIEW_PAYOUTS}
    ),
    Role.CJP_ADMIN: frozenset(
        {
            Permission.VIEW_SCHOOL,
            Permission.EDIT_SETTINGS,
            Permission.VIEW_ROSTER,
            Permission.REGISTER_SCHOOL,
            Permission.REGISTER_PROVIDER,
            Permission.RECORD_PAYMENT,
            Permission.DECIDE_BUDGET_ORDER,
            Permission.END_MEMBERSHIP,
            Permission.VIEW_OPERATIONS,
            Permission.VIEW_AUDIT,  # audit trail (issue 13)
        }
    ),
    Role.MEMBER: frozenset({Permission.ACTIVATE_MEMBERSHIP}),
}

# R-ROLE-6: these roles see every school; all others only their own.
CROSS_TENANT_ROLES = frozenset({Role.CJP_ADMIN})


class Actor(BaseModel):
    """Who is asking. Travels with every command and query the gateway sends."""

    model_config = ConfigDict(frozen=True)

    user_id: UUID
    role: Role
    school_id: UUID | None = None
    provider_id: UUID | None = None

    def has(self, permission: Permission) -> bool:
        return permission in ROLE_PERMISSIONS[self.role]

    def may(self, permission: Permission, school_id: UUID | None) -> bool:
        """True when the actor holds the permission for this school (R-ROLE-6)."""
        if not self.has(permission):
            return False
        if self.role in CROSS_TENANT_ROLES:
            return True
        return school_id is not None and self.school_id == school_id
