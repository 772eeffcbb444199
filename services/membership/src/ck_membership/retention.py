"""What the membership service deletes once its time is up (ck_runtime.retention, R-AVG-2).

- Activation throttle rows (a bucket: a keyed hash of a client address, a code prefix, or
  everyone, and its failed attempts), once
  their window has passed: a new failure starts a new window anyway (domain.after_failure).
  `store.record_failure` also clears expired windows, but only when someone fails again.

Everything else the service keeps about a person is erased when the person leaves the roster
(invitations.on_person_removed): the member's details and the card number go at once; what
stays are ids, statuses, times and the used or revoked code.
"""

from __future__ import annotations

from ck_runtime.retention import RetentionRule, delete_expired

from ck_membership import domain
from ck_membership.tables import activation_failures


def retention_rules() -> list[RetentionRule]:
    return [
        delete_expired(
            "activation_failures.stale",
            activation_failures,
            activation_failures.c.window_start,
            domain.FAILURE_WINDOW,
        ),
    ]
