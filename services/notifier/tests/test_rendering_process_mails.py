"""Issue 13: the Dutch templates of the mails that drive the process and the reminders. Each
names the school and (for providers) the provider, formats dates and amounts the Dutch way,
and is poison when a key is missing."""

from __future__ import annotations

import pytest
from ck_contracts.notifier import MailTemplate
from ck_notifier.rendering import REQUIRED_ITEM_KEYS, REQUIRED_KEYS, MissingContext, render

SCHOOL = {"school_name": "Grafisch Lyceum Zuid", "school_number": "10289"}
WEBORDER = {
    **SCHOOL,
    "provider_name": "Theater De Roos",
    "activity": "Voorstelling Hamlet",
    "activity_date": "2026-03-02",
    "amount_cents": "123456",
    "provider_reference": "ROOS-17",
    "link": "https://portaal.example/aanbieder/weborders",
}


def test_offer_request_to_the_provider() -> None:
    mail = render(
        MailTemplate.OFFER_REQUESTED,
        {
            **SCHOOL,
            "provider_name": "Theater De Roos",
            "offering_title": "Workshop toneel",
            "requested_by": "Jan Docent",
            "message": "Graag in mei, voor 2 klassen.",
            "link": "https://portaal.example/aanbieder/aanvragen",
        },
    )
    assert mail.subject == "Nieuwe aanvraag van Grafisch Lyceum Zuid: Workshop toneel"
    assert mail.text.startswith("Beste Theater De Roos,")
    assert "Grafisch Lyceum Zuid (CJP-schoolnummer 10289)" in mail.text
    assert '"Workshop toneel"' in mail.text
    assert "Aangevraagd door: Jan Docent" in mail.text
    assert "Graag in mei, voor 2 klassen." in mail.text
    assert "\nhttps://portaal.example/aanbieder/aanvragen\n" in mail.text
    assert "Aanvraag bekijken" in mail.html and "<strong>Workshop toneel</strong>" in mail.html


def test_approved_weborder_to_the_provider() -> None:
    mail = render(MailTemplate.WEBORDER_APPROVED, WEBORDER)
    assert mail.subject == "Weborder goedgekeurd door Grafisch Lyceum Zuid: Voorstelling Hamlet"
    assert mail.text.startswith("Beste Theater De Roos,")
    assert "Grafisch Lyceum Zuid heeft uw weborder goedgekeurd." in mail.text
    assert "Datum: 2 maart 2026" in mail.text
    assert "Bedrag: € 1.234,56" in mail.text
    assert "Uw referentie: ROOS-17" in mail.text
    assert "goedgekeurd" in mail.html and "€ 1.234,56" in mail.html


def test_rejected_weborder_carries_the_school_s_reason() -> None:
    mail = render(MailTemplate.WEBORDER_REJECTED, {**WEBORDER, "reason": "Datum past niet"})
    assert mail.subject == "Weborder afgekeurd door Grafisch Lyceum Zuid: Voorstelling Hamlet"
    assert "heeft uw weborder afgekeurd" in mail.text
    assert "Reden van de school: Datum past niet" in mail.text
    assert "<em>Datum past niet</em>" in mail.html


def test_refused_for_balance_says_it_can_be_approved_again() -> None:
    reason = "Onvoldoende saldo: het saldo is € 10,00, de weborder kost € 1.234,56."
    mail = render(MailTemplate.WEBORDER_REFUSED, {**WEBORDER, "reason": reason})
    assert "Weborder niet afgeschreven bij Grafisch Lyceum Zuid" in mail.subject
    assert f"Reden: {reason}" in mail.text
    assert "opnieuw goedkeuren" in mail.text
    assert "niet opnieuw aan te maken" in mail.text


def _digest_item(kind: str, activity: str) -> dict[str, str]:
    return {
        "activity": activity,
        "provider_name": "Theater De Roos",
        "activity_date": "2026-04-01",
        "amount_cents": "25000",
        "submitted_on": "2026-03-02",
        "kind": kind,
    }


def test_digest_lists_new_weborders_and_reminders() -> None:
    mail = render(
        MailTemplate.WEBORDERS_AWAITING,
        {
            **SCHOOL,
            "recipient_name": "Fatima de Vries",
            "new_count": "2",
            "reminder_count": "1",
            "reminder_days": "7",
            "link": "https://portaal.example/bestellingen/weborders",
        },
        [
            _digest_item("nieuw", "Hamlet"),
            _digest_item("nieuw", "Workshop dans"),
            _digest_item("herinnering", "Museumbezoek"),
        ],
    )
    assert mail.subject == "Weborders wachten op je beslissing: Grafisch Lyceum Zuid"
    assert mail.text.startswith("Beste Fatima de Vries,")
    assert "2 nieuwe weborders voor Grafisch Lyceum Zuid" in mail.text
    assert "Herinnering: 1 weborder wacht al 7 dagen of langer" in mail.text
    assert "- Hamlet, Theater De Roos, 1 april 2026, € 250,00 (binnengekomen 2 maart 2026)" in (
        mail.text
    )
    assert "- [herinnering] Museumbezoek" in mail.text
    assert mail.html.count('<tr style="border-top') == 3


def test_digest_with_one_new_weborder_is_singular_and_has_no_reminder() -> None:
    mail = render(
        MailTemplate.WEBORDERS_AWAITING,
        {
            **SCHOOL,
            "recipient_name": "Fatima de Vries",
            "new_count": "1",
            "reminder_count": "0",
            "reminder_days": "7",
            "link": "x",
        },
        [_digest_item("nieuw", "Hamlet")],
    )
    assert "Er is 1 nieuwe weborder voor Grafisch Lyceum Zuid binnengekomen die op je " in (
        mail.text
    )
    assert "Herinnering" not in mail.text


def test_digest_rows_need_their_keys() -> None:
    context = {
        **SCHOOL,
        "recipient_name": "F",
        "new_count": "1",
        "reminder_count": "0",
        "reminder_days": "7",
        "link": "x",
    }
    with pytest.raises(MissingContext, match="item keys: amount_cents"):
        render(
            MailTemplate.WEBORDERS_AWAITING,
            context,
            [
                {
                    "activity": "x",
                    "kind": "nieuw",
                    "provider_name": "p",
                    "activity_date": "2026-01-01",
                    "submitted_on": "2026-01-01",
                }
            ],
        )
    with pytest.raises(MissingContext, match="takes no items"):
        render(MailTemplate.WEBORDER_APPROVED, WEBORDER, [{"a": "b"}])


def test_objection_period_ending() -> None:
    mail = render(
        MailTemplate.ORDER_OBJECTION_ENDING,
        {
            **SCHOOL,
            "recipient_name": "Fatima de Vries",
            "order_reference": "PO-2026-01",
            "total_cents": "13000",
            "last_day": "2026-03-10",
            "link": "https://portaal.example/producten",
        },
    )
    assert "bezwaartermijn" in mail.subject and "Grafisch Lyceum Zuid" in mail.subject
    assert "(referentie PO-2026-01)" in mail.text
    assert "Tot en met dinsdag 10 maart 2026 kun je de bestelling nog wijzigen of annuleren" in (
        mail.text
    )
    assert "factuur van € 130,00" in mail.text


def test_invoice_issued() -> None:
    mail = render(
        MailTemplate.INVOICE_ISSUED,
        {
            **SCHOOL,
            "recipient_name": "Fatima de Vries",
            "invoice_number": "26000001",
            "total_cents": "13000",
            "invoice_date": "2026-03-11",
            "link": "https://portaal.example/facturen/x",
        },
    )
    assert mail.subject == "Factuur 26000001 van de MBO Cultuurkaart: Grafisch Lyceum Zuid"
    assert "Factuurnummer: 26000001" in mail.text
    assert "Factuurdatum: 11 maart 2026" in mail.text
    assert "Totaal: € 130,00" in mail.text


def test_invitation_reminder_has_the_same_code_and_link() -> None:
    mail = render(
        MailTemplate.INVITATION_REMINDER,
        {
            "voornaam": "Sanne",
            "school_name": "Grafisch Lyceum Zuid",
            "link": "https://portaal.example/activeren?code=ABCD-EFGH-JKMN&sleutel=k",
            "code": "ABCD-EFGH-JKMN",
        },
    )
    assert mail.subject == "Herinnering: activeer je MBO Cultuurkaart van Grafisch Lyceum Zuid"
    assert mail.text.startswith("Beste Sanne,")
    assert "Je activatiecode is: ABCD-EFGH-JKMN" in mail.text
    assert "dezelfde link en dezelfde code" in mail.text
    assert "code=ABCD-EFGH-JKMN&amp;sleutel=k" in mail.html


@pytest.mark.parametrize("template", sorted(REQUIRED_ITEM_KEYS))
def test_every_listing_template_is_also_a_template(template: str) -> None:
    assert template in REQUIRED_KEYS


def test_every_new_template_refuses_a_missing_key() -> None:
    for template in (
        MailTemplate.OFFER_REQUESTED,
        MailTemplate.WEBORDER_APPROVED,
        MailTemplate.WEBORDER_REJECTED,
        MailTemplate.WEBORDER_REFUSED,
        MailTemplate.WEBORDERS_AWAITING,
        MailTemplate.ORDER_OBJECTION_ENDING,
        MailTemplate.INVOICE_ISSUED,
        MailTemplate.INVITATION_REMINDER,
    ):
        with pytest.raises(MissingContext):
            render(template, {"school_name": "x"})
