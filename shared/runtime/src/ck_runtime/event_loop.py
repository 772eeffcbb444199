"""The event loop of every long-running process (the services and the gateway): uvloop.

uvloop's loop, transports and call_soon_threadsafe are written in C on libuv; the hot paths
of this platform are loop-bound (AMQP frames in and out, HTTP through uvicorn, aiosqlite's
thread hand-overs), and with the standard loop their scheduling was a visible share of the
CPU per weborder (docs/performance.md, "Weborders: CPU per weborder"). Bare FastAPI under
`uvicorn.run` already gets uvloop; the gateway entered its lifespan itself with asyncio.run
and so ran on the standard loop.

CK_EVENT_LOOP=asyncio switches back to the standard library's loop (for a comparison, or a
platform where uvloop misbehaves). Tests run on pytest-asyncio's loop, not this one.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

VARIABLE = "CK_EVENT_LOOP"


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's loop unless CK_EVENT_LOOP=asyncio (or uvloop is not installed)."""
    if os.environ.get(VARIABLE, "uvloop").strip().lower() == "asyncio":
        return None
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency of ck-runtime
        return None
    return uvloop.new_event_loop


def run(main: Coroutine[Any, Any, T]) -> T:
    """asyncio.run(main) on the chosen loop."""
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        return runner.run(main)
