"""The validation tool (R-ROSTER-3): an uploaded roster file in, a report out (reason codes
with params for every problem and the summary; the gateway writes them in Dutch).

The first non-empty row that is not a hint row is the header. Hint rows ("Verplicht"/
"Optioneel", "Vrije invoer", ...) right before or right after the header are skipped, so the
template validates as downloaded and filled, and so does the layout shown in the manual.
Blank rows in the middle of the data are skipped silently (they are not people and the school
has nothing to fix); trailing blank rows are dropped. Every error of every row is collected,
numbered as Excel shows the row. People are returned only when the file is valid.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import re
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from ck_contracts.bounds import NEEDS_CLEANING
from ck_contracts.roster import (
    RosterKind,
    RosterReason,
    RowError,
    ValidationReport,
)

from ck_roster.domain import Problem, rules
from ck_roster.domain.columns import COLUMNS, Column, find_column, normalise_header
from ck_roster.domain.people import People
from ck_roster.spreadsheet import (
    DEFAULT_MAX_BYTES,
    FORMULAS,
    Sheet,
    SpreadsheetError,
    column_letters,
    read_rows,
)

log = logging.getLogger(__name__)

_VALID = {
    RosterKind.STUDENTS: RosterReason.FILE_VALID_STUDENTS,
    RosterKind.TEACHERS: RosterReason.FILE_VALID_TEACHERS,
}
_NONE = {
    RosterKind.STUDENTS: Problem(RosterReason.FILE_NO_STUDENTS),
    RosterKind.TEACHERS: Problem(RosterReason.FILE_NO_TEACHERS),
}
UNEXPECTED = Problem(RosterReason.FILE_UNCHECKABLE)
_HINT_WORDS = ("verplicht", "optioneel", "vrije invoer")
_HEADER_SEARCH_ROWS = 10


@dataclass(frozen=True, slots=True)
class Validated:
    report: ValidationReport
    people: People = field(default_factory=People.empty)  # only when report.ok


def valid_reason(kind: RosterKind) -> RosterReason:
    """The green summary's reason ("N leerling(en) gevalideerd!"), with param count."""
    return _VALID[kind]


def validate(
    kind: RosterKind,
    filename: str,
    content: bytes,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    keep_people: bool = True,
    on_read: Callable[[int], None] | None = None,
) -> Validated:
    """Check a roster file without storing it. Never raises. keep_people=False: the report
    only (the validatietool), without building the people an upload stores. `on_read` is told
    the number of data rows once the file is read, before they are checked (a job's progress);
    an exception it raises is ignored."""
    try:
        with _gc_paused():
            return _validate(kind, content, max_bytes, keep_people, on_read)
    except Exception as exc:  # the school always gets an answer, never a stack trace
        log.warning("roster validation failed unexpectedly: %s", type(exc).__name__)
        return _failed(UNEXPECTED)


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """The cyclic garbage collector off while a file is checked: the rows are hundreds of
    thousands of small acyclic objects, and collecting while they are created costs more than
    the checks themselves. Reference counting still frees everything."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _row_error(row: int, column: str, problem: Problem) -> RowError:
    return RowError(row=row, column=column, reason=problem.reason, params=dict(problem.params))


def _failed(problem: Problem, errors: list[RowError] | None = None) -> Validated:
    """A red report about the whole file: its one row (row 0) says the same as the summary,
    unless `errors` say more."""
    errors = errors if errors is not None else [_row_error(0, "", problem)]
    report = ValidationReport(
        ok=False, count=0, errors=errors, reason=problem.reason, params=dict(problem.params)
    )
    return Validated(report)


def _validate(
    kind: RosterKind,
    content: bytes,
    max_bytes: int,
    keep_people: bool,
    on_read: Callable[[int], None] | None = None,
) -> Validated:
    try:
        sheet = read_rows(content, max_bytes=max_bytes)
    except SpreadsheetError as exc:
        return _failed(Problem(exc.reason, exc.params))
    height = sheet.height
    header_at = _find_header(sheet.row(index) for index in range(height))
    if header_at is None:
        return _failed(_NONE[kind])
    mapping, problems = _map_columns(kind, sheet.row(header_at))
    if problems:
        expected = ", ".join(c.header for c in COLUMNS[kind])
        summary = Problem(RosterReason.FILE_COLUMNS, {"expected": expected})
        return _failed(summary, [_row_error(header_at + 1, "", p) for p in problems])
    first = header_at + 1
    while first < height and _is_hint_row(sheet.row(first)):
        first += 1
    if on_read is not None:
        with contextlib.suppress(Exception):
            on_read(height - first)
    errors = _formula_errors(sheet, mapping, first)
    count, people, row_errors = _check_rows(sheet.cells, sheet.width, first, mapping, keep_people)
    errors.extend(row_errors)
    if not count and not errors:
        return _failed(_NONE[kind])
    if errors:
        report = ValidationReport(
            ok=False,
            count=count,
            errors=errors,
            reason=RosterReason.FILE_HAS_ERRORS,
            params={"errors": len(errors)},
        )
        return Validated(report)
    report = ValidationReport(ok=True, count=count, reason=_VALID[kind], params={"count": count})
    return Validated(report, people)


def _is_blank(value: Any) -> bool:
    return value is None or value == "" or (value.__class__ is str and not value.strip())


def _is_hint_row(row: list[Any]) -> bool:
    for value in row:
        if value.__class__ is str and value.strip().lower().startswith(_HINT_WORDS):
            return True
    return False


def _find_header(rows: Iterable[list[Any]]) -> int | None:
    seen = 0
    for index, row in enumerate(rows):
        if all(_is_blank(v) for v in row):
            continue
        if _is_hint_row(row) and seen < _HEADER_SEARCH_ROWS:
            seen += 1
            continue
        return index
    return None


def _map_columns(
    kind: RosterKind, header: list[Any]
) -> tuple[list[tuple[int, Column]], list[Problem]]:
    mapping: list[tuple[int, Column]] = []
    unknown: list[str] = []
    seen: dict[str, int] = {}
    doubles: list[str] = []
    for index, cell in enumerate(header):
        name = normalise_header(cell)
        if not name:
            continue
        column = find_column(kind, cell)
        if column is None:
            unknown.append(str(cell).strip())
            continue
        if column.field in seen:
            doubles.append(column.header)
            continue
        seen[column.field] = index
        mapping.append((index, column))
    missing = [c.header for c in COLUMNS[kind] if c.required and c.field not in seen]
    problems = [
        Problem(reason, {"columns": ", ".join(names)})
        for reason, names in (
            (RosterReason.COLUMNS_MISSING, missing),
            (RosterReason.COLUMNS_UNKNOWN, unknown),
            (RosterReason.COLUMNS_DOUBLE, doubles),
        )
        if names
    ]
    return mapping, problems


def _formula_errors(sheet: Sheet, mapping: list[tuple[int, Column]], first: int) -> list[RowError]:
    names = {index: column.header for index, column in mapping}
    errors = [
        _row_error(
            cell.row,
            names.get(cell.column, column_letters(cell.column)),
            Problem(
                RosterReason.CELL_FORMULA, {"cell": f"{column_letters(cell.column)}{cell.row}"}
            ),
        )
        for cell in sheet.formulas
    ]
    if sheet.formulas_unlocated and not errors:
        errors.append(_row_error(0, "", Problem(FORMULAS)))
    return errors


_YEARS: dict[Any, int] = {float(year): year for year in range(1, 7)}


def _people(fields: list[str], columns: list[list[Any]], count: int) -> People:
    """The people from already validated values (trimmed strings, an int studiejaar): kept as
    columns, which is what the store inserts (ck_roster.domain.people)."""
    return People.from_fields(dict(zip(fields, columns, strict=True)), count)


def _misses(results: list[Any], clean: list[Any]) -> list[int]:
    """Positions of non-empty values whose fast check (a regex match) failed."""
    if results.count(None) == clean.count(""):
        return []
    return [i for i, (r, v) in enumerate(zip(results, clean, strict=True)) if r is None and v]


def _clean_column(
    field: str, required: bool, raw: Sequence[Any], keep: bool = True
) -> tuple[list[Any], dict[int, Problem]]:
    """One column's cleaned values and {position: problem}. Common cells take a fast path over
    the whole column; the rest goes through the rule of rules.py. `keep`: the values become
    people (an upload), worth one object per distinct text."""
    rule = rules.rule_for(field, required)
    if field != "studiejaar":
        fast = _clean_text_column(field, required, raw, keep)
        if fast is not None:
            return fast, {}
    types = set(map(type, raw))
    if field == "studiejaar":
        if bool in types:  # True == 1 would pass the lookup
            clean: list[Any] = [None] * len(raw)
        else:
            clean = list(map(_YEARS.get, raw))
        slow = [i for i, v in enumerate(clean) if v is None] if None in clean else []
    else:
        if types == {str}:
            # One object per distinct value: calamine makes a str per cell, and a roster
            # repeats its locations, programmes, classes and first names thousands of times
            # (the people are held until they are stored).
            clean = list(map(str.strip, raw))
            if keep:
                clean = list(map({}.setdefault, clean, clean))
            slow = []
        else:
            clean = [v.strip() if v.__class__ is str else v for v in raw]
            slow = [i for i, v in enumerate(raw) if v.__class__ is not str]
        if field == "email":
            slow += _pattern_misses(rules.EMAIL, _WHOLE_EMAIL, clean)
        elif field == "mobiel":
            slow += _pattern_misses(rules.DUTCH_MOBILE, _WHOLE_MOBILE, clean)
        elif required and "" in clean:
            slow += [i for i, v in enumerate(clean) if v == ""]
        slow += _out_of_bounds(raw, rules.TEXT_LIMITS.get(field), all_text=types == {str})
    errors: dict[int, Problem] = {}
    for i in slow:
        value, problem = rule(raw[i])
        clean[i] = value
        if problem is not None:
            errors[i] = problem
    return clean, errors


# What a text column's bytes may hold for the quick look of _clean_text_column: printable
# ASCII without the line break, and (Latin-1) the letters and signs from U+00A1, or (UTF-8)
# the bytes of multi-byte characters except the lead bytes of those that are whitespace or
# forbidden: C2 (U+0080-00BF: C1 controls, no-break space), E1 (U+1680), E2 (U+2000-2FFF:
# spaces, line separators, bidi controls), E3 (U+3000), EF (U+FFFE, U+FFFF).
_LATIN1_PLAIN = bytes(range(0x20, 0x7F)) + bytes(range(0xA1, 0x100))
_UTF8_PLAIN = bytes(range(0x20, 0x7F)) + bytes(
    b for b in range(0x80, 0x100) if b not in (0xC2, 0xE1, 0xE2, 0xE3, 0xEF)
)


# Fields whose values differ from person to person: the set of their distinct values is as
# long as the column, so the quick look goes over the column itself.
_PER_PERSON = frozenset({"email", "mobiel"})
# Fields whose whole-column pattern bounds a value's length below the contract's limit: once
# it matched, the lengths need no look of their own (+316 and eight digits: 12 characters).
_LENGTH_BY_PATTERN = frozenset({"mobiel"})


def _clean_text_column(
    field: str, required: bool, raw: Sequence[Any], keep: bool
) -> list[Any] | None:
    """The cleaned column when every cell is already clean text, else None (then every check
    runs as in _clean_column, which names the cells). Every check is of one value on its own,
    so it is made on the column's distinct values: a roster repeats its locations,
    programmes, classes and names thousands of times, and hashing a cell is cheaper than the
    join, encode, translate and length passes of _is_clean_text. `keep`: the values become
    people (an upload), one object per distinct text (calamine makes a str per cell, and the
    people are held until they are stored); the dict that makes them gives the distinct
    values too."""
    if not raw:
        return None
    values: Collection[Any]
    clean: list[Any] | None = None
    try:
        if keep:
            distinct: dict[Any, Any] = {}
            clean = list(map(distinct.setdefault, raw, raw))
            values = distinct.keys()
        elif field in _PER_PERSON:
            values = raw
        else:
            values = set(raw)
    except TypeError:  # an unhashable cell (not something a reader gives): the per-cell path
        return None
    if not _is_clean_text(field, required, values):
        return None
    if clean is None:
        clean = raw if raw.__class__ is list else list(raw)
    return clean


def _is_clean_text(field: str, required: bool, values: Collection[Any]) -> bool:
    r"""Whether every value is clean text, by a handful of C-level passes over the values
    joined by line breaks instead of a call per value: every value a str (the join), no line
    break, control character or whitespace but the space inside a value (the bytes left
    after deleting the plain ones are the joins' line breaks only), no space at a value's
    edge (so strip would change nothing), no empty value where one is required, no value
    over the length limit, and e-mail/mobile matched by one byte pattern over the whole
    column. On such bytes the byte patterns accept exactly what the str patterns accept: \s
    can only be the space or the line break, and a multi-byte character's bytes are neither
    "@", "." nor a digit."""
    try:
        joined = "\n".join(values)
    except TypeError:  # a number, a date, an empty cell: the per-cell path
        return False
    try:
        encoded = joined.encode("latin-1")
        plain = _LATIN1_PLAIN
    except UnicodeEncodeError:
        try:
            encoded = joined.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate
            return False
        plain = _UTF8_PLAIN
    if len(encoded.translate(None, plain)) != len(values) - 1:
        return False
    # Finding one byte is memchr; the pairs are searched only when there is a space.
    if b" " in encoded and (
        encoded[:1] == b" " or encoded[-1:] == b" " or b" \n" in encoded or b"\n " in encoded
    ):
        return False
    if required and (
        not encoded or encoded[:1] == b"\n" or encoded[-1:] == b"\n" or b"\n\n" in encoded
    ):
        return False
    whole = _WHOLE_BYTES.get(field)
    if whole is not None and whole.fullmatch(encoded) is None:
        return False
    limit = rules.TEXT_LIMITS.get(field)
    return limit is None or field in _LENGTH_BY_PATTERN or max(map(len, values)) <= limit


def _whole_column(pattern: re.Pattern[str]) -> re.Pattern[str]:
    """Matches a column joined with line breaks when every value is empty or matches `pattern`
    in full. Only for patterns that can never match a line break (\\s, or no whitespace at
    all), and only used when the join has exactly one line break per gap. Possessive: a
    value's match ends at its line break or nowhere, so giving back never helps."""
    return re.compile(f"(?:{pattern.pattern})?+(?:\n(?:{pattern.pattern})?+)*+")


_WHOLE_EMAIL = _whole_column(rules.EMAIL)
_WHOLE_MOBILE = _whole_column(rules.DUTCH_MOBILE)
# The same over a column's bytes (_is_clean_text): \d of a str pattern is any Unicode digit,
# so the mobile number's digits are spelled out (the ASCII digits it accepts). The e-mail
# pattern's \s (inside its classes only) is spelled as the space and the line break, the only
# whitespace such bytes can hold: a class of plain bytes is a bitmap test per byte, where \s
# is a category lookup (7.4 -> 5.9 ms for 50,000 addresses).
_WHOLE_BYTES = {
    "email": re.compile(_WHOLE_EMAIL.pattern.replace("\\s", "\n ").encode()),
    "mobiel": re.compile(_WHOLE_MOBILE.pattern.replace("\\d", "[0-9]").encode()),
}


def _pattern_misses(
    pattern: re.Pattern[str], whole: re.Pattern[str], clean: list[Any]
) -> list[int]:
    """Positions of non-empty values that `pattern` does not match in full. A valid column is
    one regex run over the joined column (a call per cell cost more than the match itself);
    any miss, or a value with a line break of its own, and every cell is looked at."""
    texts = _strings(clean)
    joined = "\n".join(texts)
    if joined.count("\n") == max(len(texts) - 1, 0) and whole.fullmatch(joined) is not None:
        return []
    return _misses(list(map(pattern.fullmatch, texts)), clean)


def _out_of_bounds(raw: Sequence[Any], limit: int | None, *, all_text: bool = False) -> list[int]:
    """Positions of text cells the contract's bounds would refuse or change (a control
    character, a tab or line break inside, longer than the limit): one search over the whole
    column first, so a clean column costs a join and a regex. `all_text`: every value is a
    str (no need to pick them out)."""
    if limit is None:
        return []
    texts = raw if all_text else [v for v in raw if v.__class__ is str]
    if not texts:
        return []
    if max(map(len, texts)) <= limit and not needs_cleaning("".join(texts)):
        return []
    return [
        i
        for i, v in enumerate(raw)
        if v.__class__ is str and (len(v) > limit or NEEDS_CLEANING.search(v) is not None)
    ]


# The Latin-1 characters NEEDS_CLEANING lets through: all but the C0 and C1 controls (tab and
# line breaks among them) and DEL.
_LATIN1_CLEAN = bytes(range(0x20, 0x7F)) + bytes(range(0xA0, 0x100))


def needs_cleaning(text: str) -> bool:
    """Whether NEEDS_CLEANING finds anything in `text`. A roster's text is nearly always
    Latin-1 (Dutch names, addresses, codes): that is encoded and its allowed bytes deleted
    at memory speed, where the regex takes a step per character (a tenth of a column's
    checks); anything else goes to the regex."""
    try:
        encoded = text.encode("latin-1")
    except UnicodeEncodeError:
        return NEEDS_CLEANING.search(text) is not None
    return bool(encoded.translate(None, _LATIN1_CLEAN))


def _strings(values: list[Any]) -> list[str]:
    return values if set(map(type, values)) <= {str} else [str(v) for v in values]


def _has_duplicates(mails: list[Any]) -> bool:
    """Whether two non-empty addresses are the same, ignoring case (a quick look first)."""
    lowered = list(map(str.lower, filter(None, mails)))  # C-level: no Python frame per row
    return len(set(lowered)) != len(lowered)


def _columns(cells: list[Any], width: int, first: int, count: int) -> list[list[Any]]:
    """The first `count` columns of the rows from row `first` on (`cells` row after row,
    `width` cells a row, as spreadsheet.Sheet has them), each a slice with that stride (zip
    over a list of rows stepped 50,000 list iterators for every column: 16 ms for 50,000
    rows of 9 cells, with the rows' lists; these slices 3), and `cells` emptied: the file's
    cells are freed before people are made."""
    start = first * width
    columns = [cells[start + index :: width] for index in range(count)]
    cells.clear()
    return columns


def _check_rows(
    cells: list[Any],
    width: int,
    first: int,
    mapping: list[tuple[int, Column]],
    keep_people: bool = True,
) -> tuple[int, People, list[RowError]]:
    """(people in the file, the people when there are no errors, every error) of the rows
    from row `first` on of `cells` (row after row, `width` cells a row; emptied here)."""
    size = len(cells) // width - first
    transposed = _columns(cells, width, first, max(index for index, _ in mapping) + 1)
    fields: list[str] = []
    columns: list[list[Any]] = []
    problems: dict[int, list[tuple[str, Problem]]] = {}
    for index, column in mapping:
        raw = transposed[index]
        clean, found = _clean_column(column.field, column.required, raw, keep_people)
        fields.append(column.field)
        columns.append(clean)
        for position, problem in found.items():
            problems.setdefault(position, []).append((column.header, problem))
    del transposed
    # blank rows between people: every value empty (they always fail a required field, and
    # nothing else: a value that was there but refused, an invalid studiejaar alone, keeps
    # its row, with its error)
    blank = {
        position
        for position, found in problems.items()
        if all(problem.reason == RosterReason.CELL_REQUIRED for _, problem in found)
        and all(col[position] in ("", None) for col in columns)
    }
    if blank:
        keep = [i for i in range(size) if i not in blank]
        columns = [[col[i] for i in keep] for col in columns]
        numbers = [first + i + 1 for i in keep]
        moved = {old: new for new, old in enumerate(keep)}
        problems = {moved[p]: v for p, v in problems.items() if p not in blank}
    else:
        numbers = list(range(first + 1, first + size + 1))
    if "email" in fields and _has_duplicates(columns[fields.index("email")]):
        header = mapping[fields.index("email")][1].header
        seen: dict[str, int] = {}
        for position, mail in enumerate(columns[fields.index("email")]):
            if not mail:
                continue
            key = mail.lower()
            earlier = seen.setdefault(key, position)
            if earlier != position:
                duplicate = rules.duplicate_email(numbers[earlier])
                problems.setdefault(position, []).append((header, duplicate))
    order = {column.header: index for index, column in mapping}
    errors = [
        _row_error(numbers[position], header, problem)
        for position in sorted(problems)
        for header, problem in sorted(problems[position], key=lambda item: order[item[0]])
    ]
    if errors or not keep_people:
        return len(numbers), People.empty(), errors
    return len(numbers), _people(fields, columns, len(numbers)), errors
