"""Schemathesis over the JSON API (issue 10, capability 7), against the real gateway and the real
services (the session's `portal` stack: every service its own process, SQLite, the broker):

- every operation outside the provider API as the budget holder of a school that has budget, a
  weborder, an offering and a student (school_id is pinned to that school, so the fuzzer reaches
  the services instead of stopping at 403);
- the same operations as a CJP admin (who crosses schools, and may register schools and record
  payments);
- the provider API with a provider's API key.

Each operation runs positive examples (valid by the schema) and negative ones (invalid: out of
range, wrong types, missing fields), through schemathesis' Hypothesis strategies. (Its pytest
plugin, `from_fixture`, does not run on pytest 9: it sets `Function._nodeid`.)

Checks: no server error, status codes and content types as documented, response bodies valid
against the documented schemas. Bounded and repeatable: a few examples per operation,
derandomized (the same cases on every run), no example database, no shrinking (a failure is
reported as found; rerun it by hand to minimise).

Operations left out, and why:
- none; POST /api/v1/auth/logout would end the session every other case uses, so it gets a
  token of its own on each call instead.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx
import pytest
import schemathesis
from ck_testkit import clocks
from ck_testkit.journeys import (
    admin_approves_and_records_payment,
    order_budget,
    page_login,
    register_provider,
    school_with_password,
    showing,
    wait_for,
)
from ck_testkit.portal import Portal
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode, checks

PASSWORD = "een lang wachtwoord voor de fuzzer"
# Per operation, mode and role (about 50 operations x 2 modes x 3 roles): about 90 s here.
# CK_FUZZ_EXAMPLES=100 for a deeper run by hand.
MAX_EXAMPLES = int(os.environ.get("CK_FUZZ_EXAMPLES", "8"))
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
]
FUZZ = settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,  # the same examples on every run
    database=None,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
REQUEST_TIMEOUT = 70  # the gateway waits up to 60 s for file operations
PROVIDER_PREFIX = "/api/v1/provider/"


@dataclass
class World:
    """One school with a little of everything, and who may call what."""

    portal: Portal
    school_id: str
    school_number: int
    holder_email: str
    holder_token: str
    admin_token: str
    provider_key: str
    started: float = field(default_factory=time.monotonic)

    def login(self, email: str, password: str) -> str:
        with self.portal.client() as http:
            reply = http.post("/api/v1/auth/login", json={"email": email, "password": password})
        assert reply.status_code == 200, reply.text
        return str(reply.json()["token"])


def _kvk(tag: str) -> str:
    return f"{int(tag, 16) % 10**8:08d}"


@pytest.fixture(scope="module")
def world(portal: Portal) -> Iterator[World]:
    tag = uuid.uuid4().hex[:6]
    holder = f"fuzz-{tag}@fuzz-college.test"
    school = school_with_password(portal, f"Fuzz College {tag}", holder, PASSWORD)
    school_id, number = str(school["school_id"]), int(school["school_number"])  # type: ignore[call-overload]
    with portal.client() as admin, portal.client() as http:
        page_login(admin, portal.admin_email, portal.admin_password)
        _provider, key = register_provider(admin, f"Fuzz Theater {tag}", _kvk(tag))
        page_login(http, holder, PASSWORD)
        order_budget(http, collective=10)
        admin_approves_and_records_payment(admin, school_id, "105,00")
        wait_for(showing(http, "/bestellingen/overzicht", "€ 210,00"), what="the budget credited")
        provider = {"Authorization": f"Bearer {key}"}
        weborder = {
            "school_number": number,
            "activity": "Voorstelling voor de fuzzer",
            "activity_date": (clocks.today() + timedelta(days=30)).isoformat(),
            "participants": 20,
            "amount_cents": 5000,
        }

        def created() -> httpx.Response | None:
            reply = http.post("/api/v1/provider/weborders", json=weborder, headers=provider)
            return reply if reply.status_code == 201 else None

        wait_for(created, what="the weborders service knows the school")
        offering = {"title": "Workshop", "description": "Twee uur", "price_cents": 500}
        reply = http.post("/api/v1/provider/offerings", json=offering, headers=provider)
        assert reply.status_code == 201, reply.text
    world = World(
        portal=portal,
        school_id=school_id,
        school_number=number,
        holder_email=holder,
        holder_token="",
        admin_token=portal.admin_token(),
        provider_key=key,
    )
    world.holder_token = world.login(holder, PASSWORD)
    student = {
        "voornaam": "Sanne",
        "achternaam": "de Boer",
        "locatienaam": "Hoofdlocatie",
        "studiejaar": 2,
        "opleiding": "Mediavormgeving",
    }
    with portal.client() as http:
        reply = http.post(
            f"/api/v1/schools/{school_id}/roster/students/people",
            json=student,
            headers={"Authorization": f"Bearer {world.holder_token}"},
        )
        assert reply.status_code == 201, reply.text
    world.started = time.monotonic()
    yield world
    print(f"\nschemathesis: {time.monotonic() - world.started:.0f} s for the three runs")


@pytest.fixture(scope="module")
def api_schema(portal: Portal, world: World) -> Any:
    return schemathesis.openapi.from_url(portal.url + "/api/openapi.json")


def _operations(schema: Any, provider: bool) -> list[Any]:
    found = [result.ok() for result in schema.get_all_operations()]
    api = [op for op in found if op.path.startswith("/api/")]  # not GET /health
    return [op for op in api if op.path.startswith(PROVIDER_PREFIX) == provider]


def _call(case: Any, world: World, token: str) -> None:
    if case.path == "/api/v1/auth/logout":
        # Logging out ends the token: this case gets one of its own.
        token = world.login(world.holder_email, PASSWORD)
    case.call_and_validate(
        headers={"Authorization": f"Bearer {token}"}, checks=CHECKS, timeout=REQUEST_TIMEOUT
    )


def _fuzz(operation: Any, mode: GenerationMode, world: World, token: str) -> str | None:
    """Run one operation's examples; the first failure as text, or None."""
    pinned = {"school_id": world.school_id} if "{school_id}" in operation.path else None

    @FUZZ
    @given(case=operation.as_strategy(mode, path_parameters=pinned))
    def examples(case: Any) -> None:
        _call(case, world, token)

    try:
        examples()
    except (Exception, BaseExceptionGroup) as exc:  # schemathesis' FailureGroup is a Base one
        # Every failing operation is reported, not only the first.
        return f"{operation.method.upper()} {operation.path} ({mode.value}):\n{_describe(exc)}"
    return None


def _describe(exc: BaseException) -> str:
    if isinstance(exc, BaseExceptionGroup):
        return "\n".join(_describe(inner) for inner in exc.exceptions)
    return f"  {type(exc).__name__}: {exc}"


@pytest.mark.parametrize("role", ["budget holder", "CJP admin", "provider"])
def test_api_conforms_to_its_openapi(role: str, api_schema: Any, world: World) -> None:
    token = {
        "budget holder": world.holder_token,
        "CJP admin": world.admin_token,
        "provider": world.provider_key,
    }[role]
    operations = _operations(api_schema, provider=role == "provider")
    assert operations
    failures = [
        failure
        for operation in operations
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
        if (failure := _fuzz(operation, mode, world, token)) is not None
    ]
    assert not failures, f"{len(failures)} failing operation(s):\n\n" + "\n\n".join(failures)
