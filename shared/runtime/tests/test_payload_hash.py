"""payload_hash hashes a long plain text value as it is instead of through json.dumps: the
hash must be exactly the plain canonical JSON's, whatever the payload."""

from __future__ import annotations

import base64
import hashlib
import json
import random
import uuid
from typing import Any

import pytest
from ck_contracts.rpc import RpcRequest
from ck_runtime import commands


def _plain(request: RpcRequest) -> str:
    canonical = json.dumps(
        [request.op, request.payload], sort_keys=True, separators=(",", ":"), default=str
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def _request(payload: dict[str, Any]) -> RpcRequest:
    return RpcRequest(op="school.roster.upload", payload=payload, request_id=uuid.uuid4().hex)


def _text(rng: random.Random, size: int) -> str:
    kind = rng.randrange(5)
    if kind == 0:  # a file as base64
        return base64.b64encode(rng.randbytes(size * 3 // 4)).decode()
    alphabet = [
        "abc+/=",
        'ab"c',  # needs escaping
        "ab\\c\n\x00\x1f\x7f",  # backslash, control characters, DEL
        "abcé€😀",  # not ASCII
    ][kind - 1]
    return "".join(rng.choice(alphabet) for _ in range(size))


@pytest.mark.parametrize("seed", range(40))
def test_the_hash_is_that_of_the_canonical_json(seed: int) -> None:
    rng = random.Random(seed)
    payload: dict[str, Any] = {
        "school_id": str(uuid.UUID(int=rng.getrandbits(128))),
        "filename": _text(rng, rng.randrange(1, 40)),
    }
    for n in range(rng.randrange(1, 4)):
        payload[f"content_{n}"] = _text(rng, rng.choice([10, commands._LARGE_TEXT, 100_000]))
    if rng.random() < 0.3:
        payload["nested"] = {"x": _text(rng, 70_000), "n": [1, None, 2.5, True]}
    if rng.random() < 0.3:
        payload["when"] = uuid.uuid4()  # through default=str
    request = _request(payload)
    assert commands.payload_hash(request) == _plain(request)


def test_a_base64_file_takes_the_quick_way_with_the_same_hash() -> None:
    content = base64.b64encode(random.Random(1).randbytes(300_000)).decode()
    request = _request({"content_b64": content, "filename": 'a "b".xlsx', "z": ["é"]})
    assert commands._large_plain_text(request.payload) == ("content_b64", content.encode())
    assert commands.payload_hash(request) == _plain(request)
    other = _request({"content_b64": content[:-4] + "AAAA", "filename": 'a "b".xlsx', "z": ["é"]})
    assert commands.payload_hash(other) != commands.payload_hash(request)


def test_a_stand_in_met_elsewhere_in_the_payload_falls_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(commands.os, "urandom", lambda n: b"\x01" * n)
    stand_in = (b"\x01" * 16).hex()
    content = "A" * commands._LARGE_TEXT
    for payload in (
        {"content_b64": content, "other": stand_in},
        {"content_b64": content, stand_in: 1},
        {"a": [stand_in], "content_b64": content},
    ):
        request = _request(payload)
        assert commands.payload_hash(request) == _plain(request)
