"""Membership rules without I/O: codes, card numbers, throttling, the member's details."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from ck_membership import domain
from hypothesis import given
from hypothesis import strategies as st

CODES = st.integers(min_value=0, max_value=2**domain.CODE_BITS - 1).map(domain.code_from_int)


def test_alphabet_has_32_characters_without_look_alikes() -> None:
    assert len(set(domain.CODE_ALPHABET)) == 32
    assert not set("ILOU") & set(domain.CODE_ALPHABET)
    assert 32**domain.CODE_LENGTH == 2**60


def test_new_codes_are_12_characters_of_the_alphabet_and_differ() -> None:
    codes = {domain.new_code() for _ in range(2000)}
    assert len(codes) == 2000
    assert all(len(c) == 12 and set(c) <= set(domain.CODE_ALPHABET) for c in codes)


def test_display_groups_of_four() -> None:
    assert domain.display_code("ABCDEFGHJKMN") == "ABCD-EFGH-JKMN"


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("ABCD-EFGH-JKMN", "ABCDEFGHJKMN"),
        ("abcd efgh jkmn", "ABCDEFGHJKMN"),
        ("  abcdefghjkmn ", "ABCDEFGHJKMN"),
        ("ABCD–EFGH—JKMN", "ABCDEFGHJKMN"),  # dashes a word processor makes
        ("OOOO-IIII-LLLL", "000011111111"),  # look-alikes read as digits
        ("oooo-iiii-llll", "000011111111"),
    ],
)
def test_normalise_forgives_case_separators_and_look_alikes(typed: str, stored: str) -> None:
    assert domain.normalise_code(typed) == stored


@pytest.mark.parametrize(
    "typed", ["", "ABCD-EFGH-JKM", "ABCD-EFGH-JKMNP", "ABCD-EFGH-JKMU", "ÄBCDEFGHJKMN"]
)
def test_normalise_refuses_what_cannot_be_a_code(typed: str) -> None:
    assert domain.normalise_code(typed) is None


@given(CODES)
def test_code_round_trip_through_display_and_sloppy_typing(code: str) -> None:
    assert len(code) == 12 and set(code) <= set(domain.CODE_ALPHABET)
    shown = domain.display_code(code)
    assert re.fullmatch(r"[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}", shown)
    assert domain.normalise_code(shown) == code
    assert domain.normalise_code(shown.lower().replace("-", " ")) == code
    sloppy = shown.replace("0", "O").replace("1", "l")
    assert domain.normalise_code(sloppy) == code


@given(st.text(max_size=30))
def test_normalise_returns_a_valid_code_or_none(text: str) -> None:
    result = domain.normalise_code(text)
    assert result is None or (len(result) == 12 and set(result) <= set(domain.CODE_ALPHABET))


@given(st.integers(min_value=0, max_value=2**60 - 1))
def test_codes_are_a_bijection_of_60_bits(number: int) -> None:
    code = domain.code_from_int(number)
    assert int("".join(f"{domain.CODE_ALPHABET.index(c):05b}" for c in code), 2) == number


def test_card_numbers_are_13_digits_with_a_luhn_check() -> None:
    numbers = {domain.new_card_number() for _ in range(1000)}
    assert len(numbers) == 1000
    for number in numbers:
        assert len(number) == 13 and number.isdigit() and number[0] != "0"
        assert domain.luhn_valid(number)


def test_luhn_known_values_and_typing_errors() -> None:
    assert domain.luhn_check_digit("7992739871") == "3"  # the textbook example
    assert domain.luhn_valid("79927398713")
    number = domain.new_card_number()
    wrong_digit = number[:3] + str((int(number[3]) + 1) % 10) + number[4:]
    assert not domain.luhn_valid(wrong_digit)
    assert not domain.luhn_valid("12ab")


NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def test_a_bucket_refuses_at_its_limit_until_its_window_ends() -> None:
    limit = domain.DEFAULT_LIMITS.prefix
    state = None
    for i in range(limit):
        assert domain.throttled_for(state, limit, NOW) is None
        state = domain.after_failure(state, NOW + timedelta(seconds=i))
    assert state is not None and state.count == limit
    wait = domain.throttled_for(state, limit, NOW + timedelta(minutes=5))
    assert wait == timedelta(minutes=10)
    assert domain.throttled_for(state, limit + 1, NOW + timedelta(minutes=5)) is None
    assert domain.throttled_for(state, limit, NOW + timedelta(minutes=15)) is None
    # A failure after the window starts a new one.
    fresh = domain.after_failure(state, NOW + timedelta(minutes=15))
    assert fresh == domain.Failures(count=1, window_start=NOW + timedelta(minutes=15))


def test_an_attempt_counts_for_its_address_its_prefix_and_everyone() -> None:
    limits = domain.Limits(address=100, prefix=10, everyone=1000)
    found = domain.buckets("abc", "K7QX3MPA9TZD", limits)
    assert found == [
        domain.Bucket("address:abc", 100),
        domain.Bucket("global", 1000),
        domain.Bucket("prefix:K7QX", 10),
    ]
    # A malformed code has no prefix; no ceiling when it is switched off.
    assert domain.buckets("abc", None, domain.Limits(everyone=0)) == [
        domain.Bucket("address:abc", domain.DEFAULT_LIMITS.address)
    ]


def test_the_longest_wait_of_the_full_buckets_wins() -> None:
    limits = domain.Limits(address=3, prefix=2, everyone=100)
    checked = domain.buckets("abc", "K7QX3MPA9TZD", limits)
    states = {
        "address:abc": domain.Failures(2, NOW),  # below its limit
        "prefix:K7QX": domain.Failures(2, NOW - timedelta(minutes=10)),  # full, 5 minutes left
        "global": domain.Failures(100, NOW - timedelta(minutes=1)),  # full, 14 minutes left
    }
    assert domain.wait_for(states, checked, NOW) == timedelta(minutes=14)
    del states["global"]
    assert domain.wait_for(states, checked, NOW) == timedelta(minutes=5)
    assert domain.wait_for({}, checked, NOW) is None


def test_personal_link_keys_are_the_invitation_id_and_compared_whole() -> None:
    invitation = uuid.uuid4()
    key = domain.link_key(invitation)
    assert len(key) == 22 and re.fullmatch(r"[A-Za-z0-9_-]+", key)
    assert domain.link_matches(invitation, key)
    assert domain.link_matches(invitation, f" {key} ")
    assert not domain.link_matches(uuid.uuid4(), key)
    assert not domain.link_matches(None, key)
    for wrong in ("", key[:-1], key + "A", key.replace(key[0], "!"), invitation.hex):
        assert not domain.link_matches(invitation, wrong)


def test_the_wait_is_in_whole_minutes_rounded_up() -> None:
    assert domain.wait_minutes(timedelta(seconds=61)) == 2
    assert domain.wait_minutes(timedelta(seconds=5)) == 1
    assert domain.wait_minutes(timedelta(minutes=15)) == 15


TODAY = date(2026, 11, 29)


def test_details_valid() -> None:
    assert (
        domain.details_errors("Sanne", "de Vries", "sanne@example.nl", date(2008, 5, 1), TODAY)
        == {}
    )


@pytest.mark.parametrize(
    ("email", "born", "fields"),
    [
        ("geen-adres", date(2008, 5, 1), {"email"}),
        ("a@b", date(2008, 5, 1), {"email"}),
        ("a b@c.nl", date(2008, 5, 1), {"email"}),
        ("a@b.nl", date(2026, 11, 30), {"geboortedatum"}),
        ("a@b.nl", date(1900, 1, 1), {"geboortedatum"}),
        ("a@b.nl", date(2020, 1, 1), {"geboortedatum"}),
        ("x", date(2030, 1, 1), {"email", "geboortedatum"}),
    ],
)
def test_details_errors_name_their_fields(email: str, born: date, fields: set[str]) -> None:
    errors = domain.details_errors("Sanne", "de Vries", email, born, TODAY)
    assert set(errors) == fields
    if born > TODAY:
        assert errors["geboortedatum"].reason == "member.birth_date_future"


def test_age_limits_count_birthdays() -> None:
    twelve_today = date(2014, 11, 29)
    assert domain.birth_date_error(twelve_today, TODAY) is None
    assert domain.birth_date_error(date(2014, 11, 30), TODAY) is not None
