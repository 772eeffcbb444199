"""The weborders service as the gateway's edge tests see it: a provider's key, the create
route, and an RPC client that records every call and answers with a stored weborder.

Shared by the gateway tests that pin the create route's answers without a broker
(test_edge_answers, test_provider_create_fast_path), so both speak of the same weborder.
"""

from __future__ import annotations

from typing import Any

KEY = "ck_live_" + "k" * 32
PATH = "/api/v1/provider/weborders"
# What the weborders service adds when it stores a weborder.
STORED: dict[str, Any] = {
    "weborder_id": "5d0c3a1e-7b2f-4c1d-9e8a-2f3b4c5d6e7f",
    "school_id": "0b9f4e1a-2c3d-4e5f-8a9b-1c2d3e4f5a6b",
    "provider_id": "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d",
    "provider_name": "Stadsschouwburg",
    "status": "ingediend",
    "created_at": "2031-02-20T10:15:00Z",
}


def stored(body: dict[str, Any]) -> dict[str, Any]:
    """The weborder the service answers for this body (the activity's blanks trimmed)."""
    return {**body, "activity": str(body["activity"]).strip(), **STORED}


class StubRpc:
    """Records what the gateway sends; answers every call with `answer`."""

    connected = True

    def __init__(self, answer: dict[str, Any]) -> None:
        self.answer = answer
        self.calls: list[tuple[str, str, Any, dict[str, Any]]] = []

    async def call_json(self, service: str, op: str, payload: Any = None, **kwargs: Any) -> Any:
        self.calls.append((service, op, payload, kwargs))
        return self.answer

    async def probe(self) -> bool:
        return True
