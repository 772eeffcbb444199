"""One PORTAL_URL for every service, the names it had before still honoured."""

from __future__ import annotations

import pytest
from ck_accounts.settings import get_settings as accounts_settings
from ck_gateway.settings import get_settings as gateway_settings
from ck_membership.settings import get_settings as membership_settings

PORTAL = "https://mbo.cjp.example"


@pytest.fixture(autouse=True)
def _clean(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("PORTAL_URL", "ACCOUNTS_PORTAL_URL", "MEMBERSHIP_PORTAL_URL"):
        monkeypatch.delenv(name, raising=False)
    for name in ("GATEWAY_PORTAL_URL", "GATEWAY_PUBLIC_URL"):
        monkeypatch.delenv(name, raising=False)


def test_one_portal_url_reaches_every_service(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORTAL_URL", PORTAL)
    assert accounts_settings().portal_url == PORTAL
    assert membership_settings().portal_url == PORTAL
    assert gateway_settings().portal_url == PORTAL


def test_the_former_names_still_win_over_the_shared_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORTAL_URL", PORTAL)
    monkeypatch.setenv("ACCOUNTS_PORTAL_URL", "https://accounts.example")
    monkeypatch.setenv("MEMBERSHIP_PORTAL_URL", "https://membership.example")
    monkeypatch.setenv("GATEWAY_PUBLIC_URL", "https://gateway.example")
    assert accounts_settings().portal_url == "https://accounts.example"
    assert membership_settings().portal_url == "https://membership.example"
    assert gateway_settings().portal_url == "https://gateway.example"
    # the current per-service name wins over the former one
    monkeypatch.setenv("GATEWAY_PORTAL_URL", "https://current.example")
    assert gateway_settings().portal_url == "https://current.example"


def test_unset_it_is_the_local_portal() -> None:
    assert accounts_settings().portal_url == "http://127.0.0.1:8000"
    assert gateway_settings().portal_url == "http://127.0.0.1:8000"
