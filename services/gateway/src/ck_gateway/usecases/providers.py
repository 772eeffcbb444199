"""What a cultural provider does, for the provider API (/api/v1/provider, an API key) and the
provider portal (/aanbieder, a provider user's session) alike (issue 13).

A `ProviderCaller` is who asks: an API key (sent inside the payload, checked by the weborders
service; no actor) or a portal session's Actor (role provider, with its provider_id; no key).
The services take the provider from the key or the actor, never from a payload, so a form
cannot name another provider. Creating a weborder is one RPC either way (the API's hot path,
bench/bench_weborders.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from ck_contracts.budget import Ops as BudgetOps
from ck_contracts.budget import OwnCardPayments, ProviderCardPaymentPage
from ck_contracts.roles import Actor, Role
from ck_contracts.rpc import Empty
from ck_contracts.weborders import (
    ApiKeyInfo,
    CreateWeborder,
    IssuedApiKey,
    Offering,
    OfferingFields,
    OfferRequest,
    Ops,
    OwnKeyRef,
    ProviderAuth,
    ProviderList,
    ProviderOfferingRef,
    ProviderWeborderRef,
    PublishOffering,
    Weborder,
    WeborderFields,
    WeborderPage,
)
from fastapi import Request

from ck_gateway import backend
from ck_gateway.weborder_views import page_with_reasons, with_reason


@dataclass(frozen=True)
class ProviderCaller:
    api_key: str = ""
    actor: Actor | None = None

    @classmethod
    def of_key(cls, api_key: str) -> ProviderCaller:
        return cls(api_key=api_key)

    @classmethod
    def of_session(cls, actor: Actor) -> ProviderCaller:
        return cls(actor=actor)


async def create_weborder(
    request: Request, caller: ProviderCaller, fields: WeborderFields, idempotency_key: str = ""
) -> Weborder:
    """R-WEB-1: the same (provider, idempotency key) answers the weborder made first."""
    command = CreateWeborder(
        api_key=caller.api_key, idempotency_key=idempotency_key, weborder=fields
    )
    return await backend.send(request, Ops.WEBORDER_CREATE, command, actor=caller.actor)


async def weborders(request: Request, caller: ProviderCaller, query: ProviderList) -> WeborderPage:
    """With the Dutch reason of a refusal for lack of balance (issue 13, lifecycle)."""
    query = query.model_copy(update={"api_key": caller.api_key})
    page = await backend.send(request, Ops.WEBORDER_LIST_OWN, query, actor=caller.actor)
    return page_with_reasons(page)


async def weborder(request: Request, caller: ProviderCaller, weborder_id: UUID) -> Weborder:
    ref = ProviderWeborderRef(api_key=caller.api_key, weborder_id=weborder_id)
    return with_reason(await backend.send(request, Ops.WEBORDER_GET_OWN, ref, actor=caller.actor))


async def cancel_weborder(request: Request, caller: ProviderCaller, weborder_id: UUID) -> Weborder:
    """Only before the school decided (weborder_not_cancellable otherwise)."""
    ref = ProviderWeborderRef(api_key=caller.api_key, weborder_id=weborder_id)
    answer = await backend.send(request, Ops.WEBORDER_CANCEL_OWN, ref, actor=caller.actor)
    return with_reason(answer)


async def offerings(request: Request, caller: ProviderCaller) -> list[Offering]:
    auth = ProviderAuth(api_key=caller.api_key)
    return await backend.send(request, Ops.OFFERINGS_OWN, auth, actor=caller.actor)


async def publish_offering(
    request: Request,
    caller: ProviderCaller,
    fields: OfferingFields,
    offering_id: UUID | None = None,
) -> Offering:
    """A new offering (offering_id None) or a change to one of the provider's own."""
    command = PublishOffering(api_key=caller.api_key, offering_id=offering_id, offering=fields)
    return await backend.send(request, Ops.OFFERING_PUBLISH, command, actor=caller.actor)


async def withdraw_offering(
    request: Request, caller: ProviderCaller, offering_id: UUID
) -> Offering:
    ref = ProviderOfferingRef(api_key=caller.api_key, offering_id=offering_id)
    return await backend.send(request, Ops.OFFERING_WITHDRAW, ref, actor=caller.actor)


async def offer_requests(request: Request, caller: ProviderCaller) -> list[OfferRequest]:
    auth = ProviderAuth(api_key=caller.api_key)
    return await backend.send(request, Ops.REQUESTS_OWN, auth, actor=caller.actor)


async def provider_actor(request: Request, caller: ProviderCaller) -> Actor:
    """The actor the budget service needs: the session's, or the key's provider (one RPC to
    the weborders service to check the key)."""
    if caller.actor is not None:
        return caller.actor
    provider = await backend.send(
        request, Ops.PROVIDER_AUTHENTICATE, ProviderAuth(api_key=caller.api_key)
    )
    return Actor(user_id=provider.provider_id, role=Role.PROVIDER, provider_id=provider.provider_id)


async def card_payments(
    request: Request, caller: ProviderCaller, query: OwnCardPayments
) -> ProviderCardPaymentPage:
    """The provider's own card payments (the budget service owns them)."""
    actor = await provider_actor(request, caller)
    return await backend.send(request, BudgetOps.CARD_PAYMENTS_OWN, query, actor=actor)


# API keys: a portal session only (a key cannot make or revoke keys).
async def api_keys(request: Request, actor: Actor) -> list[ApiKeyInfo]:
    keys = await backend.send(request, Ops.OWN_KEY_LIST, Empty(), actor=actor)
    return sorted(keys, key=lambda k: k.created_at, reverse=True)


async def issue_api_key(request: Request, actor: Actor) -> IssuedApiKey:
    return await backend.send(request, Ops.OWN_KEY_ISSUE, Empty(), actor=actor)


async def revoke_api_key(request: Request, actor: Actor, key_id: UUID) -> ApiKeyInfo:
    return await backend.send(request, Ops.OWN_KEY_REVOKE, OwnKeyRef(key_id=key_id), actor=actor)
