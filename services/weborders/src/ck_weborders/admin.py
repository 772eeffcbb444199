"""CJP admin operations: providers and their API keys (R-ROLE-3/4)."""

from __future__ import annotations

import uuid

from ck_contracts.messaging import utcnow
from ck_contracts.roles import Permission
from ck_contracts.weborders import (
    ApiKeyInfo,
    IssuedApiKey,
    Ops,
    Provider,
    ProviderRef,
    RegisterProvider,
    RevokeKey,
)
from ck_runtime.errors import Conflict, NotFound
from ck_runtime.logs import get_logger
from ck_runtime.rpc_server import Call
from pydantic import BaseModel
from sqlalchemy import select, update

from ck_weborders import domain, store
from ck_weborders.deps import deps_of, router
from ck_weborders.tables import api_keys, providers

log = get_logger(__name__)

UNKNOWN_PROVIDER = "Deze aanbieder bestaat niet."
UNKNOWN_KEY = "Deze API-sleutel bestaat niet."
KVK_TAKEN = "Er is al een aanbieder met dit KvK-nummer."


class NoPayload(BaseModel):
    pass


@router.op(Ops.PROVIDER_REGISTER, RegisterProvider, permission=Permission.REGISTER_PROVIDER)
async def register_provider(call: Call, request: RegisterProvider) -> Provider:
    call.require(Permission.REGISTER_PROVIDER, None)
    fields = request.provider
    provider_id = uuid.uuid4()
    async with call.db.transaction() as session:
        added = await session.execute(
            store.insert(session, providers)
            .values(id=provider_id, created_at=utcnow(), **fields.model_dump())
            .on_conflict_do_nothing(index_elements=["kvk_number"])
        )
        if added.rowcount != 1:  # type: ignore[attr-defined]
            raise Conflict(KVK_TAKEN, fields={"kvk_number": KVK_TAKEN})
        row = (await session.execute(select(providers).where(providers.c.id == provider_id))).one()
    log.info("provider.registered", provider_id=str(provider_id))
    return store.provider_from_row(row)


@router.op(Ops.PROVIDER_LIST, NoPayload, permission=Permission.REGISTER_PROVIDER)
async def list_providers(call: Call, _request: NoPayload) -> list[Provider]:
    call.require(Permission.REGISTER_PROVIDER, None)
    async with call.db.read() as session:
        rows = await session.execute(select(providers).order_by(providers.c.name, providers.c.id))
        return [store.provider_from_row(r) for r in rows]


@router.op(Ops.KEY_ISSUE, ProviderRef, permission=Permission.REGISTER_PROVIDER)
async def issue_key(call: Call, request: ProviderRef) -> IssuedApiKey:
    """A new key, shown once; the provider may hold several (rotation without downtime)."""
    call.require(Permission.REGISTER_PROVIDER, None)
    secret = domain.new_api_key()
    key_id, now = uuid.uuid4(), utcnow()
    async with call.db.transaction() as session:
        exists = await session.execute(
            select(providers.c.id).where(providers.c.id == request.provider_id)
        )
        if exists.first() is None:
            raise NotFound(UNKNOWN_PROVIDER)
        await session.execute(
            api_keys.insert().values(
                id=key_id,
                provider_id=request.provider_id,
                key_hash=domain.key_hash(deps_of(call).pepper, secret),
                prefix=domain.display_prefix(secret),
                created_at=now,
            )
        )
    log.info("provider.key_issued", provider_id=str(request.provider_id), key_id=str(key_id))
    return IssuedApiKey(
        key_id=key_id, prefix=domain.display_prefix(secret), created_at=now, secret=secret
    )


@router.op(Ops.KEY_REVOKE, RevokeKey, permission=Permission.REGISTER_PROVIDER)
async def revoke_key(call: Call, request: RevokeKey) -> ApiKeyInfo:
    """Takes effect with the next API call: keys are checked against the database every time.
    Revoking a revoked key changes nothing."""
    call.require(Permission.REGISTER_PROVIDER, None)
    mine = (api_keys.c.id == request.key_id) & (api_keys.c.provider_id == request.provider_id)
    async with call.db.transaction() as session:
        await session.execute(
            update(api_keys)
            .where(mine, api_keys.c.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )
        row = (await session.execute(select(api_keys).where(mine))).first()
        if row is None:
            raise NotFound(UNKNOWN_KEY)
    log.info("provider.key_revoked", provider_id=str(request.provider_id), key_id=str(row.id))
    return store.key_from_row(row)


@router.op(Ops.KEY_LIST, ProviderRef, permission=Permission.REGISTER_PROVIDER)
async def list_keys(call: Call, request: ProviderRef) -> list[ApiKeyInfo]:
    call.require(Permission.REGISTER_PROVIDER, None)
    async with call.db.read() as session:
        rows = await session.execute(
            select(api_keys)
            .where(api_keys.c.provider_id == request.provider_id)
            .order_by(api_keys.c.created_at.desc())
        )
        return [store.key_from_row(r) for r in rows]
