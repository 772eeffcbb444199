"""The provider API (R-ROLE-3, R-WEB-1/3/6): cultural providers create weborders against a
school's CJP school number, publish their offer, read the offer requests schools send them and
charge CJP cards, with an API key of their own.

Authentication is the header `Authorization: Bearer ck_live_...`. The key travels to the
weborders service inside the payload of every operation (ck_contracts.weborders.ProviderAuth);
the service checks it against its keyed hash and answers `unauthenticated` for an unknown or
revoked key. No session lookup: creating a weborder is one RPC to the weborders service and
nothing else (the benchmark's hot path, bench/bench_weborders.py). Portal session tokens never
start with `ck_live_` and are refused here before any service is asked.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any
from uuid import UUID

from ck_contracts.bounds import Key, Page, PageSize
from ck_contracts.budget import CardCharge, CardCharged, OwnCardPayments, ProviderCardPaymentPage
from ck_contracts.budget import Ops as BudgetOps
from ck_contracts.payouts import ProviderStatementQuery, Statement, StatementPage
from ck_contracts.weborders import (
    MAX_CARDS,
    NameParticipants,
    Offering,
    OfferingFields,
    OfferRequest,
    Ops,
    ParticipantsNamed,
    ProviderList,
    Weborder,
    WeborderFields,
    WeborderPage,
    WeborderStatus,
)
from fastapi import APIRouter, Body, Depends, Header, Query, Request
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field

from ck_gateway import backend, i18n
from ck_gateway.api_models import ErrorBody, error_responses
from ck_gateway.errors import unauthenticated
from ck_gateway.usecases import payouts
from ck_gateway.usecases import providers as usecase
from ck_gateway.usecases.providers import ProviderCaller
from ck_gateway.weborder_views import card_results

KEY_PREFIX = "ck_live_"
_KEY_LENGTH = range(16, 201)  # ProviderAuth.api_key
MISSING_KEY = i18n.render("provider_key.missing", {"prefix": KEY_PREFIX})
NOT_A_KEY = i18n.render("provider_key.not_a_key", {"prefix": KEY_PREFIX})

DESCRIPTION = f"""For cultural providers (R-ROLE-3). **Authentication**: every call sends the
provider's API key as `Authorization: Bearer {KEY_PREFIX}...`. CJP issues the key (menu
Aanbieders in the portal) and shows it once; it is stored only as a keyed hash. A missing,
unknown or revoked key gets 401. Portal log-in tokens do not work here.

**Idempotency**: `POST /weborders` takes an optional `Idempotency-Key` header (at most 200
characters, e.g. a UUID per order). Sending the same key again with the same order creates
nothing and answers the original weborder as it is now, with the same status code as the first
time (201), so a client that lost the first answer can simply retry; the same key with a
different order is 409. Without the header every call creates a weborder.
"""

provider_key = HTTPBearer(
    scheme_name="ProviderApiKey",
    bearerFormat=f"{KEY_PREFIX}...",
    description="The provider's API key, issued by CJP: `Authorization: Bearer ck_live_...`.",
    auto_error=False,
)

router = APIRouter(
    prefix="/api/v1/provider",
    tags=["provider"],
    responses={
        401: {"model": ErrorBody, "description": "Missing, unknown or revoked API key"},
    },
)


async def api_key(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(provider_key)],
) -> str:
    """The provider's key from the Authorization header (checked by the weborders service).
    async on purpose: FastAPI runs a plain `def` dependency in a worker thread, a hop that cost
    the weborder hot path about 6 % of the gateway's CPU."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise unauthenticated(MISSING_KEY)
    key = credentials.credentials
    if not is_key_shaped(key):
        raise unauthenticated(NOT_A_KEY)
    return key


def is_key_shaped(key: str) -> bool:
    """What a provider key looks like before the weborders service checks it."""
    return key.startswith(KEY_PREFIX) and len(key) in _KEY_LENGTH


ApiKey = Annotated[str, Depends(api_key)]

_WEBORDER_EXAMPLE: dict[str, Any] = {
    "school_number": 10289,
    "activity": "Voorstelling 'De Storm' met nagesprek",
    "activity_date": "2024-03-14",
    "participants": 28,
    "amount_cents": 42000,
    "provider_reference": "STADS-2024-0117",
    "docent_plus_email": "docent@voorbeeldcollege.nl",
}
_WEBORDER_OUT: dict[str, Any] = {
    **_WEBORDER_EXAMPLE,
    "offering_id": None,
    "request_id": None,
    "participant_ids": [],
    "weborder_id": "5d0c3a1e-7b2f-4c1d-9e8a-2f3b4c5d6e7f",
    "school_id": "0b9f4e1a-2c3d-4e5f-8a9b-1c2d3e4f5a6b",
    "provider_id": "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d",
    "provider_name": "Stadsschouwburg Voorbeeld",
    "status": "ingediend",
    "reason": "",
    "created_at": "2024-02-20T10:15:00Z",
    "decided_at": None,
}
_OFFERING_EXAMPLE: dict[str, Any] = {
    "title": "Theaterworkshop improvisatie",
    "description": "Twee uur improvisatietheater op school, voor groepen tot 30 studenten.",
    "discipline": "theater",
    "city": "Utrecht",
    "price_cents": 750,
}
_CHARGE_EXAMPLE: dict[str, Any] = {
    "card_number": "CJP1234567890",
    "amount_cents": 1250,
    "description": "Bioscoopkaartje 'Dune' 14-03",
    "provider_reference": "KASSA3-000871",
}


class WeborderOut(Weborder):
    model_config = ConfigDict(json_schema_extra={"examples": [_WEBORDER_OUT]})


class OfferingOut(Offering):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    **_OFFERING_EXAMPLE,
                    "offering_id": "7c6b5a4f-3e2d-4c1b-9a8f-7e6d5c4b3a2f",
                    "provider_id": "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d",
                    "provider_name": "Stadsschouwburg Voorbeeld",
                    "updated_at": "2024-02-20T10:15:00Z",
                }
            ]
        }
    )


class OfferRequestList(BaseModel):
    items: list[OfferRequest]


class CardPaymentOut(CardCharged):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "payment_id": "3e2d1c0b-9a8f-4e7d-8c6b-5a4f3e2d1c0b",
                    "amount_cents": 1250,
                    "remaining_cents": 800,
                }
            ]
        }
    )


def json_answer(answer: BaseModel, status_code: int = 200) -> Response:
    """The service's typed answer as it is (no second validation by a response_model).
    Provider operations are public on the RPC queue: the key in the payload is the actor.
    Serialised by pydantic-core straight to bytes (the same compact JSON as JSONResponse,
    without the intermediate dict and json.dumps: part of the weborder hot path)."""
    return Response(answer.model_dump_json(), status_code=status_code, media_type=_JSON)


_JSON = "application/json"


@router.post(
    "/weborders",
    response_model=WeborderOut,
    status_code=201,
    summary="Create a weborder against a school's CJP school number (R-WEB-1)",
    description="The school's budget holder approves or rejects it in the portal. An unknown "
    "school number is refused (422). With an `Idempotency-Key` a retry answers the original "
    "weborder (201, same body) instead of creating a second one.",
    responses=error_responses(404, 409),
)
async def create_weborder(
    request: Request,
    key: ApiKey,
    weborder: Annotated[WeborderFields, Body(examples=[_WEBORDER_EXAMPLE])],
    idempotency_key: Annotated[
        Key,
        Header(
            alias="Idempotency-Key",
            description="Optional; the same key again answers the original weborder.",
        ),
    ] = "",
) -> Any:
    caller = ProviderCaller.of_key(key)
    answer = await usecase.create_weborder(request, caller, weborder, idempotency_key)
    return json_answer(answer, status_code=201)


@router.get(
    "/weborders",
    response_model=WeborderPage,
    summary="Your own weborders, newest first, optionally of one status, school or period",
    description="`school_number`: one school's weborders; `activity_from` / `activity_to` "
    "(YYYY-MM-DD, inclusive): activities on or after / on or before that day.",
)
async def list_weborders(
    request: Request,
    key: ApiKey,
    status: Annotated[WeborderStatus | None, Query()] = None,
    page: Annotated[Page, Query()] = 1,
    page_size: Annotated[PageSize, Query()] = 50,
    school_number: Annotated[int | None, Query(ge=1, le=99_999_999)] = None,
    activity_from: Annotated[date | None, Query()] = None,
    activity_to: Annotated[date | None, Query()] = None,
) -> Any:
    query = ProviderList(
        status=status,
        page=page,
        page_size=page_size,
        school_number=school_number,
        activity_from=activity_from,
        activity_to=activity_to,
    )
    answer = await usecase.weborders(request, ProviderCaller.of_key(key), query)
    return json_answer(answer)


@router.get(
    "/weborders/{weborder_id}",
    response_model=WeborderOut,
    summary="One of your weborders, with its status (and the reason when rejected or refused)",
    responses=error_responses(404),
)
async def get_weborder(request: Request, weborder_id: UUID, key: ApiKey) -> Any:
    answer = await usecase.weborder(request, ProviderCaller.of_key(key), weborder_id)
    return json_answer(answer)


@router.post(
    "/weborders/{weborder_id}/cancel",
    response_model=WeborderOut,
    summary="Withdraw a weborder the school has not approved yet",
    responses=error_responses(404, 409),
)
async def cancel_weborder(request: Request, weborder_id: UUID, key: ApiKey) -> Any:
    answer = await usecase.cancel_weborder(request, ProviderCaller.of_key(key), weborder_id)
    return json_answer(answer)


@router.post(
    "/offerings",
    status_code=201,
    response_model=OfferingOut,
    summary="Publish a new offering in the offer schools browse (R-WEB-3)",
)
async def publish_offering(
    request: Request,
    key: ApiKey,
    offering: Annotated[OfferingFields, Body(examples=[_OFFERING_EXAMPLE])],
) -> Any:
    answer = await usecase.publish_offering(request, ProviderCaller.of_key(key), offering)
    return json_answer(answer, status_code=201)


@router.put(
    "/offerings/{offering_id}",
    response_model=OfferingOut,
    summary="Change one of your offerings",
    description="A withdrawn offering cannot be changed (409 `offering_withdrawn`).",
    responses=error_responses(404, 409),
)
async def change_offering(
    request: Request,
    offering_id: UUID,
    key: ApiKey,
    offering: Annotated[OfferingFields, Body(examples=[_OFFERING_EXAMPLE])],
) -> Any:
    caller = ProviderCaller.of_key(key)
    answer = await usecase.publish_offering(request, caller, offering, offering_id)
    return json_answer(answer)


class OfferingList(BaseModel):
    items: list[Offering]


@router.get(
    "/offerings",
    response_model=OfferingList,
    summary="Your own offerings, current ones by title, then the withdrawn ones",
)
async def list_offerings(request: Request, key: ApiKey) -> Any:
    found = await usecase.offerings(request, ProviderCaller.of_key(key))
    return json_answer(OfferingList(items=found))


@router.post(
    "/offerings/{offering_id}/withdraw",
    response_model=OfferingOut,
    summary="Withdraw one of your offerings from the offer schools browse",
    description="Schools no longer find it and cannot request it; weborders and requests that "
    "name it keep their link. Withdrawing again changes nothing (`withdrawn_at` stays).",
    responses=error_responses(404),
)
async def withdraw_offering(request: Request, offering_id: UUID, key: ApiKey) -> Any:
    answer = await usecase.withdraw_offering(request, ProviderCaller.of_key(key), offering_id)
    return json_answer(answer)


@router.get(
    "/requests",
    response_model=OfferRequestList,
    summary="Requests schools sent for your offerings; answer one with a weborder that "
    "carries its request_id (R-WEB-3)",
)
async def offer_requests(request: Request, key: ApiKey) -> Any:
    requests = await usecase.offer_requests(request, ProviderCaller.of_key(key))
    return json_answer(OfferRequestList(items=requests))


class CardPaymentBody(CardCharge):
    model_config = ConfigDict(json_schema_extra={"examples": [_CHARGE_EXAMPLE]})


@router.post(
    "/card-payments",
    response_model=CardPaymentOut,
    status_code=201,
    summary="Charge a student's CJP card from their individual budget (R-WEB-6)",
    description="Refused (409) when the amount exceeds what the student has left. "
    "`provider_reference` makes a retried charge harmless: the same reference answers the "
    "first payment.",
    responses=error_responses(404, 409),
)
async def charge_card(
    request: Request,
    key: ApiKey,
    charge: Annotated[CardPaymentBody, Body(examples=[_CHARGE_EXAMPLE])],
) -> Any:
    actor = await usecase.provider_actor(request, ProviderCaller.of_key(key))
    charged = await backend.send(request, BudgetOps.CARD_CHARGE, charge, actor=actor)
    return JSONResponse(charged.model_dump(mode="json"), status_code=201)


@router.get(
    "/card-payments",
    response_model=ProviderCardPaymentPage,
    summary="Your card payments, newest first, with the school (never the student)",
    description="`total_cents` is the sum of all your card payments, not only this page's.",
)
async def list_card_payments(
    request: Request,
    key: ApiKey,
    page: Annotated[Page, Query()] = 1,
    page_size: Annotated[PageSize, Query()] = 50,
) -> Any:
    query = OwnCardPayments(page=page, page_size=page_size)
    answer = await usecase.card_payments(request, ProviderCaller.of_key(key), query)
    return json_answer(answer)


# --- issue 13: participants by CJP card number --------------------------------------------------
class CardNumbers(BaseModel):
    card_numbers: list[Annotated[str, Field(min_length=1, max_length=40)]] = Field(
        min_length=1, max_length=MAX_CARDS, description="CJP card numbers of the participants."
    )
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"card_numbers": ["1234567890128", "9876543210982"]}]}
    )


class ParticipantsNamedOut(ParticipantsNamed):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "weborder_id": "5d0c3a1e-7b2f-4c1d-9e8a-2f3b4c5d6e7f",
                    "added": 1,
                    "already_named": 0,
                    "unknown": 1,
                    "results": [
                        {
                            "card_number": "1234567890128",
                            "outcome": "added",
                            "reason": "",
                            "message": "",
                        },
                        {
                            "card_number": "0000000000000",
                            "outcome": "card_unknown",
                            "reason": "card_unknown",
                            "message": "Onbekend CJP-kaartnummer: geen student van deze school "
                            "heeft een CJP met dit nummer. De andere deelnemers zijn wel verwerkt.",
                        },
                    ],
                }
            ]
        }
    )


@router.post(
    "/weborders/{weborder_id}/participants",
    response_model=ParticipantsNamedOut,
    summary="Name the participants of one of your weborders by CJP card number (R-DOSSIER-1)",
    description="Each card number of a student of the weborder's school is added to the "
    "weborder's participants (once: naming someone again answers `already_named`); the "
    "activity then appears in the student's Cultuurkaart-dossier once the school has approved "
    "the weborder. A number no student of that school has gets `outcome: card_unknown` with a "
    "Dutch `message`; the other numbers are processed all the same (200). Not for a rejected "
    "or cancelled weborder (409). Naming again is harmless, so a retry needs no "
    "Idempotency-Key.",
    responses=error_responses(404, 409),
)
async def name_participants(
    request: Request, weborder_id: UUID, key: ApiKey, body: CardNumbers
) -> Any:
    command = NameParticipants(api_key=key, weborder_id=weborder_id, card_numbers=body.card_numbers)
    answer = await backend.send(request, Ops.PARTICIPANTS_BY_CARD, command)
    return json_answer(card_results(answer))


# --- payouts (issue 13, capability 4): the provider's reimbursement statements ------------------
_STATEMENT_EXAMPLE: dict[str, Any] = {
    "statement_id": "1f2e3d4c-5b6a-4978-8a9b-0c1d2e3f4a5b",
    "provider_id": "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d",
    "number": "U26000017",
    "period_start": "2026-03-04T23:00:00Z",
    "period_end": "2026-03-08T23:00:00Z",
    "issued_at": "2026-03-09T00:00:00Z",
    "line_count": 2,
    "total_cents": 37800,
    "status": "open",
    "paid_on": None,
    "payment_reference": "",
}


class StatementPageOut(StatementPage):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"total": 1, "items": [_STATEMENT_EXAMPLE]}]}
    )


class StatementOut(Statement):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    **_STATEMENT_EXAMPLE,
                    "lines": [
                        {
                            "booked_at": "2026-03-06T10:15:00Z",
                            "school_id": "0b9f4e1a-2c3d-4e5f-8a9b-1c2d3e4f5a6b",
                            "school_name": "Nova College",
                            "kind": "weborder",
                            "reference_id": "5d0c3a1e-7b2f-4c1d-9e8a-2f3b4c5d6e7f",
                            "description": "Weborder Stadsschouwburg: De Storm (14-03-2026)",
                            "amount_cents": 42000,
                            "correction": False,
                            "corrects_number": None,
                        },
                        {
                            "booked_at": "2026-03-07T09:00:00Z",
                            "school_id": "0b9f4e1a-2c3d-4e5f-8a9b-1c2d3e4f5a6b",
                            "school_name": "Nova College",
                            "kind": "weborder",
                            "reference_id": "6e1d4b2f-8c3a-4d2e-af9b-3a4c5d6e7f80",
                            "description": "Weborder Stadsschouwburg: Workshop (02-03-2026)",
                            "amount_cents": -4200,
                            "correction": True,
                            "corrects_number": "U26000009",
                        },
                    ],
                }
            ]
        }
    )


@router.get(
    "/statements",
    response_model=StatementPageOut,
    summary="Your reimbursement statements (uitbetalingsoverzichten), newest period first",
    description="CJP gathers what schools spent with you (approved weborders as debited from "
    "the school's budget, CJP card payments, and for CJP's transport partner Schooltoer "
    "orders) per period, twice a week by default (periods end Monday and Thursday 00:00 "
    "Europe/Amsterdam), into a statement with a number of its own series (U + year + "
    "counter, gapless). A cancelled approval whose weborder was on an earlier statement is a "
    "negative correction line on your next one. `paid=true|false` filters on whether CJP "
    "has paid it out.",
)
async def list_statements(
    request: Request,
    key: ApiKey,
    paid: Annotated[bool | None, Query()] = None,
    page: Annotated[Page, Query()] = 1,
    page_size: Annotated[PageSize, Query()] = 50,
) -> Any:
    query = ProviderStatementQuery(paid=paid, page=page, page_size=page_size)
    return json_answer(await payouts.own_statements(request, ProviderCaller.of_key(key), query))


@router.get(
    "/statements/{statement_id}",
    response_model=StatementOut,
    summary="One of your statements with its lines (date, school, description, amount)",
    responses=error_responses(404),
)
async def get_statement(request: Request, statement_id: UUID, key: ApiKey) -> Any:
    return json_answer(
        await payouts.own_statement(request, ProviderCaller.of_key(key), statement_id)
    )


@router.get(
    "/statements/{statement_id}/pdf",
    response_class=Response,
    summary="One of your statements as a PDF (Uitbetalingsoverzicht, Dutch, A4)",
    responses={
        200: {"content": {"application/pdf": {}}, "description": "The PDF"},
        **error_responses(404),
    },
)
async def statement_pdf(request: Request, statement_id: UUID, key: ApiKey) -> Response:
    return await payouts.own_statement_pdf(request, ProviderCaller.of_key(key), statement_id)


PROVIDER_TAG = {"name": "provider", "description": DESCRIPTION}
