"""ck_runtime.random_ids: uuid4 hex from a block of kernel randomness, never the same id twice
(threads, a forked child)."""

from __future__ import annotations

import multiprocessing
import os
import threading
import uuid
from multiprocessing.connection import Connection

import pytest
from ck_runtime.random_ids import uuid4_hex


def test_the_ids_are_uuid4_hex() -> None:
    for _ in range(2000):  # several blocks
        text = uuid4_hex()
        parsed = uuid.UUID(text)
        assert parsed.hex == text
        assert parsed.version == 4
        assert parsed.variant == uuid.RFC_4122


def test_the_random_bits_vary() -> None:
    ids = [int(uuid4_hex(), 16) for _ in range(4000)]
    assert len(set(ids)) == len(ids)
    # each of the 122 random bits is set in some ids and clear in others
    fixed = (0xF000 << 64) | (0xC000 << 48)
    for bit in range(128):
        if fixed >> bit & 1:
            continue
        ones = sum(n >> bit & 1 for n in ids)
        assert 1500 < ones < 2500, bit


def test_threads_never_get_the_same_id() -> None:
    seen: list[list[str]] = [[] for _ in range(8)]

    def draw(into: list[str]) -> None:
        into.extend(uuid4_hex() for _ in range(3000))

    threads = [threading.Thread(target=draw, args=(into,)) for into in seen]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    every = [text for into in seen for text in into]
    assert len(set(every)) == len(every) == 24000


def _child(conn: Connection) -> None:
    conn.send([uuid4_hex() for _ in range(5)])
    conn.close()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork only")
def test_a_forked_child_does_not_repeat_the_parents_ids() -> None:
    uuid4_hex()  # the parent holds a block with ids left in it
    context = multiprocessing.get_context("fork")
    ours, theirs = context.Pipe()
    child = context.Process(target=_child, args=(theirs,))
    child.start()
    from_child = ours.recv()
    child.join()
    from_parent = [uuid4_hex() for _ in range(5)]
    assert not set(from_child) & set(from_parent)
