"""Developer and operator tooling: the local process supervisor (`Stack`), `ck-dev run`,
`ck-dev asyncapi` and the RabbitMQ definitions generator."""

from ck_devstack.stack import (
    ALL_COMPONENTS,
    GATEWAY,
    SMTP,
    ManagedProcess,
    Stack,
    StackError,
    check_broker,
)

__all__ = [
    "ALL_COMPONENTS",
    "GATEWAY",
    "SMTP",
    "ManagedProcess",
    "Stack",
    "StackError",
    "check_broker",
]
