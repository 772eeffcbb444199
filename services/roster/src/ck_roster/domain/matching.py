"""Matching an upload's rows to the people already on the roster (R-ROSTER-4), without I/O.

A row and a person match on the same e-mail address (case-insensitive) when both have one,
otherwise on the name key (voornaam, achternaam, locatienaam, studiejaar, opleiding); a digest
of every field tells a changed person from an unchanged one, so a re-upload rewrites only what
changed. `plan_replace` gives the effect of an upload; store.replace_roster applies it.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from operator import attrgetter, itemgetter, methodcaller
from typing import Any, NamedTuple, TypeVar, overload
from uuid import UUID

from ck_contracts.roster import PersonFields

from ck_roster.domain.people import TEXT_FIELDS, People

T = TypeVar("T")
KEY_BATCH = 5000  # rows whose keys are computed at once
_SEPARATOR = "\x1f"  # never in a trimmed spreadsheet cell that a person would type
NAME_KEY_SEPARATOR = _SEPARATOR  # between a name key's parts (the store joins them in SQL)


def _batches(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def email_key(fields: PersonFields) -> str:
    """The e-mail address as matched and kept unique: lower case, "" when absent."""
    return fields.email.strip().lower()


def name_key(fields: PersonFields) -> str:
    """R-ROSTER-4's fallback: the same voornaam, achternaam, locatienaam, studiejaar and
    opleiding (compared case-insensitively, like the e-mail). Teachers have no studiejaar
    and opleiding: for them it is voornaam, achternaam and locatienaam."""
    v = fields.__dict__  # plain attribute values: this runs 50,000 times per upload
    year = v["studiejaar"]
    return _SEPARATOR.join(
        (
            v["voornaam"].strip().lower(),
            v["achternaam"].strip().lower(),
            v["locatienaam"].strip().lower(),
            "" if year is None else str(year),
            v["opleiding"].strip().lower(),
        )
    )


def digest(fields: PersonFields) -> str:
    """A hash of every field: a re-upload rewrites a kept person only when it changed."""
    v = fields.__dict__
    year = v["studiejaar"]
    text = _SEPARATOR.join([*(v[f] for f in TEXT_FIELDS), "" if year is None else str(year)])
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


# --- the same keys for many people at once -------------------------------------------------------
# An upload has 50,000 rows: the keys are computed a column at a time with C-level map/zip,
# which gives exactly what the per-person functions above give at a fraction of the cost.
_VALUES = itemgetter(*TEXT_FIELDS, "studiejaar")
_DICT = attrgetter("__dict__")
TEXT_INDEX = {f: i for i, f in enumerate(TEXT_FIELDS)}
YEAR = len(TEXT_FIELDS)
# The text fields of the name key (R-ROSTER-4), in the key's order (studiejaar between the
# last two).
KEY_FIELDS = ("voornaam", "achternaam", "locatienaam", "opleiding")


def columns_of(rows: Sequence[PersonFields]) -> list[Sequence[Any]]:
    """The people's values by column: TEXT_FIELDS, then studiejaar."""
    if isinstance(rows, People):  # already columns, in this order (People.COLUMN_FIELDS)
        return rows.columns
    if not rows:
        return [() for _ in range(YEAR + 1)]
    return list(zip(*map(_VALUES, map(_DICT, rows)), strict=True))


def year_texts(years: Iterable[int | None]) -> list[str]:
    return ["" if year is None else str(year) for year in years]


def name_keys_of(columns: list[Sequence[Any]], years: list[str]) -> list[str]:
    lowered = {f: map(str.lower, columns[TEXT_INDEX[f]]) for f in KEY_FIELDS}
    return name_keys_of_lowered(lowered, years)


def name_keys_of_lowered(lowered: Mapping[str, Iterable[str]], years: list[str]) -> list[str]:
    """name_keys_of from the key fields' columns already lower-cased (the store's shadow
    columns): lower-casing and stripping commute (lower() neither makes nor removes
    whitespace), so stripping the lowered value gives the same key without a second lower()."""
    voornaam, achternaam, locatie, opleiding = (map(str.strip, lowered[f]) for f in KEY_FIELDS)
    return list(
        map(_SEPARATOR.join, zip(voornaam, achternaam, locatie, years, opleiding, strict=True))
    )


_BLAKE_16 = functools.partial(hashlib.blake2b, digest_size=16)
_HEX = methodcaller("hexdigest")


def digests_of(columns: list[Sequence[Any]], years: list[str]) -> list[str]:
    """digest() of every row, as a chain of C-level maps (no Python frame per row)."""
    texts = map(_SEPARATOR.join, zip(*columns[:YEAR], years, strict=True))
    return list(map(_HEX, map(_BLAKE_16, map(str.encode, texts))))


def name_keys(rows: Sequence[PersonFields]) -> list[str]:
    """name_key of every row."""
    keys: list[str] = []
    for batch in _batches(rows, KEY_BATCH):  # batches: a few MB at a time, not the whole file
        columns = columns_of(batch)
        keys += name_keys_of(columns, year_texts(columns[YEAR]))
    return keys


def digests(rows: Sequence[PersonFields]) -> list[str]:
    """digest of every row."""
    keys: list[str] = []
    for batch in _batches(rows, KEY_BATCH):
        columns = columns_of(batch)
        keys += digests_of(columns, year_texts(columns[YEAR]))
    return keys


class Existing(NamedTuple):
    """What the upload reads of a person already in the roster."""

    id: UUID
    email_lower: str
    match_key: str | None  # None: not read (plan_steps asks for it when it needs it)
    digest: str


class RemovedTeacher(NamedTuple):
    id: UUID
    voornaam: str
    achternaam: str
    email: str


@dataclass
class ReplacePlan:
    """The effect of an upload: who is kept (and of those, who changed), added, removed."""

    kept: Sequence[tuple[Any, PersonFields]] = field(default_factory=list)
    changed: list[tuple[UUID, PersonFields]] = field(default_factory=list)
    added: Sequence[PersonFields] = field(default_factory=list)  # People when all are new
    removed: list[UUID] = field(default_factory=list)
    # The ids the added people got, once stored: as the driver took them (a UUID, or its 32
    # hex digits on SQLite), which is what pydantic's UUID fields read fastest.
    added_ids: list[Any] = field(default_factory=list)
    # Teachers only: what TeacherRemoved carries of each removed teacher.
    removed_teachers: list[RemovedTeacher] = field(default_factory=list)


# plan_steps yields once, the positions in `existing` of the people whose name key it needs
# and does not have (match_key None), and is sent their keys by position.
PlanSteps = Generator[list[int], Mapping[int, str], "ReplacePlan"]


def plan_replace(existing: Sequence[Existing], rows: Sequence[PersonFields]) -> ReplacePlan:
    """plan_steps with every key at hand (a person whose key is None has none)."""
    return finish_plan(plan_steps(existing, rows), lambda need: dict.fromkeys(need, ""))


def finish_plan(steps: PlanSteps, keys_of: Callable[[list[int]], Mapping[int, str]]) -> ReplacePlan:
    """Run plan_steps, answering its one question with keys_of."""
    try:
        need = next(steps)
        steps.send(keys_of(need))
    except StopIteration as done:
        plan: ReplacePlan = done.value
        return plan
    raise RuntimeError("plan_steps asks for name keys once")


def plan_steps(existing: Sequence[Existing], rows: Sequence[PersonFields]) -> PlanSteps:
    """Match the file's rows to the people already there (R-ROSTER-4).

    A row and a person match on the same e-mail (case-insensitive) when both have one;
    otherwise on the name key. When both have an address and the addresses differ they are
    different people, however alike their names. Each person matches at most one row.

    The name keys of the people already there are asked for only once every address has
    found its person (the yield), and only of those the name pass may still match: the
    store does not keep them (store.load_existing).
    """
    plan = ReplacePlan()
    if not existing:  # a first upload: everyone is new, no keys needed
        plan.added = rows if isinstance(rows, People) else list(rows)
        return plan
    if isinstance(rows, People):
        return (yield from _plan_columns(existing, rows))
    added: list[PersonFields] = []
    kept_rows: list[tuple[Any, PersonFields]] = []
    plan.added, plan.kept = added, kept_rows
    by_email = {p.email_lower: p for p in existing if p.email_lower}
    taken: set[Any] = set()
    matched: list[Existing] = []  # the person of each of plan.kept
    pending: list[tuple[str, PersonFields]] = []
    for row in rows:  # first every e-mail match, so a name match never steals one
        email = email_key(row)
        by_mail = by_email.get(email) if email else None
        if by_mail is not None and by_mail.id not in taken:
            taken.add(by_mail.id)
            kept_rows.append((by_mail.id, row))
            matched.append(by_mail)
        else:
            pending.append((email, row))
    keys = yield _keys_needed(existing, taken, [not email for email, _ in pending])
    by_name: dict[str, list[Existing]] = {}
    for person, key in _untaken_keys(existing, taken, keys):
        by_name.setdefault(key, []).append(person)
    pending_rows = [row for _, row in pending]
    for (email, row), key in zip(pending, name_keys(pending_rows), strict=True):
        by_key = _name_match(by_name.get(key, ()), taken, bool(email))
        if by_key is None:
            added.append(row)
        else:
            taken.add(by_key.id)
            kept_rows.append((by_key.id, row))
            matched.append(by_key)
    for start in range(0, len(matched), KEY_BATCH):  # a batch at a time: less memory
        kept = kept_rows[start : start + KEY_BATCH]
        new = digests([row for _, row in kept])
        for person, (pid, row), value in zip(
            matched[start : start + KEY_BATCH], kept, new, strict=True
        ):
            if value != person.digest:
                plan.changed.append((pid, row))
    plan.removed = [p.id for p in existing if p.id not in taken]
    return plan


def _keys_needed(
    existing: Sequence[Existing], taken: set[Any], pending_without_email: list[bool]
) -> list[int]:
    """The positions of the people not taken by address whose key is not at hand and whom a
    pending row could match: anyone for a row without an address, only people without one
    for a row with an address (_name_match)."""
    if not pending_without_email:
        return []
    anyone = any(pending_without_email)
    unknown = [i for i, p in enumerate(existing) if p.match_key is None]
    return [
        i
        for i in unknown
        if existing[i].id not in taken and (anyone or not existing[i].email_lower)
    ]


def _untaken_keys(
    existing: Sequence[Existing], taken: set[Any], keys: Mapping[int, str]
) -> Iterator[tuple[Existing, str]]:
    """(person, name key) of everyone not taken by address whose key is known."""
    for i, person in enumerate(existing):
        key = person.match_key
        if key is None:
            key = keys.get(i)
            if key is None:
                continue
        if key and person.id not in taken:
            yield person, key


def _name_match(
    candidates: Iterable[Existing], taken: set[Any], has_email: bool
) -> Existing | None:
    for person in candidates:
        if person.id in taken or (has_email and person.email_lower):
            continue
        return person
    return None


class KeptRows(Sequence[tuple[Any, PersonFields]]):
    """ReplacePlan.kept of a People: (person id, row) pairs whose rows are made when asked
    for (a re-upload keeps ~50,000 people; only the changed ones are ever needed as objects)."""

    def __init__(self, ids: list[Any], positions: list[int], rows: People) -> None:
        self.ids, self.positions, self.rows = ids, positions, rows

    def __len__(self) -> int:
        return len(self.ids)

    @overload
    def __getitem__(self, index: int) -> tuple[Any, PersonFields]: ...

    @overload
    def __getitem__(self, index: slice) -> KeptRows: ...

    def __getitem__(self, index: int | slice) -> tuple[Any, PersonFields] | KeptRows:
        if isinstance(index, slice):
            return KeptRows(self.ids[index], self.positions[index], self.rows)
        return self.ids[index], self.rows[self.positions[index]]


def _plan_columns(existing: Sequence[Existing], rows: People) -> PlanSteps:
    """plan_steps for rows kept as columns: the same matching in the same order, a column at
    a time, without a PersonFields per row (only the changed rows become objects)."""
    plan = ReplacePlan()
    by_email = {p.email_lower: p for p in existing if p.email_lower}
    taken: set[Any] = set()
    kept_ids: list[Any] = []
    kept_positions: list[int] = []
    matched: list[Existing] = []  # the person of each kept row
    pending: list[int] = []
    pending_has_email: list[bool] = []
    # The file's addresses one at a time, not a list of 50,000 lower-cased copies.
    emails = map(str.lower, map(str.strip, rows.columns[TEXT_INDEX["email"]]))
    for position, email in enumerate(emails):  # first every e-mail match (see plan_replace)
        by_mail = by_email.get(email) if email else None
        if by_mail is not None and by_mail.id not in taken:
            taken.add(by_mail.id)
            kept_ids.append(by_mail.id)
            kept_positions.append(position)
            matched.append(by_mail)
        else:
            pending.append(position)
            pending_has_email.append(bool(email))
    del by_email
    keys_at_hand = yield _keys_needed(existing, taken, [not e for e in pending_has_email])
    # A name key's first person, and the few keys more people share: not a list per person
    # (50,000 lists, ~4 MB at a re-upload's peak).
    by_name: dict[str, Existing] = {}
    more_by_name: dict[str, list[Existing]] = {}
    for person, key in _untaken_keys(existing, taken, keys_at_hand):
        if by_name.setdefault(key, person) is not person:
            more_by_name.setdefault(key, []).append(person)
    del keys_at_hand
    added: list[int] = []
    columns = rows.take(pending).columns
    keys = name_keys_of(columns, year_texts(columns[YEAR]))
    del columns
    for position, has_email, key in zip(pending, pending_has_email, keys, strict=True):
        first = by_name.get(key)
        candidates: tuple[Existing, ...] = (
            () if first is None else (first, *more_by_name.get(key, ()))
        )
        by_key = _name_match(candidates, taken, has_email)
        if by_key is None:
            added.append(position)
        else:
            taken.add(by_key.id)
            kept_ids.append(by_key.id)
            kept_positions.append(position)
            matched.append(by_key)
    del keys, by_name, more_by_name
    for start in range(0, len(kept_ids), KEY_BATCH):  # the digests a batch at a time
        end = start + KEY_BATCH
        columns = rows.take(kept_positions[start:end]).columns
        new = digests_of(columns, year_texts(columns[YEAR]))
        plan.changed += [
            (pid, rows[position])
            for pid, position, person, value in zip(
                kept_ids[start:end], kept_positions[start:end], matched[start:end], new, strict=True
            )
            if value != person.digest
        ]
    plan.kept = KeptRows(kept_ids, kept_positions, rows)
    plan.added = rows.take(added)
    plan.removed = [p.id for p in existing if p.id not in taken]
    return plan
