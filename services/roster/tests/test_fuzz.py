"""Property tests: whatever the file, validate() answers with a report and never raises."""

from __future__ import annotations

import datetime as dt
import io
import zipfile
from typing import Any

from ck_contracts.roster import RosterKind
from ck_roster.domain.validation import validate
from ck_testkit import rosters
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
xml_text = st.text(
    st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\ufffe\uffff"),
    max_size=20,
)
cell = st.one_of(
    st.just(""),
    xml_text,
    st.integers(-10, 10),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.sampled_from(["+31612345678", "0612345678", "a@b.nl", "A@B.NL", "3", " 4 ", "drie"]),
    st.dates(min_value=dt.date(1950, 1, 1), max_value=dt.date(2050, 1, 1)),
)
row = st.lists(cell, min_size=9, max_size=9).map(tuple)


def _check(result: Any, data_rows: int | None = None) -> None:
    report = result.report
    assert report.reason
    if report.ok:
        assert report.count == len(result.people) > 0
        assert not report.errors
        if data_rows is not None:
            assert report.count <= data_rows
    else:
        assert report.errors and result.people == []
        assert all(e.row >= 0 and e.reason for e in report.errors)


@SETTINGS
@given(st.lists(row, max_size=15), st.booleans())
def test_random_rows_never_raise(rows: list[tuple[Any, ...]], hints: bool) -> None:
    result = validate(RosterKind.STUDENTS, "x.xlsx", rosters.student_xlsx(rows, hint_row=hints))
    _check(result, len(rows))
    first = 3 if hints else 2
    blank = sum(all(str(v).strip() == "" for v in r) for r in rows)
    if blank == len(rows):
        assert result.report.reason == "roster.file.no_students"
    else:
        assert all(e.row >= first for e in result.report.errors)
        assert result.report.count == len(rows) - blank


@SETTINGS
@given(st.lists(st.tuples(st.sampled_from(rosters.FIRST_NAMES), st.sampled_from(rosters.LAST_NAMES),
                          st.integers(1, 6)), min_size=1, max_size=20))  # fmt: skip
def test_valid_rows_count_equals_rows(people: list[tuple[str, str, int]]) -> None:
    rows = [(f, a, "", "", "MBO", y, "media", "", "") for f, a, y in people]
    result = validate(RosterKind.STUDENTS, "x.xlsx", rosters.student_xlsx(rows))
    assert result.report.ok and result.report.count == len(rows)


@SETTINGS
@given(st.binary(max_size=2000))
def test_random_bytes_never_raise(content: bytes) -> None:
    _check(validate(RosterKind.STUDENTS, "x.xlsx", content))


@SETTINGS
@given(st.binary(max_size=2000))
def test_random_bytes_behind_magic_never_raise(tail: bytes) -> None:
    for magic in (b"PK\x03\x04", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        _check(validate(RosterKind.TEACHERS, "x.xls", magic + tail))


@SETTINGS
@given(
    st.dictionaries(
        st.sampled_from(
            [
                "xl/workbook.xml",
                "xl/worksheets/sheet1.xml",
                "xl/_rels/workbook.xml.rels",
                "xl/sharedStrings.xml",
                "[Content_Types].xml",
                "other.bin",
            ]
        ),
        st.binary(max_size=300),
        max_size=6,
    )
)
def test_random_zips_never_raise(members: dict[str, bytes]) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    _check(validate(RosterKind.STUDENTS, "x.xlsx", buffer.getvalue()))


@SETTINGS
@given(st.integers(0, 2000), st.binary(min_size=1, max_size=8))
def test_damaged_real_files_never_raise(position: int, garbage: bytes) -> None:
    content = bytearray(rosters.student_xlsx(rosters.student_rows(5, seed=1)))
    position %= len(content)
    content[position : position + len(garbage)] = garbage
    _check(validate(RosterKind.STUDENTS, "x.xlsx", bytes(content)))
