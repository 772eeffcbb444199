"""A request's AMQP frames marshalled as aiormq's `basic_publish` marshals them, faster (issue 15).

The RPC client publishes every request without publisher confirms and without waiting for the
write; aiormq's `basic_publish` then still builds three frame objects, a Countdown, two async
context managers and the channel lock around one `write_queue.put`, and pamqp marshals the
properties attribute by attribute through its type tables (the publish with its marshalling
was ~9 % of the gateway's GIL-held samples per weborder, docs/performance.md). Here:

- the method frame (`Basic.Publish` to the RPC exchange, mandatory) is the same for every
  request to one service on one channel: marshalled by pamqp once and kept;
- the properties of the shape a request has (short strings, octets, a table of strings) are
  encoded straight to bytes; anything else falls back to pamqp's `marshal()`;
- the body frames are split as aiormq splits them.

The frames go on the channel's write queue as one `ChannelFrame`, as `basic_publish` puts
them; the services' replies (`ck_runtime.rpc_consumer.reply_and_ack`) are marshalled here too,
with the request's ack after them. Not taken: basic_publish's channel lock,
which numbers publisher confirms in order (none here) and holds a publish back while a
synchronous method waits for its answer on the channel; a publish is an asynchronous method,
which AMQP lets a client send meanwhile (the services' replies are sent the same way).
Tests compare the bytes with pamqp's on random input (shared/runtime/tests/test_amqp_frames.py).
"""

from __future__ import annotations

import struct
from typing import Any

import pamqp.frame
from aiormq import spec
from pamqp import constants

_LENGTH = struct.Struct(">I").pack
_FLAGS = struct.Struct(">H").pack
_FRAME_HEAD = struct.Struct(">BHI").pack
_CONTENT_HEAD = struct.Struct(">HxxQ").pack
_FRAME_END = constants.FRAME_END_CHAR
# Method frames kept per PublishFrames before the table is emptied (a bound, not a tuning).
_KEPT_METHODS = 256
_PROPERTIES = spec.Basic.Properties
# (attribute, flag bit, AMQP type) in the order pamqp marshals them.
_FIELDS: tuple[tuple[str, int, str], ...] = tuple(
    (name, _PROPERTIES.flags[name], _PROPERTIES.amqp_type(name)) for name in _PROPERTIES.__slots__
)


def _frame(kind: int, channel: int, payload: bytes) -> bytes:
    return _FRAME_HEAD(kind, channel, len(payload)) + payload + _FRAME_END


def _plain_properties(properties: Any) -> bytes | None:
    """pamqp's `Basic.Properties.marshal()` for short strings, octets and a table of strings;
    None for anything else (or anything pamqp would refuse or truncate)."""
    flags = 0
    parts: list[bytes] = []
    for name, flag, kind in _FIELDS:
        value = getattr(properties, name)
        if value is None or value == "":
            continue
        if kind == "shortstr":
            if type(value) is not str:
                return None
            data = value.encode()
            if len(data) > 255:
                return None
            parts.append(bytes((len(data),)) + data)
        elif kind == "octet":
            if not isinstance(value, int) or not 0 <= value <= 255:
                return None
            parts.append(bytes((value,)))
        elif kind == "table":
            if type(value) is not dict:
                return None
            pairs: list[bytes] = []
            for key, item in sorted(value.items()):  # pamqp writes a table sorted
                if type(key) is not str or type(item) is not str:
                    return None
                key_data = key.encode()
                if len(key_data) > 128:  # pamqp truncates such a key
                    return None
                item_data = item.encode()
                pairs.append(
                    bytes((len(key_data),)) + key_data + b"S" + _LENGTH(len(item_data)) + item_data
                )
            table = b"".join(pairs)
            parts.append(_LENGTH(len(table)) + table)
        else:
            return None
        flags |= flag
    return _FLAGS(flags) + b"".join(parts)


def marshal_properties(properties: spec.Basic.Properties) -> bytes:
    """The properties as pamqp marshals them (its own `marshal()` for an unusual shape)."""
    plain = _plain_properties(properties)
    return plain if plain is not None else properties.marshal()


class PublishFrames:
    """The frames of mandatory publishes to one exchange, with the method frame kept per
    (channel number, routing key). `forget()` when the channel changes."""

    def __init__(self, exchange: str) -> None:
        self.exchange = exchange
        self._methods: dict[tuple[int, str], bytes] = {}

    def forget(self) -> None:
        self._methods.clear()

    def _method(self, channel: int, routing_key: str) -> bytes:
        method = self._methods.get((channel, routing_key))
        if method is None:
            if len(self._methods) >= _KEPT_METHODS:  # replies: one key per client ever seen
                self._methods.clear()
            if len(routing_key) > 255:  # as basic_publish checks it
                raise ValueError("Routing key too long (max 255 bytes)")
            publish = spec.Basic.Publish(
                exchange=self.exchange, routing_key=routing_key, mandatory=True
            )
            method = self._methods[(channel, routing_key)] = pamqp.frame.marshal(publish, channel)
        return method

    def frames(
        self,
        channel: int,
        max_content_size: int,
        routing_key: str,
        properties: spec.Basic.Properties,
        body: bytes,
    ) -> bytes:
        """What `basic_publish(body, exchange=..., routing_key=..., properties=...,
        mandatory=True)` puts on the write queue, as bytes (properties with a message id:
        basic_publish would make one up). A caller may send more in the same write."""
        parts = [
            self._method(channel, routing_key),
            _frame(
                constants.FRAME_HEADER,
                channel,
                _CONTENT_HEAD(spec.Basic.frame_id, len(body)) + marshal_properties(properties),
            ),
        ]
        if body:
            if len(body) < max_content_size:  # aiormq's Channel._split_body
                parts.append(_frame(constants.FRAME_BODY, channel, body))
            else:
                parts.extend(
                    _frame(constants.FRAME_BODY, channel, body[at : at + max_content_size])
                    for at in range(0, len(body), max_content_size)
                )
        return b"".join(parts)
