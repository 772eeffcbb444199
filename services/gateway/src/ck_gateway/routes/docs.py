"""The API documentation (Swagger UI) served from this gateway: no CDN, no inline script."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

router = APIRouter(include_in_schema=False)

DOCS_PATH = "/api/docs"
DOCS_ASSETS = "/api/docs/assets"
OPENAPI_PATH = "/api/openapi.json"

_PAGE = f"""<!doctype html>
<html lang="nl">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>MBO Cultuurkaart API</title>
<link rel="stylesheet" href="{DOCS_ASSETS}/swagger-ui.css">
</head>
<body>
<div id="swagger-ui" data-openapi-url="{OPENAPI_PATH}"></div>
<script src="{DOCS_ASSETS}/swagger-ui-bundle.js"></script>
<script src="/static/swagger-init.js"></script>
</body>
</html>
"""


@router.get(DOCS_PATH, response_class=HTMLResponse)
async def api_docs() -> HTMLResponse:
    return HTMLResponse(_PAGE)
