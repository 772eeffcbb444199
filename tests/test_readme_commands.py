"""The README tells the truth about the commands: what it documents for `make run`, `make
test`, the ports and a vhost of one's own matches the Makefile and ck-dev."""

from __future__ import annotations

import re
import shlex
import uuid
from pathlib import Path

import pytest
from ck_contracts.topology import SERVICES
from ck_devstack import broker_access
from ck_devstack.cli import build_parser
from ck_devstack.stack import Stack, check_broker, scripts_dir
from ck_runtime.amqp import BrokerUnreachable

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
MAKEFILE = (ROOT / "Makefile").read_text()
LOCAL_AMQP = "amqp://guest:guest@127.0.0.1:5672/"


def shell_lines() -> list[str]:
    """Every line of the README's sh blocks and every `inline` command, without comments."""
    lines = []
    for block in re.findall(r"```sh\n(.*?)```", README, re.S):
        lines += [line.split("  #")[0].strip() for line in block.splitlines() if line.strip()]
    lines += re.findall(r"`((?:make|uv run|sudo|AMQP_URL=|GATEWAY_)[^`]*)`", README)
    return lines


def recipe(target: str) -> str:
    match = re.search(rf"^{target}:.*\n((?:\t.*\n)+)", MAKEFILE, re.M)
    assert match, target
    return match.group(1)


def test_every_documented_make_target_exists() -> None:
    targets = set(re.findall(r"^([a-z][\w-]*):", MAKEFILE, re.M))
    used = {m for line in shell_lines() for m in re.findall(r"\bmake (\w[\w-]*)", line)}
    assert {"run", "test", "lint"} <= used
    assert used <= targets, used - targets


def test_make_run_passes_args_to_ck_dev_run() -> None:
    assert re.search(r"^ARGS \?=", MAKEFILE, re.M)
    assert re.search(r"uv run ck-dev run \$\(ARGS\)$", recipe("run"), re.M)


def test_every_documented_args_value_is_a_valid_ck_dev_run_command_line() -> None:
    documented = [
        m
        for line in shell_lines()
        for m in re.findall(r'(?<!\w)ARGS="([^"]*)"', line)
        if m != "..."
    ]
    assert "--port 9000" in documented
    parser = build_parser()
    for value in documented:
        args = parser.parse_args(["run", *shlex.split(value)])
        assert args.port == 9000
    assert "make run ARGS=--help" in README


def test_make_finds_uv_itself_and_the_readme_says_how_a_shell_does() -> None:
    assert "export PATH := $(HOME)/.local/bin:$(PATH)" in MAKEFILE
    assert 'export PATH="$HOME/.local/bin:$PATH"' in shell_lines()


def test_every_documented_uv_run_command_is_installed() -> None:
    commands = {
        m
        for line in shell_lines() + re.findall(r"`(uv run [^`]*)`", README)
        for m in re.findall(r"\buv run ([\w-]+)", line)
    }
    assert {"ck-dev", "ck-ops", "pytest"} <= commands
    for command in commands:
        assert (scripts_dir() / command).exists(), command


def test_the_port_table_is_the_stacks_ports() -> None:
    stack = Stack(ROOT / "var" / "unused", LOCAL_AMQP, base_port=8000)
    rows = {
        offset.strip(): ports
        for offset, ports in re.findall(r"^\| `--port`( \+ [^|]*)? \| ([\d-]+) \|", README, re.M)
    }
    assert rows[""] == str(stack.gateway_port)
    assert rows["+ 25"] == str(stack.smtp_port)
    health_ports = [
        int(url.rsplit(":", 1)[1].split("/")[0])
        for url in stack.health_urls.values()
        if not url.startswith(stack.portal_url)
    ]
    first, last = min(health_ports), max(health_ports)
    assert rows[f"+ {first - 8000} ... + {last - 8000}"] == f"{first}-{last}"
    order = re.search(r"in this order: ([a-z, ]+) \|", README)
    assert order and order.group(1).split(", ") == list(SERVICES)
    by_service = {name: stack.health_urls[name] for name in SERVICES}
    assert [int(u.rsplit(":", 1)[1].split("/")[0]) for u in by_service.values()] == list(
        range(first, last + 1)
    )


def test_the_documented_debian_packages_are_the_makefiles() -> None:
    packages = re.search(r"^DEBIAN_PACKAGES := (.*)$", MAKEFILE, re.M)
    assert packages
    for package in packages.group(1).split():
        assert f"`{package}`" in README


def test_run_and_test_ensure_their_servers_first() -> None:
    assert "tools/setup/ensure-services.sh" in MAKEFILE
    run, test = recipe("run"), recipe("test")
    assert "$(ENSURE_SERVICES)" in run.splitlines()[0] and "rabbitmq" in run
    assert "$(ENSURE_SERVICES)" in test and "rabbitmq postgresql" in test
    assert "TEST_AMQP_URL" in test and "TEST_POSTGRES_URL" in test
    assert test.index("ENSURE_SERVICES") < test.index("pytest")


def test_the_vhost_line_and_its_rabbitmqctl_line_agree() -> None:
    line = next(line for line in shell_lines() if line.startswith("AMQP_URL="))
    url = line.split()[0].removeprefix("AMQP_URL=")
    assert broker_access.vhost_of(url) != "/"
    assert f"`{broker_access.vhost_commands(url, sudo=True)}`" in README
    assert "make run ARGS=" in line and "--data-dir" in line


@pytest.mark.skipif(
    not broker_access.can_provision_locally(LOCAL_AMQP), reason="needs rabbitmqctl (root)"
)
def test_ck_dev_makes_a_missing_vhost_and_names_one_it_cannot_use() -> None:
    url = f"{LOCAL_AMQP}ck-readme-{uuid.uuid4().hex[:8]}"
    with pytest.raises(BrokerUnreachable) as refused:
        check_broker(url)
    assert broker_access.vhost_commands(url) in str(refused.value)
    broker_access.ensure_vhost_locally(url)
    try:
        broker_access.ensure_vhost_locally(url)  # a second time changes nothing
        check_broker(url, declare=True)
    finally:
        broker_access.remove_vhost_locally(url)
