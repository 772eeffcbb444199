"""Realistic roster files for tests and benchmarks (R-ROSTER-1): Dutch names with
tussenvoegsels, unique e-mail addresses, some people without e-mail or mobile, +316 numbers,
locations, opleidingen, klassen and BRIN codes. ``xlsx`` writes the file as Excel does, with text
in xl/sharedStrings.xml (openpyxl 3.1 writes inline strings instead), and fast enough for
50,000 rows."""

from __future__ import annotations

import datetime as dt
import io
import random
import zipfile
from collections.abc import Sequence
from typing import Any
from xml.sax.saxutils import escape

from ck_contracts.roster import PersonFields
from ck_roster.spreadsheet import column_letters
from openpyxl import Workbook

STUDENT_HEADER = (
    "voornaam",
    "achternaam",
    "email",
    "mobiel nummer",
    "locatienaam",
    "studiejaar",
    "opleiding",
    "klas",
    "BRIN",
)
STUDENT_HINTS = (
    "Verplicht - Vrije invoer",
    "Verplicht - Vrije invoer",
    "Optioneel - Geldig e-mail formaat (@ en punt)",
    "Optioneel - Geldig internationaal nummer +31612345678 - Beginnend met 06 is dus fout!",
    "Verplicht - Vrije invoer",
    "Verplicht - 1,2,3,4,5 of 6",
    "Verplicht - Vrije invoer",
    "Optioneel - Vrije invoer",
    "Optioneel - BRIN-code",
)
TEACHER_HEADER = ("voornaam", "achternaam", "email", "mobiel nummer", "locatienaam", "afdeling")
TEACHER_HINTS = (
    "Verplicht - Vrije invoer",
    "Verplicht - Vrije invoer",
    "Optioneel - Geldig e-mail formaat (@ en punt)",
    "Optioneel - Geldig internationaal nummer +31612345678",
    "Verplicht - Vrije invoer",
    "Optioneel - Vrije invoer",
)

FIRST_NAMES = (
    "Daan", "Sem", "Lucas", "Levi", "Finn", "Milan", "Noah", "Jesse", "Bram", "Thijs", "Ruben",
    "Mohammed", "Yusuf", "Emma", "Julia", "Sophie", "Tess", "Zoë", "Fenna", "Saar", "Lotte",
    "Anouk", "Fleur", "Noor", "Sanne", "Fatima", "Aylin", "Chloë", "Joëlle", "Priya", "Kevin",
    "Bas", "Stijn", "Mees", "Lieke", "Iris", "Esmée", "Ilse", "Roos", "Femke",
)  # fmt: skip
TUSSENVOEGSELS = ("", "", "", "", "", "van", "de", "van der", "van den", "van de", "ten", "'t")
LAST_NAMES = (
    "Jansen", "Bakker", "Visser", "Smit", "Meijer", "Mulder", "Bos", "Vos", "Peters", "Hendriks",
    "Dekker", "Brouwer", "Dijk", "Berg", "Vries", "Leeuwen", "Wal", "Hoek", "Yılmaz", "El Amrani",
    "Kaya", "Boer", "Groot", "Kok", "Jong", "Graaf", "Veen", "Haan", "Linden", "Heuvel",
)  # fmt: skip
LOCATIONS = (
    "Amsterdam Zuid", "Amsterdam Noord", "Utrecht Centrum", "Rotterdam Kralingen", "Zwolle",
    "Eindhoven Strijp", "Groningen Zernike", "Den Haag Laak",
)  # fmt: skip
OPLEIDINGEN = (
    "Media en vormgeving", "Verpleegkunde", "Podium- en evenemententechniek", "ICT Beheer",
    "Sport en bewegen", "Bouwkunde", "Maatschappelijke zorg", "Commercie", "Entree",
)  # fmt: skip
AFDELINGEN = ("Zorg en welzijn", "Techniek", "Economie", "Creatief", "Sport", "")
BRINS = ("25LP", "00GT", "30RR", "27XG")
DOMAINS = ("student.roc.nl", "mail.mborijnland.nl", "gmail.com", "outlook.com", "hotmail.nl")


def _person(rng: random.Random, index: int) -> tuple[str, str, str, str]:
    first = rng.choice(FIRST_NAMES)
    prefix = rng.choice(TUSSENVOEGSELS)
    last = rng.choice(LAST_NAMES)
    achternaam = f"{prefix} {last}".strip()
    email = ""
    if rng.random() < 0.85:
        local = f"{first}.{last}".lower().replace(" ", "").replace("'", "")
        email = f"{local}{index}@{rng.choice(DOMAINS)}"
        if rng.random() < 0.05:
            email = email.upper()
    mobile = f"+316{rng.choice('1234858')}{rng.randrange(10**7):07d}" if rng.random() < 0.7 else ""
    return first, achternaam, email, mobile


def student_rows(n: int, seed: int = 0) -> list[tuple[Any, ...]]:
    """n valid student rows in template column order; studiejaar is an int."""
    rng = random.Random(seed)
    rows: list[tuple[Any, ...]] = []
    for index in range(n):
        first, last, email, mobile = _person(rng, index)
        year = rng.randint(1, 4)
        rows.append(
            (
                first,
                last,
                email,
                mobile,
                rng.choice(LOCATIONS),
                year,
                rng.choice(OPLEIDINGEN),
                f"{year}{rng.choice('ABCDEF')}{rng.randint(1, 3)}" if rng.random() < 0.9 else "",
                rng.choice(BRINS),
            )
        )
    return rows


# The PersonFields names of student_rows' columns, in their order.
STUDENT_FIELDS = (
    "voornaam",
    "achternaam",
    "email",
    "mobiel",
    "locatienaam",
    "studiejaar",
    "opleiding",
    "klas",
    "brin",
)


def student_people(n: int, seed: int = 0) -> list[PersonFields]:
    """student_rows as the people a valid upload of them yields (for loading a store directly)."""
    return [
        PersonFields(**dict(zip(STUDENT_FIELDS, row, strict=True))) for row in student_rows(n, seed)
    ]


def teacher_rows(n: int, seed: int = 0) -> list[tuple[Any, ...]]:
    """n valid teacher rows in template column order."""
    rng = random.Random(seed)
    rows: list[tuple[Any, ...]] = []
    for index in range(n):
        first, last, email, mobile = _person(rng, index)
        rows.append((first, last, email, mobile, rng.choice(LOCATIONS), rng.choice(AFDELINGEN)))
    return rows


def anonymous_student_rows(n: int) -> list[tuple[Any, ...]]:
    """The anonymised rows of the manual, section 3.4 (R-AVG-1)."""
    return [(f"Leerling {i}", f"achternaam{i}", "", "", "MBO", 1, "media") for i in range(1, n + 1)]


_XML = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
_OOXML = "http://schemas.openxmlformats.org/"
_SML = "application/vnd.openxmlformats-officedocument.spreadsheetml."
_REL = _OOXML + "officeDocument/2006/relationships/"


def _override(part: str, kind: str) -> str:
    return f'<Override PartName="{part}" ContentType="{_SML}{kind}+xml"/>'


def _relation(rel_id: str, kind: str, target: str) -> str:
    return f'<Relationship Id="{rel_id}" Type="{_REL}{kind}" Target="{target}"/>'


_CONTENT_TYPES = (
    f'{_XML}<Types xmlns="{_OOXML}package/2006/content-types">'
    '<Default Extension="rels" '
    'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    + _override("/xl/workbook.xml", "sheet.main")
    + _override("/xl/worksheets/sheet1.xml", "worksheet")
    + _override("/xl/sharedStrings.xml", "sharedStrings")
    + _override("/xl/styles.xml", "styles")
    + "</Types>"
)
_ROOT_RELS = (
    f'{_XML}<Relationships xmlns="{_OOXML}package/2006/relationships">'
    + _relation("rId1", "officeDocument", "xl/workbook.xml")
    + "</Relationships>"
)
_WORKBOOK = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
    'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
    '<sheets><sheet name="{name}" sheetId="1" r:id="rId1"/></sheets></workbook>'
)
_WORKBOOK_RELS = (
    f'{_XML}<Relationships xmlns="{_OOXML}package/2006/relationships">'
    + _relation("rId1", "worksheet", "worksheets/sheet1.xml")
    + _relation("rId2", "sharedStrings", "sharedStrings.xml")
    + _relation("rId3", "styles", "styles.xml")
    + "</Relationships>"
)
_STYLES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
    '<fonts count="1"><font><sz val="11"/><name val="Calibri"/></font></fonts>'
    '<fills count="2"><fill><patternFill patternType="none"/></fill>'
    '<fill><patternFill patternType="gray125"/></fill></fills>'
    '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
    '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
    '<cellXfs count="2"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
    '<xf numFmtId="14" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    "</cellXfs>"
    '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
    "</styleSheet>"
)
_EPOCH = dt.datetime(1899, 12, 30)  # noqa: DTZ001 (Excel serial dates have no zone)


def xlsx(
    header: Sequence[Any],
    rows: Sequence[Sequence[Any]],
    hints: Sequence[Any] | None = None,
    *,
    formulas: dict[str, str] | None = None,
    sheet_name: str = "Leerlingen",
) -> bytes:
    """A workbook as Excel writes it: text in xl/sharedStrings.xml, numbers as numbers, dates as
    serial numbers with a date format, empty strings as absent cells. Header in row 1, optional
    hints in row 2, then the rows. ``formulas`` maps a cell ("B3") to a formula text."""
    strings: dict[str, int] = {}
    letters = [column_letters(i) for i in range(max([len(header), *map(len, rows)], default=1))]
    formulas = formulas or {}
    parts: list[str] = []
    all_rows = [header, *([hints] if hints is not None else []), *rows]
    for r, row in enumerate(all_rows, start=1):
        cells: list[str] = []
        for c, value in enumerate(row):
            ref = f"{letters[c]}{r}"
            if ref in formulas:
                cells.append(f'<c r="{ref}"><f>{escape(formulas[ref])}</f><v>0</v></c>')
            elif value is None or value == "":
                continue
            elif isinstance(value, str):
                index = strings.setdefault(value, len(strings))
                cells.append(f'<c r="{ref}" t="s"><v>{index}</v></c>')
            elif isinstance(value, bool):
                cells.append(f'<c r="{ref}" t="b"><v>{int(value)}</v></c>')
            elif isinstance(value, dt.date):
                moment = (
                    dt.datetime.combine(value, dt.time())
                    if not isinstance(value, dt.datetime)
                    else value
                )
                serial = (moment - _EPOCH).total_seconds() / 86400
                cells.append(f'<c r="{ref}" s="1"><v>{serial:g}</v></c>')
            else:
                cells.append(f'<c r="{ref}"><v>{value!r}</v></c>')
        parts.append(f'<row r="{r}">{"".join(cells)}</row>')
    sheet = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        f"<sheetData>{''.join(parts)}</sheetData></worksheet>"
    )
    shared = "".join(f'<si><t xml:space="preserve">{escape(s)}</t></si>' for s in strings)
    shared_xml = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
        f'count="{len(strings)}" uniqueCount="{len(strings)}">{shared}</sst>'
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", _CONTENT_TYPES)
        archive.writestr("_rels/.rels", _ROOT_RELS)
        archive.writestr("xl/workbook.xml", _WORKBOOK.format(name=escape(sheet_name)))
        archive.writestr("xl/_rels/workbook.xml.rels", _WORKBOOK_RELS)
        archive.writestr("xl/styles.xml", _STYLES)
        archive.writestr("xl/sharedStrings.xml", shared_xml)
        archive.writestr("xl/worksheets/sheet1.xml", sheet)
    return buffer.getvalue()


def openpyxl_xlsx(header: Sequence[Any], rows: Sequence[Sequence[Any]]) -> bytes:
    """The same table written by openpyxl (inline strings, as LibreOffice-like writers do)."""
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(list(header))
    for row in rows:
        sheet.append([None if value == "" else value for value in row])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def student_xlsx(rows: Sequence[Sequence[Any]], hint_row: bool = True) -> bytes:
    return xlsx(STUDENT_HEADER, rows, STUDENT_HINTS if hint_row else None)


def teacher_xlsx(rows: Sequence[Sequence[Any]], hint_row: bool = True) -> bytes:
    return xlsx(TEACHER_HEADER, rows, TEACHER_HINTS if hint_row else None)


def xls(header: Sequence[Any], rows: Sequence[Sequence[Any]]) -> bytes:
    """A legacy .xls workbook (BIFF8) written with xlwt."""
    import xlwt  # only the tests write .xls

    book = xlwt.Workbook()
    sheet = book.add_sheet("Leerlingen")
    for r, row in enumerate([header, *rows]):
        for c, value in enumerate(row):
            if value != "":
                sheet.write(r, c, value)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
