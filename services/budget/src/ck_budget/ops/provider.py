"""What a cultural provider does with the budget service: charge a student's CJP card
(R-WEB-6). The gateway has authenticated the provider's API key and sends the provider as
the actor."""

from __future__ import annotations

import uuid

from ck_contracts.budget import (
    BudgetReason,
    CardCharge,
    CardCharged,
    CardPaymentMade,
    Ops,
    OwnCardPayments,
    ProviderCardPaymentPage,
)
from ck_runtime.errors import Conflict, Forbidden, NotFound
from ck_runtime.logs import get_logger
from ck_runtime.outbox import add_to_outbox
from ck_runtime.rpc_server import Call, RpcRouter
from sqlalchemy.ext.asyncio import AsyncSession

from ck_budget import domain, store
from ck_budget.ops.school import settings_of

log = get_logger(__name__)
router = RpcRouter("budget")


async def _earlier_charge(
    session: AsyncSession, provider_id: uuid.UUID, request: CardCharge
) -> CardCharged | None:
    """The answer to a retried charge: the first one's (the same payment), or a Conflict when
    the reference was used for another amount."""
    row = await store.card_payment(session, provider_id, request.provider_reference)
    if row is None:
        return None
    holders = await store.card_holders(session, request.card_number.strip())
    # Another amount, or a card that is now another student's: not a retry but a mistake. (A
    # card that is nobody's any more, e.g. replaced since, still gets the first answer.)
    if row.amount_cents != request.amount_cents or (holders and row.person_id not in holders):
        raise Conflict(BudgetReason.PAYMENT_REFERENCE_REUSED)
    return CardCharged(
        payment_id=row.payment_id,
        amount_cents=row.amount_cents,
        remaining_cents=row.remaining_cents,
    )


@router.handles(Ops.CARD_CHARGE)
async def charge_card(call: Call, request: CardCharge) -> CardCharged:
    """A provider charges a student's CJP card: the payment comes off the individual budget
    assigned to the student, all or nothing, never beyond it, and once per (provider,
    provider_reference): a retry gets the first answer, even after the end date.

    The student's allocation row is locked (FOR UPDATE) for the check and the update: two
    charges at the same moment queue on it and can never overspend; a removal of the student
    locks the same row before it returns what is unspent."""
    provider_id = call.require_actor().provider_id
    if provider_id is None:
        raise Forbidden()
    now = call.clock.now()
    card = request.card_number.strip()
    async with call.db.transaction() as session:
        earlier = await _earlier_charge(session, provider_id, request)
        if earlier is not None:
            return earlier
        domain.require_spending_open(now, settings_of(call).ends_on)
        members = await store.members_with_card(session, card)
        active = [m for m in members if m.active]
        if not members:
            raise NotFound(BudgetReason.UNKNOWN_CARD)
        if len(active) != 1:  # inactive, or (never expected) one number on two active members
            if len(active) > 1:
                log.error("card.ambiguous", students=len(active))
            raise Conflict(BudgetReason.CARD_NOT_ACTIVE)
        (student,) = active
        allocation = await store.lock_allocation(session, student.person_id, student.school_id)
        # After the lock: a retry that ran at the same moment has committed by now.
        earlier = await _earlier_charge(session, provider_id, request)
        if earlier is not None:
            return earlier
        allocated = allocation.allocated_cents if allocation else 0
        spent = allocation.spent_cents if allocation else 0
        spent_after = domain.card_charge(allocated, spent, request.amount_cents)
        payment_id = uuid.uuid4()
        remaining = allocated - spent_after
        description = domain.clip(request.description)
        await store.record_card_payment(
            session,
            student.person_id,
            spent_after,
            {
                "payment_id": payment_id,
                "provider_id": provider_id,
                "provider_reference": request.provider_reference,
                "school_id": student.school_id,
                "person_id": student.person_id,
                "amount_cents": request.amount_cents,
                "remaining_cents": remaining,
                "description": description,
                "paid_at": now,
            },
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


# --- provider portal (issue 13) ------------------------------------------------------------------
@router.handles(Ops.CARD_PAYMENTS_OWN)
async def own_card_payments(call: Call, request: OwnCardPayments) -> ProviderCardPaymentPage:
    """Only the actor's provider's payments: the provider id never comes from the payload."""
    provider_id = call.require_actor().provider_id
    if provider_id is None:
        raise Forbidden()
    async with call.db.read() as session:
        return await store.provider_card_payments(
            session, provider_id, request.page, request.page_size
        )
