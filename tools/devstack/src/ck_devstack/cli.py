"""`ck-dev`: run the whole portal locally, write the AsyncAPI documents.

ck-dev run        RabbitMQ check, every service + gateway + SMTP sink, a CJP admin and the
                  demo school with fresh passwords; runs until Ctrl-C, restarting a process
                  that dies (ck_devstack.supervisor)
ck-dev restart S  restart one process of the running `ck-dev run` (ck_devstack.control)
ck-dev asyncapi   docs/asyncapi/<service>.json
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from ck_contracts.topology import SERVICES
from ck_runtime.amqp import BrokerUnreachable
from ck_runtime.settings import DEFAULT_AMQP_URL

from ck_devstack import broker_access
from ck_devstack.asyncapi import write_documents
from ck_devstack.control import ControlError, request_restart
from ck_devstack.stack import (
    ALL_COMPONENTS,
    HEALTH_OFFSET,
    SMTP_OFFSET,
    Stack,
    StackError,
    check_broker,
)
from ck_devstack.supervisor import display_path

DEFAULT_ADMIN_EMAIL = "beheer@cultuurkaart.example"
DEFAULT_DEMO_EMAIL = "budgethouder@demo-mbo-college.example"


_display = display_path


def _new_password() -> str:
    return secrets.token_urlsafe(15)  # 20 characters, fresh on every run


def _run(args: argparse.Namespace) -> int:
    amqp_url = os.environ.get("AMQP_URL", DEFAULT_AMQP_URL)
    if broker_access.vhost_of(amqp_url) != "/" and broker_access.can_provision_locally(amqp_url):
        # A vhost of one's own (beside another stack on the same broker): made when missing.
        try:
            broker_access.ensure_vhost_locally(amqp_url)
        except RuntimeError as exc:
            print(f"ck-dev: could not create the virtual host: {exc}", file=sys.stderr)
    try:
        check_broker(amqp_url)
    except BrokerUnreachable as exc:
        print(str(exc), file=sys.stderr)
        return 2

    data_dir = Path(args.data_dir)
    stack = Stack(data_dir, amqp_url, base_port=args.port, startup_timeout=args.timeout)
    admin_password = _new_password()
    demo_password = _new_password()
    print(
        f"Starting the SMTP sink, {len(SERVICES)} services and the gateway "
        f"(logs in {_display(stack.log_dir)}/) ...",
        flush=True,
    )
    try:
        stack.start()
        stack.run_command(
            "accounts",
            *("create-admin", "--email", args.admin_email, "--name", "CJP beheerder"),
            input_text=admin_password + "\n",
        )
        stack.run_command(
            "accounts", "demo", "--email", args.demo_email, input_text=demo_password + "\n"
        )
        supervisor = stack.supervise()
    except BrokerUnreachable as exc:
        print(str(exc), file=sys.stderr)
        return 2
    except (StackError, ControlError) as exc:
        stack.stop()
        print(f"ck-dev: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        stack.stop()
        print("\nStopped.")
        return 130

    stop_requested = threading.Event()

    def request_stop(_signum: int, _frame: FrameType | None) -> None:
        stop_requested.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)

    portal = stack.portal_url
    print(
        "\nMBO Cultuurkaart is running.\n\n"
        f"  Portal            {portal}\n"
        f"  API docs          {portal}/api/docs\n"
        "  Demo school       Demo MBO College\n"
        f"    budget holder   {args.demo_email}\n"
        f"    password        {demo_password}\n"
        f"  CJP admin         {args.admin_email}\n"
        f"    password        {admin_password}\n"
        f"  Mails             {_display(stack.mail_dir)}/ (one .eml file per mail)\n"
        f"  Logs              {_display(stack.log_dir)}/<process>.log\n"
        f"  Data              {_display(stack.data_dir)}/ (one SQLite file per service unless "
        "<NAME>_DATABASE_URL is set)\n\n"
        "A process that dies is restarted; 'uv run ck-dev restart NAME' restarts one on demand.\n"
        "The passwords are new on every start. Press Ctrl-C to stop.",
        flush=True,
    )
    # Restarts happen here, on the main thread: a process started from it gets the
    # parent-death signal, so a killed `ck-dev run` leaves nothing behind.
    while not stop_requested.wait(0.5):
        supervisor.poll()
    print("\nStopping ...", flush=True)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not break the shutdown
    stack.stop()
    print("Stopped.")
    return 0


def _restart(args: argparse.Namespace) -> int:
    try:
        pid = request_restart(Path(args.data_dir), args.name, args.timeout)
    except ControlError as exc:
        print(f"ck-dev: {exc}", file=sys.stderr)
        return 1
    print(f"{args.name} restarted (pid {pid}) and healthy.")
    return 0


def _asyncapi(args: argparse.Namespace) -> int:
    written, failures = write_documents(Path(args.out))
    for path in written:
        print(f"wrote {_display(path)}")
    for name, problem in failures.items():
        print(f"ck-dev: no AsyncAPI document for {name}: {problem}", file=sys.stderr)
    return 1 if failures else 0


def build_parser() -> argparse.ArgumentParser:
    """The command line (the README's `make run ARGS=...` examples are checked against it)."""
    parser = argparse.ArgumentParser(
        prog="ck-dev", description="Run the MBO Cultuurkaart portal locally; write its docs."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the whole portal locally until Ctrl-C")
    run.add_argument("--data-dir", default="var", help="data, logs and mail (default: ./var)")
    run.add_argument(
        "--port",
        type=int,
        default=8000,
        help=(
            f"portal port; SMTP sink on port+{SMTP_OFFSET}, the services' health and metrics "
            f"endpoints on port+{HEALTH_OFFSET} to port+{HEALTH_OFFSET + len(SERVICES) - 1} "
            "(default 8000)"
        ),
    )
    run.add_argument("--admin-email", default=DEFAULT_ADMIN_EMAIL)
    run.add_argument("--demo-email", default=DEFAULT_DEMO_EMAIL)
    run.add_argument(
        "--timeout", type=float, default=90.0, help="seconds to wait for each start-up wave"
    )
    restart = sub.add_parser(
        "restart", help="restart one process of the running 'ck-dev run' and wait until healthy"
    )
    restart.add_argument("name", choices=ALL_COMPONENTS, help="the process to restart")
    restart.add_argument("--data-dir", default="var", help="the run's --data-dir (default ./var)")
    restart.add_argument(
        "--timeout", type=float, default=180.0, help="seconds to wait for it (default 180)"
    )
    asyncapi = sub.add_parser("asyncapi", help="write docs/asyncapi/<service>.json")
    asyncapi.add_argument("--out", default="docs/asyncapi")
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    handlers = {"run": _run, "restart": _restart, "asyncapi": _asyncapi}
    raise SystemExit(handlers[args.command](args))


if __name__ == "__main__":
    main()
