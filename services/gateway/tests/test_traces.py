"""Traces (issue 11): a weborder approval is one trace across the gateway, weborders and budget.

The gateway app (over ASGI) and the accounts, weborders and budget services run in this
process on the real broker, each service with its own tracer provider on one in-memory
exporter (ck_runtime.tracing.install_for_tests). The trace context travels only the way it
does in production: the W3C `traceparent` in the AMQP headers of the RPC request, kept with
the outbox row, and in the headers of the published event.
"""

from __future__ import annotations

import itertools
import json
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from ck_budget.app import build as build_budget
from ck_budget.settings import get_settings as budget_settings
from ck_contracts.budget import Ops as BudgetOps
from ck_contracts.invoicing import InvoicePaid
from ck_contracts.roles import Actor, Role
from ck_contracts.weborders import Ops
from ck_runtime import tracing
from ck_runtime.service import ServiceRuntime
from ck_testkit import eventually, publish_event
from ck_testkit.broker import can_make_vhosts, virtual_host
from ck_testkit.clocks import MONDAY
from ck_weborders.app import build as build_weborders
from ck_weborders.settings import get_settings as weborders_settings
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

Stack = Any  # the `stack` fixture of conftest.py
FUTURE = (MONDAY.date() + timedelta(days=40)).isoformat()


@pytest.fixture(scope="module")
def amqp_url(amqp_url: str) -> Iterator[str]:
    """A virtual host for this module alone (schools are numbered from 10001 per module)."""
    if not amqp_url.rpartition("/")[2].startswith("ck-test-") or not can_make_vhosts():
        yield amqp_url
        return
    with virtual_host("ck-test-traces") as url:
        yield url


@pytest.fixture(scope="module", autouse=True)
def spans() -> Iterator[InMemorySpanExporter]:
    """Autouse: installed before the `stack` fixture builds the gateway app and accounts."""
    exporter = InMemorySpanExporter()
    tracing.install_for_tests(exporter)
    try:
        yield exporter
    finally:
        tracing.shutdown()


@pytest.fixture(scope="module")
async def services(
    stack: Stack, amqp_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Stack]:
    data: Path = tmp_path_factory.mktemp("traces")
    runtimes = [
        ServiceRuntime(
            build_weborders(
                weborders_settings(
                    amqp_url=amqp_url,
                    data_dir=str(data),
                    database_url=f"sqlite+aiosqlite:///{data / 'weborders.sqlite3'}",
                    api_key_pepper="test-pepper",
                )
            )
        ),
        ServiceRuntime(
            build_budget(
                budget_settings(
                    amqp_url=amqp_url,
                    database_url=f"sqlite+aiosqlite:///{data / 'budget.sqlite3'}",
                )
            )
        ),
    ]
    started: list[ServiceRuntime] = []
    try:
        for runtime in runtimes:
            await runtime.start()
            started.append(runtime)
        school = stack.schools["a"]
        ref = {"school_id": str(school.school_id)}
        await _known(stack, "weborders", Ops.WEBORDER_LIST.name, ref, school)
        await _known(stack, "budget", BudgetOps.LEDGER.name, ref, school)
        yield stack
    finally:
        for runtime in reversed(started):
            await runtime.stop()


async def _known(stack: Stack, service: str, op: str, payload: dict[str, Any], school: Any) -> None:
    actor = Actor(user_id=uuid.uuid4(), role=Role.BUDGET_HOLDER, school_id=school.school_id)

    async def known() -> bool:
        reply = await stack.rpc.call(service, op, payload, actor=actor)
        return bool(reply.ok)

    assert await eventually(known, 30), f"{service} does not know the school"


async def provider_key(stack: Stack) -> str:
    """Menu Aanbieders as the CJP admin: a provider and its API key (shown once)."""
    async with stack.client() as client:
        assert (await stack.page_login(client, stack.admin_email, stack.admin_password)).is_redirect
        page = await client.get("/beheer/aanbieders")
        done = await client.post(
            "/beheer/aanbieders",
            data={
                "naam": "Theater Spoor",
                "kvk": "12345678",
                "contactpersoon": "Anna Aanbieder",
                "email": "info@spoor.example",
                "csrf_token": stack.csrf_of(page.text),
            },
        )
        assert done.status_code == 303, done.text
        path = done.headers["location"].split("?")[0]
        detail = await client.get(path)
        issued = await client.post(
            f"{path}/sleutels", data={"csrf_token": stack.csrf_of(detail.text)}
        )
        found = re.search(r'id="api-sleutel">(ck_live_[^<]+)<', issued.text)
        assert found, issued.text
        return found.group(1)


async def balance(stack: Stack) -> int:
    school = stack.schools["a"]
    token = await stack.api_token(school.email, school.password)
    async with stack.client() as client:
        ledger = await client.get(
            f"/api/v1/schools/{school.school_id}/budget/ledger",
            headers={"Authorization": f"Bearer {token}"},
        )
    assert ledger.status_code == 200, ledger.text
    return int(ledger.json()["balance_cents"])


def service_of(span: ReadableSpan) -> str:
    return str(span.resource.attributes.get("service.name"))


DUMP = False


def print_tree(found: list[ReadableSpan]) -> None:
    by_parent: dict[int | None, list[ReadableSpan]] = {}
    for s in found:
        by_parent.setdefault(s.parent.span_id if s.parent else None, []).append(s)

    def walk(parent: int | None, depth: int) -> None:
        for s in sorted(by_parent.get(parent, []), key=lambda s: s.start_time or 0):
            print("  " * depth, service_of(s), s.kind.name, s.name)
            assert s.context is not None
            walk(s.context.span_id, depth + 1)

    walk(None, 0)


def one(found: list[ReadableSpan], what: str) -> ReadableSpan:
    assert len(found) == 1, f"{what}: {[(service_of(s), s.name) for s in found]}"
    return found[0]


async def test_a_weborder_approval_is_one_trace_across_gateway_weborders_and_budget(
    services: Stack, spans: InMemorySpanExporter
) -> None:
    stack = services
    school = stack.schools["a"]
    key = await provider_key(stack)
    await publish_event(
        stack.amqp_url,
        InvoicePaid(
            school_id=school.school_id,
            invoice_id=uuid.uuid4(),
            order_id=uuid.uuid4(),
            number="22700001",
            collective_budget_cents=50000,
            individual_budget_cents=0,
            paid_on=MONDAY.date(),
        ),
    )

    async def credited() -> bool:
        return await balance(stack) == 50000

    assert await eventually(credited, 30)
    async with stack.client() as client:
        made = await client.post(
            "/api/v1/provider/weborders",
            headers={"Authorization": f"Bearer {key}"},
            json={
                "school_number": school.school_number,
                "activity": "Voorstelling Spoor",
                "activity_date": FUTURE,
                "participants": 20,
                "amount_cents": 12500,
                "provider_reference": "SPOOR-1",
            },
        )
        assert made.status_code == 201, made.text
        weborder_id = made.json()["weborder_id"]

        # The budget holder approves on the page Bestellingen > Weborders.
        assert (await stack.page_login(client, school.email, school.password)).is_redirect
        page = await client.get("/bestellingen/weborders")
        spans.clear()
        done = await client.post(
            f"/bestellingen/weborders/{weborder_id}/goedkeuren",
            data={"csrf_token": stack.csrf_of(page.text)},
        )
        assert done.status_code == 303, done.text
        shown = await client.get(done.headers["location"])
        assert "is goedgekeurd: € 125,00 afgeschreven" in shown.text, shown.text

    def finished() -> list[ReadableSpan]:
        return list(spans.get_finished_spans())

    http = one(
        [
            s
            for s in finished()
            if service_of(s) == "ck-gateway"
            and s.kind == SpanKind.SERVER
            and s.name.startswith("POST ")
            and "goedkeuren" in s.name
        ],
        "the gateway's HTTP span",
    )
    assert http.context is not None
    trace_id = http.context.trace_id

    def in_trace() -> list[ReadableSpan]:
        return [s for s in finished() if s.context is not None and s.context.trace_id == trace_id]

    def named(service: str, kind: SpanKind, part: str) -> list[ReadableSpan]:
        return [
            s for s in in_trace() if service_of(s) == service and s.kind == kind and part in s.name
        ]

    # The last hop (weborders settling on BudgetDebited) may end just after the page answered.
    async def whole() -> bool:
        return bool(named("ck-weborders", SpanKind.CONSUMER, "weborders.events.budget"))

    assert await eventually(whole, 30), [(service_of(s), s.name) for s in in_trace()]

    client_span = one(named("ck-gateway", SpanKind.CLIENT, "decide"), "RPC client")
    server_span = one(named("ck-weborders", SpanKind.SERVER, "decide"), "weborders RPC server")
    approved = one(
        named("ck-weborders", SpanKind.PRODUCER, "weborders.weborder.approved"), "outbox publish"
    )
    consumed = one(named("ck-budget", SpanKind.CONSUMER, "budget.events."), "budget consumer")
    debited = one(named("ck-budget", SpanKind.PRODUCER, "budget.debit.succeeded"), "budget event")
    settled = one(named("ck-weborders", SpanKind.CONSUMER, "weborders.events.budget"), "settle")
    # Parent links: HTTP -> RPC client -> RPC server -> outbox publish -> budget consumer
    # -> its outbox publish -> weborders consumer.
    chain = [http, client_span, server_span, approved, consumed, debited, settled]
    for parent, child in itertools.pairwise(chain):
        assert child.parent is not None and parent.context is not None
        assert child.parent.span_id == parent.context.span_id, (parent.name, child.name)
    # The database work of both services is in it too, with no parameter values.
    for service in ("ck-weborders", "ck-budget"):
        statements = [
            s
            for s in in_trace()
            if service_of(s) == service and s.attributes and "db.system" in s.attributes
        ]
        assert statements, f"no database spans of {service}"
    if DUMP:
        print_tree(in_trace())
    every = json.dumps([dict(s.attributes or {}) for s in in_trace()], default=str)
    assert "Voorstelling Spoor" not in every and school.email not in every
    assert "?" not in str((http.attributes or {}).get("http.url", ""))


def test_log_lines_carry_the_trace_id_inside_a_span(spans: InMemorySpanExporter) -> None:
    """configure_logging puts tracing.add_trace_id after the context variables (correlation id)."""
    tracer = tracing.tracer("gateway")
    assert tracer is not None
    outside = tracing.add_trace_id(None, "info", {"correlation_id": "abc"})
    with tracer.start_as_current_span("inside") as span:
        inside = tracing.add_trace_id(None, "info", {"correlation_id": "abc"})
    assert outside == {"correlation_id": "abc"}
    context = span.get_span_context()
    assert inside == {
        "correlation_id": "abc",
        "trace_id": format(context.trace_id, "032x"),
        "span_id": format(context.span_id, "016x"),
    }
