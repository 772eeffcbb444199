"""Shared plumbing for the benchmarks: an isolated RabbitMQ vhost, service processes, metrics.

Every benchmark prints lines `metric <name> <value> <unit>`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path

LOCAL_AMQP = "amqp://guest:guest@127.0.0.1:5672/"

# One request-signing key pair for the benchmark run (ck_runtime.signing): the RPC clients a
# benchmark makes sign with it, and the stacks and service processes it starts verify it.
if not os.environ.get("GATEWAY_RPC_SIGNING_KEY"):
    try:
        from ck_runtime.signing import new_key_pair
    except ImportError:  # a tree from before signed requests (bench/paired.py's baseline)
        pass
    else:
        os.environ["GATEWAY_RPC_SIGNING_KEY"], os.environ["RPC_VERIFY_KEYS"] = new_key_pair("bench")


def metric(name: str, value: float, unit: str) -> None:
    print(f"metric {name} {value:.4g} {unit}", flush=True)


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


@contextlib.contextmanager
def isolated_vhost() -> Iterator[str]:
    """A throw-away RabbitMQ virtual host, so a benchmark never touches a running portal."""
    if not shutil.which("rabbitmqctl"):
        yield os.environ.get("AMQP_URL", LOCAL_AMQP)
        return
    vhost = f"ck-bench-{uuid.uuid4().hex[:8]}"
    subprocess.run(["rabbitmqctl", "-q", "add_vhost", vhost], check=True)
    subprocess.run(
        ["rabbitmqctl", "-q", "set_permissions", "-p", vhost, "guest", ".*", ".*", ".*"], check=True
    )
    try:
        yield f"{LOCAL_AMQP}{vhost}"
    finally:
        subprocess.run(["rabbitmqctl", "-q", "delete_vhost", vhost], check=False)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def service_process(
    args: Sequence[str], env: dict[str, str], health_port: int, name: str
) -> Iterator[subprocess.Popen[bytes]]:
    """Start one service process and wait until its health endpoint answers."""
    log = Path(tempfile.mkdtemp(prefix="ck-bench-")) / f"{name}.log"
    with log.open("wb") as out:
        process = subprocess.Popen([*args], env={**os.environ, **env}, stdout=out, stderr=out)
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited: {log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{health_port}/health", timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{name} did not become healthy") from None
                time.sleep(0.2)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()


def python() -> str:
    return sys.executable
