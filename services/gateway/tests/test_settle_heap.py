"""ck-gateway freezes its start-up heap before serving (issue 15: full collections walked it)."""

from __future__ import annotations

import gc

from ck_gateway.main import settle_heap


def test_start_up_objects_are_frozen_out_of_the_collector() -> None:
    gc.unfreeze()
    start_up_object: list[object] = []
    try:
        settle_heap()
        assert gc.get_freeze_count() > 0
        assert not any(found is start_up_object for found in gc.get_objects())
    finally:
        gc.unfreeze()
