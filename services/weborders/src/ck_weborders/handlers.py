"""All RPC operations of the weborders service on one router: CJP admin (admin.py), the
provider API (provider_api.py) and the school's operations (school.py)."""

from __future__ import annotations

from ck_weborders import admin, provider_api, school  # noqa: F401  (they register their ops)
from ck_weborders.deps import router

__all__ = ["router"]
