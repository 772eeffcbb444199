"""Looking for personal data in raw files: database files (SQLite's main file, -wal and -shm),
log files. For the retention tests (R-AVG-2): after a person is removed, none of their data
may be found in any form it could have been stored in.

A value is looked for case-insensitively, as UTF-8, JSON-escaped (ASCII escapes such as
`\\u00eb` and plain), and as UTF-16 (SQLite can store text that way). The search is on raw
bytes, so it finds deleted rows that are still in a page or a WAL frame as well as live ones.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path


def forms_of(value: str) -> set[bytes]:
    """Every byte form of a value worth looking for, lower-cased (compare with `.lower()`)."""
    forms: set[bytes] = set()
    for text in {value, value.lower(), value.upper()}:
        forms.add(text.encode())
        forms.add(json.dumps(text)[1:-1].encode())  # \u00eb escapes, escaped quotes
        forms.add(json.dumps(text, ensure_ascii=False)[1:-1].encode())
        forms.add(text.encode("utf-16-le"))
    return {form.lower() for form in forms if form}


def sqlite_files(folder: Path) -> list[Path]:
    """Every SQLite database file under a folder, with its -wal and -shm files if present."""
    found: list[Path] = []
    for main in sorted(folder.rglob("*.sqlite3")):
        found.append(main)
        for suffix in ("-wal", "-shm", "-journal"):
            extra = main.with_name(main.name + suffix)
            if extra.exists():
                found.append(extra)
    return found


def traces(files: Iterable[Path], values: Mapping[str, str]) -> dict[str, list[str]]:
    """{file name: the labels of the values found in it}, only for files where any was found.
    values: label -> value ("e-mail" -> "x@y.test")."""
    wanted = {label: forms_of(value) for label, value in values.items()}
    hits: dict[str, list[str]] = {}
    for path in files:
        try:
            data = path.read_bytes().lower()
        except FileNotFoundError:  # a -wal file removed while we looked: nothing in it
            continue
        found = [label for label, forms in wanted.items() if any(f in data for f in forms)]
        if found:
            hits[str(path)] = found
    return hits
