"""AsyncAPI documents of the services, from their FastStream subscribers (no broker needed)."""

from __future__ import annotations

import importlib
import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ck_contracts.topology import SERVICES
from ck_runtime.service import Service, ServiceRuntime
from ck_runtime.settings import DEFAULT_AMQP_URL


@contextmanager
def _neutral_environment(data_dir: Path) -> Iterator[None]:
    """The documents must not depend on (or reveal) the local set-up: build every service with
    the default broker address and a throw-away data folder, in development mode (no secret is
    needed, none is read, to describe the messages)."""
    names = ["AMQP_URL", "DATA_DIR", "CK_DEV_MODE"]
    for service in SERVICES:
        prefix = service.upper()
        names += [f"{prefix}_AMQP_URL", f"{prefix}_DATA_DIR", f"{prefix}_DATABASE_URL"]
    saved = {name: os.environ.get(name) for name in names}
    try:
        for name in names:
            os.environ.pop(name, None)
        os.environ["AMQP_URL"] = DEFAULT_AMQP_URL
        os.environ["DATA_DIR"] = str(data_dir)
        os.environ["CK_DEV_MODE"] = "true"
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def document(service_name: str) -> str:
    """The AsyncAPI document (JSON, indented) of one service."""
    module = importlib.import_module(f"ck_{service_name}.app")
    service: Service = module.build()
    spec = ServiceRuntime(service).asyncapi().to_specification()
    return json.dumps(json.loads(spec.to_json()), indent=2, ensure_ascii=False) + "\n"


def write_documents(out_dir: Path) -> tuple[list[Path], dict[str, str]]:
    """Write docs/asyncapi/<service>.json for every service; returns (written, failures)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    failures: dict[str, str] = {}
    with (
        tempfile.TemporaryDirectory(prefix="ck-asyncapi-") as scratch,
        _neutral_environment(Path(scratch)),
    ):
        for name in SERVICES:
            try:
                text = document(name)
            except Exception as exc:
                failures[name] = f"{type(exc).__name__}: {exc}"
                continue
            target = out_dir / f"{name}.json"
            tmp = target.with_suffix(".json.tmp")
            tmp.write_text(text, encoding="utf-8")
            tmp.replace(target)
            written.append(target)
    return written, failures
