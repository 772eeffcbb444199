"""Form fields <-> contract models, and service field paths -> form fields (no I/O)."""

from __future__ import annotations

from ck_gateway.forms import (
    GENERAL,
    form_errors,
    form_field,
    parse_register_form,
    parse_settings_form,
    settings_values,
    split_codes,
    split_lines,
)

FILLED = {
    "name": "  Albeda College ",
    "brin_codes": "01AB, 02cd\n03EF",
    "locations": "Rotterdam Zuid\nRotterdam, Noord\n\n",
    "duo_student_count": "1200",
    "default_order_reference": "REF-1",
    "contact_0_name": "",
    "contact_0_role": "",
    "contact_0_email": "",
    "contact_0_phone": "",
    "contact_1_name": "Jan",
    "contact_1_role": "Budgethouder",
    "contact_1_email": "jan@example.org",
    "contact_1_phone": "+31201234567",
}


def test_brin_codes_split_on_lines_and_commas_locations_on_lines_only() -> None:
    assert split_codes("01AB, 02CD\n03EF;04GH") == ["01AB", "02CD", "03EF", "04GH"]
    assert split_lines("Rotterdam, Noord\n\n Delft ") == ["Rotterdam, Noord", "Delft"]


def test_settings_form_becomes_the_contract_payload() -> None:
    parsed = parse_settings_form(FILLED)
    assert parsed.ok, parsed.errors
    assert parsed.payload == {
        "name": "Albeda College",
        "brin_codes": ["01AB", "02cd", "03EF"],
        "locations": ["Rotterdam Zuid", "Rotterdam, Noord"],
        "duo_student_count": 1200,
        "contacts": [
            {
                "name": "Jan",
                "role": "Budgethouder",
                "email": "jan@example.org",
                "phone": "+31201234567",
            }
        ],
        "default_order_reference": "REF-1",
        "street": "",
        "postcode": "",
        "city": "",
    }
    assert parsed.contact_rows == [1]


def test_the_postal_address_is_read_and_the_postcode_written_one_way() -> None:
    form = {**FILLED, "street": " Kerkstraat 12a", "postcode": "2011ab", "city": "Haarlem"}
    parsed = parse_settings_form(form)
    assert parsed.ok, parsed.errors
    assert parsed.payload is not None
    assert (parsed.payload["street"], parsed.payload["postcode"]) == ("Kerkstraat 12a", "2011 AB")
    bad = parse_settings_form({**form, "postcode": "2011", "name": ""})
    assert bad.errors["postcode"] == "Vul een postcode in zoals 1234 AB."
    assert "name" in bad.errors  # both in one round
    assert bad.values["postcode"] == "2011"
    assert settings_values({"postcode": "2011 AB", "city": "Haarlem"})["postcode"] == "2011 AB"


def test_bad_input_is_kept_with_a_message_per_field() -> None:
    form = {**FILLED, "duo_student_count": "veel", "brin_codes": " ", "contact_2_phone": "06"}
    parsed = parse_settings_form(form)
    assert not parsed.ok
    assert parsed.values["duo_student_count"] == "veel"
    assert parsed.values["contact_2_phone"] == "06"
    assert parsed.errors["duo_student_count"] == "Vul een heel getal in."
    assert parsed.errors["brin_codes"] == "Vul minstens één BRIN-code in."
    assert parsed.errors["contact_2_name"] == "Vul de naam van de contactpersoon in."


def test_service_field_paths_land_on_the_right_form_fields() -> None:
    rows = [1, 2]  # contacts 0 and 1 of the payload came from form rows 1 and 2
    assert form_field("brin_codes.1") == "brin_codes"
    assert form_field("contacts.1.email", rows) == "contact_2_email"
    assert form_field("settings.name") == "name"
    assert form_field("budget_holder.email") == "budget_holder_email"
    assert form_field("something.else") == GENERAL
    assert form_errors({"brin_codes.0": "Fout.", "brin_codes.1": "Ook fout."}) == {
        "brin_codes": "Fout."
    }


def test_stored_settings_fill_the_form() -> None:
    values = settings_values(
        {
            "name": "X",
            "brin_codes": ["01AB", "02CD"],
            "locations": ["A"],
            "duo_student_count": 3,
            "contacts": [{"name": "Jan", "role": "", "email": "", "phone": ""}],
            "default_order_reference": "",
        }
    )
    assert values["brin_codes"] == "01AB\n02CD"
    assert values["contact_0_name"] == "Jan"
    assert values["contact_2_name"] == ""


def test_register_form() -> None:
    parsed = parse_register_form(
        {
            "name": "Nieuw College",
            "brin_codes": "05XY",
            "locations": "",
            "duo_student_count": "10",
            "budget_holder_name": "Piet",
            "budget_holder_email": " piet@example.org ",
        }
    )
    assert parsed.ok, parsed.errors
    assert parsed.payload is not None
    assert parsed.payload["budget_holder"] == {"name": "Piet", "email": "piet@example.org"}
    missing = parse_register_form({"name": "", "brin_codes": "05XY", "duo_student_count": "1"})
    assert missing.errors["name"] == "Dit veld mag niet leeg zijn."
    assert "budget_holder_name" in missing.errors


async def test_a_check_that_cannot_hold_the_text_leaves_the_pages_own_errors() -> None:
    """A 300,000-character value does not fit the check's request: the page's own message is
    the answer, not a 500 (found by tests/test_input_bounds_end_to_end.py)."""
    from ck_contracts.membership import CheckActivationCode
    from ck_contracts.rpc import FieldProblems
    from ck_gateway.forms import also_checked

    async def check() -> FieldProblems:
        CheckActivationCode(code="x" * 300_000)  # raises: longer than a code can be
        raise AssertionError("unreachable")

    own = {"code": "Maximaal 40 tekens."}
    assert await also_checked(own, check(), lambda fields: dict(fields)) == own
