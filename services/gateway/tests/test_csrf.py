"""CSRF tokens: the double-submit check and its signature, without I/O."""

from __future__ import annotations

from ck_gateway import csrf

SECRET = "a-secret"
ANON = csrf.session_binding(None)
SESSION = csrf.session_binding("session-token-of-someone-0123456789")


def test_a_fresh_token_passes_when_cookie_and_field_agree() -> None:
    token = csrf.new_token(SECRET, ANON)
    assert csrf.is_valid(SECRET, token, ANON)
    assert csrf.form_matches(SECRET, token, token, ANON)


def test_missing_cookie_or_field_fails() -> None:
    token = csrf.new_token(SECRET, ANON)
    assert not csrf.form_matches(SECRET, None, token, ANON)
    assert not csrf.form_matches(SECRET, token, None, ANON)
    assert not csrf.form_matches(SECRET, "", "", ANON)


def test_field_differing_from_cookie_fails() -> None:
    one, other = csrf.new_token(SECRET, ANON), csrf.new_token(SECRET, ANON)
    assert not csrf.form_matches(SECRET, one, other, ANON)


def test_a_token_someone_made_up_fails_even_when_both_agree() -> None:
    # A cookie planted by a sibling domain: equal in cookie and form, but not signed by us.
    forged = "nonce.0123456789abcdef"
    assert not csrf.form_matches(SECRET, forged, forged, ANON)
    assert not csrf.form_matches(SECRET, "no-dot-at-all", "no-dot-at-all", ANON)


def test_a_token_from_another_secret_fails() -> None:
    token = csrf.new_token("another-secret", ANON)
    assert not csrf.form_matches(SECRET, token, token, ANON)


def test_a_token_from_before_the_login_fails_after_it() -> None:
    token = csrf.new_token(SECRET, ANON)
    assert not csrf.form_matches(SECRET, token, token, SESSION)
    assert csrf.session_binding("x" * 20) != csrf.session_binding("y" * 20)


def test_tampered_signature_fails() -> None:
    token = csrf.new_token(SECRET, ANON)
    nonce, signature = token.rsplit(".", 1)
    tampered = f"{nonce}.{signature[:-1]}{'0' if signature[-1] != '0' else '1'}"
    assert not csrf.form_matches(SECRET, tampered, tampered, ANON)


def test_oversized_tokens_are_refused_without_work() -> None:
    huge = "a" * 10_000 + ".b"
    assert not csrf.is_valid(SECRET, huge, ANON)
