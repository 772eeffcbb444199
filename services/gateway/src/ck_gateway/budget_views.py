"""What the budget pages (routes/pages_budget_*.py) and the other Bestellingen tabs share:
the user's own school, the tabs of Bestellingen, the order statuses and the notices after an
action, in Dutch."""

from __future__ import annotations

from uuid import UUID

from ck_contracts.accounts import SessionInfo
from ck_contracts.budget import OrderStatus
from ck_contracts.roles import Permission

from ck_gateway import i18n
from ck_gateway.errors import forbidden

STATUS_LABELS = {
    OrderStatus.IN_OBJECTION_PERIOD: "In bezwaartermijn",
    OrderStatus.APPROVED: "Goedgekeurd",
    OrderStatus.CANCELLED: "Geannuleerd",
}
# ?gedaan=<code> after an action: a fixed notice per code (never text from the address).
DONE = ("besteld", "gewijzigd", "geannuleerd", "goedgekeurd", "betaald")


def notice(done: str) -> str:
    return i18n.gettext(f"budget.done.{done}") if done in DONE else ""


def own_school(session: SessionInfo, permission: Permission) -> UUID:
    """The user's own school, when the role holds the permission for it (else 403)."""
    school_id: UUID | None = session.actor.school_id
    if school_id is None or not session.actor.may(permission, school_id):
        raise forbidden()
    return school_id


def order_tabs(session: SessionInfo, school_id: UUID) -> list[tuple[str, str]]:
    """The manual's submenus of Bestellingen (2.1.1): overzicht, weborders, budget,
    schooltoer, exports, and Budget toewijzen for those who may."""
    tabs = [
        ("Overzicht", "/bestellingen/overzicht"),
        ("Weborders", "/bestellingen/weborders"),
        ("Budget", "/bestellingen/budget"),
        ("Schooltoer", "/bestellingen/schooltoer"),
        ("Exports", "/bestellingen/exports"),
    ]
    if session.actor.may(Permission.ASSIGN_BUDGET, school_id):
        tabs.append(("Budget toewijzen", "/bestellingen/toewijzen"))
    return tabs
