"""tools/setup/ensure-services.sh: what `make run` and `make test` do about RabbitMQ and
PostgreSQL on a machine where they are missing, not running, or running.

Nothing here installs or starts anything: the missing and stopped cases run with --dry-run
(the script prints the commands it would run) and a PATH that lacks the servers' commands;
the running case is a port this test listens on, where the script must do nothing at all.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "tools" / "setup" / "ensure-services.sh"
# What the script itself uses, nothing of RabbitMQ or PostgreSQL.
BASIC_TOOLS = ("bash", "timeout", "seq", "sleep", "sort", "tail", "ls", "env", "id")


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A port nothing listens on (bound, so nobody else takes it meanwhile)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


@pytest.fixture
def open_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def bin_dir(tmp_path: Path, *, uid: int | None = None, extra: tuple[str, ...] = ()) -> Path:
    """A PATH folder with the basic tools only; uid: a fake `id -u`; extra: stub commands
    that fail when called (present, so the script must not install them)."""
    folder = tmp_path / "bin"
    folder.mkdir()
    for tool in BASIC_TOOLS:
        real = shutil.which(tool)
        assert real, tool
        (folder / tool).symlink_to(real)
    if uid is not None:
        (folder / "id").unlink()
        (folder / "id").write_text(f"#!/bin/sh\necho {uid}\n")
        (folder / "id").chmod(0o755)
    for name in extra:
        (folder / name).write_text("#!/bin/sh\nexit 99\n")
        (folder / name).chmod(0o755)
    return folder


def ensure(path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": str(path), "CK_SETUP_SBIN": "", "HOME": os.environ.get("HOME", "/root")}
    return subprocess.run(
        [str(path / "bash"), str(SCRIPT), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def planned(result: subprocess.CompletedProcess[str]) -> list[str]:
    assert result.returncode == 0, result.stderr
    return [line.removeprefix("would run: ") for line in result.stdout.splitlines()]


def test_missing_rabbitmq_is_installed_from_debian_and_started(
    tmp_path: Path, closed_port: int
) -> None:
    result = ensure(
        bin_dir(tmp_path, uid=0),
        *("--dry-run", "--amqp-url", f"amqp://guest:guest@127.0.0.1:{closed_port}/"),
        "rabbitmq",
    )
    steps = planned(result)
    assert steps[0] == "apt-get update -qq"
    assert re.fullmatch(
        r"env DEBIAN_FRONTEND=noninteractive apt-get install .*rabbitmq-server", steps[1]
    )
    assert steps[2] == "rabbitmq-server -detached"
    assert steps[3].startswith("rabbitmqctl -q await_startup")
    assert len(steps) == 4
    assert "installing rabbitmq-server" in result.stderr


def test_missing_postgresql_is_installed_with_trust_and_started(
    tmp_path: Path, closed_port: int
) -> None:
    steps = planned(
        ensure(
            bin_dir(tmp_path, uid=0),
            *("--dry-run", "--postgres-url", f"postgresql://postgres@127.0.0.1:{closed_port}/x"),
            "postgresql",
        )
    )
    assert steps[0] == "apt-get update -qq"
    assert steps[1].endswith("apt-get install -y -qq --no-install-recommends postgresql")
    assert steps[2].startswith("sed -i -E") and "trust" in steps[2]
    assert re.search(r"/etc/postgresql/\S+/main/pg_hba\.conf$", steps[2])
    assert re.fullmatch(r"pg_ctlcluster --skip-systemctl-redirect \S+ main start", steps[3])
    assert len(steps) == 4


def test_not_root_goes_through_sudo(tmp_path: Path, closed_port: int) -> None:
    steps = planned(
        ensure(
            bin_dir(tmp_path, uid=1000, extra=("sudo",)),
            *("--dry-run", "--amqp-url", f"amqp://127.0.0.1:{closed_port}/"),
            "rabbitmq",
        )
    )
    assert steps and all(step.startswith("sudo ") for step in steps)
    assert "sudo rabbitmq-server -detached" in steps


def test_not_root_without_sudo_says_so(tmp_path: Path, closed_port: int) -> None:
    result = ensure(
        bin_dir(tmp_path, uid=1000),
        *("--dry-run", "--amqp-url", f"amqp://127.0.0.1:{closed_port}/"),
        "rabbitmq",
    )
    assert result.returncode == 1
    assert "run this as root or install sudo" in result.stderr


def test_installed_but_stopped_rabbitmq_is_only_started(tmp_path: Path, closed_port: int) -> None:
    steps = planned(
        ensure(
            bin_dir(tmp_path, uid=0, extra=("rabbitmq-server", "rabbitmqctl")),
            *("--dry-run", "--amqp-url", f"amqp://127.0.0.1:{closed_port}/vh"),
            "rabbitmq",
        )
    )
    assert not any("apt-get" in step for step in steps)
    assert steps[0] == "rabbitmq-server -detached"


def test_answering_servers_are_left_alone_silently(tmp_path: Path, open_port: int) -> None:
    # No --dry-run: with both ports answering the script must not run anything (the stubs
    # would fail with 99, and nothing may be printed).
    result = ensure(
        bin_dir(tmp_path, extra=("rabbitmq-server", "rabbitmqctl", "pg_ctlcluster", "apt-get")),
        *("--amqp-url", f"amqp://guest:guest@localhost:{open_port}/second"),
        *("--postgres-url", f"postgresql+asyncpg://postgres@127.0.0.1:{open_port}/postgres"),
        "rabbitmq",
        "postgresql",
    )
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_a_remote_address_is_left_alone(tmp_path: Path) -> None:
    result = ensure(
        bin_dir(tmp_path, uid=0),
        *("--dry-run", "--amqp-url", "amqp://u:p@rabbit.example:5672/"),
        *("--postgres-url", "postgresql://postgres@[2001:db8::1]:5432/postgres"),
        "rabbitmq",
        "postgresql",
    )
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_an_unknown_argument_is_refused(tmp_path: Path) -> None:
    result = ensure(bin_dir(tmp_path), "mysql")
    assert result.returncode == 64
    assert "unknown argument 'mysql'" in result.stderr
