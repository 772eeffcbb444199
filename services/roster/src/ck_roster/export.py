"""The "export excel" of the list (R-MEMBER-3, alternative process 3.4): the list's columns,
status and activatiecode as an .xlsx. The rows come from store.export_rows (plain tuples:
50,000 people are a few tuples, never ORM objects or Person models); the file is a Dutch
document for the school, like the templates (templates.py)."""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from ck_contracts.roster import MembershipStatus, RosterKind
from ck_runtime.spreadsheets import cell_text

DUTCH_TIME = ZoneInfo("Europe/Amsterdam")

STATUS_LABELS: dict[str, str] = {
    MembershipStatus.NEW.value: "Nieuw",
    MembershipStatus.INVITED.value: "Uitnodiging verzonden",
    MembershipStatus.ACTIVE.value: "Actief lidmaatschap",
    MembershipStatus.INACTIVE.value: "Inactief lidmaatschap",
}

# The export's columns: the list's columns (as the portal shows them), status and activatiecode.
EXPORT_COLUMNS: dict[RosterKind, tuple[tuple[str, str], ...]] = {
    RosterKind.STUDENTS: (
        ("voornaam", "Voornaam"),
        ("achternaam", "Achternaam"),
        ("email", "E-mail"),
        ("mobiel", "Mobiel"),
        ("brin", "BRIN"),
        ("studiejaar", "Leerjaar"),
        ("klas", "Klas"),
        ("opleiding", "Opleiding"),
        ("locatienaam", "Locatie"),
        ("status", "Status"),
        ("activation_code", "Activatiecode"),
    ),
    RosterKind.TEACHERS: (
        ("voornaam", "Voornaam"),
        ("achternaam", "Achternaam"),
        ("email", "E-mail"),
        ("mobiel", "Mobiel"),
        ("locatienaam", "Locatie"),
        ("afdeling", "Afdeling"),
        ("status", "Status"),
        ("activation_code", "Activatiecode"),
    ),
}
FILE_PREFIX = {RosterKind.STUDENTS: "studenten", RosterKind.TEACHERS: "docenten"}


def export_fields(kind: RosterKind) -> list[str]:
    """The stored columns the export reads, in its order."""
    return [name for name, _ in EXPORT_COLUMNS[kind]]


def export_filename(kind: RosterKind, school_number: int, now: datetime) -> str:
    return f"{FILE_PREFIX[kind]}_{school_number}_{now.astimezone(DUTCH_TIME):%Y-%m-%d}.xlsx"


def export_xlsx(kind: RosterKind, rows: Iterable[Sequence[Any]]) -> bytes:
    """The rows as an .xlsx in openpyxl's write-only mode (streams, no cell objects kept).
    openpyxl is imported here, on the first export or template: ~8 MB of modules the
    resting service does not otherwise hold."""
    from openpyxl import Workbook

    columns = EXPORT_COLUMNS[kind]
    status_at = [name for name, _ in columns].index("status")
    book = Workbook(write_only=True)
    sheet = book.create_sheet("Export")
    sheet.freeze_panes = "A2"
    for letter, (name, _) in zip("ABCDEFGHIJKLMNOP", columns, strict=False):
        sheet.column_dimensions[letter].width = 14 if name in ("studiejaar", "klas", "brin") else 22
    sheet.append([label for _, label in columns])
    labels = STATUS_LABELS
    for row in rows:
        values = list(row)
        values[status_at] = labels.get(values[status_at], values[status_at])
        sheet.append([cell_text(v) if isinstance(v, str) else v for v in values])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
