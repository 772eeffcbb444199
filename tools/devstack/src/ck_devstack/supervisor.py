"""Keeps a Stack's processes running: one that died is started again after a pause that
doubles (1 s, 2 s, 4 s ... 30 s) while it keeps dying, and is back to 1 s once it stayed up a
while. The others, and so the portal, keep running meanwhile.

Only a death is healed: a process the stack stopped or killed on purpose (stop_service,
kill_service: what tests do to keep a service down) stays down until start_service.

`poll()` does all the work, in the thread that calls it: `ck-dev run` calls it from its main
loop (processes started from the main thread get the parent-death signal, see stack.py);
`Stack(heal=True)` calls it from a thread of its own. `restart(name)` (from any thread:
`ck-dev restart` through ck_devstack.control) hands the restart to that same loop.
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ck_devstack.stack import ManagedProcess, Stack


@dataclass(frozen=True)
class Backoff:
    """Pause before the n-th restart in a row: first * 2**(n-1), at most ceiling. A process
    that stayed up stable_after seconds starts a new row."""

    first: float = 1.0
    ceiling: float = 30.0
    stable_after: float = 60.0

    def delay(self, restarts_in_a_row: int) -> float:
        return float(min(self.first * 2 ** max(restarts_in_a_row - 1, 0), self.ceiling))


@dataclass
class _Watch:
    started_at: float
    in_a_row: int = 0
    restart_at: float | None = None  # a death was seen; start it again at this moment


@dataclass
class _Request:
    name: str
    done: threading.Event = field(default_factory=threading.Event)
    pid: int | None = None
    error: str | None = None


def describe_exit(returncode: int | None) -> str:
    if returncode is None:
        return "stopped"
    if returncode < 0:
        try:
            return f"was killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"was killed by signal {-returncode}"
    return f"exited with code {returncode}"


def display_path(path: Path) -> str:
    """A path relative to the working directory where that is shorter."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _say_on_stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


class Supervisor:
    """Restarts what died in one Stack (see the module's docstring)."""

    def __init__(
        self,
        stack: Stack,
        *,
        backoff: Backoff | None = None,
        say: Callable[[str], None] = _say_on_stderr,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stack = stack
        self.backoff = backoff or Backoff()
        self._say = say
        self._now = monotonic
        now = monotonic()
        self._watches = {name: _Watch(started_at=now) for name in stack.processes}
        self._requests: list[_Request] = []
        self._requests_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._halt = threading.Event()

    # -- the loop ----------------------------------------------------------------------------
    def poll(self) -> None:
        """One pass: notice deaths, start what is due, carry out restart requests."""
        with self.stack.lock:
            now = self._now()
            for name, process in self.stack.processes.items():
                self._check(name, process, self._watches[name], now)
            with self._requests_lock:
                requests, self._requests = self._requests, []
            for request in requests:
                self._restart_now(request)

    def pending(self) -> dict[str, float]:
        """Restarts waiting for their pause to end: name -> seconds left."""
        now = self._now()
        return {
            name: max(watch.restart_at - now, 0.0)
            for name, watch in self._watches.items()
            if watch.restart_at is not None
        }

    def _check(self, name: str, process: ManagedProcess, watch: _Watch, now: float) -> None:
        if watch.restart_at is None:
            if not process.died:
                return
            up_for = now - watch.started_at
            if up_for >= self.backoff.stable_after:
                watch.in_a_row = 0
            watch.in_a_row += 1
            pause = self.backoff.delay(watch.in_a_row)
            watch.restart_at = now + pause
            process.close_log()
            self._say(
                f"ck-dev: {name} {describe_exit(process.returncode)} after {up_for:.0f} s; "
                f"restarting it in {pause:g} s (restart {watch.in_a_row} in a row; log "
                f"{display_path(process.log_path)})"
            )
            return
        if process.running or process.stopped_on_purpose:
            watch.restart_at = None  # someone started or stopped it meanwhile
            return
        if now < watch.restart_at:
            return
        watch.restart_at = None
        watch.started_at = now
        try:
            process.start()
        except Exception as exc:  # any failure to spawn counts as a death
            watch.in_a_row += 1
            pause = self.backoff.delay(watch.in_a_row)
            watch.restart_at = now + pause
            self._say(f"ck-dev: {name} could not be started ({exc}); trying again in {pause:g} s")

    def _restart_now(self, request: _Request) -> None:
        name = request.name
        try:
            process = self.stack.processes[name]
            self._say(f"ck-dev: restarting {name} on request")
            self.stack.stop_service(name)
            process.start()
        except Exception as exc:  # reported to the one who asked
            request.error = str(exc)
        else:
            request.pid = process.pid
            self._watches[name] = _Watch(started_at=self._now())
        finally:
            request.done.set()

    # -- on demand ---------------------------------------------------------------------------
    def restart(self, name: str, timeout: float) -> int:
        """Stop one process (SIGTERM, SIGKILL after the stack's grace period), start it again
        and wait until it is healthy; returns its new pid. Raises StackError when it fails."""
        from ck_devstack.stack import StackError

        if name not in self._watches:
            known = ", ".join(self._watches)
            raise StackError(f"{name} is not part of this stack ({known})")
        request = _Request(name)
        with self._requests_lock:
            self._requests.append(request)
        if not request.done.wait(timeout):
            raise StackError(f"{name} was not restarted within {timeout:.0f} s")
        if request.error is not None:
            raise StackError(request.error)
        self.stack.wait_ready([name])
        assert request.pid is not None
        return request.pid

    # -- in a thread of its own (Stack(heal=True)) -------------------------------------------
    def start_background(self, interval: float = 0.2) -> None:
        if self._thread is not None:
            return
        self._halt.clear()

        def loop() -> None:
            while not self._halt.wait(interval):
                self.poll()

        self._thread = threading.Thread(target=loop, name="ck-dev-supervisor", daemon=True)
        self._thread.start()

    def stop_background(self) -> None:
        if self._thread is None:
            return
        self._halt.set()
        if self._thread is not threading.current_thread():
            self._thread.join()
        self._thread = None
