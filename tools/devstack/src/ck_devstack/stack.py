"""A process supervisor for the whole system: the SMTP sink, the seven services and the gateway,
each its own OS process started from the virtual environment's console scripts.

Used by `ck-dev run` and by the end-to-end tests:

    with Stack(Path("var"), "amqp://guest:guest@127.0.0.1:5672/") as stack:
        httpx.get(stack.portal_url + "/health")
        stack.stop_service("accounts")
        stack.start_service("accounts")

Every process appends to its own log file (data_dir/logs/NAME.log; a `--- ck-devstack` line
marks each start) and serves GET /health on a port of its own; `start()` returns once every
process answers 200 there.

A process that dies stays down (tests stay deterministic) unless the stack heals
(`heal=True`, ck_devstack.supervisor: restarted with backoff; what stop_service or
kill_service stopped on purpose stays down either way).
"""

from __future__ import annotations

import asyncio
import atexit
import ctypes
import logging
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Coroutine, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import IO, Any, TypeVar

import aiormq.exceptions
import httpx
from ck_contracts.topology import SERVICES
from ck_runtime.amqp import BrokerUnreachable, connect, declare_topology, describe_broker
from ck_runtime.clock import OffsetClock, current_clock
from ck_runtime.settings import ServiceSettings
from ck_runtime.signing import new_key_pair

from ck_devstack import broker_access
from ck_devstack.ports import free_port
from ck_devstack.supervisor import Backoff, Supervisor

SMTP = "smtp"
GATEWAY = "gateway"
# Start order; stop runs in reverse.
ALL_COMPONENTS: tuple[str, ...] = (SMTP, *SERVICES, GATEWAY)

# Fixed offsets from base_port: gateway on base_port, SMTP sink on base_port + 25, the health
# endpoints of the services on base_port + 101 ... (8000, 8025, 8101-8107 by default).
SMTP_OFFSET = 25
HEALTH_OFFSET = 101
# With replicas and a base port, replica n (from 2) of a service or the gateway takes the first
# replica's ports plus (n - 1) x REPLICA_OFFSET (8200, 8301-8307 for the second).
REPLICA_OFFSET = 200

# Console script and its arguments per component (the services read everything else from
# the environment).
_COMMANDS: dict[str, tuple[str, ...]] = {
    "accounts": ("ck-accounts", "serve"),
    "notifier": ("ck-notifier", "serve"),
    GATEWAY: ("ck-gateway",),
    **{name: (f"ck-{name}",) for name in SERVICES if name not in ("accounts", "notifier")},
}

LOG_TAIL_LINES = 30

# Per-service names of the portal's address (ServiceSettings.portal_url); the stack sets the
# shared PORTAL_URL and drops these from the inherited environment.
_FORMER_PORTAL_VARIABLES = (
    *(f"{name.upper()}_PORTAL_URL" for name in (*SERVICES, "gateway")),
    "GATEWAY_PUBLIC_URL",
)

T = TypeVar("T")


class StackError(RuntimeError):
    """A process of the stack did not start, died, or is misconfigured."""


DEMO_CJP_DETAILS = {
    "INVOICING_CJP_NAME": "Stichting CJP",
    "INVOICING_CJP_ADDRESS": "Voorbeeldstraat 1|1000 AA Amsterdam",
    "INVOICING_CJP_KVK": "12345678",
    "INVOICING_CJP_IBAN": "NL00BANK0123456789",
    "INVOICING_CJP_EMAIL": "scholen@cjp.example",
}


def _run_blocking(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion, also when the caller is inside a running event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


def check_broker(amqp_url: str, *, declare: bool = False) -> None:
    """Open and close a real AMQP connection (declare: and declare the platform's topology
    with it, as the operator would). Raises ck_runtime.amqp.BrokerUnreachable (its message is
    exactly ck_runtime.amqp.unreachable_message(amqp_url)) when that fails."""

    async def probe() -> None:
        connection = await connect(amqp_url, "ck-devstack-check")
        try:
            if declare:
                channel = await connection.channel()
                limit = int(ServiceSettings.model_fields["delivery_limit"].default)
                await declare_topology(channel, limit)
                await channel.close()
        finally:
            await connection.close()

    # aiormq logs the failed attempt itself; the caller reports it in one sentence instead.
    quiet = [logging.getLogger(name) for name in ("aiormq", "aio_pika")]
    levels = [logger.level for logger in quiet]
    for logger in quiet:
        logger.setLevel(logging.CRITICAL)
    try:
        _run_blocking(probe())
    except aiormq.exceptions.AMQPError as exc:
        # The broker answered but closed the connection while opening it: on a vhost other
        # than "/" that is a missing vhost or one the user may not use.
        vhost = broker_access.vhost_of(amqp_url)
        if vhost == "/":
            raise
        raise BrokerUnreachable(
            f"RabbitMQ at {describe_broker(amqp_url)} refused the virtual host '{vhost}' "
            "(it does not exist, or the user may not use it); make it usable with: "
            f"{broker_access.vhost_commands(amqp_url)}"
        ) from exc
    finally:
        for logger, level in zip(quiet, levels, strict=True):
            logger.setLevel(level)


def scripts_dir() -> Path:
    """The folder holding the virtual environment's console scripts (next to the interpreter;
    not resolved, because the venv's python is a symlink to the base interpreter)."""
    return Path(sys.executable).parent


def port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _parent_death_signal() -> Callable[[], None] | None:
    """A preexec function for Linux: the child gets SIGTERM when its parent dies (so a killed
    test run leaves no services behind), and runs in a session of its own (so Ctrl-C in the
    terminal reaches only the supervisor, which then stops the children in order)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl  # resolved before fork
    except (OSError, AttributeError):
        return None
    pr_set_pdeathsig = 1

    def preexec() -> None:
        os.setsid()
        prctl(pr_set_pdeathsig, signal.SIGTERM)

    return preexec


_PREEXEC = _parent_death_signal()


@dataclass
class ManagedProcess:
    """One OS process of the stack: how to start it, where it logs, how to tell it is ready."""

    name: str
    argv: list[str]
    env: dict[str, str]
    log_path: Path
    health_url: str | None = None  # GET answers 200 when ready
    ready_port: int | None = None  # or: accepts TCP connections when ready (the SMTP sink)
    popen: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    _log: IO[bytes] | None = field(default=None, repr=False)
    _stopping: bool = field(default=False, repr=False)

    @property
    def pid(self) -> int | None:
        return self.popen.pid if self.popen is not None else None

    @property
    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    @property
    def returncode(self) -> int | None:
        return self.popen.poll() if self.popen is not None else None

    @property
    def died(self) -> bool:
        """Exited without being asked to."""
        return self.popen is not None and not self._stopping and self.popen.poll() is not None

    @property
    def stopped_on_purpose(self) -> bool:
        return self._stopping

    def start(self) -> None:
        """Spawn the process; its output is appended to log_path after a start line."""
        if self.running:
            raise StackError(f"{self.name} is already running (pid {self.pid}).")
        executable = Path(self.argv[0])
        if not executable.exists():
            raise StackError(
                f"{executable.name} is not installed in this environment "
                f"(looked in {executable.parent}); run 'uv sync --frozen' first."
            )
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.close_log()
        self._log = self.log_path.open("ab")
        moment = current_clock().now().isoformat(timespec="seconds")
        self._log.write(f"--- ck-devstack {moment}: starting {' '.join(self.argv)}\n".encode())
        self._log.flush()
        on_main_thread = threading.current_thread() is threading.main_thread()
        self.popen = subprocess.Popen(  # noqa: S603 (our own console scripts, no shell)
            self.argv,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            # The parent-death signal is tied to the thread that forks: only use it from the
            # main thread, a worker thread may end long before the stack does.
            preexec_fn=_PREEXEC if on_main_thread else None,
            start_new_session=not on_main_thread or _PREEXEC is None,
        )
        self._stopping = False  # after popen is the new one: a supervisor never sees a gap

    def signal(self, sig: int) -> None:
        """Send sig to the process's group; from now on it is stopped on purpose (not healed),
        also when it had died already."""
        self._stopping = True
        if self.popen is None or self.popen.poll() is not None:
            return
        try:
            os.killpg(self.popen.pid, sig)  # the process leads its own session/group
        except ProcessLookupError:
            pass
        except PermissionError:
            self.popen.send_signal(sig)

    def wait(self, timeout: float) -> bool:
        """True when the process has exited within timeout seconds."""
        if self.popen is None:
            return True
        try:
            self.popen.wait(timeout=max(timeout, 0))
            return True
        except subprocess.TimeoutExpired:
            return False

    def close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    def is_ready(self, client: httpx.Client) -> tuple[bool, str]:
        """(ready, what was seen) for the health check."""
        if self.health_url is not None:
            try:
                response = client.get(self.health_url)
            except httpx.HTTPError as exc:
                return False, f"{self.health_url}: {type(exc).__name__}"
            seen = f"{self.health_url} answered {response.status_code} {response.text[:200]}"
            return response.status_code == 200, seen
        if self.ready_port is not None:
            return port_in_use(self.ready_port), f"port {self.ready_port} not accepting yet"
        return True, ""

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        try:
            with self.log_path.open("rb") as log:
                log.seek(0, os.SEEK_END)
                log.seek(max(0, log.tell() - 16384))
                text = log.read().decode("utf-8", errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:]) or "(log is empty)"


class Stack:
    """The SMTP sink, the services and the gateway as separate processes.

    data_dir: SQLite files (one per service, unless database_urls says otherwise), logs/ and
        mail/ go here.
    amqp_url: the broker every process uses (a vhost of its own in tests).
    base_port: gateway on base_port, SMTP sink on base_port + 25, health endpoints from
        base_port + 101; None picks free ports (tests).
    database_urls: service name -> SQLAlchemy URL. None: <NAME>_DATABASE_URL variables of this
        process's environment pass through (the run command); a mapping (even empty): exactly
        these, every other service uses SQLite under data_dir (tests stay isolated).
    env: extra environment variables for every process; they win over everything else.
    clock_offset: every process's clock runs this far from the system clock (development
        mode); None: the offset of this process's installed clock (the test session's
        calendar), none in a plain run.
    broker_users: give every process its own least-privilege broker user on the local
        RabbitMQ (ck_devstack.broker_access; needs rabbitmqctl), as production does; when the
        broker is not local, every process uses amqp_url.
    components: which processes to run (names from ALL_COMPONENTS); default all.
    replicas: how many processes of every service and of the gateway (one SMTP sink): the
        first keeps the component's name ("budget"), the others are "budget-2", ... with ports
        of their own, the same databases and the same broker (scale-out, as production runs
        them). portal_url is the first gateway; gateway_urls lists them all.
    heal: restart a process that died (ck_devstack.supervisor, from a thread of the stack's
        own) and answer `ck-dev restart` (ck_devstack.control); off: a dead process stays
        dead. `ck-dev run` heals from its main loop instead (supervise()).
    backoff: the pauses between restarts when healing.
    say: where the supervisor's one-line messages go (default: stderr).
    """

    def __init__(
        self,
        data_dir: Path | str,
        amqp_url: str,
        base_port: int | None = None,
        database_urls: Mapping[str, str] | None = None,
        env: Mapping[str, str] | None = None,
        *,
        components: Iterable[str] | None = None,
        replicas: int = 1,
        startup_timeout: float = 60.0,
        stop_grace: float = 20.0,
        clock_offset: timedelta | None = None,
        broker_users: bool = True,
        heal: bool = False,
        backoff: Backoff | None = None,
        say: Callable[[str], None] | None = None,
    ) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.amqp_url = amqp_url
        self.base_port = base_port
        self.database_urls = dict(database_urls) if database_urls is not None else None
        self.extra_env = dict(env or {})
        wanted = set(components) if components is not None else set(ALL_COMPONENTS)
        unknown = wanted - set(ALL_COMPONENTS)
        if unknown:
            raise ValueError(f"unknown components: {', '.join(sorted(unknown))}")
        self.components = tuple(name for name in ALL_COMPONENTS if name in wanted)
        if replicas < 1:
            raise ValueError("replicas must be at least 1")
        self.replicas = replicas
        # process name -> its component ("budget-2" -> "budget")
        self._component_of: dict[str, str] = {
            process: name for name in self.components for process in self.replica_names(name)
        }
        if clock_offset is None:
            installed = current_clock()
            clock_offset = installed.offset if isinstance(installed, OffsetClock) else None
        self.clock_offset = clock_offset
        self.startup_timeout = startup_timeout
        self.stop_grace = stop_grace
        self._ports = self._assign_ports()
        self._secret_key = secrets.token_urlsafe(32)
        self.broker_users = broker_users
        self._broker_urls: dict[str, str] = {}  # component -> its own user's URL, once made
        # The gateway signs requests, the services verify (ck_runtime.signing): one key pair
        # per stack unless the environment brings one (the test session's).
        if os.environ.get("GATEWAY_RPC_SIGNING_KEY") and os.environ.get("RPC_VERIFY_KEYS"):
            self._signing_key = os.environ["GATEWAY_RPC_SIGNING_KEY"]
            self._verify_keys = os.environ["RPC_VERIFY_KEYS"]
        else:
            self._signing_key, self._verify_keys = new_key_pair("dev")
        self._processes: dict[str, ManagedProcess] = {
            name: self._describe(name) for name in self._component_of
        }
        self._started = False
        # Held while a process is started or stopped, so a supervisor never races a test.
        self.lock = threading.RLock()
        self.heal = heal
        self._backoff = backoff
        self._say = say
        self.supervisor: Supervisor | None = None
        self._control: Any = None  # ck_devstack.control.ControlServer while healing

    # -- addresses ---------------------------------------------------------------------------
    def replica_names(self, component: str) -> list[str]:
        """The process names of a component: itself, then NAME-2, NAME-3, ... (one SMTP
        sink whatever the replicas)."""
        count = 1 if component == SMTP else self.replicas
        return [component, *(f"{component}-{n}" for n in range(2, count + 1))]

    def _assign_ports(self) -> dict[str, int]:
        names = [p for c in ALL_COMPONENTS for p in self.replica_names(c)]
        if self.base_port is None:
            return {name: free_port() for name in names}
        ports = {GATEWAY: self.base_port, SMTP: self.base_port + SMTP_OFFSET}
        for index, name in enumerate(SERVICES):
            ports[name] = self.base_port + HEALTH_OFFSET + index
        for component in (*SERVICES, GATEWAY):
            for n, name in enumerate(self.replica_names(component)[1:], start=1):
                ports[name] = ports[component] + n * REPLICA_OFFSET
        return ports

    @property
    def gateway_port(self) -> int:
        return self._ports[GATEWAY]

    @property
    def gateway_urls(self) -> list[str]:
        """Every gateway replica's address (the first is portal_url)."""
        return [f"http://127.0.0.1:{self._ports[name]}" for name in self.replica_names(GATEWAY)]

    @property
    def smtp_port(self) -> int:
        return self._ports[SMTP]

    @property
    def portal_url(self) -> str:
        return f"http://127.0.0.1:{self.gateway_port}"

    @property
    def mail_dir(self) -> Path:
        return self.data_dir / "mail"

    @property
    def log_dir(self) -> Path:
        return self.data_dir / "logs"

    @property
    def health_urls(self) -> dict[str, str]:
        """Health endpoint per running component (the SMTP sink has none)."""
        return {
            name: process.health_url
            for name, process in self._processes.items()
            if process.health_url is not None
        }

    @property
    def processes(self) -> dict[str, ManagedProcess]:
        return dict(self._processes)

    # -- environment -------------------------------------------------------------------------
    def service_env(self, name: str) -> dict[str, str]:
        """The environment a process (or a command line tool of that service) runs with; name
        is a component or one of its replicas."""
        env = dict(os.environ)
        component = self._component_of.get(name, name)
        prefix = component.upper()
        if self.database_urls is not None:
            for service in SERVICES:
                env.pop(f"{service.upper()}_DATABASE_URL", None)
            for service, url in self.database_urls.items():
                env[f"{service.upper()}_DATABASE_URL"] = url
        amqp_url = self._broker_urls.get(component, self.amqp_url)
        env.update(
            {
                "PYTHONUNBUFFERED": "1",
                # The supervisor runs development stacks (ck-dev run, tests): production runs
                # every process under its own orchestrator with every secret set.
                "CK_DEV_MODE": "true",
                "AMQP_URL": amqp_url,
                f"{prefix}_AMQP_URL": amqp_url,
                "RPC_VERIFY_KEYS": self._verify_keys,
                "DATA_DIR": str(self.data_dir),
                f"{prefix}_DATA_DIR": str(self.data_dir),
                # Every link in a mail points at this stack's gateway.
                "PORTAL_URL": self.portal_url,
            }
        )
        for variable in _FORMER_PORTAL_VARIABLES:
            env.pop(variable, None)  # would win over PORTAL_URL
        if self.clock_offset:
            env["CK_CLOCK_OFFSET_SECONDS"] = repr(self.clock_offset.total_seconds())
        if component in SERVICES:
            env[f"{prefix}_HEALTH_HOST"] = "127.0.0.1"
            env[f"{prefix}_HEALTH_PORT"] = str(self._ports[name])
        if component == "invoicing":
            # Placeholder details of CJP for local invoices; production sets the real ones.
            for key, value in DEMO_CJP_DETAILS.items():
                env.setdefault(key, value)
        if component == "notifier":
            env["NOTIFIER_SMTP_HOST"] = "127.0.0.1"
            env["NOTIFIER_SMTP_PORT"] = str(self.smtp_port)
        if component == GATEWAY:
            env["GATEWAY_HOST"] = "127.0.0.1"
            env["GATEWAY_PORT"] = str(self._ports[name])
            # One key per stack, so forms stay valid when a test restarts the gateway.
            env.setdefault("GATEWAY_SECRET_KEY", self._secret_key)
            env["GATEWAY_RPC_SIGNING_KEY"] = self._signing_key
        else:
            env.pop("GATEWAY_RPC_SIGNING_KEY", None)  # only the gateway holds the private key
        env.update(self.extra_env)
        return env

    def _describe(self, name: str) -> ManagedProcess:
        bin_dir = scripts_dir()
        log_path = self.log_dir / f"{name}.log"
        if name == SMTP:
            argv = [
                str(bin_dir / "ck-smtp-sink"),
                *("--host", "127.0.0.1", "--port", str(self.smtp_port)),
                *("--dir", str(self.mail_dir)),
            ]
            return ManagedProcess(
                name, argv, self.service_env(name), log_path, ready_port=self.smtp_port
            )
        script, *args = _COMMANDS[self._component_of.get(name, name)]
        argv = [str(bin_dir / script), *args]
        health_url = f"http://127.0.0.1:{self._ports[name]}/health"
        return ManagedProcess(name, argv, self.service_env(name), log_path, health_url=health_url)

    # -- life cycle --------------------------------------------------------------------------
    def start(self) -> Stack:
        """Check the broker, then start every component in order and wait until each is
        healthy. On failure everything started so far is stopped again."""
        if self._started:
            raise StackError("the stack is already running")
        check_broker(self.amqp_url, declare=True)
        self._provision_broker_users()
        if self.base_port is not None:
            busy = [
                f"{port} ({name})"
                for name, port in self._ports.items()
                if name in self._processes and port_in_use(port)
            ]
            if busy:
                ports = (
                    "Port " + busy[0] + " is"
                    if len(busy) == 1
                    else "Ports " + ", ".join(busy) + " are"
                )
                raise StackError(
                    f"{ports} already in use; is another 'ck-dev run' running? "
                    "Stop it or choose another --port."
                )
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.mail_dir.mkdir(parents=True, exist_ok=True)
        self._started = True
        atexit.register(self.stop)
        try:
            # The sink first (the notifier sends to it), then the services together, then the
            # gateway (it talks to the services).
            waves = [
                self._processes_of(SMTP),
                self._processes_of(*SERVICES),
                self._processes_of(GATEWAY),
            ]
            for wave in waves:
                if wave:
                    for name in wave:
                        self._processes[name].start()
                    self.wait_ready(wave)
            if self.heal:
                self.supervise().start_background()
        except BaseException:
            self.stop()
            raise
        return self

    def supervise(self, restart_timeout: float | None = None) -> Supervisor:
        """The stack's supervisor (made on the first call) and the control socket that
        `ck-dev restart` talks to. The caller runs supervisor.poll() (or start_background)."""
        if self.supervisor is None:
            from ck_devstack.control import ControlServer

            kwargs: dict[str, Any] = {"backoff": self._backoff}
            if self._say is not None:
                kwargs["say"] = self._say
            self.supervisor = Supervisor(self, **kwargs)
            timeout = restart_timeout or (self.stop_grace + self.startup_timeout + 10)
            self._control = ControlServer(self.supervisor, self.data_dir, timeout)
        return self.supervisor

    def _provision_broker_users(self) -> None:
        if not self.broker_users or not broker_access.can_provision_locally(self.amqp_url):
            return
        vhost = broker_access.vhost_of(self.amqp_url)
        slug = "default" if vhost == "/" else vhost
        prefix = f"{slug}.{secrets.token_hex(3)}"
        self._broker_urls = broker_access.provision_locally(self.amqp_url, prefix)
        self._broker_user_names = [f"{prefix}.{c}" for c in broker_access.COMPONENTS]
        for name, process in self._processes.items():
            process.env = self.service_env(name)

    def _remove_broker_users(self) -> None:
        names = getattr(self, "_broker_user_names", [])
        if names:
            broker_access.remove_users_locally(names)
            self._broker_user_names = []
            self._broker_urls = {}

    def wait_ready(self, names: Iterable[str]) -> None:
        """Wait until each named process is healthy; StackError (with the log's last lines)
        when one exits or the startup timeout passes."""
        pending = {name: self._processes[name] for name in names}
        seen: dict[str, str] = {}
        deadline = time.monotonic() + self.startup_timeout
        with httpx.Client(timeout=2.0) as client:
            while pending:
                for name, process in list(pending.items()):
                    if not process.running:
                        raise StackError(
                            f"{name} exited with code {process.returncode} before it became "
                            f"healthy; last lines of {process.log_path}:\n{process.log_tail()}"
                        )
                    ready, seen[name] = process.is_ready(client)
                    if ready:
                        del pending[name]
                if not pending:
                    return
                if time.monotonic() > deadline:
                    name, process = next(iter(pending.items()))
                    raise StackError(
                        f"{name} did not become healthy within {self.startup_timeout:.0f} s "
                        f"({seen.get(name, '')}); last lines of {process.log_path}:\n"
                        f"{process.log_tail()}"
                    )
                time.sleep(0.2)

    def stop(self) -> None:
        """SIGTERM to every process (gateway first, SMTP sink last), wait, SIGKILL after the
        grace period. Safe to call twice."""
        if not self._started:
            return
        atexit.unregister(self.stop)
        if self._control is not None:
            self._control.close()
            self._control = None
        if self.supervisor is not None:
            self.supervisor.stop_background()  # nothing is restarted while stopping
            self.supervisor = None
        gateway = self._processes_of(GATEWAY)
        services = self._processes_of(*SERVICES)
        smtp = self._processes_of(SMTP)
        for group in (gateway, services, smtp):
            self._terminate([self._processes[n] for n in group])
        self._started = False
        self._remove_broker_users()

    def _terminate(self, processes: list[ManagedProcess]) -> None:
        for process in processes:
            process.signal(signal.SIGTERM)
        deadline = time.monotonic() + self.stop_grace
        for process in processes:
            if not process.wait(deadline - time.monotonic()):
                process.signal(signal.SIGKILL)
                process.wait(5)
            process.close_log()

    def stop_service(self, name: str) -> None:
        """Stop one component (SIGTERM, then SIGKILL after the grace period). It stays down,
        also when the stack heals, until start_service."""
        with self.lock:
            self._terminate([self._process(name)])

    def kill_service(self, name: str) -> None:
        """Kill one component at once (SIGKILL) and keep it down (also when the stack heals)
        until start_service: a crash that is not healed, for tests. To see a crash healed,
        send the SIGKILL yourself (os.kill(stack.processes[name].pid, SIGKILL))."""
        with self.lock:
            process = self._process(name)
            process.signal(signal.SIGKILL)
            process.wait(5)
            process.close_log()

    def start_service(self, name: str) -> None:
        """Start one component again and wait until it is healthy. Its log is appended to."""
        with self.lock:
            process = self._process(name)
            process.start()
        self.wait_ready([name])

    def _processes_of(self, *components: str) -> list[str]:
        """The process names (replicas included) of these components, in start order."""
        return [p for p, c in self._component_of.items() if c in components]

    def _process(self, name: str) -> ManagedProcess:
        try:
            return self._processes[name]
        except KeyError:
            raise StackError(
                f"{name} is not part of this stack ({', '.join(self._processes)})"
            ) from None

    def died(self) -> list[ManagedProcess]:
        """Processes that exited without being asked to."""
        return [p for p in self._processes.values() if p.died]

    def run_command(
        self, service: str, *args: str, input_text: str = "", timeout: float = 120.0
    ) -> subprocess.CompletedProcess[str]:
        """Run a service's command line tool (e.g. `ck-accounts create-admin`) with the
        environment that service runs with; raises StackError with its output on failure."""
        script = _COMMANDS[service][0]
        argv = [str(scripts_dir() / script), *args]
        result = subprocess.run(  # noqa: S603 (our own console script, no shell)
            argv,
            env=self.service_env(service),
            input=input_text,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if result.returncode != 0:
            output = (result.stderr or result.stdout).strip()
            raise StackError(
                f"{script} {args[0] if args else ''} failed (exit {result.returncode}): {output}"
            )
        return result

    def __enter__(self) -> Stack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
