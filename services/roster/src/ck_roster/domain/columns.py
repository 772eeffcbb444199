"""The columns of the two roster templates (R-ROSTER-1) and how headers are recognised.

Headers match case-insensitively, with surrounding and doubled spaces ignored, and accept the
spellings seen in the manual ("mobiel nummer"/"mobiel", "locatiennaam", "studiejaa", "leerjaar").
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ck_contracts.roster import RosterKind


@dataclass(frozen=True, slots=True)
class Column:
    header: str  # as written in the template
    field: str  # PersonFields attribute
    required: bool
    hint: str  # format hint of the template's second row
    aliases: tuple[str, ...] = ()

    @property
    def requirement(self) -> str:
        return "Verplicht" if self.required else "Optioneel"


_FREE = "Vrije invoer"
_VOORNAAM = Column("voornaam", "voornaam", True, _FREE, ("voor naam",))
_ACHTERNAAM = Column("achternaam", "achternaam", True, _FREE, ("achter naam",))
_EMAIL = Column(
    "email",
    "email",
    False,
    "Geldig e-mail formaat (@ en punt). Een e-mailadres mag maar één keer voorkomen in het bestand",
    ("e-mail", "emailadres", "e-mailadres", "mail"),
)
_MOBIEL = Column(
    "mobiel nummer",
    "mobiel",
    False,
    "Geldig internationaal nummer +31612345678 - Beginnend met 06 is dus fout!",
    ("mobiel", "mobielnummer", "mobiel nr", "mobiel nr.", "mobiele nummer", "telefoon mobiel"),
)
_LOCATIE = Column(
    "locatienaam", "locatienaam", True, _FREE, ("locatiennaam", "locatie naam", "locatie")
)
_STUDIEJAAR = Column("studiejaar", "studiejaar", True, "1,2,3,4,5 of 6", ("studiejaa", "leerjaar"))
_OPLEIDING = Column("opleiding", "opleiding", True, _FREE)
_KLAS = Column("klas", "klas", False, _FREE)
_BRIN = Column("BRIN", "brin", False, "BRIN-code van de school, bijvoorbeeld 00AA", ("brin code",))
_AFDELING = Column("afdeling", "afdeling", False, _FREE)

COLUMNS: dict[RosterKind, tuple[Column, ...]] = {
    RosterKind.STUDENTS: (
        _VOORNAAM,
        _ACHTERNAAM,
        _EMAIL,
        _MOBIEL,
        _LOCATIE,
        _STUDIEJAAR,
        _OPLEIDING,
        _KLAS,
        _BRIN,
    ),
    RosterKind.TEACHERS: (_VOORNAAM, _ACHTERNAAM, _EMAIL, _MOBIEL, _LOCATIE, _AFDELING),
}

_SPACES = re.compile(r"\s+")


def normalise_header(value: object) -> str:
    """A header cell as compared: trimmed, lower case, single spaces."""
    if value is None:
        return ""
    return _SPACES.sub(" ", str(value)).strip().lower()


def _lookup(kind: RosterKind) -> dict[str, Column]:
    table: dict[str, Column] = {}
    for column in COLUMNS[kind]:
        for name in (column.header, column.field, *column.aliases):
            table[normalise_header(name)] = column
    return table


_LOOKUP: dict[RosterKind, dict[str, Column]] = {kind: _lookup(kind) for kind in RosterKind}


def find_column(kind: RosterKind, header: object) -> Column | None:
    """The template column a header cell names, or None."""
    return _LOOKUP[kind].get(normalise_header(header))


def column_for_field(kind: RosterKind, field: str) -> Column:
    for column in COLUMNS[kind]:
        if column.field == field:
            return column
    raise KeyError(field)
