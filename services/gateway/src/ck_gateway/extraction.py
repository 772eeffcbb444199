"""Babel's extraction over the gateway (babel.cfg): the text the templates and the code ask the
catalogue for, what the catalogue lacks, and the templates' section written from the templates.

The templates are written in Dutch and their msgids are that Dutch, so their section of
messages.po is generated: every {% trans %} block and _("...") call becomes an entry with an
empty msgstr (ck_gateway.i18n reads that as "the msgid is the text"). `make catalogue` runs
`python -m ck_gateway.extraction --write`: it rewrites that section (new text in, text no
template uses any more out) and lists the msgids the code asks for that no section holds;
tests/test_template_catalogue.py fails when the section is behind the templates.
"""

from __future__ import annotations

import argparse
import io
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import denormalize, write_po

from ck_gateway import i18n

GATEWAY_DIR = Path(__file__).resolve().parents[2]  # services/gateway (a source checkout)
BABEL_CFG = GATEWAY_DIR / "babel.cfg"
TEMPLATES_HEADER = "# === templates"
SECTION_NOTE = (
    "# Written by `make catalogue` from the templates;"
    " an empty msgstr means the msgid is the Dutch."
)

MethodMap = list[tuple[str, str]]
OptionsMap = dict[str, dict[str, Any]]


@dataclass(frozen=True)
class Found:
    msgid: str
    filename: str  # relative to the extracted directory
    lineno: int


def mapping(config: Path = BABEL_CFG) -> tuple[MethodMap, OptionsMap]:
    with config.open() as file:
        method_map, options_map = parse_mapping_cfg(file, filename=str(config))  # type: ignore[no-untyped-call]
    return list(method_map), dict(options_map)


def template_mapping(config: Path = BABEL_CFG) -> tuple[MethodMap, OptionsMap]:
    """Only the templates' part of babel.cfg (the Jinja2 extractor)."""
    method_map, options_map = mapping(config)
    jinja = [(pattern, method) for pattern, method in method_map if "jinja2" in method]
    return jinja, {pattern: options_map.get(pattern, {}) for pattern, _ in jinja}


def extract(directory: Path, method_map: MethodMap, options_map: OptionsMap) -> list[Found]:
    """Every msgid Babel finds under `directory`, in file order (a plural gives both forms)."""
    found: list[Found] = []
    for filename, lineno, message, _comments, _context in extract_from_dir(
        directory, method_map, options_map
    ):
        messages: Iterable[str] = (message,) if isinstance(message, str) else message
        for msgid in messages:
            if msgid:
                found.append(Found(msgid, filename, lineno))
    return found


def template_messages(directory: Path = GATEWAY_DIR) -> list[Found]:
    return extract(directory, *template_mapping())


def code_messages(directory: Path = GATEWAY_DIR) -> list[Found]:
    """What the Python code asks for with a literal (_("..."), gettext("...")), templates aside."""
    method_map, options_map = mapping()
    code = [(pattern, method) for pattern, method in method_map if "jinja2" not in method]
    return extract(directory, code, {pattern: options_map.get(pattern, {}) for pattern, _ in code})


def missing(found: Iterable[Found], known: Mapping[str, str] | None = None) -> list[Found]:
    """The extracted msgids the catalogue does not hold (first place each is used)."""
    catalogue = i18n.messages() if known is None else known
    out: dict[str, Found] = {}
    for item in found:
        if item.msgid not in catalogue:
            out.setdefault(item.msgid, item)
    return list(out.values())


# --- the templates' section of messages.po ------------------------------------------------------


def split_sections(text: str) -> tuple[str, str, str]:
    """messages.po as (before the templates' section, the section, after it)."""
    lines = text.splitlines(keepends=True)
    start = next(i for i, line in enumerate(lines) if line.startswith(TEMPLATES_HEADER))
    end = next(
        (i for i in range(start + 1, len(lines)) if lines[i].startswith("# === ")), len(lines)
    )
    return "".join(lines[:start]), "".join(lines[start:end]), "".join(lines[end:])


def msgids_in(po_text: str) -> list[str]:
    """The msgids written in a piece of messages.po, in order, a repeated one as often as it
    is written (read_po would merge them)."""
    ids: list[str] = []
    lines = po_text.splitlines()
    i = 0
    while i < len(lines):
        if not lines[i].startswith("msgid "):
            i += 1
            continue
        parts = [lines[i].removeprefix("msgid ")]
        i += 1
        while i < len(lines) and lines[i].startswith('"'):
            parts.append(lines[i])
            i += 1
        if msgid := denormalize("\n".join(parts)):
            ids.append(msgid)
    return ids


def templates_section(found: Iterable[Found], elsewhere: Iterable[str] = ()) -> str:
    """The templates' section: one entry per msgid in the order the templates use them, with
    the templates that use it; msgids another section already holds are left to that one."""
    skip = set(elsewhere)
    catalog = Catalog(locale="nl")
    for item in found:
        if item.msgid in skip:
            continue
        path = f"templates/{Path(item.filename).name}"
        existing = catalog.get(item.msgid)
        if existing is None:
            catalog.add(item.msgid, "", locations=[(path, 0)])  # flags: Babel's own
        elif (path, 0) not in existing.locations:  # 0: no line numbers, they churn
            existing.locations.append((path, 0))
    buffer = io.BytesIO()
    write_po(buffer, catalog, width=0, omit_header=True, include_lineno=False)
    return buffer.getvalue().decode()


def rewritten(po_text: str, found: Iterable[Found]) -> str:
    before, section, after = split_sections(po_text)
    header = section.splitlines(keepends=True)[0]
    entries = templates_section(found, elsewhere=msgids_in(before + after))
    new_section = f"{header}{SECTION_NOTE}\n\n{entries.rstrip()}\n"
    if after:
        new_section += "\n\n"
    return before + new_section + after


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ck_gateway.extraction", description=__doc__)
    parser.add_argument("--write", action="store_true", help="rewrite the templates' section")
    args = parser.parse_args(argv)
    status = 0
    po_text = i18n.CATALOGUE.read_text(encoding="utf-8")
    new_text = rewritten(po_text, template_messages())
    if new_text != po_text and args.write:
        i18n.CATALOGUE.write_text(new_text, encoding="utf-8")
        i18n.messages.cache_clear()
        print(f"{i18n.CATALOGUE.name}: the templates' section rewritten")
    elif new_text == po_text:
        print(f"{i18n.CATALOGUE.name}: the templates' section is up to date")
    else:
        old = set(msgids_in(split_sections(po_text)[1]))
        new = set(msgids_in(split_sections(new_text)[1]))
        print("The templates' section is behind the templates (`make catalogue` writes it):")
        for msgid in sorted(new - old):
            print(f"  new: {msgid!r}")
        for msgid in sorted(old - new):
            print(f"  no template uses: {msgid!r}")
        status = 1
    for item in missing(code_messages()):
        print(f"{item.filename}:{item.lineno}: not in the catalogue: {item.msgid!r}")
        status = 1
    written = msgids_in(i18n.CATALOGUE.read_text(encoding="utf-8"))
    for msgid in sorted({m for m in written if written.count(m) > 1}):
        print(f"written twice in the catalogue: {msgid!r}")
        status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
