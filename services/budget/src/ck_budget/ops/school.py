"""What a school does with its budget: the order form and its price, placing, changing and
cancelling orders (R-BUDGET-2..4), the ledger (R-BUDGET-7/8) and Budget toewijzen
(R-BUDGET-6). Thin: load, apply the domain's rules, save (store), answer.

The router checks the actor against the request's school before every school-scoped
operation (R-ROLE-6); orders are only found through the school they belong to.
"""

from __future__ import annotations

import uuid

from ck_contracts.audit import AuditAction
from ck_contracts.budget import (
    Allocate,
    AllocationResult,
    AllocationsQuery,
    BudgetReason,
    ChangeOrder,
    Ledger,
    LedgerEntry,
    Ops,
    Order,
    OrderCounts,
    OrderForm,
    OrderList,
    OrderRef,
    PlaceOrder,
    Quote,
    SchoolRef,
    StudentBudget,
    StudentBudgets,
)
from ck_contracts.roles import Permission
from ck_runtime import audit
from ck_runtime.errors import Forbidden, NotFound
from ck_runtime.logs import get_logger
from ck_runtime.rpc_server import Call, RpcRouter
from sqlalchemy.ext.asyncio import AsyncSession

from ck_budget import domain, store
from ck_budget.settings import BudgetSettings

log = get_logger(__name__)
router = RpcRouter("budget")


def settings_of(call: Call) -> BudgetSettings:
    assert isinstance(call.deps, BudgetSettings), "the budget service runs with its settings"
    return call.deps


async def _school_number(session: AsyncSession, school_id: uuid.UUID) -> int:
    school = await store.known_school(session, school_id)
    if school is None:
        raise NotFound(BudgetReason.UNKNOWN_SCHOOL)
    return int(school.school_number)


def _order_details(counts: PlaceOrder | ChangeOrder, total_cents: int) -> dict[str, int]:
    """What the audit trail keeps of an order: its counts and total (not the reference,
    which is free text)."""
    return {
        "collective_students": counts.collective_students,
        "individual_students": counts.individual_students,
        "total_cents": total_cents,
    }


# --- ordering (R-BUDGET-2..4) --------------------------------------------------------------------
@router.handles(Ops.ORDER_FORM)
async def order_form(call: Call, request: SchoolRef) -> OrderForm:
    async with call.db.read() as session:
        school = await store.known_school(session, request.school_id)
        if school is None:
            raise NotFound(BudgetReason.UNKNOWN_SCHOOL)
        first = await store.first_order(session, request.school_id)
    return OrderForm(
        school_number=school.school_number,
        duo_student_count=school.duo_student_count,
        # Budget knows no default reference (SchoolSettingsChanged does not carry it): the
        # gateway fills it from the school's settings.
        default_reference="",
        rates=settings_of(call).rates(),
        first_order=first,
    )


@router.handles(Ops.QUOTE)
async def quote(call: Call, counts: OrderCounts) -> Quote:
    return domain.quote(counts, settings_of(call).rates())


@router.handles(Ops.ORDER_PLACE)
async def place_order(call: Call, request: PlaceOrder) -> Order:
    domain.require_counts(request)
    settings = settings_of(call)
    now = call.clock.now()
    rates = settings.rates()
    domain.require_spending_open(now, rates.spending_ends_on)
    priced = domain.quote(request, rates)
    order_id = uuid.uuid4()
    async with call.db.transaction() as session:
        number = await _school_number(session, request.school_id)
        row = await store.add_order(
            session,
            {
                "id": order_id,
                "school_id": request.school_id,
                "school_number": number,
                "status": store.OPEN,
                "reference": request.reference.strip(),
                "collective_students": request.collective_students,
                "individual_students": request.individual_students,
                "placed_at": now,
                "objection_ends_at": domain.objection_period_end(
                    now, settings.objection_working_days
                ),
                "updated_at": now,
                **store.quote_values(priced),
            },
        )
        await audit.record(
            session,
            call.require_actor(),
            AuditAction.BUDGET_ORDER_PLACED,
            "budget_order",
            order_id,
            school_id=request.school_id,
            details=_order_details(request, priced.invoice_total_cents),
            at=now,
        )
    log.info("order.placed", order_id=str(order_id), total_cents=priced.invoice_total_cents)
    return store.order_from_row(row)


@router.handles(Ops.ORDER_CHANGE)
async def change_order(call: Call, request: ChangeOrder) -> Order:
    """Change the counts or the reference during the objection period. The period keeps
    running from the moment of placing; the order is priced again with today's rates."""
    domain.require_counts(request)
    now = call.clock.now()
    priced = domain.quote(request, settings_of(call).rates())
    async with call.db.transaction() as session:
        row = await store.load_order(session, request.school_id, request.order_id)
        if row is None:
            raise NotFound(BudgetReason.UNKNOWN_ORDER)
        if not await store.change_open_order(session, row.id, request, priced, now):
            raise domain.change_refused(row.status, row.objection_ends_at)
        row = await store.order_row(session, row.id)
        await audit.record(
            session,
            call.require_actor(),
            AuditAction.BUDGET_ORDER_CHANGED,
            "budget_order",
            row.id,
            school_id=request.school_id,
            details=_order_details(request, priced.invoice_total_cents),
            at=now,
        )
    log.info("order.changed", order_id=str(row.id))
    return store.order_from_row(row)


@router.handles(Ops.ORDER_CANCEL)
async def cancel_order(call: Call, request: OrderRef) -> Order:
    """The school during the objection period; a CJP admin too (R-BUDGET-3, R-ROLE-4): either
    permission will do, so the tenant check is here rather than in the router."""
    actor = call.require_actor()
    school = request.school_id
    is_admin = actor.may(Permission.DECIDE_BUDGET_ORDER, school)
    if not (is_admin or actor.may(Permission.ORDER_BUDGET, school)):
        raise Forbidden()
    now = call.clock.now()
    async with call.db.transaction() as session:
        row = await store.load_order(session, school, request.order_id)
        if row is None:
            raise NotFound(BudgetReason.UNKNOWN_ORDER)
        decided_by = actor.user_id if is_admin else None
        if not await store.cancel_open_order(session, row.id, now, decided_by):
            raise domain.change_refused(row.status, row.objection_ends_at, cancel=True)
        row = await store.order_row(session, row.id)
        await audit.record(
            session,
            actor,
            AuditAction.BUDGET_ORDER_CANCELLED,
            "budget_order",
            row.id,
            school_id=school,
            details={"total_cents": row.total_cents},
            at=now,
        )
    log.info("order.cancelled", order_id=str(row.id), by_admin=is_admin)
    return store.order_from_row(row)


@router.handles(Ops.ORDER_LIST)
async def list_orders(call: Call, request: SchoolRef) -> OrderList:
    async with call.db.read() as session:
        return OrderList(items=await store.orders_of(session, request.school_id))


# --- the balance (R-BUDGET-7/8) ------------------------------------------------------------------
# Card payments (R-WEB-6) spend students' individual budget, which left the school's pool when
# it was assigned: they are not entries of this ledger (the collective balance), and neither
# the balance nor the assignable pool changes by them. The export and the dossier get them
# from CardPaymentMade.
@router.handles(Ops.ALLOCATIONS)
async def student_budgets(call: Call, query: AllocationsQuery) -> StudentBudgets:
    """Issue 14: assigned, spent and left per student, with the totals of those listed."""
    async with call.db.read() as session:
        rows = await store.allocations_of(session, query.school_id, query.person_ids)
    items = [
        StudentBudget(
            person_id=person_id,
            allocated_cents=allocated,
            spent_cents=spent,
            left_cents=allocated - spent,
        )
        for person_id, allocated, spent in rows
    ]
    return StudentBudgets(
        items=items,
        allocated_cents=sum(i.allocated_cents for i in items),
        spent_cents=sum(i.spent_cents for i in items),
        left_cents=sum(i.left_cents for i in items),
    )


@router.handles(Ops.LEDGER)
async def ledger(call: Call, request: SchoolRef) -> Ledger:
    ends_on = settings_of(call).ends_on
    async with call.db.read() as session:
        balance = await store.balance_of(session, request.school_id)
        entries = await store.ledger_of(session, request.school_id)
    balance_cents = balance.balance_cents if balance else 0
    assignable = balance.assignable_cents if balance else 0
    return Ledger(
        entries=[
            LedgerEntry(
                at=e.at,
                description=e.description,
                amount_cents=e.amount_cents,
                balance_cents=e.balance_cents,
            )
            for e in entries
        ],
        balance_cents=balance_cents,
        assignable_individual_cents=assignable,
        expired_cents=domain.expired_cents(call.clock.now(), ends_on, balance_cents, assignable),
        spending_ends_on=ends_on,
    )


# --- Budget toewijzen (R-BUDGET-6) ---------------------------------------------------------------
@router.handles(Ops.ALLOCATE)
async def allocate(call: Call, request: Allocate) -> AllocationResult:
    """The same amount to each chosen student with an active membership; all or nothing, never
    beyond what is assignable."""
    now = call.clock.now()
    ends_on = settings_of(call).ends_on
    domain.require_spending_open(now, ends_on)
    ids = list(dict.fromkeys(request.person_ids))  # a student chosen twice gets it once
    async with call.db.transaction() as session:
        await _school_number(session, request.school_id)
        # The balance row first: a removal of one of these students (which takes the same lock
        # before it looks for an allocation to return) runs wholly before or after this.
        balance = await store.lock_balance(session, request.school_id, now)
        active = await store.active_students(session, request.school_id, ids)
        domain.require_all_active(len(ids), len(active))
        assignable = domain.allocate(
            balance.assignable_cents, len(ids), request.amount_cents_each, now, ends_on
        )
        await store.add_allocations(session, request.school_id, ids, request.amount_cents_each, now)
        await store.save_balance(session, request.school_id, now, assignable_cents=assignable)
        total = len(ids) * request.amount_cents_each
        # Counts and amounts only: the students are not named (their ids would outlive them).
        await audit.record(
            session,
            call.require_actor(),
            AuditAction.BUDGET_ALLOCATED,
            "school",
            request.school_id,
            school_id=request.school_id,
            details={
                "students": len(ids),
                "amount_cents_each": request.amount_cents_each,
                "total_cents": total,
            },
            at=now,
        )
    log.info("budget.allocated", students=len(ids), cents=total)
    return AllocationResult(
        allocated_students=len(ids),
        allocated_cents=total,
        assignable_individual_cents=assignable,
    )
