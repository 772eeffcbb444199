"""The supervisor against the real broker: two services as separate processes."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from ck_contracts.topology import SERVICES
from ck_devstack import Stack, StackError
from ck_runtime.amqp import BrokerUnreachable, unreachable_message

CLOSED_BROKER = "amqp://guest:guest@127.0.0.1:1/"


@pytest.fixture(scope="module")
def stack(amqp_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    data_dir = tmp_path_factory.mktemp("devstack")
    with Stack(
        data_dir, amqp_url, database_urls={}, components=("accounts", "roster"), stop_grace=20
    ) as running:
        yield running


def _health(url: str) -> httpx.Response:
    return httpx.get(url, timeout=5)


def test_every_started_service_is_healthy_on_its_own_port(stack: Stack) -> None:
    urls = stack.health_urls
    assert set(urls) == {"accounts", "roster"}
    assert len(set(urls.values())) == 2
    for name, url in urls.items():
        response = _health(url)
        assert response.status_code == 200, response.text
        assert response.json() == {
            "service": name,
            "database": "ok",
            "broker": "ok",
            "status": "ok",
        }
    pids = {p.pid for p in stack.processes.values()}
    assert len(pids) == 2


def test_each_process_logs_to_its_own_file(stack: Stack) -> None:
    for name, process in stack.processes.items():
        assert process.log_path == stack.data_dir / "logs" / f"{name}.log"
        assert "service.started" in process.log_path.read_text()
    assert (stack.data_dir / "accounts.sqlite3").exists()
    assert (stack.data_dir / "roster.sqlite3").exists()


def test_one_service_stops_and_starts_while_the_other_keeps_running(stack: Stack) -> None:
    old_pid = stack.processes["accounts"].pid
    stack.stop_service("accounts")
    assert not stack.processes["accounts"].running
    assert stack.processes["accounts"].returncode == 0  # SIGTERM: a graceful stop
    with pytest.raises(httpx.TransportError):
        _health(stack.health_urls["accounts"])
    assert _health(stack.health_urls["roster"]).status_code == 200
    assert stack.died() == []  # stopped on purpose, not died

    stack.start_service("accounts")
    assert stack.processes["accounts"].pid != old_pid
    assert _health(stack.health_urls["accounts"]).status_code == 200
    assert stack.processes["accounts"].log_path.read_text().count("service.started") == 2


def test_a_killed_service_is_reported_as_died(stack: Stack) -> None:
    stack.processes["roster"].popen.kill()  # type: ignore[union-attr]
    stack.processes["roster"].wait(5)
    assert [p.name for p in stack.died()] == ["roster"]
    stack.start_service("roster")
    assert stack.died() == []


def test_a_service_command_runs_with_the_service_environment(stack: Stack) -> None:
    stack.run_command(
        "accounts",
        *("create-admin", "--email", "beheer@cultuurkaart.example"),
        input_text="een-lang-wachtwoord-42\n",
    )
    with pytest.raises(StackError, match="create-admin failed"):
        stack.run_command(
            "accounts", "create-admin", "--email", "b@cultuurkaart.example", input_text="kort\n"
        )


def test_broker_down_gives_the_one_sentence_message(tmp_path: Path) -> None:
    stack = Stack(tmp_path, CLOSED_BROKER, components=("accounts",))
    with pytest.raises(BrokerUnreachable) as caught:
        stack.start()
    assert str(caught.value) == unreachable_message(CLOSED_BROKER)
    assert not (tmp_path / "logs").exists()  # nothing was spawned


def test_run_command_exits_2_with_one_sentence_when_the_broker_is_down(tmp_path: Path) -> None:
    ck_dev = Path(sys.executable).parent / "ck-dev"
    result = subprocess.run(
        [str(ck_dev), "run", "--data-dir", str(tmp_path)],
        env={"AMQP_URL": CLOSED_BROKER, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.strip() == unreachable_message(CLOSED_BROKER)
    assert "Traceback" not in result.stderr


def test_a_component_that_exits_at_start_is_named_with_its_log(
    amqp_url: str, tmp_path: Path
) -> None:
    # A database URL that cannot work: the service exits at start-up.
    stack = Stack(
        tmp_path,
        amqp_url,
        database_urls={"roster": "postgresql+asyncpg://nobody@127.0.0.1:1/none"},
        components=("roster",),
        startup_timeout=60,
    )
    with pytest.raises(StackError) as caught:
        stack.start()
    message = str(caught.value)
    assert message.startswith("roster exited with code")
    assert str(tmp_path.resolve() / "logs" / "roster.log") in message
    assert "Traceback" in message or "Error" in message  # the tail of its log
    assert not stack.processes["roster"].running


def test_unknown_components_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown components: payments"):
        Stack(tmp_path, CLOSED_BROKER, components=("accounts", "payments"))


def test_fixed_ports_follow_the_base_port(tmp_path: Path) -> None:
    stack = Stack(tmp_path, CLOSED_BROKER, base_port=9000)
    assert stack.portal_url == "http://127.0.0.1:9000"
    assert stack.smtp_port == 9025
    assert stack.health_urls["accounts"] == "http://127.0.0.1:9101/health"
    assert stack.health_urls["gateway"] == "http://127.0.0.1:9000/health"
    assert stack.mail_dir == tmp_path.resolve() / "mail"
    env = stack.service_env("notifier")
    assert env["NOTIFIER_SMTP_PORT"] == "9025"
    assert env["NOTIFIER_HEALTH_PORT"] == str(9101 + SERVICES.index("notifier"))


def test_replicas_get_names_and_ports_of_their_own(tmp_path: Path) -> None:
    stack = Stack(tmp_path, CLOSED_BROKER, base_port=9000, replicas=2)
    assert stack.replica_names("budget") == ["budget", "budget-2"]
    assert stack.replica_names("smtp") == ["smtp"]  # one mail sink whatever the replicas
    assert len(stack.processes) == 1 + 2 * (len(SERVICES) + 1)
    assert stack.gateway_urls == ["http://127.0.0.1:9000", "http://127.0.0.1:9200"]
    assert stack.health_urls["accounts-2"] == "http://127.0.0.1:9301/health"
    second = stack.service_env("budget-2")
    assert second["BUDGET_HEALTH_PORT"] == str(9301 + SERVICES.index("budget"))
    assert second["BUDGET_DATA_DIR"] == stack.service_env("budget")["BUDGET_DATA_DIR"]
    assert stack.service_env("gateway-2")["GATEWAY_PORT"] == "9200"
    assert stack.service_env("gateway-2")["PORTAL_URL"] == "http://127.0.0.1:9000"
    assert stack.processes["weborders-2"].log_path.name == "weborders-2.log"
