"""A real browser for the end-to-end tests: Debian's Chromium, driven by Playwright.

Test tools cannot download browsers here; Playwright is pointed at /usr/bin/chromium with the
flags this machine needs (no sandbox as root, no background networking: the network is closed).
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
)

# pytestmark of a browser test module.
BROWSER_TEST = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed"),
]


@contextmanager
def chromium() -> Iterator[Any]:
    """A launched Chromium (playwright.sync_api.Browser), closed afterwards."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=list(CHROMIUM_ARGS))
        try:
            yield browser
        finally:
            browser.close()


# --- axe-core (issue 14): the accessibility scan of the layout test ---------------------------
# npm's axe-core, pinned in tools/testkit/node/package.json (+ package-lock.json). `make test`
# runs `npm ci` there; a test asks axe_source(), which runs it too when the file is missing.
NODE_DIR = Path(__file__).resolve().parents[2] / "node"
AXE_JS = NODE_DIR / "node_modules" / "axe-core" / "axe.min.js"


def axe_source() -> str:
    """axe.min.js's text, installed with npm into tools/testkit/node when missing."""
    if not AXE_JS.exists():
        npm = shutil.which("npm")
        if npm is None:
            raise RuntimeError("axe-core is missing and npm is not installed (apt-get install npm)")
        subprocess.run(  # noqa: S603 (npm from PATH, fixed arguments)
            [npm, "ci", "--no-audit", "--no-fund", "--prefix", str(NODE_DIR)],
            check=True,
            capture_output=True,
        )
    return AXE_JS.read_text(encoding="utf-8")
