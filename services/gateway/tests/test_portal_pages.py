"""The portal's pages against the real accounts service over the real broker."""

from __future__ import annotations

import re
from typing import Any

from ck_contracts.accounts import Ops

Stack = Any  # the `stack` fixture of conftest.py

SAME_LOGIN_MESSAGE = "Onjuist e-mailadres of wachtwoord."


def field_value(html: str, name: str) -> str:
    match = re.search(rf'name="{name}"[^>]*value="([^"]*)"', html)
    assert match, f"no field {name}"
    return match.group(1)


def textarea_value(html: str, name: str) -> str:
    match = re.search(rf'<textarea id="f-{name}" name="{name}"[^>]*>([^<]*)</textarea>', html)
    assert match, f"no textarea {name}"
    return match.group(1)


async def test_login_shows_home_with_school_number_and_menu(stack: Stack) -> None:
    school = stack.schools["a"]
    async with stack.client() as client:
        response = await stack.page_login(client, school.email, school.password)
        assert response.status_code == 303
        assert response.headers["location"] == "/"
        cookies = response.headers.get_list("set-cookie")
        session_cookie = next(c for c in cookies if c.startswith("ck_session="))
        assert "HttpOnly" in session_cookie
        assert "samesite=lax" in session_cookie.lower()
        assert "Path=/" in session_cookie
        home = await client.get("/")
    assert home.status_code == 200
    assert f"School {school.school_number}" in home.text
    assert school.name in home.text
    assert "Uitloggen" in home.text
    assert "Budget besteden / weborder goedkeuren" in home.text
    for label in ("Bestellingen", "Producten", "Beheer studenten", "Docenten+", "Instellingen"):
        assert f">{label}</a>" in home.text


async def test_pages_need_a_login(stack: Stack) -> None:
    async with stack.client() as client:
        for path in ("/", "/instellingen", "/bestellingen", "/beheer/scholen"):
            response = await client.get(path)
            assert response.status_code == 303, path
            assert response.headers["location"].startswith("/inloggen")
        response = await client.get("/instellingen")
        assert response.headers["location"] == "/inloggen?next=/instellingen"


async def test_login_returns_to_the_page_asked_for_but_never_to_another_site(
    stack: Stack,
) -> None:
    school = stack.schools["a"]
    async with stack.client() as client:
        form = await client.get("/inloggen?next=/instellingen")
        token = stack.csrf_of(form.text)
        data = {"email": school.email, "password": school.password, "csrf_token": token}
        response = await client.post("/inloggen", data={**data, "next": "/instellingen"})
        assert response.headers["location"] == "/instellingen"
    async with stack.client() as client:
        form = await client.get("/inloggen")
        data["csrf_token"] = stack.csrf_of(form.text)
        response = await client.post("/inloggen", data={**data, "next": "//evil.example/x"})
        assert response.headers["location"] == "/"


async def test_wrong_password_and_unknown_user_get_the_same_message(stack: Stack) -> None:
    school = stack.schools["a"]
    async with stack.client() as client:
        wrong = await stack.page_login(client, school.email, "niet het goede wachtwoord")
        unknown = await stack.page_login(client, "niemand@nergens.example", "wat dan ook 12345")
    for response in (wrong, unknown):
        assert response.status_code == 401
        assert SAME_LOGIN_MESSAGE in response.text
    # The e-mail address typed is kept; the password never comes back.
    assert field_value(wrong.text, "email") == school.email
    assert "niet het goede wachtwoord" not in wrong.text


async def test_empty_login_form_says_what_is_missing(stack: Stack) -> None:
    async with stack.client() as client:
        response = await stack.page_login(client, "", "")
    assert response.status_code == 422
    assert "Vul uw e-mailadres in." in response.text
    assert "Vul uw wachtwoord in." in response.text


async def test_repeated_failures_are_throttled_with_the_wait_shown(stack: Stack) -> None:
    email = "gok-pagina@nergens.example"
    async with stack.client() as client:
        statuses = [
            (await stack.page_login(client, email, f"gok nummer {i} van veel")).status_code
            for i in range(6)
        ]
        blocked = await stack.page_login(client, email, "nog een gok erachteraan")
    assert statuses == [401] * 6
    assert blocked.status_code == 429
    assert "Te veel mislukte pogingen" in blocked.text
    assert re.search(r"over \d+ seconden", blocked.text)
    assert int(blocked.headers["retry-after"]) > 0


async def test_logout_ends_the_session_at_once(stack: Stack) -> None:
    school = stack.schools["a"]
    async with stack.client() as client:
        await stack.page_login(client, school.email, school.password)
        session_token = client.cookies["ck_session"]
        home = await client.get("/")
        response = await client.post("/uitloggen", data={"csrf_token": stack.csrf_of(home.text)})
        assert response.status_code == 303
        assert response.headers["location"] == "/inloggen"
        again = await client.get("/")
        assert again.status_code == 303
    # The old cookie, replayed, opens nothing any more.
    async with stack.client() as client:
        client.cookies.set("ck_session", session_token)
        assert (await client.get("/")).status_code == 303


async def test_forms_without_a_matching_csrf_token_are_refused(stack: Stack) -> None:
    school = stack.schools["a"]
    async with stack.client() as client:
        await stack.page_login(client, school.email, school.password)
        page = await client.get("/instellingen")
        token = stack.csrf_of(page.text)
        missing = await client.post("/instellingen", data={"name": "Overgenomen"})
        mismatch = await client.post(
            "/instellingen", data={"name": "Overgenomen", "csrf_token": token[:-2] + "xx"}
        )
        logout_missing = await client.post("/uitloggen")
        still_in = await client.get("/")
    for response in (missing, mismatch, logout_missing):
        assert response.status_code == 403
        assert "Het formulier is verlopen. Laad de pagina opnieuw." in response.text
    assert still_in.status_code == 200
    # Nothing was changed.
    token_a = await stack.api_token(school.email, school.password)
    async with stack.client() as client:
        data = (
            await client.get(
                f"/api/v1/schools/{school.school_id}",
                headers={"Authorization": f"Bearer {token_a}"},
            )
        ).json()
    assert data["name"] != "Overgenomen"


async def test_a_login_form_token_from_another_browser_is_refused(stack: Stack) -> None:
    school = stack.schools["a"]
    async with stack.client() as attacker:
        token = stack.csrf_of((await attacker.get("/inloggen")).text)
    async with stack.client() as victim:
        await victim.get("/inloggen")  # the victim has a cookie of their own
        response = await victim.post(
            "/inloggen",
            data={"email": school.email, "password": school.password, "csrf_token": token},
        )
    assert response.status_code == 403


async def test_settings_edit_is_saved_and_shown(stack: Stack) -> None:
    school = stack.schools["a"]
    async with stack.client() as client:
        await stack.page_login(client, school.email, school.password)
        page = await client.get("/instellingen")
        assert page.status_code == 200
        assert school.name in page.text
        form = {
            "csrf_token": stack.csrf_of(page.text),
            "name": school.name,
            "brin_codes": "01AB, 01ac",
            "locations": "Rotterdam Zuid\nRotterdam, Centrum",
            "duo_student_count": "1234",
            "default_order_reference": "CK-2024",
            "contact_0_name": "Jan de Vries",
            "contact_0_role": "Budgethouder",
            "contact_0_email": "jan@albeda.example",
            "contact_0_phone": "+31101234567",
            "contact_2_name": "Fatima el Amrani",
            "contact_2_role": "Docent burgerschap",
        }
        saved = await client.post("/instellingen", data=form)
        assert saved.status_code == 303
        assert saved.headers["location"] == "/instellingen?opgeslagen=1"
        shown = await client.get(saved.headers["location"])
    assert shown.status_code == 200
    assert "De instellingen zijn opgeslagen." in shown.text
    assert textarea_value(shown.text, "brin_codes") == "01AB\n01AC"
    assert textarea_value(shown.text, "locations") == "Rotterdam Zuid\nRotterdam, Centrum"
    assert field_value(shown.text, "duo_student_count") == "1234"
    assert field_value(shown.text, "default_order_reference") == "CK-2024"
    assert field_value(shown.text, "contact_0_email") == "jan@albeda.example"
    # The blank second row was skipped: the third person is now the second contact.
    assert field_value(shown.text, "contact_1_name") == "Fatima el Amrani"


async def test_settings_with_bad_input_come_back_with_messages_and_nothing_lost(
    stack: Stack,
) -> None:
    school = stack.schools["a"]
    async with stack.client() as client:
        await stack.page_login(client, school.email, school.password)
        page = await client.get("/instellingen")
        form = {
            "csrf_token": stack.csrf_of(page.text),
            "name": school.name,
            "brin_codes": "01AB\nXYZ",  # the service's rule: two digits and two letters
            "locations": "Hoofdlocatie",
            "duo_student_count": "800",
            "contact_0_name": "Jan",
            "contact_0_email": "geen-adres",
        }
        response = await client.post("/instellingen", data=form)
    assert response.status_code == 422
    assert "geen geldige BRIN-code" in response.text
    assert "Vul een geldig e-mailadres in." in response.text
    assert textarea_value(response.text, "brin_codes") == "01AB\nXYZ"
    assert field_value(response.text, "contact_0_email") == "geen-adres"
    assert field_value(response.text, "duo_student_count") == "800"


async def test_settings_report_every_error_in_one_round(stack: Stack) -> None:
    """Issue 14: a blank name and a bad count (the gateway's check), a bad postcode (the
    contract's) and a bad BRIN code and contact address (accounts' rules) in one answer."""
    school = stack.schools["a"]
    async with stack.client() as client:
        await stack.page_login(client, school.email, school.password)
        page = await client.get("/instellingen")
        form = {
            "csrf_token": stack.csrf_of(page.text),
            "name": "",
            "brin_codes": "01AB\nXYZ",
            "duo_student_count": "veel",
            "postcode": "12345",
            "contact_0_name": "Jan",
            "contact_0_email": "geen-adres",
        }
        response = await client.post("/instellingen", data=form)
    assert response.status_code == 422
    for name in ("name", "brin_codes", "duo_student_count", "postcode", "contact_0_email"):
        assert f'aria-describedby="e-{name}"' in response.text, name
    assert "geen geldige BRIN-code" in response.text
    assert "Vul een geldig e-mailadres in." in response.text
    assert "Vul een postcode in zoals 1234 AB." in response.text
    assert field_value(response.text, "duo_student_count") == "veel"
    assert field_value(response.text, "contact_0_email") == "geen-adres"


async def test_the_postal_address_is_edited_under_instellingen(stack: Stack) -> None:
    """Issue 14 (R-SCHOOL-1): street and number, postcode (Dutch format), city."""
    school = stack.schools["a"]
    async with stack.client() as client:
        await stack.page_login(client, school.email, school.password)
        page = await client.get("/instellingen")
        assert 'name="postcode"' in page.text and "Postadres" in page.text
        form = {
            "csrf_token": stack.csrf_of(page.text),
            "name": school.name,
            "brin_codes": "01AB",
            "duo_student_count": "800",
            "street": "Kerkstraat 12a",
            "postcode": "12345",
            "city": "Haarlem",
        }
        refused = await client.post("/instellingen", data=form)
        assert refused.status_code == 422
        assert "Vul een postcode in zoals 1234 AB." in refused.text
        assert field_value(refused.text, "postcode") == "12345"
        assert field_value(refused.text, "street") == "Kerkstraat 12a"
        saved = await client.post("/instellingen", data={**form, "postcode": "2011ab"})
        assert saved.status_code == 303, saved.text
        shown = await client.get("/instellingen")
    assert field_value(shown.text, "postcode") == "2011 AB"
    assert field_value(shown.text, "city") == "Haarlem"


async def test_tenant_isolation_on_pages(stack: Stack) -> None:
    a, b = stack.schools["a"], stack.schools["b"]
    async with stack.client() as client:
        await stack.page_login(client, a.email, a.password)
        own = await client.get(f"/scholen/{a.school_id}/instellingen")
        other = await client.get(f"/scholen/{b.school_id}/instellingen")
        token = stack.csrf_of(own.text)
        post = await client.post(
            f"/scholen/{b.school_id}/instellingen",
            data={"csrf_token": token, "name": "Gekaapt", "brin_codes": "02CD"},
        )
        admin_page = await client.get("/beheer/scholen")
    assert own.status_code == 200
    assert other.status_code == 403
    assert "U heeft geen toegang tot deze gegevens." in other.text
    assert b.name not in other.text
    assert post.status_code == 403
    assert admin_page.status_code == 403


async def test_the_accounts_service_also_refuses_another_school(stack: Stack) -> None:
    """Defence in depth: with the gateway's check bypassed, accounts still says no."""
    a, b = stack.schools["a"], stack.schools["b"]
    async with stack.client() as client:
        login = await client.post(
            "/api/v1/auth/login", json={"email": a.email, "password": a.password}
        )
    actor = login.json()["actor"]
    from ck_contracts.roles import Actor

    actor_a = Actor.model_validate(actor)
    read = await stack.rpc.call(
        "accounts", Ops.SCHOOL_GET.name, {"school_id": str(b.school_id)}, actor=actor_a
    )
    write = await stack.rpc.call(
        "accounts",
        Ops.SCHOOL_UPDATE.name,
        {
            "school_id": str(b.school_id),
            "settings": {"name": "Gekaapt", "brin_codes": ["02CD"], "duo_student_count": 1},
        },
        actor=actor_a,
    )
    listing = await stack.rpc.call("accounts", Ops.SCHOOL_LIST.name, {}, actor=actor_a)
    for reply in (read, write, listing):
        assert not reply.ok
        assert reply.error is not None
        assert reply.error.code == "forbidden"


async def test_admin_registers_a_school_on_the_page(stack: Stack) -> None:
    async with stack.client() as client:
        await stack.page_login(client, stack.admin_email, stack.admin_password)
        home = await client.get("/")
        assert ">Scholen</a>" in home.text
        assert ">Producten</a>" not in home.text
        form = await client.get("/beheer/scholen/nieuw")
        token = stack.csrf_of(form.text)
        data = {
            "csrf_token": token,
            "name": "Cygnus Testcollege",
            "brin_codes": "03EF",
            "locations": "Amsterdam",
            "duo_student_count": "2500",
            "budget_holder_name": "Carla Cygnus",
            "budget_holder_email": "carla@cygnus.example",
        }
        created = await client.post("/beheer/scholen/nieuw", data=data)
        again = await client.post("/beheer/scholen/nieuw", data=data)
        listing = await client.get("/beheer/scholen")
    assert created.status_code == 201
    number = re.search(r"schoolnummer <strong>(\d+)</strong>", created.text)
    assert number
    assert "welkomstmail" in created.text
    assert "carla@cygnus.example" in created.text
    # The same address twice: refused, with the input kept.
    assert again.status_code == 409
    assert "Dit e-mailadres is al in gebruik." in again.text
    assert field_value(again.text, "name") == "Cygnus Testcollege"
    assert listing.status_code == 200
    assert "Cygnus Testcollege" in listing.text
    assert number.group(1) in listing.text


async def test_admin_register_form_errors_keep_the_input(stack: Stack) -> None:
    async with stack.client() as client:
        await stack.page_login(client, stack.admin_email, stack.admin_password)
        form = await client.get("/beheer/scholen/nieuw")
        response = await client.post(
            "/beheer/scholen/nieuw",
            data={
                "csrf_token": stack.csrf_of(form.text),
                "name": "Halve School",
                "brin_codes": "",
                "duo_student_count": "twintig",
                "budget_holder_name": "",
                "budget_holder_email": "halve@school.example",
            },
        )
    assert response.status_code == 422
    assert "Vul minstens één BRIN-code in." in response.text
    assert "Vul een heel getal in." in response.text
    assert field_value(response.text, "duo_student_count") == "twintig"
    assert field_value(response.text, "budget_holder_email") == "halve@school.example"


async def test_register_form_reports_every_error_in_one_round(stack: Stack) -> None:
    """Issue 14: blanks and numbers (the gateway's) with BRIN and address formats (accounts')."""
    async with stack.client() as client:
        await stack.page_login(client, stack.admin_email, stack.admin_password)
        form = await client.get("/beheer/scholen/nieuw")
        response = await client.post(
            "/beheer/scholen/nieuw",
            data={
                "csrf_token": stack.csrf_of(form.text),
                "name": "",
                "brin_codes": "01AB\nXYZ",
                "duo_student_count": "twintig",
                "budget_holder_name": "Piet",
                "budget_holder_email": "geen-adres",
            },
        )
    assert response.status_code == 422
    assert "Dit veld mag niet leeg zijn." in response.text  # the name
    assert "Vul een heel getal in." in response.text
    assert "&#39;XYZ&#39; is geen geldige BRIN-code" in response.text
    for name in ("name", "brin_codes", "duo_student_count", "budget_holder_email"):
        assert f'aria-describedby="e-{name}"' in response.text, name
    assert textarea_value(response.text, "brin_codes") == "01AB\nXYZ"


async def test_a_budget_holder_cannot_register_a_school(stack: Stack) -> None:
    a = stack.schools["a"]
    async with stack.client() as client:
        await stack.page_login(client, a.email, a.password)
        home = await client.get("/")
        page = await client.get("/beheer/scholen/nieuw")
        post = await client.post(
            "/beheer/scholen/nieuw",
            data={
                "csrf_token": stack.csrf_of(home.text),
                "name": "Stiekem College",
                "brin_codes": "09ZZ",
                "duo_student_count": "1",
                "budget_holder_name": "X",
                "budget_holder_email": "x@stiekem.example",
            },
        )
    assert page.status_code == 403
    assert post.status_code == 403


async def test_support_page_names_help_and_the_school_number(stack: Stack) -> None:
    a = stack.schools["a"]
    async with stack.client() as client:
        public = await client.get("/support")
        await stack.page_login(client, a.email, a.password)
        logged_in = await client.get("/support")
    assert public.status_code == 200
    assert "https://www.cjp.nl/mbo-cultuurkaart" in public.text
    assert logged_in.status_code == 200
    assert f"<strong>{a.school_number}</strong>" in logged_in.text


async def test_a_used_password_link_shows_the_services_message(stack: Stack) -> None:
    a = stack.schools["a"]
    token = await stack.mailbox.link_token(a.email)  # used by the fixture already
    async with stack.client() as client:
        used = await client.get(f"/wachtwoord-instellen?token={token}")
        broken = await client.get("/wachtwoord-instellen?token=kort")
    assert used.status_code == 409
    assert "Deze link is al gebruikt of verlopen." in used.text
    assert "Nieuw wachtwoord" not in used.text
    assert broken.status_code == 400


async def test_password_page_explains_a_weak_or_mistyped_password(stack: Stack) -> None:
    async with stack.client() as client:
        token = await _fresh_link(stack, client, "d")
        page = await client.get(f"/wachtwoord-instellen?token={token}")
        assert page.status_code == 200
        assert "Budgethouder D" in page.text  # for whom the password is
        csrf = stack.csrf_of(page.text)
        short = await client.post(
            "/wachtwoord-instellen",
            data={
                "token": token,
                "password": "kort",
                "password_repeat": "kort",
                "csrf_token": csrf,
            },
        )
        typo = await client.post(
            "/wachtwoord-instellen",
            data={
                "token": token,
                "password": "een heel lang wachtwoord",
                "password_repeat": "een heel lang wachtwoort",
                "csrf_token": csrf,
            },
        )
        done = await client.post(
            "/wachtwoord-instellen",
            data={
                "token": token,
                "password": "een heel lang wachtwoord",
                "password_repeat": "een heel lang wachtwoord",
                "csrf_token": csrf,
            },
        )
    assert short.status_code == 422
    assert "minstens 12 tekens" in short.text
    assert typo.status_code == 422
    assert "niet gelijk" in typo.text
    assert done.status_code == 200
    assert 'href="/inloggen"' in done.text


async def test_password_page_reports_every_problem_at_once(stack: Stack) -> None:
    """Issue 14 (one round of errors): a weak password and a mistyped repeat are reported
    together, each next to its field; the passwords are not shown again."""
    async with stack.client() as client:
        token = await _fresh_link(stack, client, "e")
        page = await client.get(f"/wachtwoord-instellen?token={token}")
        csrf = stack.csrf_of(page.text)

        async def post(password: str, repeated: str) -> Any:
            return await client.post(
                "/wachtwoord-instellen",
                data={
                    "token": token,
                    "password": password,
                    "password_repeat": repeated,
                    "csrf_token": csrf,
                },
            )

        short = await post("kortje", "kortjf")
        own_address = await post("budgethouder-e@school-e.example", "iets anders")
        simple = await post("aaaaaaaaaaaaaa", "")
        blank = await post("", "")
        done = await post("een heel lang wachtwoord", "een heel lang wachtwoord")
    assert short.status_code == 422
    assert "minstens 12 tekens" in short.text and "niet gelijk" in short.text
    assert "kortje" not in short.text and "kortjf" not in short.text  # never echoed
    assert "Budgethouder E" in short.text  # the form, for whom, shown again
    assert own_address.status_code == 422
    assert "niet gelijk zijn aan uw e-mailadres" in own_address.text
    assert "De twee wachtwoorden zijn niet gelijk." in own_address.text
    assert simple.status_code == 422
    assert "te eenvoudig" in simple.text and "Vul het wachtwoord nog een keer in." in simple.text
    assert blank.status_code == 422
    assert "Kies een wachtwoord." in blank.text
    assert "Vul het wachtwoord nog een keer in." in blank.text
    assert done.status_code == 200  # the link was not used up by the refused attempts


async def _fresh_link(stack: Stack, client: Any, key: str) -> str:
    admin = await stack.admin_token()
    email = f"budgethouder-{key}@school-{key}.example"
    response = await client.post(
        "/api/v1/schools",
        headers={"Authorization": f"Bearer {admin}"},
        json={
            "settings": {"name": f"School {key}", "brin_codes": ["04GH"], "duo_student_count": 9},
            "budget_holder": {"name": f"Budgethouder {key.upper()}", "email": email},
        },
    )
    assert response.status_code == 201, response.text
    return str(await stack.mailbox.link_token(email))


async def test_unknown_pages_get_a_dutch_404(stack: Stack) -> None:
    async with stack.client() as client:
        response = await client.get("/bestaat-niet")
    assert response.status_code == 404
    assert "Deze pagina bestaat niet." in response.text


async def test_security_headers_and_correlation_id(stack: Stack) -> None:
    async with stack.client() as client:
        response = await client.get("/inloggen", headers={"X-Correlation-ID": "trace-0123456789"})
        invented = await client.get("/inloggen", headers={"X-Correlation-ID": "bad id!"})
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "same-origin"
    assert response.headers["x-correlation-id"] == "trace-0123456789"
    assert invented.headers["x-correlation-id"] != "bad id!"
    assert len(invented.headers["x-correlation-id"]) == 32
    assert "<script" not in response.text
    csrf_cookie = next(
        c for c in response.headers.get_list("set-cookie") if c.startswith("ck_csrf=")
    )
    assert "HttpOnly" in csrf_cookie
    assert "samesite=strict" in csrf_cookie.lower()


async def test_oversized_form_gets_a_dutch_413(stack: Stack) -> None:
    async with stack.client() as client:
        response = await client.post(
            "/inloggen",
            content=b"email=" + b"x" * (2 * 1024 * 1024),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
    assert response.status_code == 413
    assert "te groot" in response.text
    assert "<html" in response.text


async def test_logs_carry_no_names_or_addresses(stack: Stack) -> None:
    """R-AVG-2: the access log and the services' logs hold ids and counts, never people."""
    from structlog.testing import capture_logs

    a = stack.schools["a"]
    with capture_logs() as logs:
        async with stack.client() as client:
            await stack.page_login(client, a.email, "een verkeerd wachtwoord")
            await stack.page_login(client, a.email, a.password)
            page = await client.get(f"/wachtwoord-instellen?token={'x' * 43}&email={a.email}")
            await client.get("/instellingen")
    assert page.status_code == 409
    text = repr(logs)
    assert any(entry.get("event") == "http.request" for entry in logs)
    for personal in (a.email, a.name.split()[0], "Budgethouder A", "x" * 43):
        assert personal not in text
