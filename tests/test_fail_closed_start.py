"""Fail closed (issue 10, capability 6): outside development mode the gateway and the weborders
service refuse to start without their secret, with one sentence and exit code 2, before they
touch the broker or a database; in development mode (CK_DEV_MODE, as `ck-dev run` sets it) they
start and generate one. The real console scripts, each its own process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from ck_testkit import free_port

BIN = Path(sys.executable).parent
CLOSED_BROKER = "amqp://guest:guest@127.0.0.1:1/"
SECRETS = {"gateway": "GATEWAY_SECRET_KEY", "weborders": "WEBORDERS_API_KEY_PEPPER"}


def _environment(data_dir: Path, **extra: str) -> dict[str, str]:
    """This process's environment without any secret, development mode or moved clock."""
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in SECRETS.values()
        and not name.endswith("DEV_MODE")
        and not name.endswith("CLOCK_OFFSET_SECONDS")
        and not name.endswith("_DATABASE_URL")
        and not name.endswith("_DATA_DIR")
    }
    env.update({"DATA_DIR": str(data_dir), "LOG_JSON": "true", "PYTHONUNBUFFERED": "1"})
    env.update(extra)
    return env


@pytest.mark.parametrize("name", ["gateway", "weborders"])
def test_without_its_secret_the_process_stops_with_one_sentence(name: str, tmp_path: Path) -> None:
    # The broker is closed on purpose: the secret is checked before the broker is tried.
    env = _environment(tmp_path, AMQP_URL=CLOSED_BROKER)
    result = subprocess.run(
        [str(BIN / f"ck-{name}")], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0] == (
        f"{name}: {SECRETS[name]} is not set: set it to a long random value from the secret "
        "store (only development mode, CK_DEV_MODE=true, generates one)."
    )
    assert "Traceback" not in result.stdout + result.stderr
    assert not any(tmp_path.iterdir()), "nothing written: no database, no generated pepper"


@pytest.mark.parametrize("name", ["gateway", "weborders"])
def test_in_development_mode_the_process_starts_without_its_secret(
    name: str, amqp_url: str, tmp_path: Path
) -> None:
    port = free_port()
    env = _environment(tmp_path / "data", AMQP_URL=amqp_url, CK_DEV_MODE="true")
    if name == "gateway":
        env.update({"GATEWAY_HOST": "127.0.0.1", "GATEWAY_PORT": str(port)})
    else:
        env.update({"WEBORDERS_HEALTH_HOST": "127.0.0.1", "WEBORDERS_HEALTH_PORT": str(port)})
    log_path = tmp_path / f"{name}.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [str(BIN / f"ck-{name}")], env=env, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        assert _healthy(f"http://127.0.0.1:{port}/health", process), log_path.read_text()
    finally:
        process.send_signal(signal.SIGTERM)
        returncode = process.wait(timeout=60)
    output = log_path.read_text()
    assert returncode == 0, output
    generated = {
        "gateway": "gateway.secret_key_generated",
        "weborders": "weborders.api_key_pepper_generated",
    }
    assert generated[name] in output  # the warning says what a generated secret costs


def _healthy(url: str, process: subprocess.Popen[bytes], deadline: float = 120) -> bool:
    end = time.monotonic() + deadline
    while time.monotonic() < end and process.poll() is None:
        try:
            if httpx.get(url, timeout=5).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    return False
