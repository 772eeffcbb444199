"""Error codes of the services -> HTTP statuses and bodies, in one place (no I/O)."""

from __future__ import annotations

import pytest
from ck_contracts.rpc import ErrorCode, FieldError, RpcError
from ck_gateway import errors
from ck_gateway.error_handlers import is_api_path
from ck_runtime.rpc_client import ServiceUnavailable


@pytest.mark.parametrize(
    ("code", "status"),
    [
        (ErrorCode.INVALID, 422),
        (ErrorCode.NOT_FOUND, 404),
        (ErrorCode.CONFLICT, 409),
        (ErrorCode.UNAUTHENTICATED, 401),
        (ErrorCode.FORBIDDEN, 403),
        (ErrorCode.THROTTLED, 429),
        (ErrorCode.UNAVAILABLE, 503),
        (ErrorCode.INTERNAL, 500),
    ],
)
def test_every_error_code_has_its_status(code: ErrorCode, status: int) -> None:
    error = errors.from_rpc_error(RpcError(code=code, reason="not_found"))
    assert error.status == status
    assert error.body() == {
        "error": {
            "code": "not_found",
            "message": "Niet gevonden.",
            "params": {},
            "fields": {},
            "field_codes": {},
        }
    }


def test_a_reason_is_rendered_in_dutch_with_its_params() -> None:
    error = errors.from_rpc_error(
        RpcError(code=ErrorCode.NOT_FOUND, reason="unknown_operation", params={"op": "x.y"})
    )
    assert error.body()["error"]["message"] == "Onbekende opdracht: x.y"
    assert error.body()["error"]["params"] == {"op": "x.y"}


def test_field_reasons_become_dutch_messages_and_stay_as_codes() -> None:
    error = errors.from_rpc_error(
        RpcError(
            code=ErrorCode.INVALID,
            reason="invalid",
            field_errors={"name": FieldError(reason="field.too_long", params={"max_length": 5})},
        )
    )
    body = error.body()["error"]
    assert body["code"] == "invalid"
    assert body["fields"] == {"name": "Maximaal 5 tekens."}
    assert body["field_codes"] == {"name": {"code": "field.too_long", "params": {"max_length": 5}}}


def test_every_error_code_is_mapped() -> None:
    assert set(errors.STATUS_BY_CODE) == set(ErrorCode)


def test_a_services_own_words_are_never_shown() -> None:
    """Whatever text an error carries, the page shows the catalogue's words for its reason."""
    error = errors.from_rpc_error(
        RpcError(code=ErrorCode.INVALID, reason="invalid", message="Leeg.", fields={"n": "Leeg."})
    )
    assert error.body()["error"]["message"] == "Controleer de invoer."
    assert error.body()["error"]["fields"] == {}


def test_throttled_says_when_to_retry() -> None:
    error = errors.from_rpc_error(
        RpcError(code=ErrorCode.THROTTLED, message="Wacht.", retry_after_seconds=31)
    )
    assert error.headers() == {"Retry-After": "31"}
    without = errors.from_rpc_error(RpcError(code=ErrorCode.THROTTLED, message="Wacht."))
    assert "Retry-After" in without.headers()


def test_service_unavailable_does_not_name_the_service() -> None:
    """Users need not know how the portal is cut into services."""
    error = errors.from_unavailable(ServiceUnavailable("accounts", "timeout"))
    assert error.status == 503
    assert error.code == "unavailable"
    assert "accounts" not in error.message
    assert error.message.startswith("Het portaal is even niet bereikbaar")


def test_broken_json_is_a_bad_request_and_wrong_fields_are_invalid() -> None:
    broken = errors.from_validation([{"type": "json_invalid", "loc": ("body", 3), "msg": "x"}])
    assert broken.status == 400
    assert "JSON" in broken.message
    wrong = errors.from_validation(
        [{"type": "missing", "loc": ("body", "email"), "msg": "Field required"}]
    )
    assert wrong.status == 422
    assert wrong.fields == {"email": "Dit veld is verplicht."}


def test_too_large_gives_the_limit_in_dutch() -> None:
    error = errors.too_large(1024 * 1024)
    assert error.status == 413
    assert "(maximaal 1 MB)" in error.message
    assert errors.dutch_size(3 * 1024 * 1024 // 2) == "1,5 MB"
    assert errors.dutch_size(4096) == "4 kB"


@pytest.mark.parametrize(
    ("path", "api"),
    [("/api/v1/me", True), ("/api", True), ("/apiary", False), ("/instellingen", False)],
)
def test_api_paths_get_json(path: str, api: bool) -> None:
    assert is_api_path(path) is api
