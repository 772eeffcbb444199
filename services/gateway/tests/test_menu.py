"""The main menu per role (R-ROLE-1, R-ROLE-2, R-ROLE-4), without I/O."""

from __future__ import annotations

from uuid import uuid4

from ck_contracts.roles import Actor, Role
from ck_gateway.menu import active_item, menu_for, settings_editable

SCHOOL = uuid4()


def labels(actor: Actor | None) -> list[str]:
    return [item.label for item in menu_for(actor)]


def test_budget_holder_sees_the_whole_menu_of_the_manual() -> None:
    actor = Actor(user_id=uuid4(), role=Role.BUDGET_HOLDER, school_id=SCHOOL)
    assert labels(actor) == [
        "Bestellingen",
        "Producten",
        "Aanbod",
        "Beheer studenten",
        "Beheer docenten",
        "Docenten+",
        "Instellingen",
        "Support",
    ]
    assert settings_editable(actor, SCHOOL)


def test_docent_plus_sees_no_products_nor_docenten_plus_and_settings_read_only() -> None:
    actor = Actor(user_id=uuid4(), role=Role.DOCENT_PLUS, school_id=SCHOOL)
    shown = labels(actor)
    assert "Producten" not in shown
    assert "Docenten+" not in shown
    assert "Instellingen" in shown
    assert "Beheer studenten" in shown
    assert "Beheer docenten" not in shown  # R-ROLE-2: "beheer studenten" only
    assert not settings_editable(actor, SCHOOL)


def test_budget_holder_may_not_edit_another_school() -> None:
    actor = Actor(user_id=uuid4(), role=Role.BUDGET_HOLDER, school_id=SCHOOL)
    assert not settings_editable(actor, uuid4())


def test_cjp_admin_sees_the_admin_menu_and_no_school_menu() -> None:
    actor = Actor(user_id=uuid4(), role=Role.CJP_ADMIN)
    assert labels(actor) == [
        "Scholen",
        "School registreren",
        "Aanbieders",
        "Uitbetalingen",
        "Geschiedenis",  # the audit trail (issue 13)
        "Onbestelbare berichten",
        "Support",
    ]
    assert settings_editable(actor, uuid4())  # any school's Instellingen, from Scholen


def test_nobody_logged_in_sees_no_menu() -> None:
    assert menu_for(None) == []


def test_the_page_marks_its_own_menu_item_only() -> None:
    menu = menu_for(Actor(user_id=uuid4(), role=Role.CJP_ADMIN))
    assert active_item(menu, "/beheer/scholen/nieuw") == "/beheer/scholen/nieuw"
    assert active_item(menu, "/beheer/scholen") == "/beheer/scholen"
    assert active_item(menu, "/beheer/scholenlijst") is None
    assert active_item(menu, "/") is None


# --- provider portal (issue 13) ------------------------------------------------------------------
def test_a_provider_user_sees_only_the_provider_menu() -> None:
    actor = Actor(user_id=uuid4(), role=Role.PROVIDER, provider_id=uuid4())
    assert labels(actor) == [
        "Weborders",
        "Aanbod",
        "Aanvragen",
        "Kaartbetalingen",
        "Uitbetalingen",
        "API-sleutels",
        "Support",
    ]
    items = menu_for(actor)
    assert active_item(items, "/aanbieder/aanbod/123") == "/aanbieder/aanbod"
    assert active_item(items, "/aanbieder/weborders/nieuw") == "/aanbieder"
    assert active_item(items, "/aanbieder/uitbetalingen") == "/aanbieder/uitbetalingen"
    # A provider role without a provider (never issued) sees no provider parts.
    assert labels(Actor(user_id=uuid4(), role=Role.PROVIDER)) == ["Support"]


def test_school_users_and_admins_see_no_provider_menu() -> None:
    for actor in (
        Actor(user_id=uuid4(), role=Role.BUDGET_HOLDER, school_id=SCHOOL),
        Actor(user_id=uuid4(), role=Role.DOCENT_PLUS, school_id=SCHOOL),
        Actor(user_id=uuid4(), role=Role.CJP_ADMIN),
    ):
        assert not any(item.path.startswith("/aanbieder") for item in menu_for(actor))
