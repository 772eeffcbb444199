"""The people of a valid file, kept a column at a time (what validation made and what the store
inserts), not as 50,000 PersonFields objects.

An upload's people go from the file's columns to the store's executemany, which wants columns
again: building a PersonFields per row in between cost more CPU than the checks and about
25 MB at 50,000 rows, and the store took every one of them apart again. `People` is a
Sequence[PersonFields] all the same: indexing (or iterating) makes the PersonFields of a row
when someone asks (a hand-sized plan, a test); slicing and `take` stay columns.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from operator import itemgetter
from typing import Any, overload

from ck_contracts.roster import PersonFields

# Text fields of a person (PersonFields), in the order of the digest and the stored columns
# (ck_roster.domain.matching and the store use this order).
TEXT_FIELDS = (
    "voornaam",
    "achternaam",
    "email",
    "mobiel",
    "locatienaam",
    "opleiding",
    "klas",
    "brin",
    "afdeling",
)
# The order of the columns: the text fields, then studiejaar.
COLUMN_FIELDS = (*TEXT_FIELDS, "studiejaar")
_DEFAULTS = {name: info.default for name, info in PersonFields.model_fields.items()}
assert set(COLUMN_FIELDS) == set(_DEFAULTS), "People must hold every field of PersonFields"


class People(Sequence[PersonFields]):
    """Already validated values (trimmed strings, an int studiejaar), one list per field of
    COLUMN_FIELDS, all of the same length. `fields_set`: the fields the file had (pydantic's
    model_fields_set of every PersonFields made from it)."""

    __slots__ = ("_size", "columns", "fields_set")

    def __init__(self, columns: Sequence[Sequence[Any]], fields_set: frozenset[str]) -> None:
        if len(columns) != len(COLUMN_FIELDS):
            raise ValueError("one column per field of COLUMN_FIELDS")
        sizes = {len(column) for column in columns}
        if len(sizes) > 1:
            raise ValueError("columns of different lengths")
        self.columns = list(columns)
        self.fields_set = fields_set
        self._size = sizes.pop() if sizes else 0

    @classmethod
    def from_fields(cls, found: dict[str, list[Any]], size: int) -> People:
        """The columns the file had (`found`, by field name); the others hold their default."""
        columns = [
            found[name] if name in found else [_DEFAULTS[name]] * size for name in COLUMN_FIELDS
        ]
        return cls(columns, frozenset(found))

    @classmethod
    def empty(cls) -> People:
        return cls([[] for _ in COLUMN_FIELDS], frozenset())

    def __len__(self) -> int:
        return self._size

    @overload
    def __getitem__(self, index: int) -> PersonFields: ...

    @overload
    def __getitem__(self, index: slice) -> People: ...

    def __getitem__(self, index: int | slice) -> PersonFields | People:
        if isinstance(index, slice):
            return People([column[index] for column in self.columns], self.fields_set)
        if index < 0:
            index += self._size
        if not 0 <= index < self._size:
            raise IndexError("People index out of range")
        return self._person(index)

    def __iter__(self) -> Iterator[PersonFields]:
        for index in range(self._size):
            yield self._person(index)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, People):
            return self.columns == other.columns
        if isinstance(other, Sequence):
            if len(other) != self._size:
                return False
            return all(a == b for a, b in zip(self, other, strict=True))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # mutable columns, as a list

    def __repr__(self) -> str:
        return f"People({self._size} rows)"

    def take(self, order: Sequence[int]) -> People:
        """The rows at these positions, in this order."""
        if not order:
            return People([[] for _ in self.columns], self.fields_set)
        pick = itemgetter(*order)  # one C-level pass per column
        if len(order) == 1:
            return People([[pick(column)] for column in self.columns], self.fields_set)
        return People([list(pick(column)) for column in self.columns], self.fields_set)

    def column(self, name: str) -> list[Any]:
        return list(self.columns[COLUMN_FIELDS.index(name)])

    def _person(self, index: int) -> PersonFields:
        """The values are exactly what pydantic's validation would keep, so the model is made
        without it (as validation always did for its people)."""
        person = PersonFields.__new__(PersonFields)
        values = (column[index] for column in self.columns)
        data = dict(zip(COLUMN_FIELDS, values, strict=True))
        set_attr = object.__setattr__
        set_attr(person, "__dict__", data)
        set_attr(person, "__pydantic_fields_set__", set(self.fields_set))
        set_attr(person, "__pydantic_extra__", None)
        set_attr(person, "__pydantic_private__", None)
        return person
