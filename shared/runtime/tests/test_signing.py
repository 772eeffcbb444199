"""Signed requests (ck_runtime.signing): only the holder of the gateway's key is believed."""

from __future__ import annotations

import pytest
from ck_contracts.messaging import SIGNATURE_HEADER, SIGNED_AT_HEADER
from ck_runtime.signing import (
    KeySettingError,
    RequestSigner,
    RequestVerifier,
    SignatureRefused,
    new_key_pair,
)

NOW = 1_780_000_000.0
BODY = b'{"op":"school.register","actor":{"role":"cjp_admin"}}'


def _pair(key_id: str = "k1") -> tuple[RequestSigner, RequestVerifier]:
    private, public = new_key_pair(key_id)
    return RequestSigner.from_setting(private), RequestVerifier.from_setting(public)


def _refused(verifier: RequestVerifier, headers: dict[str, str], **changes: object) -> str:
    args: dict[str, object] = {
        "queue": "accounts.rpc",
        "reply_to": "gateway.replies.1",
        "message_id": "m1",
        "body": BODY,
        "now": NOW,
    }
    args.update(changes)
    with pytest.raises(SignatureRefused) as refused:
        verifier.verify(headers, **args)  # type: ignore[arg-type]
    return refused.value.reason


def test_a_signed_request_verifies() -> None:
    signer, verifier = _pair()
    headers = signer.headers("accounts.rpc", "gateway.replies.1", "m1", BODY, now=NOW)
    assert verifier.verify(headers, "accounts.rpc", "gateway.replies.1", "m1", BODY, NOW) == "k1"


def test_everything_signed_is_bound_to_the_signature() -> None:
    signer, verifier = _pair()
    headers = signer.headers("accounts.rpc", "gateway.replies.1", "m1", BODY, now=NOW)
    assert _refused(verifier, headers, queue="budget.rpc") == "forged"
    assert _refused(verifier, headers, reply_to="attacker.replies") == "forged"
    assert _refused(verifier, headers, message_id="m2") == "forged"
    assert _refused(verifier, headers, body=BODY.replace(b"cjp_admin", b"budgethouder")) == (
        "forged"
    )
    moved = {**headers, SIGNED_AT_HEADER: str(int(NOW) + 1)}
    assert _refused(verifier, moved) == "forged"


def test_unsigned_unknown_stale_and_garbled_requests_are_refused() -> None:
    signer, verifier = _pair()
    assert _refused(verifier, {}) == "unsigned"
    other_signer, _ = _pair("k2")
    foreign = other_signer.headers("accounts.rpc", "gateway.replies.1", "m1", BODY, now=NOW)
    assert _refused(verifier, foreign) == "unknown key"
    # The same key id with another private key: a forgery.
    impostor, _ = _pair("k1")
    assert (
        _refused(
            verifier, impostor.headers("accounts.rpc", "gateway.replies.1", "m1", BODY, now=NOW)
        )
        == "forged"
    )
    old = signer.headers("accounts.rpc", "gateway.replies.1", "m1", BODY, now=NOW - 600)
    assert _refused(verifier, old) == "stale"
    garbled = {**signer.headers("accounts.rpc", "gateway.replies.1", "m1", BODY, now=NOW)}
    garbled[SIGNATURE_HEADER] = "not base64!"
    assert _refused(verifier, garbled) == "malformed"


def test_rotation_accepts_both_keys_while_both_are_listed() -> None:
    old_private, old_public = new_key_pair("2026a")
    new_private, new_public = new_key_pair("2026b")
    verifier = RequestVerifier.from_setting(f"{old_public},{new_public}")
    for private in (old_private, new_private):
        headers = RequestSigner.from_setting(private).headers("q", "r", "m", BODY, now=NOW)
        verifier.verify(headers, "q", "r", "m", BODY, now=NOW)
    after = RequestVerifier.from_setting(new_public)
    old_headers = RequestSigner.from_setting(old_private).headers("q", "r", "m", BODY, now=NOW)
    with pytest.raises(SignatureRefused):
        after.verify(old_headers, "q", "r", "m", BODY, now=NOW)


def test_key_settings_are_checked_with_a_clear_message() -> None:
    for text in ("", "no-colon", "k1:not-base64!", "k1:c2hvcnQ="):
        with pytest.raises(KeySettingError) as error:
            RequestVerifier.from_setting(text)
        assert "RPC_VERIFY_KEYS" in str(error.value)
