"""Every request/reply operation, declared once as a typed object.

An `Operation` names the service and the operation, its request and response models, the
permission it needs and whether it is about one school. The service registers its handler
against the object (`RpcRouter.handles(op)`) and the gateway calls through the same object
(`backend.send(request, op, payload)`), so the two sides cannot drift apart: a handler that
takes or returns another model than the operation declares is a type error, and so is a route
that sends the wrong request.

School-scoped operations carry `school_id` in their request; the runtime checks the actor
against it before the handler runs (R-ROLE-6), so a handler cannot forget the tenant check.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, TypeAdapter

from ck_contracts.roles import Permission

Req = TypeVar("Req", bound=BaseModel)
Res = TypeVar("Res")


class Audience(StrEnum):
    """Who calls an operation; a service's ops/ package is split along these."""

    SCHOOL = "school"  # budget holders, teachers, students through the portal
    PROVIDER = "provider"  # cultural providers through the API or their portal
    ADMIN = "admin"  # CJP admins
    PUBLIC = "public"  # no actor: log-in, password links, activation


@dataclass(frozen=True, eq=False)
class Operation(Generic[Req, Res]):
    service: str
    name: str
    request: type[Req]
    response: Any  # type[Res]: a model, list[Model], a plain type or None
    audience: Audience
    permission: Permission | None = None  # checked before the handler; None: the handler decides
    school_scoped: bool = False  # request.school_id is checked against the actor first
    # What may go wrong, for the documentation and the catalogue test; the runtime does not
    # police it (a handler may still raise a common reason such as not_found).
    reasons: tuple[str, ...] = ()
    _adapter: TypeAdapter[Any] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.school_scoped and "school_id" not in self.request.model_fields:
            raise TypeError(f"{self.name}: a school-scoped request needs a school_id field")
        if self.school_scoped and self.permission is None:
            raise TypeError(f"{self.name}: a school-scoped operation needs a permission")
        response = type(None) if self.response is None else self.response
        object.__setattr__(self, "_adapter", TypeAdapter(response))

    @property
    def public(self) -> bool:
        return self.audience is Audience.PUBLIC

    def dump_result(self, result: Res) -> Any:
        """The handler's answer as JSON, checked against the declared response."""
        return self._adapter.dump_python(result, mode="json")

    def load_result(self, data: Any) -> Res:
        """The service's JSON answer as the declared response type (in the gateway)."""
        loaded: Res = self._adapter.validate_python(data)
        return loaded

    def __hash__(self) -> int:
        return hash(self.name)


def operations_of(namespace: object) -> list[Operation[Any, Any]]:
    """Every Operation declared as an attribute of a class or module (the contracts' `Ops`)."""
    return [
        value
        for name in dir(namespace)
        if not name.startswith("_") and isinstance(value := getattr(namespace, name), Operation)
    ]
