"""Spreadsheets we write for schools (roster export, spending export): text that a spreadsheet
could run as a formula is neutralised (R-WEB-5), the same way in every service."""

from __future__ import annotations

import re

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PHONE = re.compile(r"^\+[0-9]{8,15}$")


def neutralise(text: str) -> str:
    """A leading quote for text starting with = + - @ tab or CR (OWASP's CSV/formula injection
    advice). One exception: a plain international phone number (+31612345678) is data no
    spreadsheet can run, and a quote in front of every mobile number would spoil the column."""
    if text.startswith(FORMULA_START) and not _PHONE.match(text):
        return "'" + text
    return text
