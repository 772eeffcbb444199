"""Messages of the weborders service: cultural providers and their API keys, their offer,
weborders, Schooltoer orders, offer requests, the Cultuurkaart-dossier (R-WEB-1..6, R-ROLE-3,
R-DOSSIER-1). Money is integer euro cents; money only moves in the budget service.

The approval saga (R-WEB-2):
  budget holder approves -> WeborderApproved (status: approving) -> budget debits the
  collective balance under its row lock -> BudgetDebited or BudgetDebitRefused (budget.py's
  saga events) -> the weborder ends approved or refused, with the budget's reason code and
  params (refusal_code, refusal_params; the gateway renders the Dutch).
  Refused for lack of balance (insufficient_balance) -> the budget holder may approve again
  ("opnieuw goedkeuren", WEBORDER_REAPPROVE): the same saga once more (WeborderApproved with a
  new event id; WeborderReapproved tells the provider). A refusal because the programme period
  is over (period_over) is final: after R-BUDGET-8 nothing can ever be debited.
  A cancelled approval after the fact -> WeborderApprovalCancelled -> the budget credits the
  amount back with a ledger entry (BudgetCredited).
Schooltoer orders run the same course (SchooltoerOrdered). Card payments (R-WEB-6) are a
synchronous call from the provider API to the budget service (budget.card.charge): a till
needs its answer at once; the budget publishes CardPaymentMade for the export and dossier.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any, TypeVar
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from ck_contracts.audit import audit_list_op
from ck_contracts.bounds import (
    KEY_MAX,
    Email,
    Key,
    LongText,
    Page,
    PageSize,
    Reason,
    RequiredEmail,
    RequiredLongText,
    RequiredMessage,
    RequiredName,
    RequiredReason,
    RequiredShortText,
    SearchText,
    Secret,
    ShortText,
)
from ck_contracts.messaging import Event, register_event
from ck_contracts.operations import Audience, Operation
from ck_contracts.roles import Permission
from ck_contracts.rpc import Empty, Param, Reasons

SERVICE = "weborders"
Req = TypeVar("Req", bound=BaseModel)

MAX_AMOUNT_CENTS = 10_000_000  # EUR 100.000: anything above is a typing error, not an order


class WeborderStatus(StrEnum):
    SUBMITTED = "ingediend"  # waiting for the budget holder
    APPROVING = "in_behandeling"  # approved by the school; the budget is being debited
    APPROVED = "goedgekeurd"  # debited
    REFUSED = "geweigerd"  # the budget refused the debit (balance too low, period over)
    REJECTED = "afgekeurd"  # the budget holder rejected it, with a reason
    CANCELLED = "geannuleerd"  # by the provider before approval, or the approval cancelled


class DebitKind(StrEnum):
    WEBORDER = "weborder"
    SCHOOLTOER = "schooltoer"


# --- events (weborders -> budget and others) -------------------------------------------------
@register_event
class WeborderApproved(Event):
    """The budget holder approved: debit the collective balance (school_id set)."""

    routing_key = "weborders.weborder.approved"
    weborder_id: UUID
    provider_id: UUID
    amount_cents: int = Field(gt=0, le=MAX_AMOUNT_CENTS)
    description: str  # for the ledger: "Weborder <provider>: <activity> (<date>)"


@register_event
class WeborderApprovalCancelled(Event):
    """An approved (debited) weborder was cancelled after the fact: credit it back."""

    routing_key = "weborders.weborder.approval_cancelled"
    weborder_id: UUID
    amount_cents: int = Field(gt=0, le=MAX_AMOUNT_CENTS)
    description: str


@register_event
class SchooltoerOrdered(Event):
    """Transport tickets ordered (R-WEB-4): debit like a weborder (school_id set)."""

    routing_key = "weborders.schooltoer.ordered"
    order_id: UUID
    amount_cents: int = Field(gt=0, le=MAX_AMOUNT_CENTS)
    description: str


@register_event
class WeborderSettled(Event):
    """A weborder reached approved (debited). Ids only. The dossier is the weborders service's
    own (R-DOSSIER-1: it reads its participants table), so this event is for others: the
    provider's mail, the payouts. `provider_id` and `attempt` since issue 13 (empty / 1 from an
    older publisher)."""

    routing_key = "weborders.weborder.settled"
    weborder_id: UUID
    participant_ids: list[UUID] = Field(default_factory=list, max_length=5_000)
    provider_id: UUID | None = None
    attempt: int = Field(default=1, ge=1)  # 2 and up: approved after "opnieuw goedkeuren"


# --- issue 13: the weborder lifecycle (re-approval after a refusal for balance) ---------------
@register_event
class WeborderReapproved(Event):
    """The budget holder approved a weborder again after the budget refused it for lack of
    balance ("opnieuw goedkeuren"): the budget is asked to debit it once more (a
    WeborderApproved in the same transaction). For the provider's mail (issue 13, capability
    5): ids and figures only, no personal data. The outcome follows as WeborderSettled (with
    the same `attempt`) or another refusal."""

    routing_key = "weborders.weborder.reapproved"
    weborder_id: UUID
    provider_id: UUID
    amount_cents: int = Field(gt=0, le=MAX_AMOUNT_CENTS)
    attempt: int = Field(ge=2)  # the how-manieth approval this is


# --- shapes -----------------------------------------------------------------------------------
class ProviderFields(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True)

    name: RequiredName
    kvk_number: str = Field(pattern=r"^[0-9]{8}$")  # Dutch Chamber of Commerce: 8 digits
    contact_name: RequiredName
    contact_email: RequiredEmail


class Provider(ProviderFields):
    provider_id: UUID
    created_at: datetime


class ApiKeyInfo(BaseModel):
    key_id: UUID
    prefix: str  # the first characters, to recognise a key ("ck_live_AbCd")
    created_at: datetime
    revoked_at: datetime | None = None
    # Provider portal (issue 13): when the key last authenticated a call, to the minute (the
    # service writes it at most once a minute per key).
    last_used_at: datetime | None = None


class IssuedApiKey(ApiKeyInfo):
    secret: str  # shown once; stored only as a keyed hash


class OfferingFields(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True)

    title: RequiredName
    description: LongText = ""
    discipline: ShortText = ""  # theater, museum, muziek, ...
    city: ShortText = ""
    price_cents: int = Field(ge=0, le=MAX_AMOUNT_CENTS)  # per participant


class Offering(OfferingFields):
    offering_id: UUID
    provider_id: UUID
    provider_name: str
    updated_at: datetime
    # Provider portal (issue 13): a withdrawn offering leaves the offer schools browse, takes no
    # new requests and is no longer edited; weborders and requests made before keep their link.
    withdrawn_at: datetime | None = None


class WeborderFields(BaseModel):
    """What a provider posts (R-WEB-1)."""

    model_config = ConfigDict(str_strip_whitespace=True)

    school_number: int = Field(ge=1, le=99_999_999)
    activity: RequiredName
    activity_date: date
    participants: int = Field(ge=1, le=10_000)
    amount_cents: int = Field(gt=0, le=MAX_AMOUNT_CENTS)
    provider_reference: ShortText = ""
    docent_plus_email: Email = ""  # who arranged it, optional
    offering_id: UUID | None = None
    request_id: UUID | None = None  # the school's offer request it answers (R-WEB-3)
    participant_ids: list[UUID] = Field(default_factory=list, max_length=5_000)


class Weborder(WeborderFields):
    weborder_id: UUID
    school_id: UUID
    provider_id: UUID
    provider_name: str
    status: WeborderStatus
    # The school's rejection or cancellation reason (its own words). For a refusal by the
    # budget: empty, see refusal_code; a refusal recorded before issue 13 keeps its Dutch
    # text here. The gateway's answers fill it with the catalogue's Dutch for a refusal code.
    reason: str = ""
    created_at: datetime
    decided_at: datetime | None = None
    # Why the budget refused the debit: a BudgetReason (insufficient_balance, period_over) and
    # its params; empty unless geweigerd.
    refusal_code: str = ""
    refusal_params: dict[str, Param] = Field(default_factory=dict)
    reapprovable: bool = False  # geweigerd for lack of balance: "opnieuw goedkeuren" is offered
    attempt: int = 1  # how many times the school approved it


class WeborderPage(BaseModel):
    total: int
    items: list[Weborder]


class SchooltoerFields(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True)

    travel_date: date
    from_place: RequiredShortText
    to_place: RequiredShortText
    travellers: int = Field(ge=1, le=2_000)
    amount_cents: int = Field(gt=0, le=MAX_AMOUNT_CENTS)


class SchooltoerOrder(SchooltoerFields):
    order_id: UUID
    school_id: UUID
    status: WeborderStatus  # approving -> approved / refused
    reason: str = ""  # legacy Dutch refusal (before issue 13); see refusal_code
    created_at: datetime
    refusal_code: str = ""
    refusal_params: dict[str, Param] = Field(default_factory=dict)


class OfferRequest(BaseModel):
    request_id: UUID
    school_id: UUID
    school_number: int
    offering_id: UUID
    offering_title: str
    message: str
    requested_by: str  # the Docent+'s or budget holder's name, for the provider to reply to
    created_at: datetime


class DossierEntry(BaseModel):
    at: date
    kind: str  # "activiteit", "kaartbetaling", "notitie"
    text: str
    author: str = ""


class Dossier(BaseModel):
    person_id: UUID
    entries: list[DossierEntry]


# --- operations -------------------------------------------------------------------------------
class ProviderAuth(BaseModel):
    """Who the provider is, on every provider operation. From the API: the key as sent, which
    the service checks (keyed hash). From the provider portal (issue 13): no key (""); the
    gateway sends the session's Actor (role provider, provider_id) and the service uses the
    actor's provider_id, never a provider id from the payload."""

    api_key: Annotated[str, Secret(KEY_MAX)] = ""


class CreateWeborder(ProviderAuth):
    idempotency_key: Key = ""
    weborder: WeborderFields


class ProviderWeborderRef(ProviderAuth):
    weborder_id: UUID


class ProviderList(ProviderAuth):
    status: WeborderStatus | None = None
    page: Page = 1
    page_size: PageSize = 50
    # Provider portal filters (issue 13): one school, activity dates from/to (inclusive).
    school_number: int | None = Field(default=None, ge=1, le=99_999_999)
    activity_from: date | None = None
    activity_to: date | None = None


class PublishOffering(ProviderAuth):
    offering_id: UUID | None = None  # None: a new offering
    offering: OfferingFields


# --- provider portal (issue 13) ---
class ProviderOfferingRef(ProviderAuth):
    offering_id: UUID


class OwnKeyRef(BaseModel):
    """One of the logged-in provider's own keys (the provider comes from the actor)."""

    key_id: UUID


class RegisterProvider(BaseModel):
    provider: ProviderFields


class ProviderRef(BaseModel):
    provider_id: UUID


class RevokeKey(BaseModel):
    provider_id: UUID
    key_id: UUID


class SchoolWeborders(BaseModel):
    school_id: UUID
    status: WeborderStatus | None = None
    page: Page = 1
    page_size: PageSize = 50


class DecideWeborder(BaseModel):
    school_id: UUID
    weborder_id: UUID
    approve: bool
    reason: Reason = ""  # required when rejecting


class CancelApproval(BaseModel):
    school_id: UUID
    weborder_id: UUID
    reason: RequiredReason


class OrderSchooltoer(SchooltoerFields):
    school_id: UUID


class SearchOffer(BaseModel):
    text: SearchText = ""
    discipline: SearchText = ""
    city: SearchText = ""
    page: Page = 1


class RequestOffering(BaseModel):
    school_id: UUID
    offering_id: UUID
    message: RequiredMessage
    requested_by: RequiredName


class SchoolRef(BaseModel):
    school_id: UUID


class DossierRef(BaseModel):
    school_id: UUID
    person_id: UUID


class AddNote(DossierRef):
    text: RequiredLongText
    author: RequiredName


class ExportFile(BaseModel):
    filename: str
    content_b64: str


# --- issue 13: re-approval and participants -----------------------------------------------------
MAX_MARK = 5_000  # people per participants change (the roster picker sends one page at a time)
MAX_CARDS = 1_000  # card numbers per provider call


class ReapproveWeborder(BaseModel):
    school_id: UUID
    weborder_id: UUID


class SchoolWeborderRef(BaseModel):
    school_id: UUID
    weborder_id: UUID


class MarkParticipants(BaseModel):
    """The school marks who took part (picked from its roster): `add` are added, `remove`
    taken off; everyone else stays as they are (so a paged picker sends one page's ticks)."""

    school_id: UUID
    weborder_id: UUID
    add: list[UUID] = Field(default_factory=list, max_length=MAX_MARK)
    remove: list[UUID] = Field(default_factory=list, max_length=MAX_MARK)


CardNumber = Annotated[str, Field(min_length=1, max_length=40)]


class NameParticipants(ProviderAuth):
    """A provider names participants by their CJP card number (R-DOSSIER-1)."""

    weborder_id: UUID
    card_numbers: list[CardNumber] = Field(min_length=1, max_length=MAX_CARDS)


class CardOutcome(StrEnum):
    ADDED = "added"
    ALREADY = "already_named"
    UNKNOWN = "card_unknown"  # no student of this school has this card (or not a card at all)


class NamedCard(BaseModel):
    card_number: str  # as the provider sent it (it is the provider's own input)
    outcome: CardOutcome
    reason: str = ""  # a WebordersReason when not added: the gateway adds `message`
    message: str = ""


class ParticipantsNamed(BaseModel):
    weborder_id: UUID
    added: int
    already_named: int
    unknown: int
    results: list[NamedCard]


class WebordersReason(Reasons):
    """Why the weborders service says no; the gateway's catalogue has the Dutch. The provider
    API answers with these codes, so a provider's program can branch on them."""

    # CJP admin
    KVK_TAKEN = "provider_kvk_taken"
    PROVIDER_NOT_FOUND = "provider_not_found"
    API_KEY_NOT_FOUND = "api_key_not_found"
    # the provider API
    API_KEY_INVALID = "api_key_invalid"  # unknown, revoked or not a key at all
    SCHOOL_NUMBER_UNKNOWN = "school_number_unknown"
    OFFERING_NOT_FOUND = "offering_not_found"
    OFFER_REQUEST_NOT_FOUND = "offer_request_not_found"  # or another school's request
    PARTICIPANTS_NOT_ON_ROSTER = "participants_not_on_roster"  # {count, shown}
    IDEMPOTENCY_KEY_REUSED = "idempotency_key_reused"
    WEBORDER_NOT_CANCELLABLE = "weborder_not_cancellable"  # {status}
    # provider portal (issue 13)
    OFFERING_WITHDRAWN = "offering_withdrawn"  # edit or request a withdrawn offering
    PROVIDER_ACTOR_REQUIRED = "provider_actor_required"  # no key and no provider actor
    # the school
    WEBORDER_NOT_FOUND = "weborder_not_found"
    REJECTION_REASON_REQUIRED = "rejection_reason_required"
    WEBORDER_ALREADY_DECIDED = "weborder_already_decided"  # {status}
    APPROVAL_NOT_CANCELLABLE = "approval_not_cancellable"  # {status}
    TRAVEL_DATE_IN_PAST = "travel_date_in_past"  # {travel_date, today}
    STUDENT_NOT_ON_ROSTER = "student_not_on_roster"
    # issue 13: re-approval and participants
    WEBORDER_NOT_REFUSED = "weborder_not_refused"  # {status}: only a refused one is re-approved
    REFUSAL_FINAL = "weborder_refusal_final"  # {code}: refused for another reason than balance
    PARTICIPANTS_NOT_MARKABLE = "participants_not_markable"  # {status}: rejected or cancelled
    CARD_UNKNOWN = "card_unknown"  # per card number in ParticipantsNamed.results


R = WebordersReason
_KEY = (R.API_KEY_INVALID, R.PROVIDER_ACTOR_REQUIRED)


def _admin(
    name: str, request: type[Req], response: Any, reasons: tuple[str, ...] = ()
) -> Operation[Req, Any]:
    admin, permission = Audience.ADMIN, Permission.REGISTER_PROVIDER
    return Operation(SERVICE, name, request, response, admin, permission, reasons=reasons)


def _provider(
    name: str, request: type[Req], response: Any, reasons: tuple[str, ...] = ()
) -> Operation[Req, Any]:
    # Public on the RPC queue: the API key in the payload authenticates the provider (checked
    # by the service on every call), or, without a key, the portal's provider actor (issue 13).
    return Operation(SERVICE, name, request, response, Audience.PUBLIC, reasons=_KEY + reasons)


def _own(
    name: str, request: type[Req], response: Any, reasons: tuple[str, ...] = ()
) -> Operation[Req, Any]:
    # Provider portal only (issue 13): the logged-in provider user as the actor, never a key.
    provider, permission = Audience.PROVIDER, Permission.MANAGE_API_KEYS
    return Operation(SERVICE, name, request, response, provider, permission, reasons=reasons)


def _school(
    name: str,
    request: type[Req],
    response: Any,
    permission: Permission,
    reasons: tuple[str, ...] = (),
) -> Operation[Req, Any]:
    return Operation(
        SERVICE,
        name,
        request,
        response,
        Audience.SCHOOL,
        permission=permission,
        school_scoped=True,
        reasons=reasons,
    )


class Ops:
    """The operations of the weborders service (wire names unchanged)."""

    # --- audit trail (issue 13): the same read operation in every service that records ---
    AUDIT_LIST = audit_list_op(SERVICE)

    # CJP admin
    PROVIDER_REGISTER: Operation[RegisterProvider, Provider] = _admin(
        "provider.register", RegisterProvider, Provider, (R.KVK_TAKEN,)
    )
    PROVIDER_LIST: Operation[Empty, list[Provider]] = _admin("provider.list", Empty, list[Provider])
    KEY_ISSUE: Operation[ProviderRef, IssuedApiKey] = _admin(
        "provider.key.issue", ProviderRef, IssuedApiKey, (R.PROVIDER_NOT_FOUND,)
    )
    KEY_REVOKE: Operation[RevokeKey, ApiKeyInfo] = _admin(
        "provider.key.revoke", RevokeKey, ApiKeyInfo, (R.API_KEY_NOT_FOUND,)
    )
    KEY_LIST: Operation[ProviderRef, list[ApiKeyInfo]] = _admin(
        "provider.key.list", ProviderRef, list[ApiKeyInfo]
    )
    # provider API (authenticated by the API key in the payload)
    PROVIDER_AUTHENTICATE: Operation[ProviderAuth, Provider] = _provider(
        "provider.authenticate",
        ProviderAuth,
        Provider,  # card payments ask this first
    )
    WEBORDER_CREATE: Operation[CreateWeborder, Weborder] = _provider(
        "provider.weborder.create",
        CreateWeborder,
        Weborder,
        (
            R.SCHOOL_NUMBER_UNKNOWN,
            R.OFFERING_NOT_FOUND,
            R.OFFER_REQUEST_NOT_FOUND,
            R.PARTICIPANTS_NOT_ON_ROSTER,
            R.IDEMPOTENCY_KEY_REUSED,
        ),
    )
    WEBORDER_LIST_OWN: Operation[ProviderList, WeborderPage] = _provider(
        "provider.weborder.list", ProviderList, WeborderPage
    )
    WEBORDER_GET_OWN: Operation[ProviderWeborderRef, Weborder] = _provider(
        "provider.weborder.get", ProviderWeborderRef, Weborder, (R.WEBORDER_NOT_FOUND,)
    )
    WEBORDER_CANCEL_OWN: Operation[ProviderWeborderRef, Weborder] = _provider(
        "provider.weborder.cancel",
        ProviderWeborderRef,
        Weborder,
        (R.WEBORDER_NOT_FOUND, R.WEBORDER_NOT_CANCELLABLE),
    )
    OFFERING_PUBLISH: Operation[PublishOffering, Offering] = _provider(
        "provider.offering.publish",
        PublishOffering,
        Offering,
        (R.OFFERING_NOT_FOUND, R.OFFERING_WITHDRAWN),
    )
    REQUESTS_OWN: Operation[ProviderAuth, list[OfferRequest]] = _provider(
        "provider.requests", ProviderAuth, list[OfferRequest]
    )
    # issue 13: participants named by CJP card number; unknown numbers are reported per item
    PARTICIPANTS_BY_CARD: Operation[NameParticipants, ParticipantsNamed] = _provider(
        "provider.weborder.participants",
        NameParticipants,
        ParticipantsNamed,
        (R.WEBORDER_NOT_FOUND, R.PARTICIPANTS_NOT_MARKABLE),
    )
    # --- provider portal (issue 13): the key or the provider actor, like the ones above ---
    OFFERINGS_OWN: Operation[ProviderAuth, list[Offering]] = _provider(
        "provider.offering.list", ProviderAuth, list[Offering]
    )
    OFFERING_WITHDRAW: Operation[ProviderOfferingRef, Offering] = _provider(
        "provider.offering.withdraw", ProviderOfferingRef, Offering, (R.OFFERING_NOT_FOUND,)
    )
    # the provider's own API keys: a portal session only (a key cannot make keys)
    OWN_KEY_LIST: Operation[Empty, list[ApiKeyInfo]] = _own(
        "provider.own_key.list", Empty, list[ApiKeyInfo]
    )
    OWN_KEY_ISSUE: Operation[Empty, IssuedApiKey] = _own(
        "provider.own_key.issue", Empty, IssuedApiKey, (R.PROVIDER_NOT_FOUND,)
    )
    OWN_KEY_REVOKE: Operation[OwnKeyRef, ApiKeyInfo] = _own(
        "provider.own_key.revoke", OwnKeyRef, ApiKeyInfo, (R.API_KEY_NOT_FOUND,)
    )
    # school
    WEBORDER_LIST: Operation[SchoolWeborders, WeborderPage] = _school(
        "weborder.list", SchoolWeborders, WeborderPage, Permission.VIEW_SCHOOL
    )
    WEBORDER_DECIDE: Operation[DecideWeborder, Weborder] = _school(
        "weborder.decide",
        DecideWeborder,
        Weborder,
        Permission.APPROVE_WEBORDERS,
        (
            R.WEBORDER_NOT_FOUND,
            R.REJECTION_REASON_REQUIRED,
            R.WEBORDER_ALREADY_DECIDED,
        ),
    )
    WEBORDER_CANCEL_APPROVAL: Operation[CancelApproval, Weborder] = _school(
        "weborder.cancel_approval",
        CancelApproval,
        Weborder,
        Permission.APPROVE_WEBORDERS,
        (R.WEBORDER_NOT_FOUND, R.APPROVAL_NOT_CANCELLABLE),
    )
    # issue 13: "opnieuw goedkeuren" after a refusal for lack of balance; the participants
    WEBORDER_REAPPROVE: Operation[ReapproveWeborder, Weborder] = _school(
        "weborder.reapprove",
        ReapproveWeborder,
        Weborder,
        Permission.APPROVE_WEBORDERS,
        (R.WEBORDER_NOT_FOUND, R.WEBORDER_NOT_REFUSED, R.REFUSAL_FINAL),
    )
    WEBORDER_GET: Operation[SchoolWeborderRef, Weborder] = _school(
        "weborder.get",
        SchoolWeborderRef,
        Weborder,
        Permission.VIEW_SCHOOL,
        (R.WEBORDER_NOT_FOUND,),
    )
    PARTICIPANTS_MARK: Operation[MarkParticipants, Weborder] = _school(
        "weborder.participants.mark",
        MarkParticipants,
        Weborder,
        Permission.APPROVE_WEBORDERS,
        (R.WEBORDER_NOT_FOUND, R.PARTICIPANTS_NOT_MARKABLE, R.PARTICIPANTS_NOT_ON_ROSTER),
    )
    # Spends the collective budget, so only who may approve weborders orders it.
    SCHOOLTOER_ORDER: Operation[OrderSchooltoer, SchooltoerOrder] = _school(
        "schooltoer.order",
        OrderSchooltoer,
        SchooltoerOrder,
        Permission.APPROVE_WEBORDERS,
        (R.TRAVEL_DATE_IN_PAST,),
    )
    SCHOOLTOER_LIST: Operation[SchoolRef, list[SchooltoerOrder]] = _school(
        "schooltoer.list", SchoolRef, list[SchooltoerOrder], Permission.VIEW_SCHOOL
    )
    # The offer is the same for every school: no school in the request.
    OFFER_SEARCH: Operation[SearchOffer, list[Offering]] = Operation(
        SERVICE,
        "offer.search",
        SearchOffer,
        list[Offering],
        Audience.SCHOOL,
        permission=Permission.BROWSE_OFFER,
    )
    OFFER_REQUEST: Operation[RequestOffering, OfferRequest] = _school(
        "offer.request",
        RequestOffering,
        OfferRequest,
        Permission.REQUEST_OFFER,
        (R.OFFERING_NOT_FOUND,),
    )
    EXPORT: Operation[SchoolRef, ExportFile] = _school(
        "spending.export", SchoolRef, ExportFile, Permission.VIEW_SCHOOL
    )
    DOSSIER_GET: Operation[DossierRef, Dossier] = _school(
        "dossier.get", DossierRef, Dossier, Permission.VIEW_DOSSIER, (R.STUDENT_NOT_ON_ROSTER,)
    )
    DOSSIER_NOTE: Operation[AddNote, DossierEntry] = _school(
        "dossier.note",
        AddNote,
        DossierEntry,
        Permission.WRITE_DOSSIER_NOTE,
        (R.STUDENT_NOT_ON_ROSTER,),
    )
