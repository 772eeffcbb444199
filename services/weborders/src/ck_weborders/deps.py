"""What the weborders handlers get (call.deps): settings and the API-key pepper, read once.
The one router of the service lives here too (admin.py, provider_api.py, school.py fill it)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from ck_runtime.rpc_server import Call, RpcRouter

from ck_weborders.settings import WebordersSettings

router = RpcRouter()


@dataclass(frozen=True)
class WebordersDeps:
    settings: WebordersSettings

    @cached_property
    def pepper(self) -> bytes:
        """Read once, at start-up (app.py's on_start hook), so its warning is logged with the
        service's logging and a missing data dir fails the start, not the first API call."""
        return self.settings.effective_pepper()


def deps_of(call: Call) -> WebordersDeps:
    assert isinstance(call.deps, WebordersDeps), "the weborders service runs with WebordersDeps"
    return call.deps
