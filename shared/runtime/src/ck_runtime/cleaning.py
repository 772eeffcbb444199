"""Cleaning text stored before the input rules of ck_contracts.bounds existed, for the services'
Alembic migrations (issue 10): a control character in a weborder's activity made every later
spending export fail, and a 300,000-character first name was stored as sent.

Each text column is rewritten to what the boundary would have kept of it today
(ck_contracts.bounds.clean_text: control characters removed, tabs and line breaks folded in
one-line fields, trimmed, cut at the field's limit). Only rows that change are written. On
PostgreSQL a WHERE clause picks the candidates (a regular expression and the length); SQLite
has no regular expressions, so there every row is read once, in batches.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from ck_contracts.bounds import clean_text
from sqlalchemy.engine import Connection

# What clean_text changes, in PostgreSQL's regular expression syntax (PostgreSQL cannot store
# NUL or lone surrogates, so they are not looked for).
_PG_CANDIDATES = (
    r"[\x01-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ufffe\uffff"
    r"\t\r\n\u2028\u2029]"
)
Derived = Callable[[Connection, Mapping[str, Any]], Mapping[str, Any]]


@dataclass(frozen=True)
class TextColumn:
    name: str
    max_length: int | None
    multi_line: bool = False


def clean_value(value: Any, column: TextColumn) -> Any:
    if not isinstance(value, str):
        return value
    return clean_text(value, max_length=column.max_length, multi=column.multi_line)


def clean_table(
    connection: Connection,
    table: str,
    keys: Sequence[str],
    columns: Sequence[TextColumn],
    *,
    also_read: Sequence[str] = (),
    derived: Derived | None = None,
    batch: int = 1000,
) -> int:
    """Rewrite the rows of `table` whose text columns the boundary would refuse or change.
    keys: the primary key's columns; also_read: columns `derived` needs; derived(connection,
    the row with its cleaned values) returns further columns to write (lower-cased shadows,
    match keys). Returns how many rows were rewritten."""
    names = [*keys, *(c.name for c in columns), *also_read]
    t = sa.table(table, *(sa.column(name) for name in dict.fromkeys(names)))
    query = sa.select(*t.c)
    if connection.dialect.name == "postgresql":
        candidates: list[sa.ColumnElement[bool]] = []
        for column in columns:
            text = sa.cast(t.c[column.name], sa.Text)
            candidates.append(text.op("~")(_PG_CANDIDATES))
            candidates.append(text.op("~")(r"^\s|\s$"))
            if column.max_length is not None:
                candidates.append(sa.func.char_length(text) > column.max_length)
        query = query.where(sa.or_(*candidates))
    changes: list[tuple[dict[str, Any], dict[str, Any]]] = []
    # yield_per on the statement: Connection.execution_options() would change the connection
    # in place, and alembic's own UPDATE afterwards must not stream. Not on PostgreSQL: there
    # the query fetches only the candidates (above), and asyncpg's server-side cursor stays
    # open until the transaction ends, so a later migration of the same upgrade could not
    # ALTER the table ("being used by active queries in this session").
    if connection.dialect.name != "postgresql":
        query = query.execution_options(yield_per=batch)
    result = connection.execute(query)
    for row in result.mappings():
        cleaned = {c.name: clean_value(row[c.name], c) for c in columns}
        changed = {name: value for name, value in cleaned.items() if value != row[name]}
        if changed:
            changes.append(({k: row[k] for k in keys}, {**row, **changed}))
    result.close()
    for key, new_row in changes:
        values = {c.name: new_row[c.name] for c in columns}
        if derived is not None:
            values.update(derived(connection, new_row))
        target = sa.table(table, *(sa.column(name) for name in dict.fromkeys([*keys, *values])))
        condition = sa.and_(*(target.c[k] == v for k, v in key.items()))
        connection.execute(sa.update(target).where(condition).values(**values))
    return len(changes)


def known_schools(connection: Connection) -> int:
    """The school names every domain service keeps (ck_runtime.known_schools)."""
    return clean_table(connection, "known_schools", ["school_id"], [TextColumn("name", 200)])
