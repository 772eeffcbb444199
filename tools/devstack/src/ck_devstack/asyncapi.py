"""AsyncAPI documents of the services, from their FastStream subscribers (no broker needed).

FastStream draws the channels, operations and bindings. Their messages are then typed from the
contracts: every event a service publishes or consumes is one message, named by its routing
key, whose payload is the event's own JSON schema (pydantic's `model_json_schema`) plus the
envelope's `type` and `version` (`Event.envelope`). An event queue's channel lists one message
per routing key bound to it. The output is deterministic (sorted keys, no times), so a test
compares the committed docs/asyncapi/*.json with what the code makes (`make asyncapi`).
"""

from __future__ import annotations

import importlib
import inspect
import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ck_contracts.messaging import CORRELATION_HEADER, EVENT_TYPE_HEADER, EVENT_TYPES, Event
from ck_contracts.rpc import RpcRequest
from ck_contracts.topology import SERVICES
from ck_runtime.service import Service, ServiceRuntime
from ck_runtime.settings import DEFAULT_AMQP_URL
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

_SCHEMA_REF = "#/components/schemas/"


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


def _event_schemas(events: Iterable[type[Event]]) -> tuple[dict[str, str], dict[str, Any]]:
    """(routing key -> schema name, schemas) for the events and the RPC envelope, all in one
    namespace so two nested models of the same name get told apart."""
    models: list[type[BaseModel]] = [RpcRequest, *sorted(events, key=lambda e: e.routing_key)]
    names, top = models_json_schema(
        [(model, "validation") for model in models], ref_template=_SCHEMA_REF + "{model}"
    )
    schemas: dict[str, Any] = top.get("$defs", {})
    keys: dict[str, str] = {}
    for (model, _mode), ref in names.items():
        name = ref["$ref"].removeprefix(_SCHEMA_REF)
        if issubclass(model, Event):
            keys[model.routing_key] = name
            _add_envelope(schemas[name], model)
    return keys, schemas


def _add_envelope(schema: dict[str, Any], event: type[Event]) -> None:
    """What Event.envelope() adds to the fields on the wire."""
    properties = schema.setdefault("properties", {})
    properties["type"] = {"const": event.routing_key, "title": "Type", "type": "string"}
    properties["version"] = {"const": event.version, "title": "Version", "type": "integer"}
    schema["required"] = [*schema.get("required", []), "type", "version"]


def _event_message(event: type[Event], schema_name: str) -> dict[str, Any]:
    """One event as the outbox publishes it (ck_runtime.outbox.ConfirmingPublisher)."""
    return {
        "name": event.routing_key,
        "title": event.__name__,
        "summary": inspect.cleandoc(event.__doc__ or "").split("\n\n")[0].replace("\n", " "),
        "contentType": "application/json",
        "correlationId": {"location": f"$message.header#/{CORRELATION_HEADER}"},
        "headers": {
            "type": "object",
            "properties": {
                EVENT_TYPE_HEADER: {"const": event.routing_key, "type": "string"},
                CORRELATION_HEADER: {"type": "string"},
            },
            "required": [EVENT_TYPE_HEADER],
        },
        "payload": {"$ref": _SCHEMA_REF + schema_name},
    }


def _type_messages(spec: dict[str, Any], service: Service) -> dict[str, Any]:
    """Replace FastStream's messages of the event channels (an untyped object for a consumed
    queue) by one typed message per event, and every schema by pydantic's."""
    channels: dict[str, Any] = spec["channels"]
    operations: dict[str, Any] = spec["operations"]
    components: dict[str, Any] = spec["components"]
    # channel -> the events on it
    event_channels: dict[str, list[type[Event]]] = {
        f"{consumer.name}:consume": [EVENT_TYPES[key] for key in consumer.queue.routing_keys]
        for consumer in service.consumers
    }
    event_channels |= {f"{event.routing_key}:publish": [event] for event in service.publishes}
    events = {event for group in event_channels.values() for event in group}
    schema_of, schemas = _event_schemas(events)
    messages: dict[str, Any] = dict(components.get("messages", {}))
    for channel, group in event_channels.items():
        if channel not in channels:
            raise RuntimeError(f"FastStream drew no channel {channel}")
        for old in channels[channel]["messages"].values():
            messages.pop(old["$ref"].removeprefix("#/components/messages/"), None)
        channels[channel]["messages"] = {
            event.routing_key: {"$ref": f"#/components/messages/{event.routing_key}"}
            for event in group
        }
        operations[channel]["messages"] = [
            {"$ref": f"#/channels/{channel}/messages/{event.routing_key}"} for event in group
        ]
    # What is left is the RPC queue's request, whose payload (RpcRequest) is in `schemas`.
    for name, message in messages.items():
        if message["payload"]["$ref"].removeprefix(_SCHEMA_REF) not in schemas:
            raise RuntimeError(f"{name}: a payload this module does not know: {message}")
    for event in events:
        messages[event.routing_key] = _event_message(event, schema_of[event.routing_key])
    components["messages"] = messages
    components["schemas"] = schemas
    return spec


def document(service_name: str) -> str:
    """The AsyncAPI document (JSON, indented, keys sorted) of one service."""
    module = importlib.import_module(f"ck_{service_name}.app")
    service: Service = module.build()
    spec = ServiceRuntime(service).asyncapi().to_specification()
    typed = _type_messages(json.loads(spec.to_json()), service)
    return json.dumps(typed, indent=2, ensure_ascii=False, sort_keys=True) + "\n"


def documents() -> tuple[dict[str, str], dict[str, str]]:
    """(service -> its document, service -> why it has none) for every service, built in a
    neutral environment."""
    texts: dict[str, str] = {}
    failures: dict[str, str] = {}
    with (
        tempfile.TemporaryDirectory(prefix="ck-asyncapi-") as scratch,
        _neutral_environment(Path(scratch)),
    ):
        for name in SERVICES:
            try:
                texts[name] = document(name)
            except Exception as exc:
                failures[name] = f"{type(exc).__name__}: {exc}"
    return texts, failures


def write_documents(out_dir: Path) -> tuple[list[Path], dict[str, str]]:
    """Write docs/asyncapi/<service>.json for every service; returns (written, failures)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    texts, failures = documents()
    for name, text in texts.items():
        target = out_dir / f"{name}.json"
        tmp = target.with_suffix(".json.tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(target)
        written.append(target)
    return written, failures
