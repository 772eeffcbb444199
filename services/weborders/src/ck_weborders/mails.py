"""Issue 13: the mails that drive the process, as far as weborders owns the facts.

To the provider (its contact address is weborders' own data, so the EmailRequested is written
here, in the transaction of the change it reports): a teacher's offer request; a weborder the
school rejected (with its reason); a weborder approved and debited (`BudgetDebited`, also after
a re-approval); a weborder the budget refused (`BudgetDebitRefused`, with the reason).

To the budget holders, one digest a day per school (BudgetHolderMailRequested: accounts knows
the addresses): the weborders that arrived since the last digest, and once each the weborders
undecided for `WEBORDERS_REMINDER_DAYS` (the reminder is folded into the digest, so a budget
holder gets at most one mail a day about weborders). The digest job runs in every replica
(ck_runtime.periodic); `claim_once` on (school, Amsterdam date) makes it one digest per school
per day, and the weborders it names are marked in the same transaction.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from typing import Any

from ck_contracts.notifier import (
    MAX_ITEMS_PER_MAIL,
    BudgetHolderMailRequested,
    EmailRequested,
    MailTemplate,
)
from ck_contracts.weborders import OfferRequest
from ck_runtime.clock import AMSTERDAM, Clock
from ck_runtime.db import Database
from ck_runtime.known_schools import school_name
from ck_runtime.logs import get_logger
from ck_runtime.outbox import add_to_outbox
from ck_runtime.periodic import claim_once, run_periodic
from ck_runtime.service import Background, ServiceRuntime
from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncSession

from ck_weborders import store
from ck_weborders.settings import WebordersSettings

log = get_logger(__name__)

DIGEST_JOB = "weborders.digest"
# Digest event ids are uuid5(this, claim key): the same digest is the same event, whoever
# writes it (the notifier and accounts de-duplicate on it as well).
DIGEST_NAMESPACE = uuid.UUID("0b6f3c1e-13a1-4d6e-9c1b-3f4d2a6e0d13")
NEW = "nieuw"
REMINDER = "herinnering"


def _portal(portal_url: str, path: str) -> str:
    return f"{portal_url.rstrip('/')}{path}"


async def offer_requested(
    session: AsyncSession, request: OfferRequest, provider_id: uuid.UUID, portal_url: str
) -> None:
    """The provider hears of a teacher's request (R-WEB-3)."""
    provider = await store.provider_contact(session, provider_id)
    if provider is None:
        return
    await add_to_outbox(
        session,
        EmailRequested(
            school_id=request.school_id,
            template=MailTemplate.OFFER_REQUESTED,
            to=provider.contact_email,
            context={
                "provider_name": provider.name,
                "school_name": await school_name(session, request.school_id),
                "school_number": str(request.school_number),
                "offering_title": request.offering_title,
                "requested_by": request.requested_by,
                "message": request.message,
                "link": _portal(portal_url, "/aanbieder/aanvragen"),
            },
        ),
    )


async def weborder_decided(
    session: AsyncSession,
    weborder: Row[Any],
    template: MailTemplate,
    portal_url: str,
    reason: str = "",
) -> None:
    """The provider hears the school's (or the budget's) decision. `weborder` is a row of
    store.weborder_query()."""
    provider = await store.provider_contact(session, weborder.provider_id)
    if provider is None:
        return
    context = {
        "provider_name": provider.name,
        "school_name": await school_name(session, weborder.school_id),
        "school_number": str(weborder.school_number),
        "activity": weborder.activity,
        "activity_date": weborder.activity_date.isoformat(),
        "amount_cents": str(weborder.amount_cents),
        "provider_reference": weborder.provider_reference,
        "link": _portal(portal_url, "/aanbieder/weborders"),
    }
    if template in (MailTemplate.WEBORDER_REJECTED, MailTemplate.WEBORDER_REFUSED):
        context["reason"] = reason
    await add_to_outbox(
        session,
        EmailRequested(
            school_id=weborder.school_id,
            template=template,
            to=provider.contact_email,
            context=context,
        ),
    )


# --- the budget holders' daily digest -------------------------------------------------------------
def digest_key(school_id: uuid.UUID, day: date) -> str:
    return f"digest:{school_id}:{day.isoformat()}"


def _item(row: Row[Any], kind: str) -> dict[str, str]:
    return {
        "activity": row.activity,
        "provider_name": row.provider_name,
        "activity_date": row.activity_date.isoformat(),
        "amount_cents": str(row.amount_cents),
        "submitted_on": row.created_at.astimezone(AMSTERDAM).date().isoformat(),
        "kind": kind,
    }


async def _digest_school(
    db: Database, settings: WebordersSettings, school_id: uuid.UUID, now: datetime, day: date
) -> bool:
    """One school's digest of `day`, once. False when another pass (of any replica) sent it."""
    cutoff = now - timedelta(days=settings.reminder_days)
    key = digest_key(school_id, day)
    async with db.transaction() as session:
        rows = await store.digest_rows(session, school_id, cutoff)
        if not rows:
            return False  # decided meanwhile: nothing to say, nothing claimed
        if not await claim_once(session, DIGEST_JOB, key):
            return False
        reminded = [r for r in rows if r.reminded_at is None and r.created_at <= cutoff]
        reminded_ids = {r.id for r in reminded}
        new = [r for r in rows if r.digested_at is None and r.id not in reminded_ids]
        items = [_item(r, REMINDER) for r in reminded] + [_item(r, NEW) for r in new]
        await store.mark_digested(session, [r.id for r in new], sorted(reminded_ids), now)
        await add_to_outbox(
            session,
            BudgetHolderMailRequested(
                id=uuid.uuid5(DIGEST_NAMESPACE, key),
                school_id=school_id,
                template=MailTemplate.WEBORDERS_AWAITING,
                context={
                    "school_name": await school_name(session, school_id),
                    "school_number": str(rows[0].school_number),
                    "new_count": str(len(new)),
                    "reminder_count": str(len(reminded)),
                    "reminder_days": str(settings.reminder_days),
                    "link": _portal(settings.portal_url, "/bestellingen/weborders"),
                },
                items=items[:MAX_ITEMS_PER_MAIL],
            ),
        )
    log.info("digest.sent", school_id=str(school_id), new=len(new), reminders=len(reminded_ids))
    return True


async def digest_pass(db: Database, settings: WebordersSettings, clock: Clock) -> int:
    """One pass: every school with something to tell and no digest yet today gets one, from
    `digest_hour` (Amsterdam time) on. Returns how many digests this pass sent."""
    now = clock.now()
    local = now.astimezone(AMSTERDAM)
    if local.hour < settings.digest_hour:
        return 0
    cutoff = now - timedelta(days=settings.reminder_days)
    async with db.read() as session:
        schools = await store.schools_with_digest(session, cutoff, limit=100_000)
    sent = 0
    for school_id in schools:
        if await _digest_school(db, settings, school_id, now, local.date()):
            sent += 1
    return sent


def digest_scheduler(settings: WebordersSettings, clock: Clock) -> Background:
    async def weborders_digest(runtime: ServiceRuntime) -> None:
        async def one_pass() -> bool:
            await digest_pass(runtime.db, settings, clock)
            return False

        await run_periodic(DIGEST_JOB, one_pass, settings.mail_poll_seconds)

    return weborders_digest
