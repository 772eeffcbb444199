"""The gateway signs every request it sends to a service; services verify before dispatch.

Why a signature at all: the actor (who asks, with which role and school) travels inside the
request. Broker permissions already keep services from publishing requests (only the gateway
may write to the RPC exchange), but a leaked gateway credential, a misconfigured broker user or
a future service with too many rights would otherwise be a master key. With a signature a
service acts only on requests made by a holder of the signing key.

Why Ed25519 and not HMAC: with an HMAC every service that verifies could also sign. The
gateway alone holds the private key (GATEWAY_RPC_SIGNING_KEY); services hold public keys only
(RPC_VERIFY_KEYS), so a compromised service cannot forge requests to another. The construction
is the `cryptography` package's Ed25519, signing a canonical byte string of:

    ck-rpc-v1 | key id | signed-at | target queue | reply-to | message id | body

so a signature cannot be moved to another queue, another reply queue or another body.
`signed-at` is Unix seconds of the real (wall) clock: freshness is about transport, not about
the business calendar the services' clocks may be moved to in tests; a request older (or
newer) than `max_age_seconds` is refused as stale.

Keys are text: `<key id>:<base64 of the 32-byte key>`. Rotation: add the new public key to
every service's RPC_VERIFY_KEYS (comma-separated, several at once), switch the gateway's
GATEWAY_RPC_SIGNING_KEY to the new private key, then remove the old public key.
`ck-ops keys new` (ck_devstack.ops) prints a fresh pair.
"""

from __future__ import annotations

import base64
import binascii
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass

from ck_contracts.messaging import SIGNATURE_HEADER, SIGNED_AT_HEADER, SIGNING_KEY_HEADER
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

PREFIX = b"ck-rpc-v1"
DEFAULT_MAX_AGE_SECONDS = 120
_KEY_ID = re.compile(r"^[A-Za-z0-9._-]{1,40}$")


class KeySettingError(ValueError):
    """A key setting cannot be read; the message says which and how it should look."""


class SignatureRefused(Exception):
    """The request is unsigned, signed with an unknown key, stale, or forged."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _decode_key(text: str, variable: str) -> tuple[str, bytes]:
    key_id, sep, encoded = text.strip().partition(":")
    if not sep or not _KEY_ID.match(key_id):
        raise KeySettingError(
            f"{variable}: expected '<key id>:<base64 key>' (key id: letters, digits, . _ -)"
        )
    try:
        raw = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise KeySettingError(f"{variable}: the key after '{key_id}:' is not base64") from exc
    if len(raw) != 32:
        raise KeySettingError(f"{variable}: the key '{key_id}' must be 32 bytes (Ed25519)")
    return key_id, raw


def _canonical(
    key_id: str, signed_at: int, queue: str, reply_to: str, message_id: str, body: bytes
) -> bytes:
    head = "|".join((key_id, str(signed_at), queue, reply_to, message_id)).encode()
    return PREFIX + b"|" + head + b"|" + body


@dataclass(frozen=True)
class RequestSigner:
    key_id: str
    private_key: Ed25519PrivateKey

    @classmethod
    def from_setting(cls, text: str, variable: str = "GATEWAY_RPC_SIGNING_KEY") -> RequestSigner:
        key_id, raw = _decode_key(text, variable)
        return cls(key_id, Ed25519PrivateKey.from_private_bytes(raw))

    def headers(
        self, queue: str, reply_to: str, message_id: str, body: bytes, now: float | None = None
    ) -> dict[str, str]:
        signed_at = int(time.time() if now is None else now)
        message = _canonical(self.key_id, signed_at, queue, reply_to, message_id, body)
        signature = base64.b64encode(self.private_key.sign(message)).decode()
        return {
            SIGNING_KEY_HEADER: self.key_id,
            SIGNED_AT_HEADER: str(signed_at),
            SIGNATURE_HEADER: signature,
        }


@dataclass(frozen=True)
class RequestVerifier:
    keys: Mapping[str, Ed25519PublicKey]
    max_age_seconds: int = DEFAULT_MAX_AGE_SECONDS

    @classmethod
    def from_setting(
        cls,
        text: str,
        variable: str = "RPC_VERIFY_KEYS",
        max_age_seconds: int = DEFAULT_MAX_AGE_SECONDS,
    ) -> RequestVerifier:
        keys: dict[str, Ed25519PublicKey] = {}
        for item in text.split(","):
            if item.strip():
                key_id, raw = _decode_key(item, variable)
                keys[key_id] = Ed25519PublicKey.from_public_bytes(raw)
        if not keys:
            raise KeySettingError(f"{variable} holds no key")
        return cls(keys, max_age_seconds)

    def verify(
        self,
        headers: Mapping[str, object],
        queue: str,
        reply_to: str,
        message_id: str,
        body: bytes,
        now: float | None = None,
    ) -> str:
        """Returns the key id; raises SignatureRefused."""
        key_id = str(headers.get(SIGNING_KEY_HEADER) or "")
        signature = headers.get(SIGNATURE_HEADER)
        raw_at = headers.get(SIGNED_AT_HEADER)
        if not key_id or not signature or raw_at is None:
            raise SignatureRefused("unsigned")
        key = self.keys.get(key_id)
        if key is None:
            raise SignatureRefused("unknown key")
        try:
            signed_at = int(str(raw_at))
            signature_bytes = base64.b64decode(str(signature), validate=True)
        except (ValueError, binascii.Error):
            raise SignatureRefused("malformed") from None
        current = time.time() if now is None else now
        if abs(current - signed_at) > self.max_age_seconds:
            raise SignatureRefused("stale")
        message = _canonical(key_id, signed_at, queue, reply_to, message_id, body)
        try:
            key.verify(signature_bytes, message)
        except InvalidSignature:
            raise SignatureRefused("forged") from None
        return key_id


def new_key_pair(key_id: str) -> tuple[str, str]:
    """(private setting, public setting) for GATEWAY_RPC_SIGNING_KEY and RPC_VERIFY_KEYS."""
    if not _KEY_ID.match(key_id):
        raise KeySettingError("a key id is 1-40 letters, digits, dots, dashes or underscores")
    private = Ed25519PrivateKey.generate()
    private_raw = private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    public_raw = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return (
        f"{key_id}:{base64.b64encode(private_raw).decode()}",
        f"{key_id}:{base64.b64encode(public_raw).decode()}",
    )
