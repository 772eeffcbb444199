"""ck_gateway.csrf_guard: a posted form passes only with its CSRF token, and its uploaded files
are closed when the request is done (not left open until the garbage collector comes by)."""

from __future__ import annotations

from typing import Any

import httpx
from ck_gateway import csrf
from ck_gateway.csrf_guard import checked_form
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.datastructures import UploadFile

SECRET = "s" * 32


def app_keeping_uploads(seen: list[UploadFile]) -> FastAPI:
    app = FastAPI()
    app.state.secret_key = SECRET

    @app.post("/upload")
    async def upload(request: Request) -> JSONResponse:
        form = await checked_form(request)
        file = form.get("file")
        assert isinstance(file, UploadFile)
        seen.append(file)
        return JSONResponse({"size": len(await file.read()), "closed": file.file.closed})

    @app.exception_handler(csrf.CsrfFailed)
    async def refused(request: Request, exc: Any) -> JSONResponse:
        return JSONResponse({"refused": True}, status_code=403)

    return app


async def post(app: FastAPI, token: str | None, content: bytes) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://portal.test") as client:
        cookie = csrf.new_token(SECRET, csrf.session_binding(None))
        client.cookies.set(csrf.COOKIE_NAME, cookie)
        data = {csrf.FIELD_NAME: cookie if token is None else token}
        files = {"file": ("leerlingen.xlsx", content)}
        return await client.post("/upload", data=data, files=files)


async def test_an_uploaded_file_is_closed_when_the_request_is_done() -> None:
    seen: list[UploadFile] = []
    content = b"x" * (2 * 1024 * 1024)  # beyond 1 MB: a temporary file on disk
    reply = await post(app_keeping_uploads(seen), None, content)
    assert reply.status_code == 200, reply.text
    assert reply.json() == {"size": len(content), "closed": False}  # open while handled
    assert len(seen) == 1 and seen[0].file.closed


async def test_a_form_without_its_token_is_refused() -> None:
    seen: list[UploadFile] = []
    reply = await post(app_keeping_uploads(seen), "forged", b"data")
    assert reply.status_code == 403 and reply.json() == {"refused": True}
    assert seen == []
