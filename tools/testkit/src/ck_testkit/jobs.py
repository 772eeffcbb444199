"""Following a roster job's progress page (issue 14) in tests, as a browser would.

The validatietool and the upload answer a posted file with `303` to
`<list>/taken/<job_id>`; that page refreshes itself (`<meta http-equiv="refresh">`) while the
job runs and shows the report or the upload's result once it is done. These helpers GET the
page until it no longer refreshes and return that last response, with every page seen before
it (the intermediate states). The limit on tries only turns a job that never ends into a
failure; nothing is asserted about how long a job takes.
"""

from __future__ import annotations

import asyncio
import re
import time

import httpx

REFRESH = re.compile(r'<meta http-equiv="refresh" content="(\d+)">')
JOB_PATH = re.compile(r"/taken/[0-9a-f-]{36}$")
POLL_SECONDS = 0.1
MAX_SECONDS = 120.0


def is_job_page(response: httpx.Response) -> bool:
    """A 303 to a job's progress page."""
    location = response.headers.get("location", "")
    return response.status_code == 303 and bool(JOB_PATH.search(location))


def running(response: httpx.Response) -> bool:
    """Whether the page is a job that still runs (it refreshes itself)."""
    return REFRESH.search(response.text) is not None


def _job_location(response: httpx.Response) -> str:
    assert is_job_page(response), (response.status_code, response.headers, response.text[:500])
    return str(response.headers["location"])


async def follow_job(
    client: httpx.AsyncClient, response: httpx.Response, *, seen: list[httpx.Response] | None = None
) -> httpx.Response:
    """The job page after the form's 303, once the job is done; every running page seen is
    appended to `seen`. A response that is no 303 (the form refused the input) is returned as
    it is."""
    if response.status_code != 303:
        return response
    location = _job_location(response)
    deadline = MAX_SECONDS / POLL_SECONDS
    tries = 0
    while True:
        page = await client.get(location)
        if page.status_code != 200 or not running(page):
            return page
        if seen is not None:
            seen.append(page)
        tries += 1
        assert tries < deadline, f"the job at {location} did not end"
        await asyncio.sleep(POLL_SECONDS)


def follow_job_sync(
    client: httpx.Client, response: httpx.Response, *, seen: list[httpx.Response] | None = None
) -> httpx.Response:
    """follow_job for a synchronous client (the end-to-end tests)."""
    if response.status_code != 303:
        return response
    location = _job_location(response)
    deadline = MAX_SECONDS / POLL_SECONDS
    tries = 0
    while True:
        page = client.get(location)
        if page.status_code != 200 or not running(page):
            return page
        if seen is not None:
            seen.append(page)
        tries += 1
        assert tries < deadline, f"the job at {location} did not end"
        time.sleep(POLL_SECONDS)
