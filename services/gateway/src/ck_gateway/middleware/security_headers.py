"""Security headers on every response.

The Content-Security-Policy allows scripts from this origin only: no inline scripts, no
eval, nothing from other hosts (the portal needs no network beyond itself). The API docs page
is the one exception for styles: Swagger UI sets inline styles.

Strict-Transport-Security goes out when the portal runs behind https, which the gateway knows
from GATEWAY_SECURE_COOKIES=true: browsers then never try the portal (or its subdomains) over
plain http for a year. Without secure cookies (local http) there is no HSTS: a browser would
otherwise refuse http://127.0.0.1 for a year.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

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


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp, *, hsts: bool = False) -> None:
        self.app = app
        self.fixed = dict(FIXED_HEADERS)
        if hsts:
            self.fixed["Strict-Transport-Security"] = HSTS

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = str(scope["path"])
        fixed = self.fixed

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("Content-Security-Policy", policy_for(path))
                for name, value in fixed.items():
                    headers.setdefault(name, value)
                if not path.startswith("/static/") and not path.startswith(DOCS_PREFIX):
                    # Pages carry school data: no copies in shared or back-button caches.
                    headers.setdefault("Cache-Control", "no-store")
            await send(message)

        await self.app(scope, receive, send_with_headers)
