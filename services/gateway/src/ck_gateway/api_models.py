"""Request and response bodies of the JSON API: the contracts' models, with examples."""

from __future__ import annotations

from typing import Any, Literal

from ck_contracts.accounts import (
    Credentials,
    LoginResult,
    RegisteredSchool,
    RegisterSchool,
    School,
    SchoolSettings,
    SessionInfo,
)
from pydantic import BaseModel, ConfigDict, Field

_SETTINGS_EXAMPLE: dict[str, Any] = {
    "name": "Voorbeeld MBO College",
    "brin_codes": ["00AA"],
    "locations": ["Hoofdlocatie", "Locatie Noord"],
    "duo_student_count": 1200,
    "contacts": [
        {
            "name": "J. de Vries",
            "role": "Budgethouder",
            "email": "cultuur@voorbeeldcollege.nl",
            "phone": "+31201234567",
        }
    ],
    "default_order_reference": "CULT-2024",
}
_ACTOR_EXAMPLE: dict[str, Any] = {
    "user_id": "6f1c1d1e-8d4b-4c1e-9a53-0e7a1c2b3d4e",
    "role": "budgethouder",
    "school_id": "0b9f4e1a-2c3d-4e5f-8a9b-1c2d3e4f5a6b",
    "provider_id": None,
}
_SESSION_EXAMPLE: dict[str, Any] = {
    "actor": _ACTOR_EXAMPLE,
    "user_name": "J. de Vries",
    "email": "cultuur@voorbeeldcollege.nl",
    "school_number": 10289,
    "school_name": "Voorbeeld MBO College",
    "expires_at": "2024-03-01T22:00:00Z",
}


class LoginRequest(Credentials):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"email": "cultuur@voorbeeldcollege.nl", "password": "een lang wachtwoord"}
            ]
        }
    )


class LoginResponse(LoginResult):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{**_SESSION_EXAMPLE, "token": "Xy3...43 tekens"}]}
    )


class Me(SessionInfo):
    model_config = ConfigDict(json_schema_extra={"examples": [_SESSION_EXAMPLE]})


class SchoolSettingsBody(SchoolSettings):
    model_config = ConfigDict(json_schema_extra={"examples": [_SETTINGS_EXAMPLE]})


class SchoolOut(School):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "school_id": "0b9f4e1a-2c3d-4e5f-8a9b-1c2d3e4f5a6b",
                    "school_number": 10289,
                    **_SETTINGS_EXAMPLE,
                }
            ]
        }
    )


class RegisterSchoolRequest(RegisterSchool):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "settings": _SETTINGS_EXAMPLE,
                    "budget_holder": {
                        "name": "J. de Vries",
                        "email": "cultuur@voorbeeldcollege.nl",
                    },
                }
            ]
        }
    )


class RegisteredSchoolOut(RegisteredSchool):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"school_id": "0b9f4e1a-2c3d-4e5f-8a9b-1c2d3e4f5a6b", "school_number": 10289}
            ]
        }
    )


class ErrorDetail(BaseModel):
    code: str = Field(description="invalid, not_found, conflict, unauthenticated, ...")
    message: str = Field(description="Dutch, fit to show to the user as it is")
    fields: dict[str, str] = Field(
        default_factory=dict, description="per field path, a Dutch message"
    )


class ErrorBody(BaseModel):
    error: ErrorDetail
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "error": {
                        "code": "invalid",
                        "message": "Controleer de invoer.",
                        "fields": {"brin_codes.0": "'0A' is geen geldige BRIN-code."},
                    }
                }
            ]
        }
    )


class Health(BaseModel):
    service: str
    status: Literal["ok", "unhealthy"]
    broker: Literal["ok", "unreachable"]
    down: list[str] | None = Field(default=None, description="What is down (503 only)")


class Liveness(BaseModel):
    service: str
    status: Literal["ok"]


ERROR_DESCRIPTIONS: dict[int, str] = {
    400: "Malformed JSON, or a body that is not a JSON object",
    401: "Not logged in, the token expired, or the API key is missing, unknown or revoked",
    403: "The role or school does not allow this",
    404: "Not found",
    409: "Conflict, e.g. the e-mail address is in use",
    413: "Body too large",
    422: "Invalid input; `fields` names each field with a Dutch message",
    429: "Too many attempts; see Retry-After",
    503: "The owning service did not answer in time",
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, object]]:
    """OpenAPI entries for the error answers only this route gives (409, 429, ...); the general
    ones every /api operation gets from its shape (ck_gateway.openapi_errors)."""
    return {s: {"model": ErrorBody, "description": ERROR_DESCRIPTIONS[s]} for s in statuses}
