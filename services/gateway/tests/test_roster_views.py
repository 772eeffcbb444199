"""The roster pages' query strings, forms and reports, and the upload body limit (no I/O)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit
from uuid import uuid4

from ck_contracts.roster import MembershipStatus, RosterKind
from ck_contracts.rpc import ErrorCode, FieldError, RpcError
from ck_gateway.app import body_limit_for
from ck_gateway.roster_views import (
    STUDENTS,
    TEACHERS,
    count_text,
    page_count,
    parse_list_query,
    parse_person_form,
    person_errors,
)
from ck_gateway.settings import get_settings
from ck_gateway.usecases.roster import refused_report
from starlette.datastructures import QueryParams

SCHOOL = uuid4()


def test_list_query_reads_filters_statuses_sort_and_page() -> None:
    params = QueryParams(
        "achternaam=+Jansen+&status=nieuw&status=actief&status=onzin&sort=email"
        "&richting=aflopend&pagina=3&studiejaar=2"
    )
    query = parse_list_query(STUDENTS, SCHOOL, params)
    request = query.request
    assert request.kind == RosterKind.STUDENTS
    assert request.filter.achternaam == "Jansen"
    assert request.filter.studiejaar == 2
    assert request.filter.statuses == [MembershipStatus.NEW, MembershipStatus.ACTIVE]
    assert (request.sort, request.descending, request.page, request.page_size) == (
        "email",
        True,
        3,
        50,
    )
    assert query.filtered and not query.errors


def test_links_keep_the_filter_and_toggle_the_sort() -> None:
    query = parse_list_query(STUDENTS, SCHOOL, QueryParams("klas=MV2&sort=klas"))
    toggled = parse_qs(urlsplit(query.sort_link("/beheer-studenten", "klas")).query)
    assert toggled["klas"] == ["MV2"]
    assert toggled["richting"] == ["aflopend"]
    assert toggled["pagina"] == ["1"]
    other = parse_qs(urlsplit(query.sort_link("/beheer-studenten", "email")).query)
    assert other["sort"] == ["email"] and other["richting"] == ["oplopend"]
    assert query.sort_mark("klas") == "▲"
    nxt = parse_qs(urlsplit(query.link("/beheer-studenten", pagina=2)).query)
    assert nxt["pagina"] == ["2"] and nxt["sort"] == ["klas"]


def test_nonsense_in_the_address_falls_back_and_a_bad_year_is_said() -> None:
    query = parse_list_query(
        TEACHERS, SCHOOL, QueryParams("sort=studiejaar&pagina=-4&studiejaar=drie")
    )
    assert query.request.sort == "achternaam"  # teachers have no studiejaar column
    assert query.request.page == 1
    assert query.request.filter.studiejaar is None
    assert "studiejaar" not in query.values  # no such filter for teachers
    students = parse_list_query(STUDENTS, SCHOOL, QueryParams("studiejaar=drie"))
    assert students.errors == {"studiejaar": "Vul bij leerjaar een heel getal in."}


def test_person_form_keeps_input_and_says_what_is_missing() -> None:
    parsed = parse_person_form(
        STUDENTS, {"voornaam": " Sanne ", "achternaam": "", "studiejaar": "twee", "x": "y"}
    )
    assert parsed.fields is None
    assert parsed.values["voornaam"] == "Sanne"
    assert parsed.values["studiejaar"] == "twee"
    assert parsed.errors["achternaam"] == "Vul achternaam in."
    assert parsed.errors["studiejaar"] == "Vul een heel getal van 1 tot en met 6 in."
    ok = parse_person_form(
        TEACHERS, {"voornaam": "Tom", "achternaam": "Docent", "locatienaam": "Enschede"}
    )
    assert ok.fields is not None and ok.fields.locatienaam == "Enschede"
    assert person_errors({"fields.email": "Fout."}) == {"email": "Fout."}


def test_a_refused_upload_becomes_the_red_report() -> None:
    error = RpcError(
        code=ErrorCode.INVALID,
        reason="roster.file.has_errors",
        params={"errors": 4},
        message="Het bestand bevat 4 fouten.",
        field_errors={"rij 7 email (2)": FieldError(reason="roster.cell.duplicate_email")},
        fields={
            "rij 7 mobiel nummer": "Begint met 06.",
            "rij 3 studiejaar": "1 tot 6.",
            "rij 9": "Leeg.",
            "rij 7 email (2)": "Dubbel.",
        },
    )
    report = refused_report(error)
    assert not report.ok and report.message == "Het bestand bevat 4 fouten."
    assert [(e.row, e.column, e.message) for e in report.errors] == [
        (3, "studiejaar", "1 tot 6."),
        (7, "mobiel nummer", "Begint met 06."),
        (7, "email", "Dubbel."),
        (9, "", "Leeg."),
    ]
    assert report.errors[2].reason == "roster.cell.duplicate_email"


def test_counts_and_pages_in_dutch() -> None:
    assert count_text(STUDENTS, 1) == "1 student"
    assert count_text(TEACHERS, 2) == "2 docenten"
    assert page_count(0, 50) == 1 and page_count(101, 50) == 3
    assert STUDENTS.confirmation == (
        "Het bestand bevat alle leerlingen die recht hebben op een CJP-lidmaatschap."
    )


def test_only_roster_file_routes_get_the_upload_limit() -> None:
    settings = get_settings(secret_key="s")
    limit = body_limit_for(settings)
    big, small = settings.max_upload_bytes, settings.max_body_bytes
    assert big == 12 * 1024 * 1024 and small == 1024 * 1024
    for path in (
        "/beheer-studenten/validatietool",
        "/beheer-docenten/upload",
        f"/api/v1/schools/{SCHOOL}/roster/students/validate",
        f"/api/v1/schools/{SCHOOL}/roster/teachers/upload",
    ):
        assert limit({"method": "POST", "path": path}) == big, path
    for method, path in (
        ("POST", "/beheer-studenten"),
        ("POST", "/instellingen"),
        ("POST", f"/api/v1/schools/{SCHOOL}/roster/students/people"),
        ("GET", "/beheer-studenten/upload"),
        ("POST", "/beheer-studenten/upload/extra"),
    ):
        assert limit({"method": method, "path": path}) == small, path
