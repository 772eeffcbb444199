"""CJP admin operations: providers and their API keys (R-ROLE-3/4). The router checks the
permission (REGISTER_PROVIDER) before each handler runs."""

from __future__ import annotations

import uuid

from ck_contracts.audit import AuditAction
from ck_contracts.rpc import Empty, FieldError
from ck_contracts.weborders import (
    SERVICE,
    ApiKeyInfo,
    IssuedApiKey,
    Ops,
    Provider,
    ProviderRef,
    RegisterProvider,
    RevokeKey,
)
from ck_contracts.weborders import WebordersReason as R
from ck_runtime import audit
from ck_runtime.errors import Conflict, NotFound
from ck_runtime.logs import get_logger
from ck_runtime.rpc_server import Call, RpcRouter

from ck_weborders import domain, store
from ck_weborders.settings import deps_of

log = get_logger(__name__)
router = RpcRouter(SERVICE)


@router.handles(Ops.PROVIDER_REGISTER)
async def register_provider(call: Call, request: RegisterProvider) -> Provider:
    provider_id = uuid.uuid4()
    async with call.db.transaction() as session:
        provider = await store.add_provider(
            session, provider_id, request.provider, call.clock.now()
        )
    if provider is None:
        raise Conflict(R.KVK_TAKEN, fields={"kvk_number": FieldError(reason=R.KVK_TAKEN)})
    log.info("provider.registered", provider_id=str(provider_id))
    return provider


@router.handles(Ops.PROVIDER_LIST)
async def list_providers(call: Call, _request: Empty) -> list[Provider]:
    async with call.db.read() as session:
        return await store.all_providers(session)


@router.handles(Ops.KEY_ISSUE)
async def issue_key(call: Call, request: ProviderRef) -> IssuedApiKey:
    """A new key, shown once; the provider may hold several (rotation without downtime)."""
    secret = domain.new_api_key()
    key_id, now = uuid.uuid4(), call.clock.now()
    prefix = domain.display_prefix(secret)
    async with call.db.transaction() as session:
        if not await store.provider_exists(session, request.provider_id):
            raise NotFound(R.PROVIDER_NOT_FOUND)
        digest = domain.key_hash(deps_of(call).pepper, secret)
        await store.add_api_key(session, key_id, request.provider_id, digest, prefix, now)
        await audit.record(
            session,
            call.require_actor(),
            AuditAction.API_KEY_ISSUED,
            "api_key",
            key_id,
            provider_id=request.provider_id,
            at=now,
        )
    log.info("provider.key_issued", provider_id=str(request.provider_id), key_id=str(key_id))
    return IssuedApiKey(key_id=key_id, prefix=prefix, created_at=now, secret=secret)


@router.handles(Ops.KEY_REVOKE)
async def revoke_key(call: Call, request: RevokeKey) -> ApiKeyInfo:
    """Takes effect with the next API call of this service; another replica may accept the
    key for at most key_cache.WINDOW more. Revoking a revoked key changes nothing."""
    now = call.clock.now()
    async with call.db.transaction() as session:
        key = await store.revoke_api_key(session, request.provider_id, request.key_id, now)
        deps_of(call).key_cache.revoked(now)  # refused at once here (key_cache)
        if key is None:
            raise NotFound(R.API_KEY_NOT_FOUND)
        if key.revoked_at == now:  # revoked by this call (a revoked key stays as it was)
            await audit.record(
                session,
                call.require_actor(),
                AuditAction.API_KEY_REVOKED,
                "api_key",
                key.key_id,
                provider_id=request.provider_id,
                at=now,
            )
    log.info("provider.key_revoked", provider_id=str(request.provider_id), key_id=str(key.key_id))
    return key


@router.handles(Ops.KEY_LIST)
async def list_keys(call: Call, request: ProviderRef) -> list[ApiKeyInfo]:
    async with call.db.read() as session:
        return await store.keys_of(session, request.provider_id)
