"""The JSON API against the real accounts service over the real broker."""

from __future__ import annotations

from typing import Any

Stack = Any  # the `stack` fixture of conftest.py

SETTINGS = {
    "name": "Bonhoeffer Testcollege",
    "brin_codes": ["02CD"],
    "locations": ["Enschede"],
    "duo_student_count": 950,
    "contacts": [{"name": "Bert", "role": "Budgethouder", "email": "bert@bonhoeffer.example"}],
    "default_order_reference": "BON-1",
}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_login_me_and_logout(stack: Stack) -> None:
    b = stack.schools["b"]
    async with stack.client() as client:
        login = await client.post(
            "/api/v1/auth/login", json={"email": b.email, "password": b.password}
        )
        assert login.status_code == 200
        body = login.json()
        token = body["token"]
        assert body["school_number"] == b.school_number
        me = await client.get("/api/v1/me", headers=bearer(token))
        assert me.status_code == 200
        assert me.json()["actor"]["school_id"] == str(b.school_id)
        assert me.json()["actor"]["role"] == "budgethouder"
        assert "token" not in me.json()
        out = await client.post("/api/v1/auth/logout", headers=bearer(token))
        assert out.status_code == 204
        after = await client.get("/api/v1/me", headers=bearer(token))
    assert after.status_code == 401
    assert after.json()["error"]["code"] == "unauthenticated"
    assert after.headers["www-authenticate"] == "Bearer"


async def test_wrong_password_and_unknown_user_are_the_same_401(stack: Stack) -> None:
    b = stack.schools["b"]
    async with stack.client() as client:
        wrong = await client.post(
            "/api/v1/auth/login", json={"email": b.email, "password": "fout fout fout"}
        )
        unknown = await client.post(
            "/api/v1/auth/login", json={"email": "niemand@api.example", "password": "fout fout"}
        )
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()
    assert wrong.json()["error"]["message"] == "Onjuist e-mailadres of wachtwoord."


async def test_repeated_failures_give_429_with_retry_after(stack: Stack) -> None:
    async with stack.client() as client:
        statuses = []
        for i in range(7):
            response = await client.post(
                "/api/v1/auth/login",
                json={"email": "gok-api@nergens.example", "password": f"gok {i} van velen"},
            )
            statuses.append(response.status_code)
    assert statuses[:6] == [401] * 6
    assert statuses[6] == 429
    assert response.json()["error"]["code"] == "login_throttled"  # 429; the reason to branch on
    assert int(response.headers["retry-after"]) > 0


async def test_requests_without_a_valid_token_get_401_json(stack: Stack) -> None:
    async with stack.client() as client:
        none = await client.get("/api/v1/me")
        junk = await client.get("/api/v1/me", headers=bearer("x" * 40))
        basic = await client.get("/api/v1/me", headers={"Authorization": "Basic YWJjOmRlZg=="})
    for response in (none, junk, basic):
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "unauthenticated"


async def test_malformed_json_is_a_400_with_a_clear_message(stack: Stack) -> None:
    async with stack.client() as client:
        response = await client.post(
            "/api/v1/auth/login",
            content=b'{"email": "a@b.nl", "password": ',
            headers={"Content-Type": "application/json"},
        )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "bad_request"
    assert "geen geldige JSON" in error["message"]


async def test_a_body_that_is_no_json_object_is_a_400(stack: Stack) -> None:
    async with stack.client() as client:
        as_text = await client.post(
            "/api/v1/auth/login",
            content=b'{"email": "a@b.nl", "password": "x"}',
            headers={"Content-Type": "text/plain"},
        )
        a_list = await client.post("/api/v1/auth/login", json=[1, 2])
        empty = await client.post("/api/v1/auth/login")
    for response in (as_text, a_list, empty):
        assert response.status_code == 400
        assert "JSON-object" in response.json()["error"]["message"]


async def test_wrong_fields_are_a_422_with_dutch_messages(stack: Stack) -> None:
    b = stack.schools["b"]
    token = await stack.api_token(b.email, b.password)
    async with stack.client() as client:
        missing = await client.post("/api/v1/auth/login", json={"email": "a@b.nl"})
        settings = await client.put(
            f"/api/v1/schools/{b.school_id}/settings",
            headers=bearer(token),
            json={**SETTINGS, "duo_student_count": "veel", "brin_codes": []},
        )
        rule = await client.put(
            f"/api/v1/schools/{b.school_id}/settings",
            headers=bearer(token),
            json={**SETTINGS, "brin_codes": ["ABCD"]},
        )
    assert missing.status_code == 422
    assert missing.json()["error"]["fields"] == {"password": "Dit veld is verplicht."}
    assert settings.status_code == 422
    fields = settings.json()["error"]["fields"]
    assert fields["duo_student_count"] == "Vul een heel getal in."
    assert "brin_codes" in fields
    # A rule only the service knows (BRIN format) comes back the same way.
    assert rule.status_code == 422
    assert "geen geldige BRIN-code" in rule.json()["error"]["fields"]["brin_codes.0"]


async def test_oversized_body_is_a_413_json(stack: Stack) -> None:
    async with stack.client() as client:
        declared = await client.post(
            "/api/v1/auth/login",
            content=b'{"email": "' + b"x" * (2 * 1024 * 1024) + b'"}',
            headers={"Content-Type": "application/json"},
        )

        async def chunks() -> Any:
            for _ in range(40):
                yield b"x" * 65536

        streamed = await client.post(
            "/api/v1/auth/login", content=chunks(), headers={"Content-Type": "application/json"}
        )
    for response in (declared, streamed):
        assert response.status_code == 413
        assert response.json()["error"]["code"] == "too_large"
        assert "te groot" in response.json()["error"]["message"]


async def test_settings_update_is_saved_and_read_back(stack: Stack) -> None:
    b = stack.schools["b"]
    token = await stack.api_token(b.email, b.password)
    async with stack.client() as client:
        put = await client.put(
            f"/api/v1/schools/{b.school_id}/settings", headers=bearer(token), json=SETTINGS
        )
        get = await client.get(f"/api/v1/schools/{b.school_id}", headers=bearer(token))
    assert put.status_code == 200
    school = get.json()
    assert school["school_number"] == b.school_number
    assert school["locations"] == ["Enschede"]
    assert school["duo_student_count"] == 950
    assert school["contacts"][0]["email"] == "bert@bonhoeffer.example"


async def test_tenant_isolation_on_the_api(stack: Stack) -> None:
    a, b = stack.schools["a"], stack.schools["b"]
    token_a = await stack.api_token(a.email, a.password)
    async with stack.client() as client:
        read = await client.get(f"/api/v1/schools/{b.school_id}", headers=bearer(token_a))
        write = await client.put(
            f"/api/v1/schools/{b.school_id}/settings", headers=bearer(token_a), json=SETTINGS
        )
        listing = await client.get("/api/v1/schools", headers=bearer(token_a))
    for response in (read, write, listing):
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "forbidden"
    assert b.name not in read.text


async def test_admin_lists_and_registers_schools_a_budget_holder_cannot(stack: Stack) -> None:
    a = stack.schools["a"]
    admin = await stack.admin_token()
    token_a = await stack.api_token(a.email, a.password)
    new_school = {
        "settings": {"name": "Deltion Testcollege", "brin_codes": ["05IJ"], "duo_student_count": 7},
        "budget_holder": {"name": "Dirk", "email": "dirk@deltion.example"},
    }
    async with stack.client() as client:
        refused = await client.post("/api/v1/schools", headers=bearer(token_a), json=new_school)
        created = await client.post("/api/v1/schools", headers=bearer(admin), json=new_school)
        duplicate = await client.post("/api/v1/schools", headers=bearer(admin), json=new_school)
        listing = await client.get("/api/v1/schools", headers=bearer(admin))
        other = await client.get(f"/api/v1/schools/{a.school_id}", headers=bearer(admin))
    assert refused.status_code == 403
    assert created.status_code == 201
    assert created.json()["school_number"] > 10000
    assert duplicate.status_code == 409
    assert duplicate.json()["error"]["fields"] == {
        "budget_holder.email": "Dit e-mailadres is al in gebruik."
    }
    names = [s["name"] for s in listing.json()]
    assert "Deltion Testcollege" in names
    assert a.name in names
    assert other.status_code == 200  # CJP admins see every school (R-ROLE-6)


async def test_unknown_school_is_a_404(stack: Stack) -> None:
    admin = await stack.admin_token()
    async with stack.client() as client:
        response = await client.get(
            "/api/v1/schools/00000000-0000-4000-8000-000000000000", headers=bearer(admin)
        )
        malformed = await client.get("/api/v1/schools/niet-een-id", headers=bearer(admin))
    assert response.status_code == 404
    assert response.json()["error"]["message"] == "Deze school bestaat niet."
    assert malformed.status_code == 422


async def test_health_docs_and_openapi(stack: Stack) -> None:
    async with stack.client() as client:
        health = await client.get("/health")
        docs = await client.get("/api/docs")
        bundle = await client.get("/api/docs/assets/swagger-ui-bundle.js")
        init = await client.get("/static/swagger-init.js")
        schema = await client.get("/api/openapi.json")
    assert health.status_code == 200
    assert health.json() == {"service": "gateway", "status": "ok", "broker": "ok"}
    assert docs.status_code == 200
    assert "<script>" not in docs.text  # only <script src=...>: the CSP forbids inline ones
    assert "cdn" not in docs.text.lower()
    assert bundle.status_code == 200
    assert init.status_code == 200
    paths = schema.json()["paths"]
    for path in (
        "/api/v1/auth/login",
        "/api/v1/auth/logout",
        "/api/v1/me",
        "/api/v1/schools",
        "/api/v1/schools/{school_id}",
        "/api/v1/schools/{school_id}/settings",
        "/health",
    ):
        assert path in paths
    assert "/inloggen" not in paths  # pages are not part of the API
    login_body = paths["/api/v1/auth/login"]["post"]["requestBody"]["content"]
    assert "application/json" in login_body
