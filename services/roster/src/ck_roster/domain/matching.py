"""Matching an upload's rows to the people already on the roster (R-ROSTER-4), without I/O.

A row and a person match on the same e-mail address (case-insensitive) when both have one,
otherwise on the name key (voornaam, achternaam, locatienaam, studiejaar, opleiding); a digest
of every field tells a changed person from an unchanged one, so a re-upload rewrites only what
changed. `plan_replace` gives the effect of an upload; store.replace_roster applies it.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from operator import attrgetter, itemgetter, methodcaller
from typing import Any, NamedTuple, TypeVar, overload
from uuid import UUID

from ck_contracts.roster import PersonFields

from ck_roster.domain.people import TEXT_FIELDS, People

T = TypeVar("T")
KEY_BATCH = 5000  # rows whose keys are computed at once
_SEPARATOR = "\x1f"  # never in a trimmed spreadsheet cell that a person would type


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
_KEY_FIELDS = ("voornaam", "achternaam", "locatienaam", "opleiding")


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
    lowered = {f: map(str.lower, columns[TEXT_INDEX[f]]) for f in _KEY_FIELDS}
    return name_keys_of_lowered(lowered, years)


def name_keys_of_lowered(lowered: Mapping[str, Iterable[str]], years: list[str]) -> list[str]:
    """name_keys_of from the key fields' columns already lower-cased (the store's shadow
    columns): lower-casing and stripping commute (lower() neither makes nor removes
    whitespace), so stripping the lowered value gives the same key without a second lower()."""
    voornaam, achternaam, locatie, opleiding = (map(str.strip, lowered[f]) for f in _KEY_FIELDS)
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
    match_key: str
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


def plan_replace(existing: Sequence[Existing], rows: Sequence[PersonFields]) -> ReplacePlan:
    """Match the file's rows to the people already there (R-ROSTER-4).

    A row and a person match on the same e-mail (case-insensitive) when both have one;
    otherwise on the name key. When both have an address and the addresses differ they are
    different people, however alike their names. Each person matches at most one row.
    """
    plan = ReplacePlan()
    if not existing:  # a first upload: everyone is new, no keys needed
        plan.added = rows if isinstance(rows, People) else list(rows)
        return plan
    if isinstance(rows, People):
        return _plan_columns(existing, rows)
    added: list[PersonFields] = []
    kept_rows: list[tuple[Any, PersonFields]] = []
    plan.added, plan.kept = added, kept_rows
    by_email = {p.email_lower: p for p in existing if p.email_lower}
    by_name: dict[str, list[Existing]] = {}
    for person in existing:
        by_name.setdefault(person.match_key, []).append(person)
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


def _plan_columns(existing: Sequence[Existing], rows: People) -> ReplacePlan:
    """plan_replace for rows kept as columns: the same matching in the same order, a column at
    a time, without a PersonFields per row (only the changed rows become objects)."""
    plan = ReplacePlan()
    by_email = {p.email_lower: p for p in existing if p.email_lower}
    # A name key's first person, and the few keys more people share: not a list per person
    # (50,000 lists, ~4 MB at a re-upload's peak).
    by_name: dict[str, Existing] = {}
    more_by_name: dict[str, list[Existing]] = {}
    for person in existing:
        if by_name.setdefault(person.match_key, person) is not person:
            more_by_name.setdefault(person.match_key, []).append(person)
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
