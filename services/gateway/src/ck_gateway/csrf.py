"""CSRF protection for HTML forms: a signed double-submit token.

The same random token sits in the `ck_csrf` cookie (HttpOnly, SameSite=Strict) and in a hidden
`csrf_token` field. Another site can make the browser send the cookie, but cannot read it to
copy it into the form. The token is also signed with the gateway's secret and bound to the
session cookie, so a cookie planted by a sibling domain, or left over from before a log-in,
does not pass.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

COOKIE_NAME = "ck_csrf"
FIELD_NAME = "csrf_token"
EXPIRED_MESSAGE = "Het formulier is verlopen. Laad de pagina opnieuw."
_MAX_TOKEN_LENGTH = 200


class CsrfFailed(Exception):
    """A form arrived without a matching token: answered with a 403 page."""


def session_binding(session_token: str | None) -> str:
    """What a token is bound to: a hash of the session cookie, or 'anonymous'."""
    if not session_token:
        return "anonymous"
    return hashlib.sha256(session_token.encode()).hexdigest()


def _signature(secret: str, nonce: str, binding: str) -> str:
    message = f"{nonce}|{binding}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def new_token(secret: str, binding: str) -> str:
    nonce = secrets.token_urlsafe(24)
    return f"{nonce}.{_signature(secret, nonce, binding)}"


def is_valid(secret: str, token: str | None, binding: str) -> bool:
    """True when the token was made by this secret for this binding."""
    if not token or len(token) > _MAX_TOKEN_LENGTH or "." not in token:
        return False
    nonce, signature = token.rsplit(".", 1)
    return hmac.compare_digest(signature, _signature(secret, nonce, binding))


def form_matches(secret: str, cookie: str | None, field: str | None, binding: str) -> bool:
    """The double-submit check: cookie and field are equal, and the token is ours."""
    if not cookie or not field:
        return False
    if not hmac.compare_digest(cookie.encode(), field.encode()):
        return False
    return is_valid(secret, cookie, binding)
