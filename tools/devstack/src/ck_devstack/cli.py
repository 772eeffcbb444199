"""`ck-dev`: run the whole portal locally, write the AsyncAPI documents.

ck-dev run        RabbitMQ check, every service + gateway + SMTP sink, a CJP admin and the
                  demo school with fresh passwords; runs until Ctrl-C
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

from ck_devstack.asyncapi import write_documents
from ck_devstack.stack import Stack, StackError, check_broker

DEFAULT_ADMIN_EMAIL = "beheer@cultuurkaart.example"
DEFAULT_DEMO_EMAIL = "budgethouder@demo-mbo-college.example"


def _display(path: Path) -> str:
    """A path relative to the working directory where that is shorter."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _new_password() -> str:
    return secrets.token_urlsafe(15)  # 20 characters, fresh on every run


def _run(args: argparse.Namespace) -> int:
    amqp_url = os.environ.get("AMQP_URL", DEFAULT_AMQP_URL)
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
    except BrokerUnreachable as exc:
        print(str(exc), file=sys.stderr)
        return 2
    except StackError as exc:
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
        "The passwords are new on every start. Press Ctrl-C to stop.",
        flush=True,
    )
    exit_code = 0
    while not stop_requested.wait(1.0):
        if dead := stack.died():
            process = dead[0]
            print(
                f"\nck-dev: {process.name} stopped unexpectedly (exit {process.returncode}); "
                f"last lines of {_display(process.log_path)}:\n{process.log_tail()}",
                file=sys.stderr,
            )
            exit_code = 1
            break
    print("\nStopping ...", flush=True)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not break the shutdown
    stack.stop()
    print("Stopped.")
    return exit_code


def _asyncapi(args: argparse.Namespace) -> int:
    written, failures = write_documents(Path(args.out))
    for path in written:
        print(f"wrote {_display(path)}")
    for name, problem in failures.items():
        print(f"ck-dev: no AsyncAPI document for {name}: {problem}", file=sys.stderr)
    return 1 if failures else 0


def main(argv: list[str] | None = None) -> None:
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
        help="portal port; SMTP sink on port+25, health endpoints from port+101 (default 8000)",
    )
    run.add_argument("--admin-email", default=DEFAULT_ADMIN_EMAIL)
    run.add_argument("--demo-email", default=DEFAULT_DEMO_EMAIL)
    run.add_argument(
        "--timeout", type=float, default=90.0, help="seconds to wait for each start-up wave"
    )
    asyncapi = sub.add_parser("asyncapi", help="write docs/asyncapi/<service>.json")
    asyncapi.add_argument("--out", default="docs/asyncapi")
    args = parser.parse_args(argv)
    handler = _run if args.command == "run" else _asyncapi
    raise SystemExit(handler(args))


if __name__ == "__main__":
    main()
