"""Commands and queries of the budget service (thin: check, load, apply domain, save + outbox).

Every operation about a school checks the actor's permission for that very school id
(`Call.require`, R-ROLE-6); orders are only found through the school they belong to.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from ck_contracts.budget import (
    Allocate,
    AllocationResult,
    CardCharge,
    CardCharged,
    CardPaymentMade,
    ChangeOrder,
    Ledger,
    LedgerEntry,
    Ops,
    Order,
    OrderCounts,
    OrderForm,
    OrderList,
    OrderRef,
    OrderStatus,
    PlaceOrder,
    Quote,
    SchoolRef,
)
from ck_contracts.roles import Permission
from ck_runtime.errors import Conflict, Forbidden, Invalid, NotFound
from ck_runtime.known_schools import KNOWN_SCHOOLS, require_known_school
from ck_runtime.logs import get_logger
from ck_runtime.outbox import add_to_outbox
from ck_runtime.rpc_server import FORBIDDEN_MESSAGE, Call, RpcRouter
from ck_runtime.tables import UtcDateTime
from sqlalchemy import Row, Uuid, any_, bindparam, select, text, update
from sqlalchemy.dialects import postgresql

from ck_budget import domain, store
from ck_budget.deps import BudgetDeps
from ck_budget.tables import (
    allocations,
    balances,
    card_payments,
    ledger_entries,
    orders,
    student_memberships,
)

log = get_logger(__name__)
router = RpcRouter()

OPEN = OrderStatus.IN_OBJECTION_PERIOD.value
NO_COUNTS = "Vul bij minstens één van beide aantallen een aantal studenten in."
UNKNOWN_ORDER = "Deze bestelling bestaat niet."
UNKNOWN_SCHOOL = "Deze school is (nog) niet bekend."  # as require_known_school says it
CHUNK = 5_000  # ids per IN (...) list: below both databases' parameter limits


def _deps(call: Call) -> BudgetDeps:
    assert isinstance(call.deps, BudgetDeps), "the budget service runs with BudgetDeps"
    return call.deps


def _require_counts(counts: OrderCounts) -> None:
    if counts.collective_students == 0 and counts.individual_students == 0:
        raise Invalid(
            NO_COUNTS,
            fields={"collective_students": NO_COUNTS, "individual_students": NO_COUNTS},
        )


def _refusal(row: Row[Any], now: datetime, action: str) -> Conflict:
    """Why an order can no longer be changed or cancelled (R-BUDGET-3)."""
    if row.status == OrderStatus.CANCELLED.value:
        return Conflict("Deze bestelling is geannuleerd.")
    if row.status == OrderStatus.APPROVED.value:
        return Conflict(f"Deze bestelling is al goedgekeurd en kan niet meer worden {action}.")
    last_day = domain.dutch_date(domain.last_day_of_period(row.objection_ends_at))
    return Conflict(
        f"De bezwaartermijn van deze bestelling liep tot en met {last_day}. De bestelling wordt "
        f"goedgekeurd en kan niet meer worden {action}."
    )


async def _first_order(session: Any, school_id: uuid.UUID) -> bool:
    """No order of the school that still counts: a cancelled first order leaves the school at
    the first order form; after any other the form is "Bijbestellen" (R-BUDGET-4)."""
    found = (
        await session.execute(
            select(orders.c.id)
            .where(
                orders.c.school_id == school_id,
                orders.c.status != OrderStatus.CANCELLED.value,
            )
            .limit(1)
        )
    ).first()
    return found is None


# --- ordering (R-BUDGET-2..4) --------------------------------------------------------------------
@router.op(Ops.ORDER_FORM, SchoolRef, permission=Permission.ORDER_BUDGET)
async def order_form(call: Call, request: SchoolRef) -> OrderForm:
    call.require(Permission.ORDER_BUDGET, request.school_id)
    deps = _deps(call)
    async with call.db.read() as session:
        school = (
            await session.execute(
                select(KNOWN_SCHOOLS.c.school_number, KNOWN_SCHOOLS.c.duo_student_count).where(
                    KNOWN_SCHOOLS.c.school_id == request.school_id
                )
            )
        ).first()
        if school is None:
            raise NotFound(UNKNOWN_SCHOOL)
        first = await _first_order(session, request.school_id)
    return OrderForm(
        school_number=school.school_number,
        duo_student_count=school.duo_student_count,
        # Budget knows no default reference (SchoolSettingsChanged does not carry it): the
        # gateway fills it from the school's settings.
        default_reference="",
        rates=deps.settings.rates(),
        first_order=first,
    )


@router.op(Ops.QUOTE, OrderCounts, permission=Permission.ORDER_BUDGET)
async def quote(call: Call, counts: OrderCounts) -> Quote:
    return domain.quote(counts, _deps(call).settings.rates())


@router.op(Ops.ORDER_PLACE, PlaceOrder, permission=Permission.ORDER_BUDGET)
async def place_order(call: Call, request: PlaceOrder) -> Order:
    call.require(Permission.ORDER_BUDGET, request.school_id)
    _require_counts(request)
    deps = _deps(call)
    now = deps.clock.now()
    rates = deps.settings.rates()
    domain.require_spending_open(now, rates.spending_ends_on)
    priced = domain.quote(request, rates)
    order_id = uuid.uuid4()
    async with call.db.transaction() as session:
        number = await require_known_school(session, request.school_id)
        await session.execute(
            orders.insert().values(
                id=order_id,
                school_id=request.school_id,
                school_number=number,
                status=OPEN,
                reference=request.reference.strip(),
                collective_students=request.collective_students,
                individual_students=request.individual_students,
                placed_at=now,
                objection_ends_at=domain.objection_period_end(
                    now, deps.settings.objection_working_days
                ),
                updated_at=now,
                **store.quote_values(priced),
            )
        )
        row = (await session.execute(select(orders).where(orders.c.id == order_id))).one()
    log.info("order.placed", order_id=str(order_id), total_cents=priced.invoice_total_cents)
    return store.order_from_row(row)


@router.op(Ops.ORDER_CHANGE, ChangeOrder, permission=Permission.ORDER_BUDGET)
async def change_order(call: Call, request: ChangeOrder) -> Order:
    """Change the counts or the reference during the objection period. The period keeps
    running from the moment of placing; the order is priced again with today's rates."""
    call.require(Permission.ORDER_BUDGET, request.school_id)
    _require_counts(request)
    deps = _deps(call)
    now = deps.clock.now()
    priced = domain.quote(request, deps.settings.rates())
    async with call.db.transaction() as session:
        row = await store.load_order(session, request.school_id, request.order_id)
        if row is None:
            raise NotFound(UNKNOWN_ORDER)
        changed = await session.execute(
            update(orders)
            .where(
                orders.c.id == request.order_id,
                orders.c.status == OPEN,
                orders.c.objection_ends_at > now,
            )
            .values(
                reference=request.reference.strip(),
                collective_students=request.collective_students,
                individual_students=request.individual_students,
                updated_at=now,
                **store.quote_values(priced),
            )
        )
        if changed.rowcount != 1:  # type: ignore[attr-defined]
            raise _refusal(row, now, "gewijzigd")
        row = (await session.execute(select(orders).where(orders.c.id == row.id))).one()
    log.info("order.changed", order_id=str(row.id))
    return store.order_from_row(row)


@router.op(Ops.ORDER_CANCEL, OrderRef)
async def cancel_order(call: Call, request: OrderRef) -> Order:
    """The school during the objection period; a CJP admin too (R-BUDGET-3, R-ROLE-4)."""
    actor = call.require_actor()
    school = request.school_id
    is_admin = actor.may(Permission.DECIDE_BUDGET_ORDER, school)
    if not (is_admin or actor.may(Permission.ORDER_BUDGET, school)):
        raise Forbidden(FORBIDDEN_MESSAGE)
    now = _deps(call).clock.now()
    async with call.db.transaction() as session:
        row = await store.load_order(session, school, request.order_id)
        if row is None:
            raise NotFound(UNKNOWN_ORDER)
        cancelled = await session.execute(
            update(orders)
            .where(
                orders.c.id == request.order_id,
                orders.c.status == OPEN,
                orders.c.objection_ends_at > now,
            )
            .values(
                status=OrderStatus.CANCELLED.value,
                decided_at=now,
                decided_by=actor.user_id if is_admin else None,
                updated_at=now,
            )
        )
        if cancelled.rowcount != 1:  # type: ignore[attr-defined]
            raise _refusal(row, now, "geannuleerd")
        row = (await session.execute(select(orders).where(orders.c.id == row.id))).one()
    log.info("order.cancelled", order_id=str(row.id), by_admin=is_admin)
    return store.order_from_row(row)


@router.op(Ops.ORDER_APPROVE, OrderRef, permission=Permission.DECIDE_BUDGET_ORDER)
async def approve_order(call: Call, request: OrderRef) -> Order:
    """A CJP admin approves before the period ends (R-BUDGET-3); the same conditional update
    as the scheduler's, so an order is approved (and invoiced) once."""
    actor = call.require(Permission.DECIDE_BUDGET_ORDER, request.school_id)
    now = _deps(call).clock.now()
    async with call.db.transaction() as session:
        row = await store.load_order(session, request.school_id, request.order_id)
        if row is None:
            raise NotFound(UNKNOWN_ORDER)
        if not await store.approve(
            session, row.id, now, decided_by=actor.user_id, only_when_due=False
        ):
            if row.status == OrderStatus.CANCELLED.value:
                raise Conflict("Deze bestelling is geannuleerd en kan niet worden goedgekeurd.")
            raise Conflict("Deze bestelling is al goedgekeurd.")
        row = (await session.execute(select(orders).where(orders.c.id == row.id))).one()
    log.info("order.approved", order_id=str(row.id), by_admin=True)
    return store.order_from_row(row)


@router.op(Ops.ORDER_LIST, SchoolRef, permission=Permission.VIEW_SCHOOL)
async def list_orders(call: Call, request: SchoolRef) -> OrderList:
    call.require(Permission.VIEW_SCHOOL, request.school_id)
    async with call.db.read() as session:
        rows = (
            await session.execute(
                select(orders)
                .where(orders.c.school_id == request.school_id)
                .order_by(orders.c.placed_at.desc(), orders.c.id)
            )
        ).all()
    return OrderList(items=[store.order_from_row(r) for r in rows])


# --- the balance (R-BUDGET-7/8) ------------------------------------------------------------------
# Card payments (R-WEB-6) spend students' individual budget, which left the school's pool when
# it was assigned: they are not entries of this ledger (the collective balance), and neither
# the balance nor the assignable pool changes by them. The export and the dossier get them
# from CardPaymentMade.
@router.op(Ops.LEDGER, SchoolRef, permission=Permission.VIEW_SCHOOL)
async def ledger(call: Call, request: SchoolRef) -> Ledger:
    call.require(Permission.VIEW_SCHOOL, request.school_id)
    deps = _deps(call)
    ends_on = deps.settings.ends_on
    async with call.db.read() as session:
        balance = (
            await session.execute(select(balances).where(balances.c.school_id == request.school_id))
        ).first()
        entries = (
            await session.execute(
                select(ledger_entries)
                .where(ledger_entries.c.school_id == request.school_id)
                .order_by(ledger_entries.c.seq)
            )
        ).all()
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
        expired_cents=domain.expired_cents(deps.clock.now(), ends_on, balance_cents, assignable),
        spending_ends_on=ends_on,
    )


# --- Budget toewijzen (R-BUDGET-6) ---------------------------------------------------------------
async def _active_students(session: Any, school_id: uuid.UUID, ids: list[uuid.UUID]) -> set[Any]:
    """Which of these people are students of the school with an active membership."""
    query = select(student_memberships.c.person_id).where(
        student_memberships.c.school_id == school_id,
        student_memberships.c.active.is_(True),
        student_memberships.c.removed.is_(False),
    )
    if store.is_postgresql(session):  # one array parameter: 50,000 ids in one round trip
        ids_param = bindparam("ids", ids, type_=postgresql.ARRAY(Uuid))
        return set(
            (
                await session.execute(
                    query.where(student_memberships.c.person_id == any_(ids_param))
                )
            ).scalars()
        )
    found: set[Any] = set()
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        found.update(
            (
                await session.execute(query.where(student_memberships.c.person_id.in_(chunk)))
            ).scalars()
        )
    return found


async def _add_allocations(
    session: Any, school_id: uuid.UUID, ids: list[uuid.UUID], each: int, now: datetime
) -> None:
    """Add `each` to every student's allocation (created when missing)."""
    if store.is_postgresql(session):  # INSERT ... SELECT unnest(array): one statement
        await session.execute(
            text(
                "INSERT INTO allocations (person_id, school_id, allocated_cents, spent_cents, "
                "updated_at) SELECT pid, :school, :each, 0, :now FROM unnest(:ids) AS pid "
                "ON CONFLICT (person_id) DO UPDATE SET allocated_cents = "
                "allocations.allocated_cents + excluded.allocated_cents, "
                "updated_at = excluded.updated_at"
            ).bindparams(
                bindparam("ids", ids, type_=postgresql.ARRAY(Uuid)),
                bindparam("school", school_id, type_=Uuid),
                bindparam("each", each),
                bindparam("now", now, type_=UtcDateTime(timezone=True)),
            )
        )
        return
    upsert = store.insert(session, allocations).values(
        person_id=bindparam("pid"),
        school_id=school_id,
        allocated_cents=each,
        spent_cents=0,
        updated_at=now,
    )
    upsert = upsert.on_conflict_do_update(
        index_elements=["person_id"],
        set_={
            "allocated_cents": allocations.c.allocated_cents + upsert.excluded.allocated_cents,
            "updated_at": upsert.excluded.updated_at,
        },
    )
    await session.execute(upsert, [{"pid": pid} for pid in ids])


@router.op(Ops.ALLOCATE, Allocate, permission=Permission.ASSIGN_BUDGET)
async def allocate(call: Call, request: Allocate) -> AllocationResult:
    """The same amount to each chosen student with an active membership; all or nothing, never
    beyond what is assignable."""
    call.require(Permission.ASSIGN_BUDGET, request.school_id)
    deps = _deps(call)
    now = deps.clock.now()
    ends_on = deps.settings.ends_on
    domain.require_spending_open(now, ends_on)
    ids = list(dict.fromkeys(request.person_ids))  # a student chosen twice gets it once
    async with call.db.transaction() as session:
        await require_known_school(session, request.school_id)
        # The balance row first: a removal of one of these students (which takes the same lock
        # before it looks for an allocation to return) runs wholly before or after this.
        balance = await store.lock_balance(session, request.school_id, now)
        active = await _active_students(session, request.school_id, ids)
        inactive = len(ids) - len(active)
        if inactive:
            message = (
                f"{inactive} van de {len(ids)} gekozen studenten "
                f"{'heeft' if inactive == 1 else 'hebben'} geen actief lidmaatschap. Budget "
                "toewijzen kan alleen aan studenten met een actief lidmaatschap. Er is niets "
                "toegewezen."
            )
            raise Invalid(message, fields={"person_ids": message})
        assignable = domain.allocate(
            balance.assignable_cents, len(ids), request.amount_cents_each, now, ends_on
        )
        await _add_allocations(session, request.school_id, ids, request.amount_cents_each, now)
        await store.save_balance(session, request.school_id, now, assignable_cents=assignable)
    total = len(ids) * request.amount_cents_each
    log.info("budget.allocated", students=len(ids), cents=total)
    return AllocationResult(
        allocated_students=len(ids),
        allocated_cents=total,
        assignable_individual_cents=assignable,
    )


# --- card payments (R-WEB-6) ---------------------------------------------------------------------
UNKNOWN_CARD = "Deze CJP-kaart is onbekend."
CARD_NOT_ACTIVE = "Deze CJP-kaart hoort niet bij een actief lidmaatschap. Er is niets afgeschreven."
REFERENCE_REUSED = (
    "Deze betalingsreferentie is al gebruikt voor een andere betaling. Er is niets afgeschreven."
)


async def _earlier_charge(
    session: Any, provider_id: uuid.UUID, request: CardCharge
) -> CardCharged | None:
    """The answer to a retried charge: the first one's (the same payment), or a Conflict when
    the reference was used for another amount."""
    row = (
        await session.execute(
            select(card_payments).where(
                card_payments.c.provider_id == provider_id,
                card_payments.c.provider_reference == request.provider_reference,
            )
        )
    ).first()
    if row is None:
        return None
    holders = set(
        (
            await session.execute(
                select(student_memberships.c.person_id).where(
                    student_memberships.c.card_number == request.card_number.strip()
                )
            )
        ).scalars()
    )
    # Another amount, or a card that is now another student's: not a retry but a mistake. (A
    # card that is nobody's any more, e.g. replaced since, still gets the first answer.)
    if row.amount_cents != request.amount_cents or (holders and row.person_id not in holders):
        raise Conflict(REFERENCE_REUSED)
    return CardCharged(
        payment_id=row.payment_id,
        amount_cents=row.amount_cents,
        remaining_cents=row.remaining_cents,
    )


@router.op(Ops.CARD_CHARGE, CardCharge, permission=Permission.CHARGE_CARD)
async def charge_card(call: Call, request: CardCharge) -> CardCharged:
    """A provider charges a student's CJP card: the payment comes off the individual budget
    assigned to the student, all or nothing, never beyond it, and once per (provider,
    provider_reference): a retry gets the first answer, even after the end date.

    The student's allocation row is locked (FOR UPDATE) for the check and the update: two
    charges at the same moment queue on it and can never overspend; a removal of the student
    locks the same row before it returns what is unspent."""
    actor = call.require_actor()
    if not actor.has(Permission.CHARGE_CARD) or actor.provider_id is None:
        raise Forbidden(FORBIDDEN_MESSAGE)
    provider_id = actor.provider_id
    deps = _deps(call)
    now = deps.clock.now()
    card = request.card_number.strip()
    async with call.db.transaction() as session:
        earlier = await _earlier_charge(session, provider_id, request)
        if earlier is not None:
            return earlier
        domain.require_spending_open(now, deps.settings.ends_on)
        members = (
            await session.execute(
                select(student_memberships).where(
                    student_memberships.c.card_number == card,
                    student_memberships.c.removed.is_(False),
                )
            )
        ).all()
        active = [m for m in members if m.active]
        if not members:
            raise NotFound(UNKNOWN_CARD)
        if len(active) != 1:  # inactive, or (never expected) one number on two active members
            if len(active) > 1:
                log.error("card.ambiguous", students=len(active))
            raise Conflict(CARD_NOT_ACTIVE)
        (student,) = active
        allocation = (
            await session.execute(
                select(allocations)
                .where(
                    allocations.c.person_id == student.person_id,
                    allocations.c.school_id == student.school_id,
                )
                .with_for_update()
            )
        ).first()
        # After the lock: a retry that ran at the same moment has committed by now.
        earlier = await _earlier_charge(session, provider_id, request)
        if earlier is not None:
            return earlier
        allocated = allocation.allocated_cents if allocation else 0
        spent = allocation.spent_cents if allocation else 0
        spent_after = domain.card_charge(allocated, spent, request.amount_cents)
        await session.execute(
            update(allocations)
            .where(allocations.c.person_id == student.person_id)
            .values(spent_cents=spent_after, updated_at=now)
        )
        payment_id = uuid.uuid4()
        remaining = allocated - spent_after
        description = domain.clip(request.description)
        await session.execute(
            card_payments.insert().values(
                payment_id=payment_id,
                provider_id=provider_id,
                provider_reference=request.provider_reference,
                school_id=student.school_id,
                person_id=student.person_id,
                amount_cents=request.amount_cents,
                remaining_cents=remaining,
                description=description,
                paid_at=now,
            )
        )
        await add_to_outbox(
            session,
            CardPaymentMade(
                school_id=student.school_id,
                payment_id=payment_id,
                person_id=student.person_id,
                provider_id=provider_id,
                amount_cents=request.amount_cents,
                description=description,
                paid_at=now,
            ),
        )
    log.info("card.charged", payment_id=str(payment_id), cents=request.amount_cents)
    return CardCharged(
        payment_id=payment_id, amount_cents=request.amount_cents, remaining_cents=remaining
    )
