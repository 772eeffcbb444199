"""ck_contracts.bounds: what every text and number field accepts, refuses and cleans."""

from __future__ import annotations

from typing import Annotated

import pytest
from ck_contracts.bounds import (
    FORBIDDEN,
    LongText,
    Name,
    Page,
    Password,
    RequiredName,
    Text,
    clean_text,
    remove_forbidden,
    whole_number,
)
from ck_runtime.validation import field_errors
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, ConfigDict, ValidationError


class Form(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True)  # must not hide a trailing \v

    name: RequiredName
    nickname: Name = ""
    note: LongText = ""
    code: Annotated[str, Text(10, min_length=3)] = "abc"
    page: Page = 1
    password: Password = ""


def errors(**data: object) -> dict[str, tuple[str, dict[str, object]]]:
    """{field: (reason, params)}, as a service answers (the gateway's catalogue has the Dutch)."""
    with pytest.raises(ValidationError) as caught:
        Form.model_validate(data)
    return {path: (e.reason, dict(e.params)) for path, e in field_errors(caught.value).items()}


@pytest.mark.parametrize(
    "bad", ["\x00", "\x01", "\x0b", "\x0c", "\x1b", "\x7f", "\x85", "\u202e", "\u2066", "\ufffe"]
)
def test_control_characters_are_refused_anywhere_with_their_position(bad: str) -> None:
    for value in (f"Jan{bad}", f"{bad}Jan", f"Ja{bad}n"):
        reason, params = errors(name=value)["name"]
        assert reason == "field.control_characters"
        assert params["position"] == value.index(bad) + 1
    assert "note" in errors(name="Jan", note=f"regel 1\nregel{bad}2")


def test_pasted_tabs_and_line_breaks() -> None:
    form = Form(name=" \tJan\t de\r\nVries\r\n ", note="  regel 1\r\n\tregel 2\rregel 3\u2028 ")
    assert form.name == "Jan de Vries"  # one line: each run of them is one space
    assert form.note == "regel 1\n\tregel 2\nregel 3"  # multi-line: LF, tabs kept


def test_lengths_after_cleaning_and_their_reasons() -> None:
    assert errors(name="x" * 201) == {"name": ("field.too_long", {"max_length": 200})}
    assert errors(name="x" * 300_000) == {"name": ("field.too_long", {"max_length": 200})}
    assert errors(name="   ") == {"name": ("field.empty", {"min_length": 1})}
    assert Form(name="  " + "x" * 200 + "\r\n").name == "x" * 200
    assert errors(name="J", code="ab")["code"] == ("field.empty", {"min_length": 3})
    # A browser sends a textarea's line breaks as CRLF: counted as one character each.
    assert len(Form(name="J", note="a\r\n" * 1999 + "aa").note) == 4000


def test_the_json_schema_says_the_limits() -> None:
    properties = Form.model_json_schema()["properties"]
    assert properties["name"] == {
        "maxLength": 200,
        "minLength": 1,
        "title": "Name",
        "type": "string",
    }
    assert properties["note"]["maxLength"] == 4000
    assert properties["code"]["minLength"] == 3
    assert properties["page"]["maximum"] == 100_000


def test_pages_and_passwords() -> None:
    assert errors(name="J", page=27090769733286449102454784) == {
        "page": ("field.at_most", {"le": 100000})
    }
    assert errors(name="J", page=0) == {"page": ("field.at_least", {"ge": 1})}
    # A password is taken exactly as typed; only what no hash can encode is refused.
    assert Form(name="J", password=" \tgeheim\x0b ").password == " \tgeheim\x0b "
    assert "password" in errors(name="J", password="ab\ud800")


def test_whole_numbers_from_forms() -> None:
    assert whole_number("12", low=1, high=99) == 12
    assert whole_number(" 7 ", low=1, high=99) == 7
    for raw in ("", "x", "²", "١٢", "-1", "1.0", "0", "100", str(10**30)):
        assert whole_number(raw, low=1, high=99) is None, raw


@given(st.text())
def test_clean_text_gives_what_the_boundary_accepts(value: str) -> None:
    cleaned = clean_text(value, max_length=200)
    assert FORBIDDEN.search(cleaned) is None and len(cleaned) <= 200
    assert Form(name="J", nickname=cleaned).nickname == cleaned
    multi = clean_text(value, max_length=4000, multi=True)
    assert Form(name="J", note=multi).note == multi
    assert remove_forbidden(value) == FORBIDDEN.sub("", value)
