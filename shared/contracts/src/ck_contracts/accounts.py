"""Messages of the accounts service: schools (R-SCHOOL-1), users, sessions, password links."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from ck_contracts.bounds import (
    Code,
    Email,
    Name,
    Password,
    Phone,
    RequiredEmail,
    RequiredName,
    Secret,
    ShortText,
)
from ck_contracts.messaging import Event, register_event
from ck_contracts.roles import Actor

SERVICE = "accounts"

MAX_BRIN_CODES = 20
MAX_LOCATIONS = 100
MAX_CONTACTS = 10


# --- events -----------------------------------------------------------------------------------
@register_event
class SchoolRegistered(Event):
    """A school joined the programme. Other services keep their own list of schools from it."""

    routing_key = "accounts.school.registered"
    school_number: int
    name: str = ""  # the school's name (not personal data): for mails and invoices
    duo_student_count: int | None = None  # prefilled in the budget order form (R-BUDGET-2)


@register_event
class SchoolSettingsChanged(Event):
    """Instellingen changed. Carries the figures other services use, no contact details."""

    routing_key = "accounts.school.settings_changed"
    school_number: int
    duo_student_count: int
    name: str = ""


# --- shared shapes ------------------------------------------------------------------------------
class Contact(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True)

    name: RequiredName
    role: ShortText = ""
    email: Email = ""
    phone: Phone = ""


class SchoolSettings(BaseModel):
    """What Instellingen edits (R-SCHOOL-1)."""

    model_config = ConfigDict(str_strip_whitespace=True)

    name: RequiredName
    brin_codes: list[Code] = Field(min_length=1, max_length=MAX_BRIN_CODES)
    locations: list[Name] = Field(default_factory=list, max_length=MAX_LOCATIONS)
    duo_student_count: int = Field(ge=0, le=1_000_000)
    contacts: list[Contact] = Field(default_factory=list, max_length=MAX_CONTACTS)
    default_order_reference: ShortText = ""


class School(SchoolSettings):
    school_id: UUID
    school_number: int


class Person(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True)

    name: RequiredName
    email: RequiredEmail


# --- operations (RPC payloads and results) -----------------------------------------------------
class RegisterSchool(BaseModel):
    settings: SchoolSettings
    budget_holder: Person


class SchoolRef(BaseModel):
    school_id: UUID


class UpdateSchool(BaseModel):
    school_id: UUID
    settings: SchoolSettings


class RegisteredSchool(BaseModel):
    school_id: UUID
    school_number: int


class Credentials(BaseModel):
    """What a user types to log in (the JSON API's body)."""

    email: Email
    password: Password


Token = Annotated[str, Secret(128, min_length=16)]


class Login(Credentials):
    # Who is trying, for the per-address throttle: the gateway sends a keyed hash of the
    # client's address, never the address itself. None: only the account is throttled.
    client: str | None = Field(default=None, min_length=1, max_length=128)


class SessionToken(BaseModel):
    token: Token


class SessionInfo(BaseModel):
    """What the gateway needs to serve a logged-in user."""

    actor: Actor
    user_name: str
    email: str
    school_number: int | None = None
    school_name: str | None = None
    expires_at: datetime


class LoginResult(SessionInfo):
    token: str


class PasswordLink(BaseModel):
    token: Token


class PasswordLinkInfo(BaseModel):
    email: str
    user_name: str


class SetPassword(BaseModel):
    token: Token
    password: Password


class DocentPlusGrant(BaseModel):
    """Menu Docenten+: give a teacher with an active membership portal access (R-ROLE-2).
    name and email come from the school's teacher roster (the gateway reads the person)."""

    model_config = ConfigDict(str_strip_whitespace=True)

    school_id: UUID
    person_id: UUID
    name: RequiredName
    email: RequiredEmail


class DocentPlusRef(BaseModel):
    school_id: UUID
    person_id: UUID


class DocentPlusAccess(BaseModel):
    person_id: UUID
    user_id: UUID
    email: str
    name: str
    granted_at: datetime


class DocentPlusList(BaseModel):
    items: list[DocentPlusAccess]


class Ops:
    """Operation names on the accounts RPC queue."""

    DOCENT_PLUS_LIST = "docent_plus.list"
    DOCENT_PLUS_GRANT = "docent_plus.grant"
    DOCENT_PLUS_REVOKE = "docent_plus.revoke"

    LOGIN = "auth.login"
    SESSION = "auth.session"
    LOGOUT = "auth.logout"
    PASSWORD_LINK_CHECK = "auth.password_link.check"
    PASSWORD_LINK_USE = "auth.password_link.use"
    SCHOOL_REGISTER = "school.register"
    SCHOOL_GET = "school.get"
    SCHOOL_UPDATE = "school.update"
    SCHOOL_LIST = "school.list"
