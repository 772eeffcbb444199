"""The event loop of the services and the gateway (ck_runtime.event_loop): uvloop unless
CK_EVENT_LOOP=asyncio."""

from __future__ import annotations

import asyncio

import pytest
import uvloop
from ck_runtime import event_loop


async def _loop_type() -> type[asyncio.AbstractEventLoop]:
    return type(asyncio.get_running_loop())


def test_uvloop_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(event_loop.VARIABLE, raising=False)
    assert event_loop.loop_factory() is uvloop.new_event_loop
    assert issubclass(event_loop.run(_loop_type()), uvloop.Loop)


def test_the_standard_loop_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(event_loop.VARIABLE, "asyncio")
    assert event_loop.loop_factory() is None
    assert not issubclass(event_loop.run(_loop_type()), uvloop.Loop)
