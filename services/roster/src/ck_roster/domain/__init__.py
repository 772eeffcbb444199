"""The roster's rules, without I/O: the template's columns (columns.py), the field rules of a
row (rules.py, R-ROSTER-2), the check of a whole file (validation.py, R-ROSTER-3) and the
invitation chunks (invitations.py, R-MEMBER-2).

Rules write no Dutch: a problem is a reason code of ck_contracts.roster.RosterReason with its
params, which the gateway renders from its catalogue.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ck_contracts.roster import RosterReason
from ck_contracts.rpc import FieldError, Param


@dataclass(frozen=True, slots=True)
class Problem:
    """What is wrong with one value: a reason and its params."""

    reason: RosterReason
    params: dict[str, Param] = field(default_factory=dict)

    def field_error(self) -> FieldError:
        return FieldError(reason=self.reason.value, params=dict(self.params))
