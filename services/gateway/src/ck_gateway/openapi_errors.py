"""Every status an /api operation can answer is in the OpenAPI document, worked out from what
the operation is rather than listed by hand per route (routes still add what only they answer,
such as 409 or 429):

- every operation under /api: 503 (each one asks a service, which may not answer in time);
- an operation with a request body: 400 (malformed JSON, or no JSON object), 413 (too large),
  422 (a field breaks a rule);
- an operation with parameters: 422; with path parameters: 404;
- an operation behind a credential: 401; behind a portal session: 403 (role or school), except
  the session's own operations (tag "auth": who am I, log out).

Every error answer has the same body (ErrorBody). FastAPI's own 422 entry (its
HTTPValidationError shape) is replaced, because the gateway never answers in that shape.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from ck_gateway import idempotency
from ck_gateway.api_models import ERROR_DESCRIPTIONS, ErrorBody

API_PREFIX = "/api/"
SESSION_SCHEME = "HTTPBearer"  # ck_gateway.auth.bearer_scheme; providers use ProviderApiKey
_REF = "#/components/schemas/{model}"
_ERROR_CONTENT = {"application/json": {"schema": {"$ref": _REF.format(model="ErrorBody")}}}
_FASTAPI_SHAPES = ("HTTPValidationError", "ValidationError")
_METHODS = ("get", "put", "post", "delete", "patch", "options", "head", "trace")


def error_statuses(operation: dict[str, Any]) -> set[int]:
    """The error statuses an operation can answer, from its shape."""
    statuses = {503}
    if operation.get("requestBody"):
        statuses |= {400, 413, 422}
    parameters = operation.get("parameters", [])
    if parameters:
        statuses.add(422)
    if any(parameter.get("in") == "path" for parameter in parameters):
        statuses.add(404)
    if any(parameter.get("name") == idempotency.HEADER for parameter in parameters):
        statuses.add(400)  # a malformed Idempotency-Key
    schemes = {name for requirement in operation.get("security", []) for name in requirement}
    if schemes:
        statuses.add(401)
    if SESSION_SCHEME in schemes and "auth" not in operation.get("tags", []):
        statuses.add(403)
    return statuses


def complete(schema: dict[str, Any]) -> dict[str, Any]:
    """The document with every /api operation's error answers filled in (in place)."""
    for path, item in schema.get("paths", {}).items():
        if not path.startswith(API_PREFIX):
            continue
        for method, operation in item.items():
            if method not in _METHODS:
                continue
            responses = operation.setdefault("responses", {})
            declared = {int(status) for status in responses if str(status).isdigit()}
            for status in sorted(error_statuses(operation) | (declared & set(ERROR_DESCRIPTIONS))):
                entry = responses.setdefault(
                    str(status), {"description": ERROR_DESCRIPTIONS[status]}
                )
                if status == 422 and "Validation Error" in entry.get("description", ""):
                    entry["description"] = ERROR_DESCRIPTIONS[422]
                entry["content"] = _ERROR_CONTENT
            operation["responses"] = dict(sorted(responses.items()))
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    error_body = ErrorBody.model_json_schema(ref_template=_REF)
    components.update(error_body.pop("$defs", {}))
    components["ErrorBody"] = error_body
    for name in _FASTAPI_SHAPES:
        components.pop(name, None)
    return schema


def install(app: FastAPI) -> None:
    """app.openapi() returns the completed document (built once, as FastAPI does)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            # The optional Idempotency-Key first: a malformed key is one more 400.
            app.openapi_schema = complete(
                idempotency.document(
                    get_openapi(
                        title=app.title,
                        version=app.version,
                        openapi_version=app.openapi_version,
                        description=app.description,
                        routes=app.routes,
                        tags=app.openapi_tags,
                        servers=app.servers,
                    )
                )
            )
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented way
