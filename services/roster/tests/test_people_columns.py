"""A valid file's people as columns (ck_roster.domain.people.People): the same people the
PersonFields model would make, the same keys and stored values for the store, and the e-mail
and mobile columns' whole-column check agreeing with the check per cell."""

from __future__ import annotations

import itertools
import random
import re

import pytest
from ck_contracts.bounds import NEEDS_CLEANING
from ck_contracts.roster import PersonFields, RosterKind
from ck_roster.domain import matching, rules
from ck_roster.domain.people import COLUMN_FIELDS, People
from ck_roster.domain.validation import (
    _LENGTH_BY_PATTERN,
    _WHOLE_EMAIL,
    _WHOLE_MOBILE,
    _clean_column,
    _clean_text_column,
    _columns,
    _misses,
    _pattern_misses,
    needs_cleaning,
    validate,
)
from ck_roster.store import field_columns, field_row
from ck_testkit import rosters


def people_of(rows: list[tuple[object, ...]]) -> People:
    result = validate(RosterKind.STUDENTS, "leerlingen.xlsx", rosters.student_xlsx(rows))
    assert result.report.ok, result.report.errors[:3]
    return result.people


def both_plans(
    existing: list[matching.Existing], people: People
) -> tuple[matching.ReplacePlan, matching.ReplacePlan]:
    """The plan from the columns and the plan from PersonFields objects: the same plan."""
    by_columns = matching.plan_replace(existing, people)
    by_objects = matching.plan_replace(existing, list(people))
    assert list(by_columns.kept) == list(by_objects.kept)
    assert by_columns.changed == by_objects.changed
    assert list(by_columns.added) == list(by_objects.added)
    assert by_columns.removed == by_objects.removed
    return by_columns, by_objects


def test_people_are_what_pydantic_would_make() -> None:
    people = people_of(rosters.student_rows(300, seed=11))
    assert len(people) == 300
    for person in (people[0], people[150], people[-1]):
        again = PersonFields.model_validate(person.model_dump())
        assert person == again and person.model_dump() == again.model_dump()
        assert person.afdeling == ""  # not a students' column: its default
    assert list(people)[7] == people[7]
    assert people == list(people) and people[10:20] == list(people)[10:20]


def test_the_store_gets_the_same_values_from_columns_as_from_objects() -> None:
    people = people_of(rosters.student_rows(120, seed=12))
    objects = list(people)
    by_columns = list(zip(*field_columns(people), strict=True))
    by_objects = list(zip(*field_columns(objects), strict=True))
    assert by_columns == by_objects == [field_row(p) for p in objects]
    order = list(reversed(range(len(people))))
    assert list(people.take(order)) == [objects[i] for i in order]


def test_name_keys_from_the_lowered_columns_are_the_name_keys() -> None:
    """The store makes the name keys from its lower-cased shadow columns: the same keys as
    name_key, also where lower-casing depends on the context (a final sigma), lengthens a
    value (a dotted capital I) or meets whitespace at a value's edge."""
    values = [" ΟΔΟΣ ", "ΟΔΟΣ", "Σ ", " İstanbul", "STRASSE\u00a0", "\u2003Ab", "Ünal", "", "x"]
    rows = [
        {"voornaam": a, "achternaam": b, "locatienaam": c, "opleiding": d, "studiejaar": y}
        for a, b, c, d, y in zip(
            values,
            values[1:] + values[:1],
            values[2:] + values[:2],
            values[3:] + values[:3],
            [1, None, 3, 4, None, 2, 1, 3, 4],
            strict=True,
        )
    ]
    columns = {
        f: [r[f] for r in rows] for f in ("voornaam", "achternaam", "locatienaam", "opleiding")
    }
    lowered = {f: [v.lower() for v in column] for f, column in columns.items()}
    years = matching.year_texts(r["studiejaar"] for r in rows)
    expected = [
        matching._SEPARATOR.join(
            (
                r["voornaam"].strip().lower(),
                r["achternaam"].strip().lower(),
                r["locatienaam"].strip().lower(),
                y,
                r["opleiding"].strip().lower(),
            )
        )
        for r, y in zip(rows, years, strict=True)
    ]
    assert matching.name_keys_of_lowered(lowered, years) == expected


def test_a_first_upload_plans_the_columns_themselves() -> None:
    people = people_of(rosters.student_rows(50, seed=13))
    plan = matching.plan_replace([], people)
    assert plan.added is people and not plan.kept and not plan.removed


def test_an_empty_people_equals_an_empty_list() -> None:
    assert People.empty() == [] and len(People.empty()) == 0
    with pytest.raises(ValueError):
        People([[1], [1, 2]] + [[]] * (len(COLUMN_FIELDS) - 2), frozenset())


@pytest.mark.parametrize(
    ("pattern", "whole", "good", "bad"),
    [
        (
            rules.EMAIL,
            _WHOLE_EMAIL,
            ["anna@school.nl", "a.b@c.d.nl", ""],
            ["anna@school", "a b@c.nl", "a@b.nl\nc@d.nl", "@x.nl", "a@@b.nl", "\n"],
        ),
        (
            rules.DUTCH_MOBILE,
            _WHOLE_MOBILE,
            ["+31612345678", "+31687654321", ""],
            ["0612345678", "+3161234567", "+31612345678\n+31612345678", "+3191234567"],
        ),
    ],
)
def test_whole_column_check_agrees_with_the_check_per_cell(
    pattern: re.Pattern[str], whole: re.Pattern[str], good: list[str], bad: list[str]
) -> None:
    rng = random.Random(5)
    for _ in range(300):
        column = [rng.choice(good) for _ in range(rng.randint(0, 6))]
        if rng.random() < 0.5:
            column.insert(rng.randint(0, len(column)), rng.choice(bad))
        per_cell = _misses(list(map(pattern.fullmatch, column)), column)
        assert _pattern_misses(pattern, whole, column) == per_cell, column


def test_an_address_with_a_line_break_inside_is_still_refused() -> None:
    rows = rosters.student_rows(3, seed=14)
    broken = list(rows[1])
    broken[2] = "anna@school.nl\npiet@school.nl"
    result = validate(
        RosterKind.STUDENTS,
        "leerlingen.xlsx",
        rosters.student_xlsx([rows[0], tuple(broken), rows[2]]),
    )
    assert not result.report.ok
    assert any(e.column == "email" for e in result.report.errors), result.report.errors


async def test_columns_stored_in_batches_two_batches_and_one_row(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nine people in batches of four (two whole batches and one row; on SQLite a batch is an
    INSERT of three rows and one of one): every row stored with the values of its
    PersonFields, the progress told after every batch, on SQLite and PostgreSQL."""
    import uuid

    from ck_roster import store
    from ck_roster.tables import known_schools
    from ck_roster.tables import people as people_table
    from ck_roster.uploads import apply_upload
    from ck_runtime.db import Database
    from ck_runtime.migrations import upgrade_async
    from ck_testkit import clocks
    from sqlalchemy import event, select, text

    monkeypatch.setattr(store, "INSERT_BATCH", 4)
    # SQLite: a batch of four as one INSERT of three rows and one of a single row.
    monkeypatch.setattr(store, "SQLITE_ROWS_PER_INSERT", 3)
    people = people_of(rosters.student_rows(9, seed=15))
    await upgrade_async("roster", database_url)
    db = Database(database_url)
    school = uuid.uuid4()
    told: list[int] = []

    async def progress(count: int) -> None:
        told.append(count)

    try:
        async with db.transaction() as session:
            await session.execute(
                known_schools.insert().values(
                    school_id=school, school_number=4711, updated_at=clocks.now()
                )
            )
        closed: list[object] = []
        pool = db.engine.sync_engine.pool
        event.listen(pool, "close_detached", closed.append)
        async with db.transaction() as session:
            outcome = await apply_upload(
                session, school, RosterKind.STUDENTS, people, clocks.now(), progress
            )
            if db.sqlite:  # the upload's small page cache and no map: the connection's own again
                cache = await session.execute(text("PRAGMA cache_size"))
                assert cache.scalar() == -65536
                mapped = await session.execute(text("PRAGMA mmap_size"))
                assert mapped.scalar() == 268435456
            assert closed == []
        # SQLite: the upload's connection is closed with its transaction, not pooled again.
        assert len(closed) == (1 if db.sqlite else 0)
        assert (outcome.added, outcome.total) == (9, 9)
        assert told == [0, 4, 8, 9]
        columns = [people_table.c[name] for name in store.FIELD_COLUMNS]
        async with db.read() as session:
            stored = (await session.execute(select(*columns))).all()
            meta = (
                await session.execute(
                    select(
                        people_table.c.id,
                        people_table.c.school_id,
                        people_table.c.kind,
                        people_table.c.status,
                        people_table.c.activation_code,
                        people_table.c.created_at,
                        people_table.c.updated_at,
                    )
                )
            ).all()
        assert sorted(tuple(row) for row in stored) == sorted(field_row(p) for p in people)
        assert len({row.id for row in meta}) == 9
        # The values every row has (bound once per statement on SQLite) in every row.
        assert {(row.school_id, row.kind, row.status, row.activation_code) for row in meta} == {
            (school, "students", "nieuw", "")
        }
        assert len({(row.created_at, row.updated_at) for row in meta}) == 1
        assert meta[0].created_at == meta[0].updated_at
    finally:
        await db.dispose()


def test_a_re_upload_plans_from_columns_as_from_objects() -> None:
    """Matching a file kept as columns against people already there gives the plan the
    PersonFields path gives: the same kept, changed, added and removed, in the same order.
    The file: some people as they were, some with a changed class, some without an address
    matched on their name, some new, and a row whose address belongs to someone else."""
    import uuid

    from ck_roster.domain.matching import Existing, digest, email_key, name_key

    rows = rosters.student_rows(60, seed=16)
    there_rows = [list(row) for row in rows[:45]]
    for row in there_rows[10:20]:
        row[7] = "9Z9"  # klas: changed in the new file
    for row in there_rows[20:25]:
        row[2] = ""  # no address then: a name match now
    there = people_of([tuple(row) for row in there_rows])
    existing = [Existing(uuid.uuid4(), email_key(p), name_key(p), digest(p)) for p in list(there)]
    new_rows = list(rows[5:60])
    new_rows[30] = (*new_rows[30][:2], rows[0][2], *new_rows[30][3:])  # someone else's address
    people = people_of(new_rows)
    by_columns, by_objects = both_plans(existing, people)
    assert list(by_columns.kept[1:3]) == list(by_objects.kept[1:3])
    assert len(by_columns.changed) >= 10 and len(by_columns.removed) == 5


def test_the_quick_look_for_text_to_clean_agrees_with_the_contract() -> None:
    """needs_cleaning (bytes for Latin-1 text) says what NEEDS_CLEANING says, for every
    Latin-1 character, the forbidden ones beyond it and text mixing both."""
    characters = [chr(c) for c in range(0x200)] + ["\u2028", "\u202a", "\u2069", "\ufffe", "€"]
    for char in characters:
        for text in (char, f"Anna {char} de Vries", f"é{char}"):
            assert needs_cleaning(text) is (NEEDS_CLEANING.search(text) is not None), repr(text)
    assert not needs_cleaning("") and not needs_cleaning("Zoë Çelik-Ångström")


def test_the_possessive_patterns_accept_what_the_plain_ones_did() -> None:
    """rules.EMAIL and the whole-column patterns are possessive (no giving back); every
    string of up to six characters of a small alphabet is judged as the plain patterns
    judged it."""

    plain = r"[^@\s]+@[^@\s.]+(?:\.[^@\s.]+)+"
    plain_email = re.compile(plain)
    plain_whole = re.compile(f"(?:{plain})?(?:\n(?:{plain})?)*")
    for length in range(7):
        for letters in itertools.product("a@. \né", repeat=length):
            text = "".join(letters)
            assert (rules.EMAIL.fullmatch(text) is None) is (plain_email.fullmatch(text) is None), (
                repr(text)
            )
            assert (_WHOLE_EMAIL.fullmatch(text) is None) is (
                plain_whole.fullmatch(text) is None
            ), repr(text)


def test_twins_and_digest_batches_plan_from_columns_as_from_objects(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """People sharing a name key (no addresses: matched in roster order, one row each) and
    the changed rows' digests made a few at a time: the same plan as the PersonFields path."""
    import uuid

    from ck_roster.domain.matching import Existing, digest, email_key, name_key

    monkeypatch.setattr(matching, "KEY_BATCH", 4)
    rows = [list(row) for row in rosters.student_rows(30, seed=17)]
    for row in rows[:6]:  # six twins: one name key, no address
        row[:3] = ["Sam", "Jansen", ""]
        row[3:] = rows[0][3:]
    there_rows = [list(row) for row in rows[:25]]
    for row in there_rows[1:25:3]:
        row[7] = "9Z9"  # klas: changed in the new file
    there = people_of([tuple(row) for row in there_rows])
    existing = [Existing(uuid.uuid4(), email_key(p), name_key(p), digest(p)) for p in list(there)]
    people = people_of([tuple(row) for row in rows[2:30]])  # four twins come back, and new ones
    by_columns, _ = both_plans(existing, people)
    twins = {p.id for p in existing[:6]}
    assert [pid for pid, _ in by_columns.kept if pid in twins] == [p.id for p in existing[:4]]
    assert len(by_columns.changed) >= 5 and len(by_columns.removed) == 2


# Values a text column may hold: clean ones, and every kind of trouble the per-cell path names
# or changes (edge and odd whitespace, controls, line breaks, bidi controls, a lone surrogate,
# non-Latin-1 letters, too long, empty, not an address or a number, Unicode digits).
_CLEAN_VALUES = ["Anna", "van der Berg", "Zoë Çelik", "Yıldız", "ß", "a@b.nl", "+31612345678"]
_TROUBLE = [
    "",
    " Anna",
    "Anna ",
    " ",
    "An\tna",
    "An\nna",
    "An\x00na",
    "An\x85na",
    "An\xa0na",
    "\xa0",
    "An\u2028na",
    "An\u202ena",
    "An\u3000na",
    "An\u1680na",
    "An\u2009na",
    "An\ufffena",
    "An\ud800na",
    "D\u2019Souza",
    "a" * 300,
    "a@b",
    "a b@c.nl",
    "a@b.nl ",
    "0612345678",
    "+316\u0661\u0662345678",
    "+31612345678\u00a0",
    1,
    2.5,
    None,
]


@pytest.mark.parametrize("field", ["voornaam", "email", "mobiel", "klas", "locatienaam"])
def test_the_clean_column_quick_look_agrees_with_the_checks_per_cell(
    field: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """_clean_text_column only ever answers for a column the per-cell path finds clean, with
    the same values; anything else is left to that path."""
    from ck_roster.domain import validation

    rng = random.Random(21)
    for required in (True, False):
        for keep in (True, False):
            for _ in range(150):
                column = [rng.choice(_CLEAN_VALUES) for _ in range(rng.randint(1, 6))]
                if rng.random() < 0.6:
                    column.insert(rng.randint(0, len(column)), rng.choice(_TROUBLE))
                fast = _clean_column(field, required, column, keep)
                with monkeypatch.context() as patched:
                    patched.setattr(validation, "_clean_text_column", lambda *_: None)
                    per_cell = _clean_column(field, required, column, keep)
                assert fast == per_cell, (field, required, column)
                quick = _clean_text_column(field, required, column, keep)
                if quick is not None:
                    assert per_cell == (quick, {}), (field, column)


def test_a_clean_column_takes_the_quick_look() -> None:
    assert _clean_text_column("voornaam", True, ["Anna", "Zoë", "Yıldız"], True) == [
        "Anna",
        "Zoë",
        "Yıldız",
    ]
    assert _clean_text_column("email", False, ["a@b.nl", "", "c.d@e.f.nl"], False) is not None
    assert _clean_text_column("mobiel", False, ["+31612345678", ""], False) is not None
    assert _clean_text_column("voornaam", True, ["Anna", ""], False) is None
    assert _clean_text_column("voornaam", True, ["Anna", "Zoë "], False) is None


def test_the_quick_look_lets_no_refused_or_changed_character_through() -> None:
    """Every code point that strip() removes or the contract's bounds refuse or change, inside
    a value, sends the column to the per-cell path; only the plain space may stay inside."""
    let_through = [
        hex(code)
        for code in range(0x110000)
        if (char := chr(code)).isspace() or NEEDS_CLEANING.match(char)
        if _clean_text_column("voornaam", True, [f"a{char}a", "b"], False) is not None
    ]
    assert let_through == ["0x20"]


def test_the_columns_are_the_rows_transposed() -> None:
    """_columns (a slice per column of the cells row after row) against zip over the rows,
    with and without data rows, from every first row."""
    rng = random.Random(5)
    values: list[object] = ["a", "", None, 3.0, 2, "Zoë"]
    for _ in range(300):
        width = rng.randint(1, 7)
        rows = [[rng.choice(values) for _ in range(width)] for _ in range(rng.randint(0, 8))]
        first = rng.randint(0, len(rows))
        count = rng.randint(1, width)
        expected = [list(column) for column in zip(*rows[first:], strict=True)][:count]
        if first == len(rows):
            expected = [[] for _ in range(count)]
        cells = [value for row in rows for value in row]
        assert _columns(cells, width, first, count) == expected, (rows, first, count)
        assert cells == []  # the file's cells are freed before people are made


def test_the_email_byte_pattern_agrees_with_the_check_per_cell() -> None:
    """Every text of up to five characters over the e-mail pattern's alphabet (with a space,
    a line break, a non-Latin-1 letter and a no-break space), alone and with a valid address:
    the quick look only accepts what the per-cell rule accepts unchanged."""
    for length in range(6):
        for letters in itertools.product("a@. \nı\xa0", repeat=length):
            text = "".join(letters)
            for column in ([text], [text, "x@y.nl", ""]):
                quick = _clean_text_column("email", False, column, False)
                per_cell = [rules.rule_for("email", False)(value) for value in column]
                clean = all(
                    problem is None and value == raw
                    for (value, problem), raw in zip(per_cell, column, strict=True)
                )
                assert (quick is not None) is clean, repr(column)


def test_a_mobile_number_the_pattern_accepts_is_within_the_length_limit() -> None:
    """_LENGTH_BY_PATTERN: the quick look skips the length of mobile numbers because the
    pattern's longest match is below the contract's limit."""
    from re import _parser  # type: ignore[attr-defined]

    for field in _LENGTH_BY_PATTERN:
        pattern = {"mobiel": rules.DUTCH_MOBILE}[field]
        assert _parser.parse(pattern.pattern).getwidth()[1] <= rules.TEXT_LIMITS[field]


async def test_an_insert_refused_half_way_stores_nothing_of_the_upload(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A row refused by a constraint in the third INSERT (a second batch's first statement on
    SQLite): the upload fails, none of its rows stays, the other school's roster is untouched
    and the database takes the next upload, on SQLite and PostgreSQL."""
    import uuid

    from ck_roster import store
    from ck_roster.tables import known_schools
    from ck_roster.tables import people as people_table
    from ck_roster.uploads import apply_upload
    from ck_runtime.db import Database
    from ck_runtime.migrations import upgrade_async
    from ck_testkit import clocks
    from sqlalchemy import exc, func, select

    monkeypatch.setattr(store, "INSERT_BATCH", 4)
    monkeypatch.setattr(store, "SQLITE_ROWS_PER_INSERT", 2)
    people = people_of(rosters.student_rows(9, seed=16))
    await upgrade_async("roster", database_url)
    db = Database(database_url)
    first, second = uuid.uuid4(), uuid.uuid4()

    async def count(school: uuid.UUID) -> int:
        async with db.read() as session:
            query = select(func.count()).where(people_table.c.school_id == school)
            return int((await session.execute(query)).scalar() or 0)

    try:
        async with db.transaction() as session:
            for number, school in enumerate((first, second)):
                await session.execute(
                    known_schools.insert().values(
                        school_id=school, school_number=4800 + number, updated_at=clocks.now()
                    )
                )
        async with db.transaction() as session:
            await apply_upload(session, first, RosterKind.STUDENTS, people, clocks.now())
        async with db.read() as session:
            taken = (await session.execute(select(people_table.c.id))).scalars().first()
        new_ids = store._new_ids

        def colliding(count: int, now: object, processor: object) -> list[object]:
            ids = new_ids(count, now, processor)  # type: ignore[arg-type]
            return [*ids[:5], processor(taken) if processor else taken, *ids[6:]]  # type: ignore[operator]

        monkeypatch.setattr(store, "_new_ids", colliding)
        with pytest.raises(exc.IntegrityError):
            async with db.transaction() as session:
                await apply_upload(session, second, RosterKind.STUDENTS, people, clocks.now())
        assert (await count(first), await count(second)) == (9, 0)
        monkeypatch.setattr(store, "_new_ids", new_ids)
        async with db.transaction() as session:
            outcome = await apply_upload(session, second, RosterKind.STUDENTS, people, clocks.now())
        assert outcome.added == 9
        assert (await count(first), await count(second)) == (9, 9)
    finally:
        await db.dispose()
