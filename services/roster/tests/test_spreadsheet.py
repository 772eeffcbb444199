"""Safe reading of untrusted uploads (R-ROSTER-3): hostile files give a Dutch message."""

from __future__ import annotations

import datetime as dt
import io
import struct
import zipfile

import pytest
from ck_roster import spreadsheet
from ck_roster.spreadsheet import SpreadsheetError, read_rows
from ck_testkit import rosters

END, FREE, FATSECT, NOSTREAM = 0xFFFFFFFE, 0xFFFFFFFF, 0xFFFFFFFD, 0xFFFFFFFF


def cfb(streams: dict[str, bytes]) -> bytes:
    """A minimal OLE2 compound file (512-byte sectors, streams of at least 4096 bytes so no
    mini stream is needed), as Office writes around an encrypted .xlsx."""
    names = list(streams)
    assert len(names) <= 3
    data = [streams[n].ljust(4096, b"\0") for n in names]
    data = [d.ljust(-(-len(d) // 512) * 512, b"\0") for d in data]
    fat = [FATSECT, END]
    starts = []
    for chunk in data:
        count = len(chunk) // 512
        start = len(fat)
        starts.append(start)
        fat += [*range(start + 1, start + count), END]
    assert len(fat) <= 128
    fat += [FREE] * (128 - len(fat))

    def entry(name: str, kind: int, child: int, right: int, start: int, size: int) -> bytes:
        encoded = name.encode("utf-16-le") + b"\0\0"
        return (
            encoded.ljust(64, b"\0")
            + struct.pack("<HBB", len(encoded), kind, 1)
            + struct.pack("<III", NOSTREAM, right, child)
            + b"\0" * 16
            + b"\0" * 4
            + b"\0" * 16
            + struct.pack("<IQ", start, size)
        )

    directory = entry("Root Entry", 5, 1, NOSTREAM, END, 0)
    for i, name in enumerate(names):
        right = i + 2 if i + 1 < len(names) else NOSTREAM
        directory += entry(name, 2, NOSTREAM, right, starts[i], len(streams[name]))
    directory = directory.ljust(512, b"\0")
    header = (
        spreadsheet.OLE2_MAGIC
        + b"\0" * 16
        + struct.pack("<HHHHH", 0x3E, 3, 0xFFFE, 9, 6)
        + b"\0" * 6
        + struct.pack("<IIIIIIIII", 0, 1, 1, 0, 4096, END, 0, END, 0)
        + struct.pack("<I", 0)
        + struct.pack("<I", FREE) * 108
    )
    assert len(header) == 512
    return header + struct.pack("<128I", *fat) + directory + b"".join(data)


def zip_of(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def error_of(content: bytes, **kwargs: int) -> str:
    with pytest.raises(SpreadsheetError) as caught:
        read_rows(content, **kwargs)
    return caught.value.message


def test_reads_an_excel_like_xlsx_with_shared_strings() -> None:
    content = rosters.student_xlsx(rosters.student_rows(3, seed=1), hint_row=False)
    assert "xl/sharedStrings.xml" in zipfile.ZipFile(io.BytesIO(content)).namelist()
    sheet = read_rows(content)
    assert sheet.rows[0][:2] == ["voornaam", "achternaam"]
    assert len(sheet.rows) == 4
    assert sheet.formulas == []


def test_reads_an_openpyxl_xlsx_with_inline_strings() -> None:
    content = rosters.openpyxl_xlsx(["a", "b"], [["x", 3]])
    assert read_rows(content).rows == [["a", "b"], ["x", 3.0]]


def test_reads_a_legacy_xls() -> None:
    content = rosters.xls(["a", "b"], [["x", 3], ["y", "+31612345678"]])
    assert content.startswith(spreadsheet.OLE2_MAGIC)
    assert read_rows(content).rows == [["a", "b"], ["x", 3.0], ["y", "+31612345678"]]


def test_trailing_empty_rows_are_dropped() -> None:
    content = rosters.xlsx(["a"], [["x"], ["  "], [" "]])
    assert read_rows(content).rows == [["a"], ["x"]]


def test_dates_come_back_as_dates() -> None:
    content = rosters.xlsx(["a"], [[dt.date(2024, 3, 1)]])
    value = read_rows(content).rows[1][0]
    assert isinstance(value, dt.date)


@pytest.mark.parametrize(
    "content",
    [
        b"hello, this is text",
        b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj",
        b"voornaam;achternaam\nJan;Jansen\n",
        b"\x89PNG\r\n\x1a\n" + b"\0" * 100,
    ],
)
def test_not_a_spreadsheet(content: bytes) -> None:
    assert error_of(content) == spreadsheet.MSG_NOT_EXCEL
    assert "Dit is geen Excel-bestand (.xlsx of .xls)" in spreadsheet.MSG_NOT_EXCEL


def test_empty_file() -> None:
    assert error_of(b"") == spreadsheet.MSG_EMPTY_FILE


def test_oversized_names_the_limit() -> None:
    assert error_of(b"x" * (10 * 1024 * 1024 + 1)) == (
        "Het bestand is te groot: het mag maximaal 10 MB zijn."
    )
    assert "maximaal 2 MB" in error_of(b"x" * (2 * 1024 * 1024 + 1), max_bytes=2 * 1024 * 1024)


def test_corrupt_zip() -> None:
    content = rosters.student_xlsx(rosters.student_rows(50, seed=2))
    assert error_of(content[: len(content) // 2]) == spreadsheet.MSG_CORRUPT
    assert error_of(b"PK\x03\x04" + b"\x00" * 200) == spreadsheet.MSG_CORRUPT


def test_zip_without_workbook() -> None:
    assert error_of(zip_of({"readme.txt": b"hallo"})) == spreadsheet.MSG_NOT_EXCEL
    word = zip_of({"word/document.xml": b"<w/>", "[Content_Types].xml": b"<Types/>"})
    assert error_of(word) == spreadsheet.MSG_NOT_EXCEL


def test_workbook_without_parts_is_corrupt() -> None:
    broken = zip_of({"xl/workbook.xml": b"<workbook/>", "xl/worksheets/sheet1.xml": b"<x"})
    assert error_of(broken) in (spreadsheet.MSG_CORRUPT, spreadsheet.MSG_NO_SHEET)


def test_zip_bomb_highly_compressible_member() -> None:
    bomb = zip_of(
        {"xl/workbook.xml": b"<workbook/>", "xl/worksheets/sheet1.xml": b"\0" * 30_000_000}
    )
    assert len(bomb) < 100_000
    assert error_of(bomb) == spreadsheet.MSG_BOMB


def test_zip_bomb_too_many_members() -> None:
    members = {f"xl/m{i}.xml": b"x" for i in range(spreadsheet.MAX_ZIP_MEMBERS + 1)}
    assert error_of(zip_of(members)) == spreadsheet.MSG_BOMB


def test_zip_bomb_total_declared_size(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(spreadsheet, "MAX_UNCOMPRESSED_BYTES", 1000)
    content = rosters.student_xlsx(rosters.student_rows(50, seed=2))
    assert error_of(content) == spreadsheet.MSG_BOMB


def test_password_protected_xlsx() -> None:
    encrypted = cfb(
        {"EncryptionInfo": b"\x04\x00\x04\x00" + b"\x01" * 200, "EncryptedPackage": b"\x02" * 5000}
    )
    assert error_of(encrypted) == spreadsheet.MSG_PROTECTED
    assert "wachtwoord" in spreadsheet.MSG_PROTECTED


def test_other_ole2_file_is_not_taken_for_encrypted() -> None:
    other = cfb({"WordDocument": b"\x01" * 5000})
    assert error_of(other) == spreadsheet.MSG_CORRUPT


def test_formula_cells_are_located() -> None:
    content = rosters.xlsx(["a", "b"], [["x", 1], ["y", 2]], formulas={"B3": "B2+1"})
    sheet = read_rows(content)
    assert sheet.formulas == [spreadsheet.FormulaCell(row=3, column=1)]


def test_formula_without_cell_reference() -> None:
    cells, unlocated = spreadsheet.find_formulas(b"<row><c><f>1+1</f></c></row>")
    assert cells == [] and unlocated
    cells, unlocated = spreadsheet.find_formulas(b'<x:c r="AA10"><x:f t="shared" si="0"/></x:c>')
    assert cells == [spreadsheet.FormulaCell(row=10, column=26)] and not unlocated


def test_column_letters_round_trip() -> None:
    for index in (0, 25, 26, 27, 701, 702):
        assert spreadsheet.column_index(spreadsheet.column_letters(index)) == index
