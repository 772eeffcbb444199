"""Spreadsheets we write for schools (roster export, spending export): text that a spreadsheet
could run as a formula is neutralised (R-WEB-5), and text no worksheet may hold is cleaned, the
same way in every service."""

from __future__ import annotations

import re

from ck_contracts.bounds import remove_forbidden

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
EXCEL_CELL_MAX = 32_767  # characters: what Excel shows of a cell at most
_PHONE = re.compile(r"^\+[0-9]{8,15}$")


def neutralise(text: str) -> str:
    """A leading quote for text starting with = + - @ tab or CR (OWASP's CSV/formula injection
    advice). One exception: a plain international phone number (+31612345678) is data no
    spreadsheet can run, and a quote in front of every mobile number would spoil the column."""
    if text.startswith(FORMULA_START) and not _PHONE.match(text):
        return "'" + text
    return text


def cell_text(text: str) -> str:
    """Stored text as a cell: the characters the boundary refuses (ck_contracts.bounds; among
    them every character XML 1.0 and so openpyxl refuse: a \\v in a row stored before the rules
    made the whole export fail) removed, at most EXCEL_CELL_MAX characters, then neutralised.
    Defence in depth: new input never holds them, and migrations cleaned the old rows."""
    return neutralise(remove_forbidden(text)[:EXCEL_CELL_MAX])
