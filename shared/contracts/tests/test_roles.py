"""R-ROLE-1..6: what each role may do, and tenant isolation in Actor.may."""

import uuid

import pytest
from ck_contracts.roles import ROLE_PERMISSIONS, Actor, Permission, Role

SCHOOL_A, SCHOOL_B = uuid.uuid4(), uuid.uuid4()


def actor(role: Role, school: uuid.UUID | None = SCHOOL_A) -> Actor:
    return Actor(user_id=uuid.uuid4(), role=role, school_id=school)


def test_budget_holder_may_everything_for_own_school_only() -> None:
    holder = actor(Role.BUDGET_HOLDER)
    for permission in (
        Permission.EDIT_SETTINGS,
        Permission.ORDER_BUDGET,
        Permission.UPLOAD_ROSTER,
        Permission.APPROVE_WEBORDERS,
    ):
        assert holder.may(permission, SCHOOL_A)
        assert not holder.may(permission, SCHOOL_B)


@pytest.mark.parametrize(
    "permission",
    [
        Permission.ORDER_BUDGET,
        Permission.UPLOAD_ROSTER,
        Permission.APPROVE_WEBORDERS,
        Permission.EDIT_SETTINGS,
        Permission.MANAGE_DOCENT_PLUS,
    ],
)
def test_docent_plus_may_not_move_money_or_change_settings(permission: Permission) -> None:
    assert not actor(Role.DOCENT_PLUS).may(permission, SCHOOL_A)


@pytest.mark.parametrize(
    "permission",
    [
        Permission.BROWSE_OFFER,
        Permission.REQUEST_OFFER,
        Permission.VIEW_ROSTER,
        Permission.INVITE_MEMBERS,
    ],
)
def test_docent_plus_may_browse_request_and_invite(permission: Permission) -> None:
    assert actor(Role.DOCENT_PLUS).may(permission, SCHOOL_A)


def test_admin_sees_every_school_but_does_not_order_for_them() -> None:
    admin = actor(Role.CJP_ADMIN, school=None)
    assert admin.may(Permission.VIEW_SCHOOL, SCHOOL_B)
    assert admin.may(Permission.REGISTER_SCHOOL, None)
    assert not admin.may(Permission.ORDER_BUDGET, SCHOOL_A)


def test_a_user_without_a_school_sees_no_school() -> None:
    assert not actor(Role.BUDGET_HOLDER, school=None).may(Permission.VIEW_SCHOOL, SCHOOL_A)
    assert not actor(Role.BUDGET_HOLDER).may(Permission.VIEW_SCHOOL, None)


def test_provider_and_member_have_no_school_rights() -> None:
    for role in (Role.PROVIDER, Role.MEMBER):
        assert Permission.VIEW_SCHOOL not in ROLE_PERMISSIONS[role]


def test_every_role_has_a_permission_set() -> None:
    assert set(ROLE_PERMISSIONS) == set(Role)
