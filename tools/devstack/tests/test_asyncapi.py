"""docs/asyncapi/*.json: what the code generates, with every event's own schema."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from ck_contracts.messaging import EVENT_TYPES
from ck_contracts.topology import PUBLISHERS, SERVICES, queues_of
from ck_devstack.asyncapi import documents

ROOT = Path(__file__).parents[3]
DOCS = ROOT / "docs" / "asyncapi"
SCHEMAS = "#/components/schemas/"


@pytest.fixture(scope="module")
def generated() -> dict[str, str]:
    texts, failures = documents()
    assert not failures, failures
    return texts


def test_the_committed_documents_are_what_the_code_generates(generated: dict[str, str]) -> None:
    stale = sorted(
        name
        for name, text in generated.items()
        if not (DOCS / f"{name}.json").is_file()
        or (DOCS / f"{name}.json").read_text(encoding="utf-8") != text
    )
    extra = sorted(path.name for path in DOCS.glob("*.json") if path.stem not in generated)
    problems = [f"{name}.json is not what the code generates" for name in stale]
    problems += [f"{name} belongs to no service" for name in extra]
    assert not problems, (
        f"docs/asyncapi is out of date ({'; '.join(problems)}): run `make asyncapi` and commit "
        "the result"
    )


def test_generating_twice_gives_the_same_text(generated: dict[str, str]) -> None:
    again, _ = documents()
    assert again == generated


def _resolve(doc: dict[str, Any], ref: str) -> Any:
    node: Any = doc
    for part in ref.removeprefix("#/").split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def _channel_events(doc: dict[str, Any], channel: str) -> dict[str, dict[str, Any]]:
    """routing key -> the payload schema of each message of the channel, through the refs;
    the operation of the channel names the same messages."""
    messages = doc["channels"][channel]["messages"]
    operation = [m["$ref"] for m in doc["operations"][channel]["messages"]]
    assert sorted(operation) == sorted(f"#/channels/{channel}/messages/{k}" for k in messages)
    payloads = {}
    for key, ref in messages.items():
        message = _resolve(doc, ref["$ref"])
        assert message["name"] == key
        payloads[key] = _resolve(doc, message["payload"]["$ref"])
    return payloads


def _without_envelope(schema: dict[str, Any]) -> dict[str, Any]:
    properties = {k: v for k, v in schema["properties"].items() if k not in ("type", "version")}
    required = [k for k in schema["required"] if k not in ("type", "version")]
    trimmed = {**schema, "properties": properties}
    if required:
        trimmed["required"] = required
    else:
        trimmed.pop("required")
    return trimmed


@pytest.mark.parametrize("service", SERVICES)
def test_every_event_carries_its_schema(generated: dict[str, str], service: str) -> None:
    doc = json.loads(generated[service])
    channels = {f"{q.name}:consume": q.routing_keys for q in queues_of(service)}
    channels |= {f"{e.routing_key}:publish": (e.routing_key,) for e in PUBLISHERS[service]}
    assert channels, service
    for channel, keys in channels.items():
        payloads = _channel_events(doc, channel)
        assert sorted(payloads) == sorted(keys), channel
        for key, schema in payloads.items():
            event = EVENT_TYPES[key]
            assert schema["properties"]["type"] == {
                "const": key,
                "title": "Type",
                "type": "string",
            }
            assert schema["properties"]["version"]["const"] == event.version
            own = event.model_json_schema(ref_template=SCHEMAS + "{model}")
            for name, nested in own.pop("$defs", {}).items():
                assert doc["components"]["schemas"][name] == nested, (key, name)
            assert _without_envelope(schema) == own, key


def test_no_message_is_an_untyped_object(generated: dict[str, str]) -> None:
    for service, text in generated.items():
        doc = json.loads(text)
        for name, schema in doc["components"]["schemas"].items():
            assert schema.get("properties") or schema.get("enum"), (service, name)
        assert not [k for k in doc["components"]["schemas"] if "Payload" in k], service
