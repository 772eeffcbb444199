"""The one thread of this process that reads, checks and writes spreadsheets (validation,
uploads, jobs, the export), off the event loop.

Not asyncio.to_thread: the default executor hands each call to whichever of its idle threads
takes it, and glibc gives every thread its own malloc arena. A 50,000-row file allocates about
100 MB in the thread that reads it, and memory freed in one arena is not reused by another, so
uploads that landed on different threads left the process holding each one's peak: the
roster's resident memory grew from upload to upload (measured: 139 -> 237 MB peak after four
validations on alternating threads, 139 -> 163 MB on one thread). One thread, one arena: the
next file reuses what the last one freed. Files are handled one at a time by the thread; jobs
still queue behind ck_roster.jobs' slots as before.
"""

from __future__ import annotations

import asyncio
import contextvars
import ctypes
import functools
import os
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")

_EXECUTOR: ThreadPoolExecutor | None = None


def _executor() -> ThreadPoolExecutor:
    global _EXECUTOR
    if _EXECUTOR is None:
        _EXECUTOR = ThreadPoolExecutor(max_workers=1, thread_name_prefix="roster-files")
    return _EXECUTOR


async def in_file_thread(func: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
    """As asyncio.to_thread (the caller's context goes along), on the file thread."""
    loop = asyncio.get_running_loop()
    call = functools.partial(contextvars.copy_context().run, func, *args, **kwargs)
    return await loop.run_in_executor(_executor(), call)


@functools.cache
def _libc() -> Any | None:
    """glibc, or None elsewhere (musl, macOS: nothing to tune or trim)."""
    try:
        return ctypes.CDLL("libc.so.6")
    except OSError:
        return None


def _trim() -> None:
    """glibc's malloc_trim(0): give the pages that freed memory left in every arena back to
    the system."""
    trim = getattr(_libc(), "malloc_trim", None)
    if trim is not None:
        trim(0)


# mallopt's parameter number for the mmap threshold (glibc's malloc.h).
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_BYTES = 128 * 1024


def fix_mmap_threshold(environ: Mapping[str, str] | None = None, libc: Any | None = None) -> bool:
    """At the service's start: every allocation of 128 KiB or more gets a mapping of its own,
    given back to the system when it is freed. glibc's default starts there too but raises
    the threshold to the largest block freed so far (up to 32 MiB): after the first file,
    calamine's buffers, the rows' lists and SQLite's caches came from the arenas, where what
    is freed stays resident until malloc_trim, and a re-upload's store allocated on top of
    its validation's holes. A fixed threshold keeps the dynamic rise off. Measured in the
    chain benchmark (empty upload, then a re-upload): peak 224.7 -> 201.4 MB, CPU the same
    within noise. A threshold set in the environment (MALLOC_MMAP_THRESHOLD_ or
    GLIBC_TUNABLES) wins. Returns whether it was set."""
    env = os.environ if environ is None else environ
    if "MALLOC_MMAP_THRESHOLD_" in env or "mmap_threshold" in env.get("GLIBC_TUNABLES", ""):
        return False
    mallopt = getattr(_libc() if libc is None else libc, "mallopt", None)
    if mallopt is None:
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES))


async def release_memory() -> None:
    """After a file is done with (and its rows and people are dropped): glibc keeps what a
    50,000-row file freed (~100 MB) inside its arenas, the process's resident size stays at
    the upload's peak, and what the store allocates next (on the event loop's thread, in
    another arena) comes on top of it. Called after a file is read and checked, and again
    when the operation is done. Measured in one process (a first upload, then a re-upload
    with 1 % changed): the re-upload's peak 310 MB without, 262 MB with the call at the end,
    226 MB with both; the resident size after an upload 241 -> 122 MB. A few ms, on the file
    thread."""
    await in_file_thread(_trim)
