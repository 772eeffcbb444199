"""ck_runtime.json_codec: orjson's text where it is the standard library's, the standard
library's elsewhere. A payload hash computed before the change must match one after it."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from ck_runtime import json_codec
from hypothesis import given, settings
from hypothesis import strategies as st


def standard(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str).encode()


# Every character class that matters: printable ASCII, controls, DEL, non-ASCII, surrogates'
# neighbours, quotes and backslashes.
TEXT = st.text(
    alphabet=st.one_of(
        st.characters(min_codepoint=0, max_codepoint=0x7F),
        st.sampled_from('"\\/\x7f\x80é€\U0001f600'),
        st.characters(),
    ),
    max_size=20,
)


def scalars(finite: bool) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),  # beyond 64 bits too
        st.floats(allow_nan=not finite, allow_infinity=not finite),
        TEXT,
    )


def json_values(finite: bool) -> st.SearchStrategy[Any]:
    return st.recursive(
        scalars(finite),
        lambda inner: st.one_of(
            st.lists(inner, max_size=4), st.dictionaries(TEXT, inner, max_size=4)
        ),
        max_leaves=12,
    )


SCALAR = scalars(finite=False)
JSONISH = json_values(finite=False)


@settings(max_examples=600)
@given(JSONISH)
def test_canonical_is_the_standard_librarys_text(value: Any) -> None:
    assert json_codec.canonical(["op", value]) == standard(["op", value])


@settings(max_examples=300)
@given(st.dictionaries(st.text(alphabet="abcdefghij_", max_size=8), SCALAR, max_size=8))
def test_compact_reads_back_as_the_same_value(value: dict[str, Any]) -> None:
    finite = {
        k: v
        for k, v in value.items()
        if not (isinstance(v, float) and (v != v or abs(v) == float("inf")))
    }
    assert json.loads(json_codec.compact(finite)) == json.loads(standard(finite))


class Kind(StrEnum):
    STUDENTS = "students"


def test_values_orjson_would_write_otherwise_go_the_standard_way() -> None:
    when = datetime(2031, 3, 14, 9, 30, tzinfo=UTC)
    for value in (
        {"when": when},  # str() has a space, orjson's ISO text a "T"
        {"id": UUID(int=7)},
        {"kind": Kind.STUDENTS},
        {"big": 1 << 70},
        {1: "int key"},
        {"amount": 1e16},  # 1e+16 vs 1e16
        {"name": "caf\u00e9"},  # \u00e9 vs UTF-8
        {"name": "a\x7fb"},  # DEL escaped by json.dumps only
    ):
        assert json_codec.canonical(value) == standard(value), value
    assert json_codec.compact({"big": 1 << 70}) == b'{"big":1180591620717411303424}'
    assert json_codec.compact({1: "x"}) == b'{"1":"x"}'


def test_plain_weborder_payload_takes_orjsons_text() -> None:
    payload = {"school_number": 10289, "activity": "Voorstelling 'De Storm'", "ok": True}
    assert json_codec.canonical(payload) == standard(payload)
    assert json_codec._plain(payload)
    assert not json_codec._plain({"amount": 1.5})


FINITE = json_values(finite=True)


@settings(max_examples=400)
@given(FINITE)
def test_stored_json_and_event_bodies_read_back_as_the_same_value(value: Any) -> None:
    before = json.dumps(value, separators=(",", ":"), default=str)  # what was stored before
    assert json.loads(json_codec.stored_text(value)) == json.loads(before)
    assert json.loads(json_codec.compact(value)) == json.loads(before)
    assert json_codec.loads(json_codec.stored_text(value)) == json.loads(before)
    assert json_codec.loads(before) == json.loads(before)  # rows written before the change


def test_stored_json_of_what_orjson_writes_otherwise_is_the_standard_librarys() -> None:
    when = datetime(2031, 3, 14, 9, 30, tzinfo=UTC)
    for value in ({"when": when}, {"big": 1 << 70}, {1: "int key"}, {"s": Kind.STUDENTS}):
        before = json.dumps(value, separators=(",", ":"), default=str)
        assert json.loads(json_codec.stored_text(value)) == json.loads(before), value
    assert json_codec.stored_text({"when": when}) == '{"when":"2031-03-14 09:30:00+00:00"}'
    # what json.dumps wrote before and orjson refuses to read
    assert json_codec.loads('{"x":NaN,"big":1180591620717411303424}')["big"] == 1 << 70


def test_integers_beyond_64_bits_read_back_exactly() -> None:
    # orjson reads these as floats without an error (found by the generated test above)
    for value in (-(1 << 63) - 1, 1 << 64, [1, {"a": [10**30]}], {"x": 1.5, "n": -(10**19)}):
        text = json_codec.stored_text(value)
        assert json_codec.loads(text) == value
        assert json_codec.loads(text.encode()) == value
    assert type(json_codec.loads("[1.0]")[0]) is float
    for depth, number in ((1020, 7), (500, 1 << 64)):  # 1020: deeper than Python's recursion
        inner = json_codec.loads("[" * depth + str(number) + "]" * depth)
        for _ in range(depth):
            inner = inner[0]
        assert inner == number
    assert json_codec.loads('{"ids":["a","b"],"n":[[1],[2.5]]}') == {
        "ids": ["a", "b"],
        "n": [[1], [2.5]],
    }


async def test_the_engines_store_json_columns_through_the_codec(tmp_path: Any) -> None:
    from ck_runtime.db import create_engine
    from sqlalchemy import JSON, Column, Integer, MetaData, Table, select, text

    table = Table("t", MetaData(), Column("id", Integer, primary_key=True), Column("v", JSON))
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path}/j.db", null_pool=True)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(table.metadata.create_all)
            await connection.execute(table.insert().values(id=1, v={"name": "Zoë", "n": [1, 2]}))
            raw = (await connection.execute(text("SELECT v FROM t"))).scalar_one()
            back = (await connection.execute(select(table.c.v))).scalar_one()
    finally:
        await engine.dispose()
    assert raw == '{"name":"Zoë","n":[1,2]}'  # orjson's text: UTF-8, no spaces
    assert back == {"name": "Zoë", "n": [1, 2]}
