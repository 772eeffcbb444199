import uuid

import pytest
from ck_contracts.accounts import SchoolRegistered
from ck_contracts.messaging import EVENT_TYPES, decode_event
from ck_contracts.notifier import EmailRequested, MailTemplate
from ck_contracts.topology import EVENT_QUEUES


def test_envelope_round_trip_keeps_type_version_and_ids() -> None:
    event = SchoolRegistered(school_id=uuid.uuid4(), school_number=10001, correlation_id="c1")
    body = event.envelope()
    assert body["type"] == "accounts.school.registered"
    assert body["version"] == 1
    decoded = decode_event(body)
    assert decoded == event


def test_newer_version_than_consumer_is_refused() -> None:
    body = SchoolRegistered(school_id=uuid.uuid4(), school_number=1).envelope()
    body["version"] = 2
    with pytest.raises(ValueError):
        decode_event(body)


def test_unknown_type_is_refused() -> None:
    with pytest.raises(KeyError):
        decode_event({"type": "nobody.knows", "version": 1})


def test_school_registered_carries_no_personal_data() -> None:
    # R-AVG-2: ids, numbers and the school's own name and postal address (an institution's,
    # printed on its invoices: R-INVOICE-2) travel to every service; never the budget
    # holder's name or e-mail address.
    fields = set(SchoolRegistered.model_fields)
    assert fields == {
        "id",
        "occurred_at",
        "correlation_id",
        "school_id",
        "school_number",
        "name",
        "duo_student_count",
        "street",
        "postcode",
        "city",
    }


def test_every_routing_key_in_the_topology_is_a_known_event() -> None:
    for queue in EVENT_QUEUES:
        for key in queue.routing_keys:
            assert key in EVENT_TYPES
    assert EmailRequested.routing_key in EVENT_TYPES
    assert MailTemplate.WELCOME_BUDGET_HOLDER.value == "welcome_budget_holder"
