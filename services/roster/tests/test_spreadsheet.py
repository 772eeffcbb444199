"""Safe reading of untrusted uploads (R-ROSTER-3): hostile files give a reason code."""

from __future__ import annotations

import datetime as dt
import io
import random
import struct
import tracemalloc
import zipfile
import zlib

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
    return caught.value.reason


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


def _padded_rows(content: bytes) -> list[list[object]]:
    """What calamine's to_python gives from A1 on, trailing empty rows dropped: the rows
    read_rows gave before it kept the cells in one list."""
    import python_calamine

    sheet = python_calamine.load_workbook(io.BytesIO(content)).get_sheet_by_index(0)
    rows = sheet.to_python(skip_empty_area=False)
    while rows and all(v in ("", None) or (isinstance(v, str) and not v.strip()) for v in rows[-1]):
        rows.pop()
    return rows


@pytest.mark.parametrize("at", [(1, 1), (1, 3), (3, 1), (2, 2)])
def test_the_cells_are_the_sheet_from_a1_row_after_row(at: tuple[int, int]) -> None:
    """A sheet whose data starts at A1 is read a row at a time (iter_rows), any other one
    padded to A1 (to_python): both give every row from A1 at the sheet's width, with empty
    cells, numbers, dates and trailing blank rows as before."""
    import openpyxl

    rng = random.Random(sum(at))
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    values: list[object] = ["a", " b ", 3, 2.5, dt.date(2024, 3, 1), True, None, "Zoë"]
    row, column = at
    for r in range(row, row + 12):
        for c in range(column, column + rng.randint(1, 5)):
            sheet.cell(row=r, column=c, value=rng.choice(values))
    sheet.cell(row=row, column=column, value="x")
    sheet.cell(row=row + 14, column=column, value="  ")
    buffer = io.BytesIO()
    workbook.save(buffer)
    content = buffer.getvalue()
    read = read_rows(content)
    assert read.rows == _padded_rows(content)
    assert read.width == len(read.rows[0]) and len(read.cells) == read.width * read.height


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
    assert error_of(content) == spreadsheet.NOT_EXCEL


def test_empty_file() -> None:
    assert error_of(b"") == spreadsheet.EMPTY_FILE


def test_oversized_names_the_limit() -> None:
    for limit, text in ((10 * 1024 * 1024, "10 MB"), (2 * 1024 * 1024, "2 MB")):
        with pytest.raises(SpreadsheetError) as caught:
            read_rows(b"x" * (limit + 1), max_bytes=limit)
        assert caught.value.reason == "roster.file.too_large"
        assert caught.value.params == {"limit": text, "max_bytes": limit}


def test_corrupt_zip() -> None:
    content = rosters.student_xlsx(rosters.student_rows(50, seed=2))
    assert error_of(content[: len(content) // 2]) == spreadsheet.CORRUPT
    assert error_of(b"PK\x03\x04" + b"\x00" * 200) == spreadsheet.CORRUPT


def test_zip_without_workbook() -> None:
    assert error_of(zip_of({"readme.txt": b"hallo"})) == spreadsheet.NOT_EXCEL
    word = zip_of({"word/document.xml": b"<w/>", "[Content_Types].xml": b"<Types/>"})
    assert error_of(word) == spreadsheet.NOT_EXCEL


def test_workbook_without_parts_is_corrupt() -> None:
    broken = zip_of({"xl/workbook.xml": b"<workbook/>", "xl/worksheets/sheet1.xml": b"<x"})
    assert error_of(broken) in (spreadsheet.CORRUPT, spreadsheet.NO_SHEET)


def test_zip_bomb_highly_compressible_member() -> None:
    bomb = zip_of(
        {"xl/workbook.xml": b"<workbook/>", "xl/worksheets/sheet1.xml": b"\0" * 30_000_000}
    )
    assert len(bomb) < 100_000
    assert error_of(bomb) == spreadsheet.BOMB


def test_zip_bomb_too_many_members() -> None:
    members = {f"xl/m{i}.xml": b"x" for i in range(spreadsheet.MAX_ZIP_MEMBERS + 1)}
    assert error_of(zip_of(members)) == spreadsheet.BOMB


def test_zip_bomb_total_declared_size(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(spreadsheet, "MAX_UNPACKED_BYTES", 1000)
    content = rosters.student_xlsx(rosters.student_rows(50, seed=2))
    assert error_of(content) == spreadsheet.BOMB


def test_password_protected_xlsx() -> None:
    encrypted = cfb(
        {"EncryptionInfo": b"\x04\x00\x04\x00" + b"\x01" * 200, "EncryptedPackage": b"\x02" * 5000}
    )
    assert error_of(encrypted) == spreadsheet.PROTECTED
    assert spreadsheet.PROTECTED == "roster.file.protected"


def test_other_ole2_file_is_not_taken_for_encrypted() -> None:
    other = cfb({"WordDocument": b"\x01" * 5000})
    assert error_of(other) == spreadsheet.CORRUPT


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


# --- unpacked size: counted while inflating, not taken from the zip's declarations --------------
def _deflated_zeros(size: int) -> bytes:
    """`size` zero bytes, raw-deflated a megabyte at a time (1,000:1)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    chunk = b"\0" * (1024 * 1024)
    out = [packer.compress(chunk) for _ in range(size // len(chunk))]
    return b"".join([*out, packer.flush()])


def lying_zip(members: list[tuple[str, bytes, int, int]]) -> bytes:
    """A zip written by hand: (name, raw deflate data, declared size, declared CRC) per member,
    with the declared sizes in both the local headers and the central directory."""
    local, central = b"", b""
    for name, data, declared, crc in members:
        encoded = name.encode()
        offset = len(local)
        fields = (20, 0, zipfile.ZIP_DEFLATED, 0, 0x21, crc, len(data), declared, len(encoded))
        local += struct.pack("<4s5H3L2H", b"PK\x03\x04", *fields, 0) + encoded + data
        central += (
            struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 20, *fields, 0, 0, 0, 0, 0, offset) + encoded
        )
    end = struct.pack(
        "<4s4H2LH", b"PK\x05\x06", 0, 0, len(members), len(members), len(central), len(local), 0
    )
    return local + central + end


def _packed(data: bytes) -> tuple[bytes, int, int]:
    packer = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    return packer.compress(data) + packer.flush(), len(data), zlib.crc32(data)


WORKBOOK = (
    b'<workbook xmlns:r="r"><sheets><sheet name="a" sheetId="1" r:id="rId1"/></sheets></workbook>'
)
RELS = b'<Relationships><Relationship Id="rId1" Target="worksheets/sheet1.xml"/></Relationships>'
SHEET = b'<worksheet><sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>a</t></is></c></row>'


def _workbook_with(name: str, data: bytes, declared: int, crc: int) -> bytes:
    members = [
        ("xl/workbook.xml", *_packed(WORKBOOK)),
        ("xl/_rels/workbook.xml.rels", *_packed(RELS)),
        ("xl/worksheets/sheet1.xml", *_packed(SHEET + b"</sheetData></worksheet>")),
    ]
    members = [m for m in members if m[0] != name]
    return lying_zip([*members, (name, data, declared, crc)])


@pytest.mark.parametrize("member", ["xl/sharedStrings.xml", "xl/worksheets/sheet1.xml"])
def test_a_bomb_that_declares_small_sizes_is_stopped_by_the_real_count(
    member: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """150 MB of zeros in 150 kB, declared as 1,000 bytes: the declarations pass every check
    on them, the inflated count stops it at MAX_UNPACKED_BYTES, and calamine never sees it."""
    real = 150 * 1024 * 1024
    data = _deflated_zeros(real)
    content = _workbook_with(member, data, 1000, 0)
    assert len(content) < 200_000 and real > spreadsheet.MAX_UNPACKED_BYTES
    archive = zipfile.ZipFile(io.BytesIO(content))
    assert sum(i.file_size for i in archive.infolist()) < 2000  # what the zip claims

    def never(_content: bytes) -> tuple[list[object], int]:
        raise AssertionError("calamine must not read a bomb")

    monkeypatch.setattr(spreadsheet, "_calamine_cells", never)
    tracemalloc.start()
    try:
        assert error_of(content) == spreadsheet.BOMB
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # Streaming: only the first worksheet is kept, and never more than the limit.
    limit = 4 * 1024 * 1024 if member == "xl/sharedStrings.xml" else 110 * 1024 * 1024
    assert peak < limit, peak


def test_the_limit_is_for_all_members_together(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(spreadsheet, "MAX_UNPACKED_BYTES", 3 * 1024 * 1024)
    two_mb = random.Random(1).randbytes(1024 * 1024).hex().encode()  # 2 MB, hardly packable
    members = [
        ("xl/workbook.xml", *_packed(WORKBOOK)),
        ("xl/_rels/workbook.xml.rels", *_packed(RELS)),
        ("xl/worksheets/sheet1.xml", *_packed(SHEET + b"</sheetData></worksheet>")),
        ("xl/a.xml", *_packed(two_mb)),
        ("xl/b.xml", *_packed(two_mb)),
    ]
    assert error_of(lying_zip(members)) == spreadsheet.BOMB
    # The inflated count itself (the declared total is checked before it with the same limit).
    for content, refused in ((lying_zip(members), True), (lying_zip(members[:4]), False)):
        infos = zipfile.ZipFile(io.BytesIO(content)).infolist()
        if refused:
            with pytest.raises(SpreadsheetError) as caught:
                spreadsheet._inflate_all(content, infos, keep="xl/worksheets/sheet1.xml")
            assert caught.value.reason == spreadsheet.BOMB
        else:
            # Counted, and not kept: the sheet has no formula to locate.
            kept = spreadsheet._inflate_all(content, infos, keep="xl/worksheets/sheet1.xml")
            assert kept is None


def test_a_member_larger_or_other_than_declared_is_refused() -> None:
    data, size, crc = _packed(b"<sst>" + b"<si><t>x</t></si>" * 50_000 + b"</sst>")
    name = "xl/sharedStrings.xml"
    assert error_of(_workbook_with(name, data, 10, crc)) == spreadsheet.CORRUPT  # size lies
    assert error_of(_workbook_with(name, data, size, crc ^ 1)) == spreadsheet.CORRUPT  # CRC
    cut = _workbook_with(name, data[: len(data) // 2], size, crc)  # stream ends too early
    assert error_of(cut) == spreadsheet.CORRUPT
    garbage = _workbook_with(name, b"\xff" * 64, size, crc)  # not deflate: the inflater fails
    assert error_of(garbage) == spreadsheet.CORRUPT


def test_an_honest_hand_written_zip_passes_the_checks() -> None:
    members = [
        ("xl/workbook.xml", *_packed(WORKBOOK)),
        ("xl/_rels/workbook.xml.rels", *_packed(RELS)),
        ("xl/worksheets/sheet1.xml", *_packed(SHEET + b"</sheetData></worksheet>")),
    ]
    formulas, unlocated = spreadsheet._check_xlsx(lying_zip(members))
    assert formulas == [] and not unlocated


def test_a_50000_row_roster_passes_the_unpacked_limit() -> None:
    content = rosters.student_xlsx(rosters.student_rows(50_000, seed=2026))
    archive = zipfile.ZipFile(io.BytesIO(content))
    unpacked = sum(i.file_size for i in archive.infolist())
    assert unpacked < spreadsheet.MAX_UNPACKED_BYTES / 4  # about 19 MB of 100
    sheet = read_rows(content)
    assert len(sheet.rows) == 50_002 and sheet.formulas == []  # header, hints, 50,000 people


@pytest.mark.parametrize(
    ("xml", "expected"),
    [
        (b"<c r='A1'><v>1</v></c>", False),
        (b"f<c r='A1'><f>SUM(B1)</f></c>", True),
        (b"<x:c r='A1'><x:f>1+1</x:f></x:c>", True),
        (b"<c r='A1' t='inlineStr'><is><t>if of off</t></is></c>", False),
        (b"<c r='A1' t='inlineStr'><is><t>" + b"f" * 5000 + b"</t></is></c>", False),
        (b"<c><is><t>" + b"f" * 5000 + b"</t></is></c><c r='B1'><f>1</f></c>", True),
        (b"ff<", False),  # "<f" needs the "f" after the "<"
        (b"<ff", True),
    ],
)
def test_formula_presence_quick_look(xml: bytes, expected: bool) -> None:
    """The quick look agrees with the substring searches it replaces."""
    assert spreadsheet._may_have_formulas(xml) is expected
    assert (b"<f" in xml or b":f" in xml) is expected


@pytest.mark.parametrize(
    "chunks",
    [
        [b"<c r='A1'><v>1</v></c><", b"f>1</f>"],  # "<" ends one chunk, "f" starts the next
        [b"<c r='A1'><x:", b"f>1</x:f>"],
        [b"<c r='A1'><v>1</v></c>", b"", b"<c r='B1'><f>1</f></c>"],
    ],
)
def test_formula_look_across_chunks(chunks: list[bytes]) -> None:
    look = spreadsheet._FormulaLook()
    for chunk in chunks:
        look.append(chunk)
    assert look.found
    quiet = spreadsheet._FormulaLook()
    quiet.append(b"<c r='A1'><v>1</v></c>f")  # an "f" after a chunk's "<" only counts
    quiet.append(b"<v>2</v>")  # when the "<" is right before it
    assert not quiet.found


def test_formulas_in_a_sheet_larger_than_a_chunk_are_located() -> None:
    """The sheet is looked at a chunk at a time and inflated again to name the cells."""
    filler = b"".join(
        b'<row r="%d"><c r="A%d" t="s"><v>0</v></c></row>' % (n, n) for n in range(1, 40_000)
    )
    assert len(filler) > spreadsheet._OUT_CHUNK
    formula = b'<row r="40000"><c r="B40000"><f>1+1</f><v>2</v></c></row>'
    members = [
        ("xl/workbook.xml", *_packed(WORKBOOK)),
        ("xl/_rels/workbook.xml.rels", *_packed(RELS)),
        (
            "xl/worksheets/sheet1.xml",
            *_packed(SHEET + filler + formula + b"</sheetData></worksheet>"),
        ),
    ]
    formulas, unlocated = spreadsheet._check_xlsx(lying_zip(members))
    assert formulas == [spreadsheet.FormulaCell(row=40_000, column=1)] and not unlocated
