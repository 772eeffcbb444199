"""The one place where both sides of every message agree: schemas, routing keys, queue names.

Product code of every service imports from here; nothing here does I/O.
"""
