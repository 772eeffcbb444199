"""Account rules without I/O."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from ck_accounts import domain
from ck_contracts.accounts import AccountsReason, Contact, SchoolSettings
from ck_contracts.rpc import FieldError

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("password", "ok"),
    [
        ("kort", False),
        ("aaaaaaaaaaaaaaaa", False),  # too few distinct characters
        ("budget@school.nl", False),  # the e-mail address itself
        ("x" * 129 + "abcd", False),
        ("correct paard batterij", True),
    ],
)
def test_password_policy(password: str, ok: bool) -> None:
    assert (domain.password_error(password, "Budget@School.nl") is None) is ok


def test_email_format() -> None:
    assert domain.email_error("a@b.nl") is None
    assert domain.email_error("a@b") is not None
    assert domain.email_error("geen-email") is not None


def test_school_numbers_start_at_first_and_count_up() -> None:
    assert domain.next_school_number(None) == domain.FIRST_SCHOOL_NUMBER
    assert domain.next_school_number(10289) == 10290


def test_tokens_are_long_random_and_stored_hashed() -> None:
    a, b = domain.new_token(), domain.new_token()
    assert a != b and len(a) >= 43  # 256 bits in URL-safe base64
    assert domain.token_hash(a) != a and len(domain.token_hash(a)) == 64


def test_settings_cleaning_and_brin_rule() -> None:
    settings = SchoolSettings(
        name="X",
        brin_codes=[" 00aa ", "00AA", "12BC01", ""],
        locations=["A", " A ", ""],
        duo_student_count=1,
        contacts=[Contact(name="P", email="geen mail")],
    )
    cleaned = domain.clean_settings(settings)
    assert cleaned.brin_codes == ["00AA", "12BC01"]
    assert cleaned.locations == ["A"]
    assert domain.settings_errors(cleaned) == {
        "contacts.0.email": FieldError(reason=AccountsReason.CONTACT_EMAIL_INVALID)
    }
    bad = cleaned.model_copy(update={"brin_codes": ["ABCD"], "contacts": []})
    assert domain.settings_errors(bad)["brin_codes.0"] == FieldError(
        reason=AccountsReason.BRIN_INVALID, params={"brin": "ABCD"}
    )
    none = cleaned.model_copy(update={"brin_codes": [], "contacts": []})
    assert domain.settings_errors(none)["brin_codes"].reason == AccountsReason.BRIN_REQUIRED


def test_throttle_allows_a_few_failures_then_locks_longer_each_time() -> None:
    state = None
    for _ in range(domain.FREE_ATTEMPTS):
        state = domain.after_failure(state, NOW)
        assert state.locked(NOW) is None
    state = domain.after_failure(state, NOW)
    first_lock = state.locked(NOW)
    assert first_lock == domain.FIRST_LOCK
    state = domain.after_failure(state, NOW)
    assert state.locked(NOW) == 2 * domain.FIRST_LOCK
    for _ in range(20):
        state = domain.after_failure(state, NOW)
    assert state.locked(NOW) == domain.MAX_LOCK
    assert state.locked(NOW + domain.MAX_LOCK + timedelta(seconds=1)) is None


def test_throttle_window_starts_again_after_quiet_period() -> None:
    state = None
    for _ in range(domain.FREE_ATTEMPTS):
        state = domain.after_failure(state, NOW)
    later = NOW + domain.FAILURE_WINDOW + timedelta(minutes=1)
    state = domain.after_failure(state, later)
    assert state.failures == 1 and state.locked(later) is None


def test_an_address_has_more_free_failures_and_locks_count_from_the_last_failure() -> None:
    assert domain.free_attempts(domain.address_bucket("abc")) == domain.ADDRESS_FREE_ATTEMPTS
    assert domain.free_attempts(domain.account_bucket(" Jan@Nova.nl")) == domain.FREE_ATTEMPTS
    assert domain.account_bucket(" Jan@Nova.nl") == "account:jan@nova.nl"
    state = None
    for i in range(domain.ADDRESS_FREE_ATTEMPTS):
        state = domain.after_failure(state, NOW + timedelta(seconds=i), free=30)
        assert state.locked(NOW + timedelta(seconds=i)) is None
    last = NOW + timedelta(minutes=2)
    state = domain.after_failure(state, last, free=30)
    assert state.first_failure_at == NOW and state.locked_until == last + domain.FIRST_LOCK
    # However many failures pile up (simultaneous requests), the lock stays at most MAX_LOCK.
    many = domain.Throttle(failures=10**6, first_failure_at=NOW, last_failure_at=NOW)
    assert many.locked(NOW) == domain.MAX_LOCK


def test_the_longest_lock_of_account_and_address_wins() -> None:
    account = domain.Throttle(failures=6, first_failure_at=NOW, last_failure_at=NOW)
    address = domain.Throttle(failures=32, first_failure_at=NOW, last_failure_at=NOW, free=30)
    assert domain.longest_lock([account, address], NOW) == 2 * domain.FIRST_LOCK
    assert domain.longest_lock([account], NOW) == domain.FIRST_LOCK
    assert domain.longest_lock([], NOW) is None
