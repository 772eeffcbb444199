"""Messages of the accounts service: schools (R-SCHOOL-1), users, sessions, password links."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from ck_contracts.audit import audit_list_op
from ck_contracts.bounds import (
    Code,
    Email,
    Name,
    Password,
    Phone,
    Postcode,
    RequiredEmail,
    RequiredName,
    Secret,
    ShortText,
)
from ck_contracts.messaging import Event, register_event
from ck_contracts.operations import Audience, Operation
from ck_contracts.roles import Actor, Permission
from ck_contracts.rpc import Empty, FieldError, FieldProblems, Reasons

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
    # The postal address (an organisation's, not personal data) for the invoice (R-INVOICE-2).
    # None: sent before addresses travelled; "" is an address left empty.
    street: str | None = None
    postcode: str | None = None
    city: str | None = None


@register_event
class SchoolSettingsChanged(Event):
    """Instellingen changed. Carries the figures other services use, no contact details."""

    routing_key = "accounts.school.settings_changed"
    school_number: int
    duo_student_count: int
    name: str = ""
    street: str | None = None  # the postal address, as in SchoolRegistered
    postcode: str | None = None
    city: str | None = None


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
    # Issue 14: the postal address, printed on invoices (R-INVOICE-2). Optional: schools
    # registered before it have none until Instellingen is saved with one.
    street: ShortText = ""  # street and house number, one line ("Kerkstraat 12a")
    postcode: Postcode = ""  # Dutch format, stored as "1234 AB"
    city: ShortText = ""


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


class CheckSchoolInput(BaseModel):
    """Issue 14 (one round of errors): the parts of a settings or registration form that only
    accounts' rules judge, as typed, so a page that refuses the form already can show these
    problems too. Nothing is stored. Contacts by their index in the command's list; "" for a
    contact without an address."""

    brin_codes: list[Annotated[str, Field(max_length=64)]] = Field(
        default_factory=list, max_length=MAX_BRIN_CODES
    )
    contact_emails: list[Annotated[str, Field(max_length=254)]] = Field(
        default_factory=list, max_length=MAX_CONTACTS
    )
    budget_holder_email: Annotated[str, Field(max_length=254)] | None = None


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
    provider_name: str | None = None  # provider users (issue 13): their provider's name


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


# --- provider users (issue 13) ---
class InviteProviderUser(BaseModel):
    """Menu Aanbieders: a CJP admin gives a cultural provider's employee a portal account with
    role provider; they get a mail with a link to set a password (as a budget holder does).
    provider_name is the weborders service's name of the provider, for the mail and the
    portal's header (accounts keeps a copy; weborders owns providers)."""

    model_config = ConfigDict(str_strip_whitespace=True)

    provider_id: UUID
    provider_name: RequiredName
    name: RequiredName
    email: RequiredEmail


class ProviderUsersRef(BaseModel):
    provider_id: UUID


class ProviderUser(BaseModel):
    user_id: UUID
    provider_id: UUID
    name: str
    email: str
    created_at: datetime
    password_set: bool  # False until the link in the mail was used


class AccountsReason(Reasons):
    """What the accounts service may answer with, besides the common reasons; the gateway's
    catalogue has the Dutch ("# === accounts")."""

    # log-in, sessions, password links
    WRONG_LOGIN = "wrong_login"  # the same for an unknown account and a wrong password
    LOGIN_THROTTLED = "login_throttled"  # params: seconds (also retry_after_seconds)
    SESSION_EXPIRED = "session_expired"
    PASSWORD_LINK_UNUSABLE = "password_link_unusable"  # used, expired or its account gone
    # password rules (field "password")
    PASSWORD_TOO_SHORT = "password_too_short"  # params: min_length
    PASSWORD_TOO_LONG = "password_too_long"  # params: max_length
    PASSWORD_IS_EMAIL = "password_is_email"
    PASSWORD_TOO_SIMPLE = "password_too_simple"
    # schools (R-SCHOOL-1)
    EMAIL_INVALID = "email_invalid"  # a user's address (field)
    CONTACT_EMAIL_INVALID = "contact_email_invalid"  # a contact's address in the settings
    BRIN_INVALID = "brin_invalid"  # params: brin
    BRIN_REQUIRED = "brin_required"
    ACCOUNT_EXISTS = "account_exists"  # the budget holder's address has an account already
    EMAIL_IN_USE = "email_in_use"  # the same, as the field's reason
    REGISTRATION_RACED = "school_registration_raced"  # try again
    SCHOOL_NOT_FOUND = "school_not_found"
    # Docent+ (R-ROLE-2)
    NO_ACTIVE_MEMBERSHIP = "docent_plus_no_active_membership"
    TEACHER_EMAIL_TAKEN = "docent_plus_email_taken"
    TEACHER_EMAIL_INVALID = "docent_plus_email_invalid"
    NO_DOCENT_PLUS_ACCESS = "docent_plus_no_access"
    # CJP admins (the command line)
    NOT_AN_ADMIN_ACCOUNT = "not_an_admin_account"
    # provider users (issue 13)
    PROVIDER_USER_EMAIL_TAKEN = "provider_user_email_taken"


_R = AccountsReason
_PASSWORD_RULES = (
    _R.PASSWORD_TOO_SHORT,
    _R.PASSWORD_TOO_LONG,
    _R.PASSWORD_IS_EMAIL,
    _R.PASSWORD_TOO_SIMPLE,
)
_SETTINGS_RULES = (_R.BRIN_INVALID, _R.BRIN_REQUIRED, _R.CONTACT_EMAIL_INVALID)


# --- password rules (issue 14, "setpw": one round of errors on the set-password page) ---------
# A pure rule in the contract, like the postcode's: accounts applies it to every password it
# stores (ck_accounts.domain re-exports it), the gateway's set-password page applies it to what
# was typed so that a mistyped repeat and a weak password are reported together. No I/O.
MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 128


def password_error(password: str, email: str) -> FieldError | None:
    """None when the password is acceptable for the account with this e-mail address;
    otherwise the rule it breaks (the field "password")."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return FieldError(
            reason=_R.PASSWORD_TOO_SHORT, params={"min_length": MIN_PASSWORD_LENGTH}
        )
    if len(password) > MAX_PASSWORD_LENGTH:
        return FieldError(reason=_R.PASSWORD_TOO_LONG, params={"max_length": MAX_PASSWORD_LENGTH})
    if password.strip().lower() == email.strip().lower():
        return FieldError(reason=_R.PASSWORD_IS_EMAIL)
    if len(set(password)) < 4:
        return FieldError(reason=_R.PASSWORD_TOO_SIMPLE)
    return None


class Ops:
    """The accounts operations (the wire names are the `name`s)."""

    # --- audit trail (issue 13): the same read operation in every service that records ---
    AUDIT_LIST = audit_list_op(SERVICE)

    # --- public: no actor ---
    LOGIN = Operation[Login, LoginResult](
        SERVICE,
        "auth.login",
        Login,
        LoginResult,
        Audience.PUBLIC,
        reasons=(_R.WRONG_LOGIN, _R.LOGIN_THROTTLED),
    )
    SESSION = Operation[SessionToken, SessionInfo](
        SERVICE,
        "auth.session",
        SessionToken,
        SessionInfo,
        Audience.PUBLIC,
        reasons=(_R.SESSION_EXPIRED,),
    )
    LOGOUT = Operation[SessionToken, None](
        SERVICE, "auth.logout", SessionToken, None, Audience.PUBLIC
    )
    PASSWORD_LINK_CHECK = Operation[PasswordLink, PasswordLinkInfo](
        SERVICE,
        "auth.password_link.check",
        PasswordLink,
        PasswordLinkInfo,
        Audience.PUBLIC,
        reasons=(_R.PASSWORD_LINK_UNUSABLE,),
    )
    PASSWORD_LINK_USE = Operation[SetPassword, PasswordLinkInfo](
        SERVICE,
        "auth.password_link.use",
        SetPassword,
        PasswordLinkInfo,
        Audience.PUBLIC,
        reasons=(_R.PASSWORD_LINK_UNUSABLE, *_PASSWORD_RULES),
    )

    # --- school: the school's own users (and CJP admins where the role allows) ---
    SCHOOL_GET = Operation[SchoolRef, School](
        SERVICE,
        "school.get",
        SchoolRef,
        School,
        Audience.SCHOOL,
        permission=Permission.VIEW_SCHOOL,
        school_scoped=True,
        reasons=(_R.SCHOOL_NOT_FOUND,),
    )
    SCHOOL_UPDATE = Operation[UpdateSchool, School](
        SERVICE,
        "school.update",
        UpdateSchool,
        School,
        Audience.SCHOOL,
        permission=Permission.EDIT_SETTINGS,
        school_scoped=True,
        reasons=(_R.SCHOOL_NOT_FOUND, *_SETTINGS_RULES),
    )
    DOCENT_PLUS_LIST = Operation[SchoolRef, DocentPlusList](
        SERVICE,
        "docent_plus.list",
        SchoolRef,
        DocentPlusList,
        Audience.SCHOOL,
        permission=Permission.MANAGE_DOCENT_PLUS,
        school_scoped=True,
    )
    DOCENT_PLUS_GRANT = Operation[DocentPlusGrant, DocentPlusAccess](
        SERVICE,
        "docent_plus.grant",
        DocentPlusGrant,
        DocentPlusAccess,
        Audience.SCHOOL,
        permission=Permission.MANAGE_DOCENT_PLUS,
        school_scoped=True,
        reasons=(
            _R.NO_ACTIVE_MEMBERSHIP,
            _R.TEACHER_EMAIL_TAKEN,
            _R.TEACHER_EMAIL_INVALID,
            _R.EMAIL_INVALID,
            _R.SCHOOL_NOT_FOUND,
        ),
    )
    DOCENT_PLUS_REVOKE = Operation[DocentPlusRef, None](
        SERVICE,
        "docent_plus.revoke",
        DocentPlusRef,
        None,
        Audience.SCHOOL,
        permission=Permission.MANAGE_DOCENT_PLUS,
        school_scoped=True,
        reasons=(_R.NO_DOCENT_PLUS_ACCESS,),
    )

    # --- admin: CJP ---
    SCHOOL_REGISTER = Operation[RegisterSchool, RegisteredSchool](
        SERVICE,
        "school.register",
        RegisterSchool,
        RegisteredSchool,
        Audience.ADMIN,
        permission=Permission.REGISTER_SCHOOL,
        reasons=(
            _R.ACCOUNT_EXISTS,
            _R.EMAIL_IN_USE,
            _R.EMAIL_INVALID,
            _R.REGISTRATION_RACED,
            *_SETTINGS_RULES,
        ),
    )
    # --- admin: provider users (issue 13) ---
    PROVIDER_USER_INVITE = Operation[InviteProviderUser, ProviderUser](
        SERVICE,
        "provider_user.invite",
        InviteProviderUser,
        ProviderUser,
        Audience.ADMIN,
        permission=Permission.REGISTER_PROVIDER,
        reasons=(_R.PROVIDER_USER_EMAIL_TAKEN, _R.EMAIL_INVALID),
    )
    PROVIDER_USER_LIST = Operation[ProviderUsersRef, list[ProviderUser]](
        SERVICE,
        "provider_user.list",
        ProviderUsersRef,
        list[ProviderUser],
        Audience.ADMIN,
        permission=Permission.REGISTER_PROVIDER,
    )
    SCHOOL_LIST = Operation[Empty, list[School]](
        SERVICE,
        "school.list",
        Empty,
        list[School],
        Audience.ADMIN,
        permission=Permission.REGISTER_SCHOOL,
    )
    # --- issue 14: one round of errors -------------------------------------------------------
    # Any logged-in actor (the handler checks there is one): it judges text, reads and stores
    # nothing, for the settings form (school) and the registration form (CJP admin) alike.
    CHECK_SCHOOL_INPUT = Operation[CheckSchoolInput, FieldProblems](
        SERVICE,
        "school.check_input",
        CheckSchoolInput,
        FieldProblems,
        Audience.SCHOOL,
        reasons=(_R.BRIN_INVALID, _R.CONTACT_EMAIL_INVALID, _R.EMAIL_INVALID),
    )
