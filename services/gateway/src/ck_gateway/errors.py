"""Every failure the gateway answers with, mapped to HTTP in this one place.

Services reply with a kind (ck_contracts.rpc.ErrorCode), which picks the status, and a stable
reason with params, which the catalogue (ck_gateway.i18n) turns into Dutch. Pages and the API
show the same words: pages in the layout, the API as
{"error": {"code", "message", "params", "fields", "field_codes"}}, where `code` is the reason
programs branch on and `field_codes` the per-field reasons.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ck_contracts.rpc import CommonReason, ErrorCode, FieldError, RpcError
from ck_runtime.rpc_client import ServiceUnavailable
from ck_runtime.validation import field_errors
from pydantic import ValidationError

from ck_gateway import i18n

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

FORBIDDEN_MESSAGE = i18n.render(CommonReason.FORBIDDEN)
NOT_FOUND_MESSAGE = i18n.render("page_not_found")
INTERNAL_MESSAGE = i18n.render(CommonReason.INTERNAL)
INVALID_MESSAGE = i18n.render(CommonReason.INVALID_INPUT)
LOGIN_MESSAGE = i18n.render(CommonReason.LOGIN_REQUIRED)
BAD_JSON_MESSAGE = i18n.render("bad_json")
NOT_A_JSON_OBJECT_MESSAGE = i18n.render("not_a_json_object")


@dataclass
class GatewayError(Exception):
    """A failure with everything needed to answer it, as a page or as JSON."""

    status: int
    code: str
    message: str
    fields: dict[str, str] = field(default_factory=dict)
    retry_after: int | None = None
    extra_headers: dict[str, str] = field(default_factory=dict)  # e.g. Allow on a 405
    params: dict[str, Any] = field(default_factory=dict)
    field_codes: dict[str, FieldError] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__init__(self.message)

    @property
    def title(self) -> str:
        key = f"title.{self.status}"
        return i18n.gettext(key) if i18n.has(key) else i18n.gettext("title.500")

    def body(self) -> dict[str, Any]:
        return {
            "error": {
                "code": self.code,
                "message": self.message,
                "params": self.params,
                "fields": self.fields,
                "field_codes": {
                    path: {"code": error.reason, "params": error.params}
                    for path, error in self.field_codes.items()
                },
            }
        }

    def headers(self) -> dict[str, str]:
        headers = dict(self.extra_headers)
        if self.retry_after is not None:
            headers["Retry-After"] = str(max(1, self.retry_after))
        return headers


def render_fields(errors: dict[str, FieldError]) -> dict[str, str]:
    return {path: i18n.render(error.reason, error.params) for path, error in errors.items()}


def dutch_errors(error: ValidationError | list[dict[str, Any]]) -> dict[str, str]:
    """{field path: Dutch message} for the gateway's own form and request models."""
    return render_fields(field_errors(error))


def localized(error: RpcError) -> RpcError:
    """The service's error with its Dutch filled in from the catalogue: `message` for the
    reason, `fields` for the per-field reasons (what pages show)."""
    message = i18n.render(error.reason or CommonReason.INTERNAL, error.params)
    fields = render_fields(error.field_errors)
    return error.model_copy(update={"message": message, "fields": fields})


def from_rpc_error(error: RpcError) -> GatewayError:
    error = localized(error)
    status = STATUS_BY_CODE.get(error.code, 500)
    retry = error.retry_after_seconds
    if status == 429 and retry is None:
        retry = 60  # a throttled answer always says when to come back
    return GatewayError(
        status,
        error.reason or str(error.code),
        error.message,
        dict(error.fields),
        retry,
        params=dict(error.params),
        field_codes=dict(error.field_errors),
    )


def unavailable_message(service: str) -> str:
    """The same words whichever service is down: users need not know the services' names."""
    return i18n.render(CommonReason.UNAVAILABLE)


def from_unavailable(exc: ServiceUnavailable) -> GatewayError:
    return GatewayError(
        503, CommonReason.UNAVAILABLE, unavailable_message(exc.service), retry_after=60
    )


def from_validation(errors: list[dict[str, Any]]) -> GatewayError:
    """FastAPI's request validation: broken JSON is a 400, wrong fields a 422."""
    if any(item.get("type") == "json_invalid" for item in errors):
        return GatewayError(400, BAD_REQUEST, BAD_JSON_MESSAGE)
    if any(tuple(item.get("loc", ())) == ("body",) for item in errors):
        # No body, a body that is not JSON, or JSON that is not an object.
        return GatewayError(400, BAD_REQUEST, NOT_A_JSON_OBJECT_MESSAGE)
    codes = field_errors(errors)
    return GatewayError(
        422, CommonReason.INVALID_INPUT, INVALID_MESSAGE, render_fields(codes), field_codes=codes
    )


def method_not_allowed(allowed: list[str]) -> GatewayError:
    """405 with the methods the path does take in Allow (RFC 9110, 15.5.6)."""
    return GatewayError(
        405,
        METHOD_NOT_ALLOWED,
        i18n.render("method_not_allowed"),
        extra_headers={"Allow": ", ".join(allowed)},
    )


def from_http_status(status: int) -> GatewayError:
    """Starlette's own HTTP errors (unknown path, wrong method, ...) in our words."""
    if status == 404:
        return GatewayError(404, CommonReason.NOT_FOUND, NOT_FOUND_MESSAGE)
    if status == 405:
        return method_not_allowed([])
    if status == 401:
        return GatewayError(401, CommonReason.LOGIN_REQUIRED, LOGIN_MESSAGE)
    if status == 403:
        return GatewayError(403, CommonReason.FORBIDDEN, FORBIDDEN_MESSAGE)
    if status == 413:
        return too_large()
    if status < 500:
        return GatewayError(status, BAD_REQUEST, i18n.render(BAD_REQUEST))
    return GatewayError(status, CommonReason.INTERNAL, INTERNAL_MESSAGE)


def dutch_size(n_bytes: int) -> str:
    """1048576 -> '1 MB', 1572864 -> '1,5 MB', 4096 -> '4 kB' (Dutch decimal comma)."""
    unit, size = (
        ("MB", n_bytes / (1024 * 1024)) if n_bytes >= 1024 * 1024 else ("kB", n_bytes / 1024)
    )
    text = f"{size:.0f}" if size == int(size) else f"{size:.1f}".replace(".", ",")
    return f"{text} {unit}"


def too_large(limit_bytes: int | None = None) -> GatewayError:
    if limit_bytes is None:
        return GatewayError(413, TOO_LARGE, i18n.render("too_large.unknown_limit"))
    return GatewayError(413, TOO_LARGE, i18n.render(TOO_LARGE, {"limit": dutch_size(limit_bytes)}))


def forbidden() -> GatewayError:
    return GatewayError(403, CommonReason.FORBIDDEN, FORBIDDEN_MESSAGE)


def unauthenticated(message: str = LOGIN_MESSAGE) -> GatewayError:
    return GatewayError(401, CommonReason.LOGIN_REQUIRED, message)


def internal() -> GatewayError:
    return GatewayError(500, CommonReason.INTERNAL, INTERNAL_MESSAGE)
