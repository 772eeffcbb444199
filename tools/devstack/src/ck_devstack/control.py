"""`ck-dev restart SERVICE`: how it reaches the running `ck-dev run`.

The run listens on a UNIX socket in its data directory (DATA_DIR/ck-dev.sock, mode 0600: only
its user may ask). A request is one line, `restart NAME`; the answer one line, `ok PID` once
the new process is healthy, or `error SENTENCE`. A socket rather than a signal to the
service's pid: the supervisor learns that the stop was wanted (no backoff, no "died" line) and
the caller learns when the service is back, or why not.
"""

from __future__ import annotations

import contextlib
import os
import socket
import socketserver
import threading
from pathlib import Path

from ck_devstack.supervisor import Supervisor

SOCKET_NAME = "ck-dev.sock"


class ControlError(RuntimeError):
    """No run answers on the socket, or it refused the request; the message says which."""


def socket_path(data_dir: Path) -> Path:
    return Path(data_dir).resolve() / SOCKET_NAME


def _answers(path: Path) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        try:
            probe.connect(str(path))
        except OSError:
            return False
    return True


class ControlServer:
    """Serves restart requests for one Supervisor until close()."""

    def __init__(self, supervisor: Supervisor, data_dir: Path, restart_timeout: float) -> None:
        self.path = socket_path(data_dir)
        if self.path.exists():
            if _answers(self.path):
                raise ControlError(
                    f"another 'ck-dev run' is using {self.path.parent}; stop it first."
                )
            self.path.unlink()  # left behind by a run that was killed
        timeout = restart_timeout

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                line = self.rfile.readline(200).decode("utf-8", errors="replace").split()
                if len(line) != 2 or line[0] != "restart":
                    answer = "error the request is 'restart NAME'"
                else:
                    try:
                        answer = f"ok {supervisor.restart(line[1], timeout)}"
                    except Exception as exc:  # the caller gets the sentence
                        answer = "error " + " ".join(str(exc).split())
                self.wfile.write(answer.encode() + b"\n")

        self._server = socketserver.ThreadingUnixStreamServer(str(self.path), Handler)
        os.chmod(self.path, 0o600)  # only this user may restart services
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="ck-dev-control", daemon=True
        )
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


def request_restart(data_dir: Path, name: str, timeout: float) -> int:
    """Ask the run using data_dir to restart one process; its new pid once healthy."""
    path = socket_path(data_dir)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.settimeout(timeout)
        try:
            conn.connect(str(path))
        except (FileNotFoundError, ConnectionRefusedError):
            raise ControlError(
                f"no 'ck-dev run' is running with data directory {path.parent} "
                "(start one, or pass its --data-dir)."
            ) from None
        conn.sendall(f"restart {name}\n".encode())
        with conn.makefile("rb") as answers:
            try:
                answer = answers.readline().decode("utf-8", errors="replace").strip()
            except TimeoutError:
                raise ControlError(f"no answer about {name} within {timeout:.0f} s") from None
    status, _, rest = answer.partition(" ")
    if status == "ok" and rest.isdigit():
        return int(rest)
    raise ControlError(rest if status == "error" else f"unexpected answer: {answer!r}")
