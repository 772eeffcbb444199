"""JSON on the RPC hot path with orjson, giving the bytes the standard library gives.

A command's service encodes three JSON texts per request: the canonical text of the request
for its payload hash (exactly-once records), the reply sealed into the record, and the reply
on the wire. json.dumps was ~8 % of the weborders service's GIL-held samples per weborder
(docs/performance.md); orjson encodes the same values several times faster.

- `canonical(value)`: exactly `json.dumps(value, sort_keys=True, separators=(",", ":"),
  default=str)` encoded as ASCII. A payload hash stored before this module must still match
  a repeat of its request, so orjson's text is used only where it is the same: values that
  are plain str, int, bool, None, lists and dicts with str keys (no floats: the two write some
  differently, 1e16 vs 1e+16), and output that is printable ASCII (json.dumps escapes every
  other character; orjson writes UTF-8 and DEL as it is). Anything else goes the standard way.
- `compact(value)`: a compact JSON text of the reply, for the wire and the record, and of
  the event bodies the outbox relay publishes. Any valid JSON of the same value will do there.
- `stored_text(value)` / `loads(text)`: every JSON column's serializer and deserializer (the
  engines of ck_runtime.db). An
  upload's 50 RosterPeopleAdded bodies (~2 MB) went through json.dumps into the outbox,
  json.loads out of it and json.dumps again to the broker. Any valid JSON of the same value
  will do there too. Differences from json.dumps that are accepted: non-ASCII is written as
  UTF-8 instead of escapes, and a float NaN or infinity (which no contract allows) becomes
  null instead of the non-JSON token. Values orjson does not write as the standard library
  would (subclasses of str, int, dict or list, dataclasses, datetimes) and what it refuses go
  the standard way, `default=str` as before. `loads` reads what json.dumps wrote before
  through json.loads where orjson refuses it (a NaN token) or would read it inexactly (an
  integer beyond 64 bits, which orjson turns into a float).

tests/test_json_codec.py compares them with the standard library on generated values.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

_SORTED = orjson.OPT_SORT_KEYS
# Types orjson would write differently from json.dumps(default=str): handed back to us, so the
# standard library writes them.
_PASSTHROUGH = (
    orjson.OPT_PASSTHROUGH_DATACLASS
    | orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_SUBCLASS
)


def _plain(value: Any) -> bool:
    """Only types whose JSON the two libraries write alike (exact types, not subclasses)."""
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:
        return True
    if kind is dict:
        return all(type(key) is str and _plain(item) for key, item in value.items())
    if kind is list:
        return all(_plain(item) for item in value)
    return False


def canonical(value: Any) -> bytes:
    """`json.dumps(value, sort_keys=True, separators=(",", ":"), default=str).encode()`."""
    if _plain(value):
        try:
            data = orjson.dumps(value, option=_SORTED)
        except orjson.JSONEncodeError:  # an int beyond 64 bits, nesting too deep
            pass
        else:
            if data.isascii() and b"\x7f" not in data:
                return data
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str).encode()


def compact(value: Any) -> bytes:
    """A compact JSON text: a reply, an event body, a stored value. orjson's, or for what it
    refuses or would write otherwise the standard library's with default=str."""
    try:
        return orjson.dumps(value, option=_PASSTHROUGH)
    except orjson.JSONEncodeError:  # also raised for what _PASSTHROUGH hands back
        return json.dumps(value, separators=(",", ":"), default=str).encode()


def stored_text(value: Any) -> str:
    """compact as text: what SQLAlchemy stores in a JSON column."""
    return compact(value).decode()


def loads(text: str | bytes) -> Any:
    """A JSON column's text read back (orjson, or json.loads for what orjson refuses or may
    have read inexactly)."""
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)
    # orjson reads an integer beyond 64 bits as a float without a word (found by the codec's
    # generated tests). Our JSON holds floats rarely, so a value with one is read again the
    # exact way; looking for them costs ~1 ms per 50,000 ids.
    return json.loads(text) if _holds_float(value) else value


def _holds_float(value: Any) -> bool:
    """Whether a parsed value holds a float anywhere: one C-level type scan per list or dict,
    without recursion (orjson reads nesting deeper than Python's recursion limit)."""
    pending = [value]
    while pending:
        item = pending.pop()
        kind = type(item)
        if kind is dict:
            item = list(item.values())
        elif kind is not list:
            if kind is float:
                return True
            continue
        kinds = set(map(type, item))
        if float in kinds:
            return True
        if list in kinds or dict in kinds:
            pending.extend(inner for inner in item if type(inner) in _CONTAINERS)
    return False


_CONTAINERS = (list, dict)
