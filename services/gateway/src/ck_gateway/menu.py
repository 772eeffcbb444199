"""The main menu of the manual (2.1), filtered by what the user's role may do."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from ck_contracts.roles import Actor, Permission, Role


@dataclass(frozen=True)
class MenuItem:
    label: str
    path: str
    permission: Permission | None  # None: everyone who is logged in
    for_school: bool = True  # only for users of one school (not for CJP admins)
    not_for: frozenset[Role] = frozenset()  # roles that hold the permission but not this part
    for_provider: bool = False  # only for provider users (issue 13: /aanbieder)


SCHOOL_MENU: tuple[MenuItem, ...] = (
    MenuItem("Bestellingen", "/bestellingen", Permission.VIEW_SCHOOL),
    MenuItem("Producten", "/producten", Permission.ORDER_BUDGET),
    MenuItem("Aanbod", "/aanbod", Permission.BROWSE_OFFER),  # R-WEB-3
    MenuItem("Beheer studenten", "/beheer-studenten", Permission.VIEW_ROSTER),
    # R-ROLE-2: a Docent+ sees and invites in "beheer studenten" only.
    MenuItem(
        "Beheer docenten",
        "/beheer-docenten",
        Permission.VIEW_ROSTER,
        not_for=frozenset({Role.DOCENT_PLUS}),
    ),
    MenuItem("Docenten+", "/docenten-plus", Permission.MANAGE_DOCENT_PLUS),
    MenuItem("Instellingen", "/instellingen", Permission.VIEW_SCHOOL),
)
ADMIN_MENU: tuple[MenuItem, ...] = (
    MenuItem("Scholen", "/beheer/scholen", Permission.REGISTER_SCHOOL, for_school=False),
    MenuItem(
        "School registreren", "/beheer/scholen/nieuw", Permission.REGISTER_SCHOOL, for_school=False
    ),
    MenuItem("Aanbieders", "/beheer/aanbieders", Permission.REGISTER_PROVIDER, for_school=False),
    # payouts to providers (issue 13, capability 4)
    MenuItem("Uitbetalingen", "/beheer/uitbetalingen", Permission.RECORD_PAYMENT, for_school=False),
    # --- audit trail (issue 13) ---
    # A budget holder holds VIEW_AUDIT too: its school's history is under Instellingen.
    MenuItem(
        "Geschiedenis",
        "/beheer/geschiedenis",
        Permission.VIEW_AUDIT,
        for_school=False,
        not_for=frozenset({Role.BUDGET_HOLDER}),
    ),
    MenuItem(
        "Onbestelbare berichten",
        "/beheer/onbestelbare-berichten",
        Permission.VIEW_OPERATIONS,
        for_school=False,
    ),
)
# --- provider portal (issue 13): provider users only; add a part here and guard its routes
# with auth.ProviderSession.
PROVIDER_MENU: tuple[MenuItem, ...] = (
    MenuItem("Weborders", "/aanbieder", None, for_school=False, for_provider=True),
    MenuItem("Aanbod", "/aanbieder/aanbod", None, for_school=False, for_provider=True),
    MenuItem("Aanvragen", "/aanbieder/aanvragen", None, for_school=False, for_provider=True),
    MenuItem(
        "Kaartbetalingen", "/aanbieder/kaartbetalingen", None, for_school=False, for_provider=True
    ),
    # payouts (issue 13, capability 4): the provider's reimbursement statements
    MenuItem(
        "Uitbetalingen", "/aanbieder/uitbetalingen", None, for_school=False, for_provider=True
    ),
    MenuItem("API-sleutels", "/aanbieder/api-sleutels", None, for_school=False, for_provider=True),
)
SUPPORT = MenuItem("Support", "/support", None, for_school=False)


def may_open(actor: Actor, item: MenuItem) -> bool:
    if actor.role in item.not_for:
        return False
    if item.for_provider:
        return actor.role is Role.PROVIDER and actor.provider_id is not None
    if item.permission is None:
        return True
    if item.for_school:
        # A CJP admin holds VIEW_SCHOOL for every school but has no school of their own.
        return actor.school_id is not None and actor.may(item.permission, actor.school_id)
    return actor.has(item.permission)


def menu_for(actor: Actor | None) -> list[MenuItem]:
    """Items the actor may use, in the manual's order; hidden rather than shown disabled."""
    if actor is None:
        return []
    items = (*ADMIN_MENU, *SCHOOL_MENU, *PROVIDER_MENU, SUPPORT)
    return [item for item in items if may_open(actor, item)]


def active_item(items: list[MenuItem], path: str) -> str | None:
    """The item the page belongs to: the longest menu path that the page's path starts with."""
    matches = [i.path for i in items if path == i.path or path.startswith(i.path + "/")]
    return max(matches, key=len, default=None)


def settings_editable(actor: Actor, school_id: UUID) -> bool:
    """Docent+ sees Instellingen read-only (R-ROLE-2)."""
    return actor.may(Permission.EDIT_SETTINGS, school_id)
