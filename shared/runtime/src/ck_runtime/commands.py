"""Exactly-once commands: a service records each command's answer with its effects, in the
same transaction, and answers a repeat of the request id with that first answer.

Repeats happen when a reply is lost: the gateway retries a timed-out request with the same
id, a client retries with the same Idempotency-Key (the gateway derives the id from it), or
the broker redelivers a request whose consumer died. Without this, approving a weborder whose
reply was lost would be approved again (and then answer "al goedgekeurd").

What is stored (table `rpc_requests`, one per service database): SHA-256 of the request id as
key, the operation, a hash of operation and payload (the same Idempotency-Key with another
body is refused), and the answer encrypted with AES-GCM under a key derived from the request
id. The request id travels only in the signed request, so the table holds no readable answer
(answers can carry names or card numbers). Rows expire after the request's
`keep_reply_seconds` (15 minutes; a day for Idempotency-Keys) and the retention job deletes
them.

Queries write nothing and are not recorded: a repeat simply reads again.
"""

from __future__ import annotations

import hashlib
import json
import os
from datetime import datetime, timedelta
from typing import Any

from ck_contracts.rpc import RpcRequest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import MetaData, Table, bindparam, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.dml import Insert

from ck_runtime import json_codec
from ck_runtime.db import Step, StepKind, rowcount
from ck_runtime.tables import add_runtime_tables

_metadata = MetaData()
add_runtime_tables(_metadata)
RPC_REQUESTS: Table = _metadata.tables["rpc_requests"]

_NONCE_BYTES = 12

# Built once, like the services' hot statements: a statement made per call costs more CPU in
# SQLAlchemy (coercing the values to parameters, the cache key, the cache lookup) than SQLite
# takes to run it. Each call only binds its parameters.
_FIND = select(RPC_REQUESTS.c.payload_hash, RPC_REQUESTS.c.reply).where(
    RPC_REQUESTS.c.request_key == bindparam("key"),
    RPC_REQUESTS.c.expires_at > bindparam("now", type_=RPC_REQUESTS.c.expires_at.type),
)
RECORD: dict[str, Insert] = {
    "postgresql": postgresql.insert(RPC_REQUESTS).on_conflict_do_nothing(),
    "sqlite": sqlite.insert(RPC_REQUESTS).on_conflict_do_nothing(),
}


def request_key(request_id: str) -> str:
    return hashlib.sha256(b"ck-rpc-request|" + request_id.encode()).hexdigest()


def _cipher(request_id: str) -> AESGCM:
    return AESGCM(hashlib.sha256(b"ck-rpc-reply|" + request_id.encode()).digest())


# A text value this long whose JSON is itself in quotes (a file as base64: 3.3 MB for a roster
# upload) is hashed as it is: json.dumps would spend ~5 ms per upload finding nothing to escape.
_LARGE_TEXT = 1 << 16
# What json.dumps (ensure_ascii) escapes in an ASCII text: control characters, '"' and '\'.
_ESCAPED = bytes(range(0x20)) + b'"\\'


def _large_plain_text(payload: Any) -> tuple[str, bytes] | None:
    """The first top-level text value of the payload that is long and needs no escaping in
    JSON, as (key, its ASCII bytes)."""
    if type(payload) is not dict:
        return None
    for key, value in payload.items():
        if type(value) is str and len(value) >= _LARGE_TEXT and value.isascii():
            encoded = value.encode("ascii")
            if len(encoded.translate(None, _ESCAPED)) == len(encoded):
                return key, encoded
    return None


def payload_hash(request: RpcRequest) -> str:
    """SHA-256 of the canonical JSON of operation and payload. A long plain text value goes
    into the hash as it is rather than through json.dumps: the same bytes, the same hash
    (test_commands compares it with the plain computation)."""
    large = _large_plain_text(request.payload)
    if large is None:
        return hashlib.sha256(json_codec.canonical([request.op, request.payload])).hexdigest()
    key, encoded = large
    # The payload with a random stand-in for the text; the JSON around it is hashed with the
    # text itself in its place. A stand-in found more than once: the plain way.
    stand_in = os.urandom(16).hex()
    quoted = f'"{stand_in}"'.encode()
    text = json_codec.canonical([request.op, {**request.payload, key: stand_in}])
    before, found, after = text.partition(quoted)
    if not found or quoted in after:
        return hashlib.sha256(json_codec.canonical([request.op, request.payload])).hexdigest()
    digest = hashlib.sha256(before)
    digest.update(b'"')
    digest.update(encoded)
    digest.update(b'"')
    digest.update(after)
    return digest.hexdigest()


def seal(request_id: str, reply: dict[str, Any], key: str | None = None) -> bytes:
    """The answer encrypted under the request id; `key` is request_key(request_id) when the
    caller has it already (record_step: one hash per command, not two)."""
    nonce = os.urandom(_NONCE_BYTES)
    data = json_codec.compact(reply)
    aad = (key or request_key(request_id)).encode()
    return nonce + _cipher(request_id).encrypt(nonce, data, aad)


def unseal(request_id: str, sealed: bytes) -> dict[str, Any] | None:
    nonce, data = sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:]
    try:
        plain = _cipher(request_id).decrypt(nonce, data, request_key(request_id).encode())
    except InvalidTag:
        return None
    reply: dict[str, Any] = json.loads(plain)
    return reply


class Recorded:
    """A command seen before: its first answer, or a refusal of another body under its id."""

    def __init__(self, reply: dict[str, Any] | None, same_payload: bool) -> None:
        self.reply = reply
        self.same_payload = same_payload


async def find(session: AsyncSession, request: RpcRequest, now: datetime) -> Recorded | None:
    params = {"key": request_key(request.request_id), "now": now}
    row = (await session.execute(_FIND, params)).first()
    return None if row is None else recorded(request, row)


def find_step(request: RpcRequest, now: datetime) -> Step:
    """find() as a command's guard (Database.command): a SELECT that must find no row."""
    return Step(_FIND, {"key": request_key(request.request_id), "now": now}, 0, StepKind.GUARD)


def recorded(request: RpcRequest, row: Any) -> Recorded:
    """The answer of a row that find() or its guard found: (payload_hash, reply)."""
    if row[0] != payload_hash(request):
        return Recorded(None, same_payload=False)
    return Recorded(unseal(request.request_id, bytes(row[1])), same_payload=True)


def record_step(request: RpcRequest, reply: dict[str, Any], now: datetime, dialect: str) -> Step:
    """The record of the answer, as the last step of the command's transaction
    (CommandUnit.commit): StepRefused when another delivery of the same request recorded one
    first (the caller answers with that one)."""
    key = request_key(request.request_id)
    values = {
        "request_key": key,
        "op": request.op,
        "payload_hash": payload_hash(request),
        "reply": seal(request.request_id, reply, key),
        "created_at": now,
        "expires_at": now + timedelta(seconds=request.keep_reply_seconds),
    }
    return Step(RECORD[dialect], values, 1, StepKind.RECORD)


async def prune(session: AsyncSession, now: datetime) -> int:
    """Delete answers nobody can ask for again (the retention job calls this)."""
    result = await session.execute(delete(RPC_REQUESTS).where(RPC_REQUESTS.c.expires_at <= now))
    return rowcount(result)
