"""Confirmation pages (issue 14): an action that cannot be undone in one click -- removing a
person (it ends an active CJP membership), cancelling a budget order, revoking Docent+ access,
rejecting a weborder, revoking an API key -- is asked on a page of its own first.

The list's link or form GETs the action's URL; the gateway answers with "Weet u het zeker?" and
the sentences of what will happen (from the catalogue, naming the person, order or key); only
the POST of that page's form, with its CSRF token, does it. No script is involved, so the
strict CSP stays as it is, and a GET never changes anything.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from fastapi import Request
from fastapi.responses import HTMLResponse

from ck_gateway import i18n
from ck_gateway.rendering import render

TITLE = "confirm.title"


def confirm_page(
    request: Request,
    *,
    consequences: Sequence[str],
    confirm_label: str,
    back: str,
    action: str | None = None,
    hidden: Mapping[str, str] | None = None,
) -> HTMLResponse:
    """The page that asks; its form POSTs to `action` (this page's own path by default)."""
    return render(
        request,
        "confirm.html",
        {
            "title": i18n.gettext(TITLE),
            "consequences": list(consequences),
            "confirm_label": confirm_label,
            "back": back,
            "action": action or request.url.path,
            "hidden": dict(hidden or {}),
        },
    )
