"""ck_http_requests_total{route,status} and ck_http_request_duration_seconds{route}.

`route` is the template of the route that answered ("/api/v1/schools/{school_id}", or a
mount such as "/static"), read from the scope after routing; a request no route matched is
"unmatched". Raw paths would give a label value per school, weborder and typo: unbounded.

The rules live here; ck_gateway.middleware.edge applies them, one layer for all six.
"""

from __future__ import annotations

from starlette.types import Scope

UNMATCHED = "unmatched"


def route_template(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) and path else UNMATCHED
