"""The supervisor of `ck-dev run`: a process that dies is restarted with backoff while the rest
keeps serving, logs are appended to, and `ck-dev restart` restarts one on demand."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from ck_devstack import Stack
from ck_devstack.control import ControlError, request_restart
from ck_devstack.stack import ManagedProcess
from ck_devstack.supervisor import Backoff, Supervisor

START_LINE = "--- ck-devstack "
# Generous: a restart on this shared machine may take several seconds (Python start-up,
# migrations); the requirement names no bound.
DEADLINE = 90.0


def test_the_pause_doubles_from_one_second_to_thirty() -> None:
    backoff = Backoff()
    assert [backoff.delay(n) for n in range(1, 8)] == [1, 2, 4, 8, 16, 30, 30]


class FakeMonotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _crash(process: ManagedProcess) -> None:
    """SIGKILL from outside, as the kernel's OOM killer would."""
    assert process.pid is not None
    os.kill(process.pid, signal.SIGKILL)
    assert process.wait(10)


def _wait_listening(process: ManagedProcess) -> None:
    deadline = time.monotonic() + DEADLINE
    with httpx.Client() as client:
        while not process.is_ready(client)[0]:
            assert time.monotonic() < deadline, process.log_tail()
            time.sleep(0.1)


def test_a_dead_child_comes_back_after_a_pause_that_doubles_and_resets(
    amqp_url: str, tmp_path: Path
) -> None:
    # The SMTP sink is the stack's smallest child; the supervisor's time is a fake, so which
    # poll restarts what is decided by the test, not by the machine's speed.
    clock = FakeMonotonic()
    lines: list[str] = []
    with Stack(tmp_path, amqp_url, components=("smtp",), broker_users=False) as stack:
        supervisor = Supervisor(stack, say=lines.append, monotonic=clock)
        sink = stack.processes["smtp"]
        first_pid = sink.pid

        clock.now += 5
        _crash(sink)
        supervisor.poll()
        assert lines == [
            f"ck-dev: smtp was killed by SIGKILL after 5 s; restarting it in 1 s "
            f"(restart 1 in a row; log {sink.log_path})"
        ]
        assert supervisor.pending() == {"smtp": 1.0}
        clock.now += 0.5
        supervisor.poll()
        assert not sink.running  # still pausing
        clock.now += 0.5
        supervisor.poll()
        assert sink.running and sink.pid != first_pid
        assert supervisor.pending() == {}
        _wait_listening(sink)

        _crash(sink)  # again at once: twice the pause
        supervisor.poll()
        assert supervisor.pending() == {"smtp": 2.0}
        assert "restarting it in 2 s (restart 2 in a row" in lines[-1]
        clock.now += 2
        supervisor.poll()
        assert sink.running
        _wait_listening(sink)

        clock.now += 61  # stayed up a while: the next death starts a new row
        _crash(sink)
        supervisor.poll()
        assert supervisor.pending() == {"smtp": 1.0}
        assert "after 61 s; restarting it in 1 s (restart 1 in a row" in lines[-1]

        # Stopped on purpose (what tests do to keep a service down): never restarted.
        stack.kill_service("smtp")
        clock.now += 100
        supervisor.poll()
        assert not sink.running
        assert supervisor.pending() == {}
        assert len(lines) == 3

    # A new run on the same data directory appends to the logs.
    with Stack(tmp_path, amqp_url, components=("smtp",), broker_users=False):
        pass
    log = (tmp_path / "logs" / "smtp.log").read_text()
    assert log.count(START_LINE) == 4  # two runs, two restarts
    assert log.index(START_LINE) == 0


@pytest.fixture(scope="module")
def healing(amqp_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    data_dir = tmp_path_factory.mktemp("healing")
    lines: list[str] = []
    with Stack(
        data_dir,
        amqp_url,
        database_urls={},
        components=("accounts", "roster", "gateway"),
        heal=True,
        say=lines.append,
    ) as stack:
        stack.said = lines  # type: ignore[attr-defined]
        yield stack


def test_a_killed_service_is_restarted_while_the_portal_keeps_answering(
    healing: Stack,
) -> None:
    roster = healing.processes["roster"]
    old_pid = roster.pid
    assert roster.pid is not None
    os.kill(roster.pid, signal.SIGKILL)

    answers: list[int] = []
    deadline = time.monotonic() + DEADLINE
    with httpx.Client(timeout=5) as client:
        while True:
            answers.append(client.get(healing.portal_url + "/inloggen").status_code)
            answers.append(client.get(healing.health_urls["accounts"]).status_code)
            if roster.pid != old_pid and roster.is_ready(client)[0]:
                break
            assert time.monotonic() < deadline, roster.log_tail()
            time.sleep(0.2)
    assert set(answers) == {200}  # the gateway and the other service never stopped
    said: list[str] = healing.said  # type: ignore[attr-defined]
    assert len(said) == 1
    assert said[0].startswith("ck-dev: roster was killed by SIGKILL after ")
    assert "restarting it in 1 s" in said[0]
    log = roster.log_path.read_text()
    assert log.count(START_LINE) == 2
    assert log.count("service.started") == 2  # appended, the first run's lines kept


def test_ck_dev_restart_restarts_one_service_on_demand(healing: Stack) -> None:
    accounts = healing.processes["accounts"]
    old_pid = accounts.pid
    ck_dev = Path(sys.executable).parent / "ck-dev"
    result = subprocess.run(
        [str(ck_dev), "restart", "accounts", "--data-dir", str(healing.data_dir)],
        capture_output=True,
        text=True,
        timeout=DEADLINE * 2,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"accounts restarted (pid {accounts.pid}) and healthy."
    assert accounts.pid != old_pid
    assert httpx.get(healing.health_urls["accounts"], timeout=5).status_code == 200
    assert accounts.log_path.read_text().count(START_LINE) == 2
    said: list[str] = healing.said  # type: ignore[attr-defined]
    assert said[-1] == "ck-dev: restarting accounts on request"

    with pytest.raises(ControlError, match="payments is not part of this stack"):
        request_restart(healing.data_dir, "payments", timeout=10)


def test_a_service_stopped_on_purpose_stays_down(healing: Stack) -> None:
    healing.kill_service("roster")
    assert healing.supervisor is not None
    healing.supervisor.poll()
    assert not healing.processes["roster"].running
    assert healing.supervisor.pending() == {}
    healing.start_service("roster")  # back for whatever runs next


def test_ck_dev_restart_without_a_run_says_so(tmp_path: Path) -> None:
    ck_dev = Path(sys.executable).parent / "ck-dev"
    result = subprocess.run(
        [str(ck_dev), "restart", "roster", "--data-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"ck-dev: no 'ck-dev run' is running with data directory {tmp_path.resolve()} "
        "(start one, or pass its --data-dir)."
    )
