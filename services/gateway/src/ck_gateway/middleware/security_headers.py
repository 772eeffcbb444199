"""Security headers on every response.

The Content-Security-Policy allows scripts from this origin only: no inline scripts, no
eval, nothing from other hosts (the portal needs no network beyond itself). The API docs page
is the one exception for styles: Swagger UI sets inline styles.

Strict-Transport-Security goes out when the portal runs behind https, which the gateway knows
from GATEWAY_SECURE_COOKIES=true: browsers then never try the portal (or its subdomains) over
plain http for a year. Without secure cookies (local http) there is no HSTS: a browser would
otherwise refuse http://127.0.0.1 for a year.

The rules live here; ck_gateway.middleware.edge applies them, one layer for all six.
"""

from __future__ import annotations

_BASE_POLICY = (
    "default-src 'self'",
    "script-src 'self'",
    "img-src 'self' data:",
    "font-src 'self'",
    "connect-src 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
    "base-uri 'none'",
    "object-src 'none'",
)
PAGE_POLICY = "; ".join((*_BASE_POLICY, "style-src 'self'"))
DOCS_POLICY = "; ".join((*_BASE_POLICY, "style-src 'self' 'unsafe-inline'"))
DOCS_PREFIX = "/api/docs"

FIXED_HEADERS = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}
HSTS = "max-age=31536000; includeSubDomains"


def policy_for(path: str) -> str:
    return DOCS_POLICY if path.startswith(DOCS_PREFIX) else PAGE_POLICY
