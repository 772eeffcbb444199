"""Every failure the gateway answers with, mapped to HTTP in this one place.

Services reply with an error code (ck_contracts.rpc.ErrorCode) and a Dutch message; the
gateway keeps the message and picks the status. Pages and the API show the same words: pages
in the layout, the API as {"error": {"code", "message", "fields"}}.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ck_contracts.rpc import ErrorCode, RpcError
from ck_runtime.rpc_client import ServiceUnavailable
from ck_runtime.validation import dutch_errors

STATUS_BY_CODE: dict[str, int] = {
    ErrorCode.INVALID: 422,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.CONFLICT: 409,
    ErrorCode.UNAUTHENTICATED: 401,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.THROTTLED: 429,
    ErrorCode.UNAVAILABLE: 503,
    ErrorCode.INTERNAL: 500,
    # A service refused the gateway's signature: a key misconfigured, not the user's doing.
    ErrorCode.REFUSED: 500,
}

# Codes the gateway adds for failures that never reach a service.
BAD_REQUEST = "bad_request"
TOO_LARGE = "too_large"
METHOD_NOT_ALLOWED = "method_not_allowed"

FORBIDDEN_MESSAGE = "U heeft geen toegang tot deze gegevens."
NOT_FOUND_MESSAGE = "Deze pagina bestaat niet."
INTERNAL_MESSAGE = "Er ging iets mis. Probeer het later opnieuw."
INVALID_MESSAGE = "Controleer de invoer."
LOGIN_MESSAGE = "Log eerst in."
BAD_JSON_MESSAGE = (
    "De aanvraag bevat geen geldige JSON. Controleer de haakjes, komma's en aanhalingstekens."
)
NOT_A_JSON_OBJECT_MESSAGE = (
    "Stuur de gegevens als JSON-object, met de header Content-Type: application/json."
)

_TITLES: dict[int, str] = {
    400: "Ongeldige aanvraag",
    401: "Niet ingelogd",
    403: "Geen toegang",
    404: "Niet gevonden",
    405: "Niet toegestaan",
    409: "Niet mogelijk",
    413: "Bestand of formulier te groot",
    422: "Controleer de invoer",
    429: "Even geduld",
    500: "Er ging iets mis",
    503: "Tijdelijk niet bereikbaar",
}


@dataclass
class GatewayError(Exception):
    """A failure with everything needed to answer it, as a page or as JSON."""

    status: int
    code: str
    message: str
    fields: dict[str, str] = field(default_factory=dict)
    retry_after: int | None = None
    extra_headers: dict[str, str] = field(default_factory=dict)  # e.g. Allow on a 405

    def __post_init__(self) -> None:
        super().__init__(self.message)

    @property
    def title(self) -> str:
        return _TITLES.get(self.status, "Er ging iets mis")

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "fields": self.fields}}

    def headers(self) -> dict[str, str]:
        headers = dict(self.extra_headers)
        if self.retry_after is not None:
            headers["Retry-After"] = str(max(1, self.retry_after))
        return headers


def from_rpc_error(error: RpcError) -> GatewayError:
    status = STATUS_BY_CODE.get(error.code, 500)
    retry = error.retry_after_seconds
    if status == 429 and retry is None:
        retry = 60  # a throttled answer always says when to come back
    return GatewayError(status, str(error.code), error.message, dict(error.fields), retry)


def unavailable_message(service: str) -> str:
    return f"De dienst {service} is tijdelijk niet bereikbaar. Probeer het over een minuut opnieuw."


def from_unavailable(exc: ServiceUnavailable) -> GatewayError:
    return GatewayError(
        503, ErrorCode.UNAVAILABLE, unavailable_message(exc.service), retry_after=60
    )


def from_validation(errors: list[dict[str, Any]]) -> GatewayError:
    """FastAPI's request validation: broken JSON is a 400, wrong fields a 422."""
    if any(item.get("type") == "json_invalid" for item in errors):
        return GatewayError(400, BAD_REQUEST, BAD_JSON_MESSAGE)
    if any(tuple(item.get("loc", ())) == ("body",) for item in errors):
        # No body, a body that is not JSON, or JSON that is not an object.
        return GatewayError(400, BAD_REQUEST, NOT_A_JSON_OBJECT_MESSAGE)
    return GatewayError(422, ErrorCode.INVALID, INVALID_MESSAGE, dutch_errors(errors))


def method_not_allowed(allowed: list[str]) -> GatewayError:
    """405 with the methods the path does take in Allow (RFC 9110, 15.5.6)."""
    return GatewayError(
        405,
        METHOD_NOT_ALLOWED,
        "Deze handeling is hier niet mogelijk (verkeerde methode).",
        extra_headers={"Allow": ", ".join(allowed)},
    )


def from_http_status(status: int) -> GatewayError:
    """Starlette's own HTTP errors (unknown path, wrong method, ...) in our words."""
    if status == 404:
        return GatewayError(404, ErrorCode.NOT_FOUND, NOT_FOUND_MESSAGE)
    if status == 405:
        return method_not_allowed([])
    if status == 401:
        return GatewayError(401, ErrorCode.UNAUTHENTICATED, LOGIN_MESSAGE)
    if status == 403:
        return GatewayError(403, ErrorCode.FORBIDDEN, FORBIDDEN_MESSAGE)
    if status == 413:
        return too_large()
    if status < 500:
        return GatewayError(status, BAD_REQUEST, "De aanvraag kon niet worden verwerkt.")
    return GatewayError(status, ErrorCode.INTERNAL, INTERNAL_MESSAGE)


def dutch_size(n_bytes: int) -> str:
    """1048576 -> '1 MB', 1572864 -> '1,5 MB', 4096 -> '4 kB' (Dutch decimal comma)."""
    unit, size = (
        ("MB", n_bytes / (1024 * 1024)) if n_bytes >= 1024 * 1024 else ("kB", n_bytes / 1024)
    )
    text = f"{size:.0f}" if size == int(size) else f"{size:.1f}".replace(".", ",")
    return f"{text} {unit}"


def too_large(limit_bytes: int | None = None) -> GatewayError:
    limit = "de toegestane grootte" if limit_bytes is None else dutch_size(limit_bytes)
    return GatewayError(
        413,
        TOO_LARGE,
        f"Het verzonden bestand of formulier is te groot (maximaal {limit}). "
        "Maak het kleiner en probeer het opnieuw.",
    )


def forbidden() -> GatewayError:
    return GatewayError(403, ErrorCode.FORBIDDEN, FORBIDDEN_MESSAGE)


def unauthenticated(message: str = LOGIN_MESSAGE) -> GatewayError:
    return GatewayError(401, ErrorCode.UNAUTHENTICATED, message)


def internal() -> GatewayError:
    return GatewayError(500, ErrorCode.INTERNAL, INTERNAL_MESSAGE)
