"""The history page's rules without I/O (issue 13): merging the services' keyset pages pages
through every entry once, newest first; cursors survive the address; filters ask only the
services that can hold a match; every action, role and service has its Dutch; details are
written the Dutch way."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta

from ck_contracts.audit import (
    ACTIONS_BY_SERVICE,
    AUDITED_SERVICES,
    AuditAction,
    AuditEntry,
    AuditPage,
    AuditRole,
)
from ck_gateway import i18n
from ck_gateway.routes.pages_audit import detail_value, parse_filters
from ck_gateway.usecases.audit import Cursor, HistoryFilter, merge, query_for, services_for

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def entry(service: str, at: datetime) -> AuditEntry:
    return AuditEntry(
        id=uuid.uuid4(),
        service=service,
        at=at,
        actor_id=None,
        actor_role=AuditRole.SYSTEM,
        action=ACTIONS_BY_SERVICE[service][0],
        subject_type="x",
        subject_id="x",
    )


def service_page(stored: list[AuditEntry], cursor: Cursor | None, limit: int) -> AuditPage:
    """What a service answers (ck_runtime.audit.list_entries) for a keyset query."""
    ordered = sorted(stored, key=lambda e: (e.at, e.id), reverse=True)
    if cursor is not None:
        ordered = [e for e in ordered if (e.at, e.id) < (cursor.at, cursor.id)]
    return AuditPage(items=ordered[:limit], has_more=len(ordered) > limit)


def test_merged_pages_show_every_entry_once_newest_first() -> None:
    rng = random.Random(13)
    stores = {
        service: [
            # some at the very same moment in several services: the id breaks the tie
            entry(service, START + timedelta(seconds=rng.choice([0, 0, rng.randint(1, 500)])))
            for _ in range(rng.randint(0, 40))
        ]
        for service in AUDITED_SERVICES
    }
    shown: list[AuditEntry] = []
    cursor: Cursor | None = None
    for _ in range(100):
        pages = [service_page(stored, cursor, 7) for stored in stores.values()]
        items, more = merge(pages, 7)
        shown.extend(items)
        if not more:
            break
        cursor = Cursor(items[-1].at, items[-1].id)
    everything = [e for stored in stores.values() for e in stored]
    assert len(shown) == len(everything) and {e.id for e in shown} == {e.id for e in everything}
    assert [(e.at, e.id) for e in shown] == sorted(((e.at, e.id) for e in shown), reverse=True)


def test_a_cursor_survives_the_address() -> None:
    cursor = Cursor(START + timedelta(microseconds=123), uuid.uuid4())
    assert Cursor.parse(cursor.text()) == cursor
    for junk in ("", "x", "1.2", "²." + uuid.uuid4().hex, "9" * 40 + "." + uuid.uuid4().hex):
        assert Cursor.parse(junk) is None, junk


def test_filters_ask_only_the_services_that_can_match() -> None:
    assert services_for(HistoryFilter()) == list(AUDITED_SERVICES)
    assert services_for(HistoryFilter(action=AuditAction.INVOICE_PAID)) == ["invoicing"]
    assert services_for(HistoryFilter(service="budget", action=AuditAction.INVOICE_PAID)) == []
    query = query_for(HistoryFilter(since=START.date(), until=START.date()), 10)
    # A day in Amsterdam (UTC+1 in March): 23:00 UTC the day before until 23:00 UTC that day.
    assert query.since == datetime(2026, 3, 1, 23, 0, tzinfo=UTC)
    assert query.until == datetime(2026, 3, 2, 23, 0, tzinfo=UTC)


def test_a_school_cannot_filter_itself_into_another_school() -> None:
    own = uuid.uuid4()
    filters, values, errors = parse_filters(
        {"school": str(uuid.uuid4()), "dienst": "budget", "actie": "nope"},
        admin=False,
        school_id=own,
    )
    assert filters.school_id == own and filters.service is None and filters.action is None
    assert errors == {} and values["school"] == ""


def test_a_date_that_is_no_date_keeps_what_was_typed() -> None:
    _, values, errors = parse_filters({"van": "31-02-2026", "tot": "x"}, admin=True, school_id=None)
    assert values["van"] == "31-02-2026" and set(errors) == {"van", "tot"}
    _, _, errors = parse_filters(
        {"van": "02-03-2026", "tot": "01-03-2026"}, admin=True, school_id=None
    )
    assert errors == {"tot": i18n.gettext("audit.field.range")}


def test_every_action_role_and_service_has_dutch() -> None:
    msgids = [f"audit.{a.value}" for a in AuditAction]
    msgids += [f"audit.role.{r.value}" for r in AuditRole]
    msgids += [f"audit.service.{s}" for s in AUDITED_SERVICES]
    assert [m for m in msgids if not i18n.has(m)] == []
    assert not i18n.has("audit.no_such_action")


def test_details_are_written_the_dutch_way() -> None:
    assert detail_value("total_cents", 10500) == "€ 105,00"
    assert detail_value("early", True) == "ja"
    assert detail_value("paid_on", "2026-03-02") == "2 maart 2026"
    assert detail_value("reason", "ended_by_cjp") == "lidmaatschap beëindigd door CJP"
    assert detail_value("number", "26000001") == "26000001"
