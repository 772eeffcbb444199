"""A private RabbitMQ node for outage tests: a second node beside the machine's shared one.

Tests that kill the broker (SIGKILL, not a clean stop) must not touch the shared node on 5672
that every other test and helper uses. `PrivateRabbit` starts another node of the same
installation with its own name, AMQP port, distribution port, data and log directories in a
temporary folder, and can stop it cleanly, kill it with SIGKILL and start it again on the same
data (durable queues and their messages survive, as they would in production).

    with PrivateRabbit() as rabbit:
        url = rabbit.amqp_url        # amqp://guest:guest@127.0.0.1:<port>/
        rabbit.kill()                # SIGKILL of the beam process
        rabbit.restart()             # same data directory

How: run as root, the installation's own start script (/usr/lib/rabbitmq/bin/rabbitmq-server)
starts a node with the RABBITMQ_* variables set here; HOME is the temporary folder, holding a
copy of the shared node's Erlang cookie so that rabbitmqctl (run with the same HOME) may talk
to it. Run as the rabbitmq user it works the same. rabbitmqctl has 11 distribution ports on
this machine (35672-35682) shared by every caller: calls are made one at a time.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from types import TracebackType

from ck_devstack.ports import free_port

RABBIT_BIN = Path("/usr/lib/rabbitmq/bin")
SHARED_COOKIE = Path("/var/lib/rabbitmq/.erlang.cookie")
# A variable only our node's processes carry: how kill() finds its beam process.
MARKER = "CK_PRIVATE_RABBIT"

_ctl_lock = threading.Lock()  # one rabbitmqctl at a time from this process (see module doc)


class RabbitNodeError(RuntimeError):
    """The private node did not start or stop; the message has the end of its log."""


def available() -> bool:
    """True when this machine can start a private node (RabbitMQ installed, cookie readable,
    running as root or as the rabbitmq user)."""
    if not (RABBIT_BIN / "rabbitmq-server").exists() or shutil.which("erl") is None:
        return False
    try:
        SHARED_COOKIE.read_bytes()
    except OSError:
        return False
    return True


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


class PrivateRabbit:
    """A RabbitMQ node of one's own; `start()` it, or use it as a context manager."""

    def __init__(self, base: Path | None = None, start_timeout: float = 120) -> None:
        self._own_base = base is None
        self.base = Path(tempfile.mkdtemp(prefix="ck-rabbit-")) if base is None else base
        self.nodename = f"ck-test-{os.getpid()}-{self.base.name[-6:].lower()}@localhost"
        self.port = free_port()
        self.dist_port = free_port()
        self.start_timeout = start_timeout
        self._process: subprocess.Popen[bytes] | None = None
        self._output: Path = self.base / "server.out"
        self._prepare()

    # -- files -------------------------------------------------------------------------------
    def _prepare(self) -> None:
        home = self.base / "home"
        for folder in (home, self.base / "mnesia", self.base / "log"):
            folder.mkdir(parents=True, exist_ok=True)
        cookie = home / ".erlang.cookie"
        if not cookie.exists():
            cookie.write_bytes(SHARED_COOKIE.read_bytes())
            cookie.chmod(0o400)
        (self.base / "rabbitmq.conf").write_text(
            f"listeners.tcp.1 = 127.0.0.1:{self.port}\n"
            # guest may connect from anywhere; the listener is on loopback only anyway
            "loopback_users = none\n"
        )
        (self.base / "enabled_plugins").write_text("[].\n")
        (self.base / "rabbitmq-env.conf").write_text("")  # not the shared node's env file

    def _environment(self) -> dict[str, str]:
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("RABBITMQ_", "ERL_"))
        }
        env.update(
            HOME=str(self.base / "home"),
            RABBITMQ_NODENAME=self.nodename,
            RABBITMQ_NODE_IP_ADDRESS="127.0.0.1",
            RABBITMQ_NODE_PORT=str(self.port),
            RABBITMQ_DIST_PORT=str(self.dist_port),
            RABBITMQ_MNESIA_BASE=str(self.base / "mnesia"),
            RABBITMQ_LOG_BASE=str(self.base / "log"),
            RABBITMQ_CONFIG_FILE=str(self.base / "rabbitmq.conf"),
            RABBITMQ_ENABLED_PLUGINS_FILE=str(self.base / "enabled_plugins"),
            RABBITMQ_CONF_ENV_FILE=str(self.base / "rabbitmq-env.conf"),
            RABBITMQ_PID_FILE=str(self.base / "node.pid"),
            ERL_EPMD_ADDRESS="127.0.0.1",
            ERL_FLAGS="-kernel inet_dist_use_interface {127,0,0,1}",
            **{MARKER: self.nodename},
        )
        return env

    @property
    def amqp_url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    # -- life cycle --------------------------------------------------------------------------
    def start(self) -> PrivateRabbit:
        """Start the node (on the data it has, if any) and wait until it takes connections."""
        if self.running:
            return self
        deadline = time.monotonic() + self.start_timeout
        # A start script that exits at once is tried again (three launches in all): on a busy
        # machine, right after a kill, it can still find the old node's name registered or
        # its files held and give up, where a second later it starts.
        for launch in range(3):
            self._launch()
            assert self._process is not None
            while not _port_open(self.port):
                exited = self._process.poll() is not None
                if exited and launch < 2 and time.monotonic() < deadline:
                    self._reap()
                    time.sleep(2)
                    break
                if exited or time.monotonic() > deadline:
                    self._reap()
                    raise RabbitNodeError(f"{self.nodename} did not start:\n{self._log_tail()}")
                time.sleep(0.2)
            else:
                break
        # The listener opens late in the boot; await_startup makes sure the rest is up too.
        self.ctl("await_startup", timeout=self.start_timeout)
        return self

    def _launch(self) -> None:
        with self._output.open("ab") as out:
            self._process = subprocess.Popen(  # noqa: S603
                [str(RABBIT_BIN / "rabbitmq-server")],
                env=self._environment(),
                cwd=self.base,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: kill() reaps all of it
            )

    def stop(self) -> None:
        """A clean stop (rabbitmqctl stop), keeping the data."""
        if not self.running:
            return
        try:
            self.ctl("stop", timeout=60)
        except (RabbitNodeError, subprocess.TimeoutExpired):
            self.kill()
            return
        self._wait_exit(60)

    def settle(self) -> None:
        """Write the node's dets tables to disk now (see kill)."""
        self.ctl("eval", "[dets:sync(T) || T <- dets:all()], ok.")

    def kill(self, settle: bool = True) -> None:
        """SIGKILL of the node's beam process, as a crash or an OOM kill would do; its helper
        processes are reaped after it.

        RabbitMQ 3.10 keeps the registry of its quorum queues' Raft servers in dets tables that
        it writes to disk every 3 minutes: a node killed sooner after declaring a queue comes
        back with that queue unusable for good (consume and get time out, publishes are
        nacked). A production node has been up longer than that; a test's node has not, so
        by default the tables are synced first (settle=False kills it as it is)."""
        if settle and self.running:
            with contextlib.suppress(RabbitNodeError, subprocess.TimeoutExpired):
                self.settle()
        for pid in self._pids():
            if _comm(pid).startswith("beam"):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        self._reap()

    def restart(self) -> PrivateRabbit:
        """Start again on the same data directory (after kill() or stop())."""
        if self.running:
            self.stop()
        return self.start()

    def close(self) -> None:
        """Stop the node whatever state it is in and remove its files (if they are ours)."""
        try:
            if self.running:
                self.stop()
        finally:
            self._reap()
            if self._own_base:
                shutil.rmtree(self.base, ignore_errors=True)

    def __enter__(self) -> PrivateRabbit:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- helpers -----------------------------------------------------------------------------
    def ctl(self, *args: str, timeout: float = 60) -> str:
        """rabbitmqctl against this node (one call at a time, see the module doc)."""
        env = self._environment()
        env["RABBITMQ_CTL_DIST_PORT_MIN"] = "35672"
        env["RABBITMQ_CTL_DIST_PORT_MAX"] = "35682"
        command = [str(RABBIT_BIN / "rabbitmqctl"), "-q", "-n", self.nodename, *args]
        with _ctl_lock:
            result = subprocess.run(  # noqa: S603
                command, env=env, capture_output=True, timeout=timeout, check=False
            )
        if result.returncode != 0:
            raise RabbitNodeError(
                f"rabbitmqctl {' '.join(args)} failed: {result.stderr.decode(errors='replace')}"
            )
        return result.stdout.decode(errors="replace")

    def _pids(self) -> list[int]:
        """Processes started for this node (found by the variable only they carry)."""
        marker = f"{MARKER}={self.nodename}".encode()
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                environ = (entry / "environ").read_bytes()
            except OSError:
                continue
            if marker in environ.split(b"\0"):
                found.append(int(entry.name))
        return found

    def _wait_exit(self, timeout: float) -> None:
        if self._process is not None:
            try:
                self._process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        self._reap()

    def _reap(self) -> None:
        """Nothing of this node runs afterwards (the start script, helpers, a stray beam)."""
        for pid in self._pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if self._process is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._process.wait(10)
        self._process = None
        # epmd forgets the node once its connection closes; a quick restart must not find
        # the old name still registered.
        deadline = time.monotonic() + 10
        while _port_open(self.dist_port) and time.monotonic() < deadline:
            time.sleep(0.1)

    def _log_tail(self, lines: int = 30) -> str:
        texts = []
        for path in [self._output, *sorted((self.base / "log").glob("*.log"))]:
            with contextlib.suppress(OSError):
                texts.extend(path.read_text(errors="replace").splitlines()[-lines:])
        return "\n".join(texts[-lines:])


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""
