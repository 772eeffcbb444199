"""What every door accepts: text and numbers bounded and clean at the boundary.

One set of annotated types for every model that carries input (gateway bodies and queries,
RPC commands, the provider API), so the gateway and the services refuse the same things with
the same field reasons (ck_runtime.validation.field_errors), whoever sends them.

Text
  - Refused anywhere in a text field (error type ``control_characters``): the C0 control
    characters except tab, line feed and carriage return (``\\x00``-``\\x08``, ``\\v``, ``\\f``,
    ``\\x0e``-``\\x1f``), DEL and the C1 controls (``\\x7f``-``\\x9f``), lone surrogates, the
    non-characters U+FFFE and U+FFFF, and the bidirectional embeddings, overrides and isolates
    (U+202A-U+202E, U+2066-U+2069: they make text read differently from what it is, in an
    export or on an invoice). None of them can be typed on purpose; none belongs in a name.
  - Tabs and line breaks (CR, LF, CRLF, U+2028, U+2029) are what people paste along with
    text from a spreadsheet or a mail, so they are *cleaned*, not refused: in a single-line
    field every run of them becomes one space; in a multi-line field (a note, a message, a
    reason, an offering's description) every line break becomes ``\\n`` and tabs stay.
  - Then surrounding whitespace is trimmed and the length is checked, in characters (code
    points), after cleaning: "Maximaal N tekens."
  - Passwords are the exception: they are never trimmed, cleaned or shown, only hashed; they
    keep their own length limit (ck_contracts.accounts).

Numbers
  - Every integer a client sends has a lower and an upper bound; page numbers stop at
    MAX_PAGE, so an offset can never overflow a database integer.

``clean_text`` is the same cleaning as a repair, for text that was stored before these rules
existed (migrations) and for anything written into a spreadsheet or a PDF (defence in depth).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import AfterValidator, Field, GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import PydanticCustomError, PydanticKnownError, core_schema

# --- limits, in characters --------------------------------------------------------------------
NAME_MAX = 200  # a person's, school's or provider's name; a title; an activity
SHORT_MAX = 100  # references, places, cities, disciplines, locations, classes, programmes
EMAIL_MAX = 254  # RFC 5321's longest forward path
PHONE_MAX = 40
CODE_MAX = 64  # codes people type: activation codes, card numbers, BRIN codes
KEY_MAX = 200  # machine keys: Idempotency-Key, API keys
FILENAME_MAX = 255
SEARCH_MAX = 100  # a search or filter term
REASON_MAX = 500  # multi-line: why a weborder is rejected or an approval cancelled
MESSAGE_MAX = 2000  # multi-line: a request to a provider
LONG_TEXT_MAX = 4000  # multi-line: a dossier note, an offering's description

MAX_PAGE = 100_000  # x at most 500 a page: far beyond any list this portal holds
MAX_PAGE_SIZE = 500

CONTROL_CHARACTERS = "control_characters"
CONTROL_MESSAGE = (
    "Dit veld bevat een onzichtbaar stuurteken (teken {position}) dat hier niet is toegestaan; "
    "vaak is het meegekopieerd uit een ander programma. Haal het weg en probeer het opnieuw."
)

# Never allowed (see the module's docstring).
FORBIDDEN = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff\ufffe\uffff]"
)
_SURROGATE = re.compile("[\ud800-\udfff]")
_BREAKS = "\t\r\n\u2028\u2029"
# Anything validation would refuse or change inside a text (a quick look over many values).
NEEDS_CLEANING = re.compile(FORBIDDEN.pattern[:-1] + _BREAKS + "]")
_SINGLE_LINE_BREAKS = re.compile(f"[ ]*[{_BREAKS}][{_BREAKS} ]*")
_LINE_BREAK = re.compile("\r\n|[\r\u2028\u2029]")


def fold_single_line(value: str) -> str:
    """Tabs and line breaks (with the spaces around them) -> one space."""
    return _SINGLE_LINE_BREAKS.sub(" ", value) if _has_breaks(value) else value


def normalise_lines(value: str) -> str:
    """CRLF, CR, U+2028 and U+2029 -> LF."""
    return _LINE_BREAK.sub("\n", value) if ("\r" in value or not value.isascii()) else value


def _has_breaks(value: str) -> bool:
    return any(ch in value for ch in _BREAKS)


@dataclass(frozen=True, slots=True)
class Text:
    """Annotation of a text field: ``Annotated[str, Text(200)]``. Validates in this order:
    forbidden characters (refused), tabs and line breaks (folded or normalised), surrounding
    whitespace (trimmed), then the length of what is left (the standard error types
    string_too_short / string_too_long, so every message is the same Dutch sentence).
    Use it instead of Field(min_length/max_length): one place decides, in one order."""

    max_length: int
    min_length: int = 0
    multi_line: bool = False

    def required(self, min_length: int = 1) -> Text:
        return Text(self.max_length, min_length, self.multi_line)

    def validate(self, value: str) -> str:
        found = FORBIDDEN.search(value)
        if found is not None:
            raise PydanticCustomError(
                CONTROL_CHARACTERS, CONTROL_MESSAGE, {"position": found.start() + 1}
            )
        value = normalise_lines(value) if self.multi_line else fold_single_line(value)
        value = value.strip()
        length = len(value)
        if length > self.max_length:
            raise PydanticKnownError("string_too_long", {"max_length": self.max_length})
        if length < self.min_length:
            raise PydanticKnownError("string_too_short", {"min_length": self.min_length})
        return value

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        # A plain str schema that never trims (a model's str_strip_whitespace would otherwise
        # trim \v and \f away before they are seen): trimming is the last step of validate().
        return core_schema.no_info_after_validator_function(
            self.validate, core_schema.str_schema(strip_whitespace=False)
        )

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler(schema)
        json_schema["maxLength"] = self.max_length
        if self.min_length:
            json_schema["minLength"] = self.min_length
        return json_schema


@dataclass(frozen=True, slots=True)
class Secret:
    """Annotation of a password, token or API key: taken exactly as sent (never trimmed or
    folded: every character counts), only bounded in length and refused when it holds a lone
    surrogate, which no hash function can encode."""

    max_length: int
    min_length: int = 0

    def validate(self, value: str) -> str:
        found = _SURROGATE.search(value)
        if found is not None:
            raise PydanticCustomError(
                CONTROL_CHARACTERS, CONTROL_MESSAGE, {"position": found.start() + 1}
            )
        return value

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        inner = core_schema.str_schema(
            strip_whitespace=False, min_length=self.min_length, max_length=self.max_length
        )
        return core_schema.no_info_after_validator_function(self.validate, inner)


NAME = Text(NAME_MAX)
SHORT = Text(SHORT_MAX)
EMAIL = Text(EMAIL_MAX)
REASON = Text(REASON_MAX, multi_line=True)
MESSAGE = Text(MESSAGE_MAX, multi_line=True)
LONG_TEXT = Text(LONG_TEXT_MAX, multi_line=True)

# --- the kinds of text ("Required...": at least one character after trimming) ---------------
Name = Annotated[str, NAME]
RequiredName = Annotated[str, NAME.required()]
ShortText = Annotated[str, SHORT]
RequiredShortText = Annotated[str, SHORT.required()]
Email = Annotated[str, EMAIL]  # the format is each service's own rule (R-ROSTER-2, accounts)
RequiredEmail = Annotated[str, EMAIL.required(3)]
Phone = Annotated[str, Text(PHONE_MAX)]
Code = Annotated[str, Text(CODE_MAX)]
Key = Annotated[str, Text(KEY_MAX)]
FileName = Annotated[str, Text(FILENAME_MAX)]
SearchText = Annotated[str, Text(SEARCH_MAX)]
Reason = Annotated[str, REASON]
RequiredReason = Annotated[str, REASON.required()]
RequiredMessage = Annotated[str, MESSAGE.required()]
LongText = Annotated[str, LONG_TEXT]
RequiredLongText = Annotated[str, LONG_TEXT.required()]

Password = Annotated[str, Secret(1024)]

# --- formats --------------------------------------------------------------------------------
POSTCODE = "field.postcode"
_POSTCODE = re.compile(r"([1-9][0-9]{3}) ?([A-Za-z]{2})")


def dutch_postcode(value: str) -> str:
    """A Dutch postcode written the one way ("1234ab", "1234 ab" -> "1234 AB"); empty stays
    empty (the field is optional). Anything else is refused with the field reason
    ``field.postcode``, so every door (a form, the API, the service) says the same."""
    if not value:
        return value
    found = _POSTCODE.fullmatch(value)
    if found is None:
        raise PydanticCustomError(POSTCODE, "Postcode zoals 1234 AB.")
    return f"{found.group(1)} {found.group(2).upper()}"


Postcode = Annotated[str, Text(10), AfterValidator(dutch_postcode)]

# --- numbers ----------------------------------------------------------------------------------
Page = Annotated[int, Field(ge=1, le=MAX_PAGE)]
PageSize = Annotated[int, Field(ge=1, le=MAX_PAGE_SIZE)]


_DIGITS = re.compile(r"[0-9]{1,18}")


def whole_number(text: str, *, low: int, high: int) -> int | None:
    """A whole number typed in a form or a query string, when it is one within [low, high];
    otherwise None. ASCII digits only: str.isdigit() also says yes to "²", which int() refuses,
    and to other scripts' digits."""
    text = text.strip()
    if _DIGITS.fullmatch(text) is None:
        return None
    number = int(text)
    return number if low <= number <= high else None


# --- repairing text that is already stored ---------------------------------------------------
def remove_forbidden(value: str) -> str:
    """`value` without the characters the boundary refuses (for writing stored text out)."""
    return FORBIDDEN.sub("", value) if FORBIDDEN.search(value) is not None else value


def clean_text(value: str, *, max_length: int | None = None, multi: bool = False) -> str:
    """What the boundary would have kept of `value`: forbidden characters removed, tabs and
    line breaks folded (single line) or normalised (multi-line), trimmed, cut at max_length.
    For rows stored before the rules (migrations) and for exports and PDFs; never raises."""
    text = remove_forbidden(value)
    text = normalise_lines(text) if multi else fold_single_line(text)
    text = text.strip()
    if max_length is not None and len(text) > max_length:
        text = text[:max_length].rstrip()
    return text


def is_clean(value: str, *, max_length: int | None = None, multi: bool = False) -> bool:
    return clean_text(value, max_length=max_length, multi=multi) == value
