"""A provider's reimbursement statement ("Uitbetalingsoverzicht") as an A4 PDF in Dutch,
rendered like the invoice (pdf.py: the same stylesheet, fonts, escaping and render lock)."""

from __future__ import annotations

import functools
from datetime import timedelta
from importlib import resources
from string import Template

from ck_contracts.payouts import LineKind, Statement, StatementLine, StatementStatus
from weasyprint import HTML

from ck_invoicing import domain
from ck_invoicing.pdf import _cjp_details, _fonts, _render_lock, _stylesheet, escape
from ck_invoicing.settings import InvoicingSettings

KIND_LABELS = {
    LineKind.WEBORDER: "Weborder",
    LineKind.SCHOOLTOER: "Schooltoer",
    LineKind.CARD_PAYMENT: "CJP-pas",
}


@functools.cache
def _template() -> Template:
    text = resources.files("ck_invoicing").joinpath("templates/statement.html").read_text("utf-8")
    return Template(text)


def filename(number: str) -> str:
    return f"uitbetalingsoverzicht_{number}.pdf"


def line_description(line: StatementLine) -> str:
    """Dutch, as the document shows it (the gateway's pages have their own words)."""
    # The budget's ledger text already names a weborder or Schooltoer order; a card payment's
    # is the provider's own (what was bought).
    text = line.description or KIND_LABELS[line.kind]
    if line.kind is LineKind.CARD_PAYMENT:
        text = f"{KIND_LABELS[line.kind]}: {text}"
    if line.correction:
        where = f" (stond op {line.corrects_number})" if line.corrects_number else ""
        text = f"Correctie, goedkeuring geannuleerd{where}: {text}"
    return text


def _rows(statement: Statement) -> str:
    rows = []
    for line in statement.lines:
        css = ' class="correction"' if line.correction else ""
        cells = (
            f"<td>{domain.format_date(domain.local_date(line.booked_at))}</td>",
            f"<td>{escape(line.school_name or '-')}</td>",
            f"<td>{escape(line_description(line))}</td>",
            f'<td class="num">{escape(domain.format_euro(line.amount_cents))}</td>',
        )
        rows.append(f"    <tr{css}>{''.join(cells)}</tr>")
    return "\n".join(rows)


def render_html(
    statement: Statement, settings: InvoicingSettings, provider_name: str, provider_kvk: str
) -> str:
    last_day = domain.local_date(statement.period_end - timedelta(microseconds=1))
    first_day = domain.local_date(statement.period_start)
    if statement.status == StatementStatus.PAID and statement.paid_on is not None:
        payment = f"Uitbetaald op {domain.format_date(statement.paid_on)}."
        status = "Uitbetaald"
    else:
        payment = (
            f"CJP maakt het totaalbedrag van {domain.format_euro(statement.total_cents)} over "
            f"onder vermelding van {statement.number}."
        )
        status = "Open"
    values = {
        "number": escape(statement.number),
        "cjp_name": escape(settings.cjp_name),
        "cjp_details": _cjp_details(settings),
        "provider_name": escape(provider_name or f"Aanbieder {statement.provider_id}"),
        "provider_kvk": f'<p class="label">KvK {escape(provider_kvk)}</p>' if provider_kvk else "",
        "period": f"{domain.format_date(first_day)} t/m {domain.format_date(last_day)}",
        "issued_on": domain.format_date(domain.local_date(statement.issued_at)),
        "status": escape(status),
        "lines": _rows(statement),
        "count": domain.format_count(statement.line_count),
        "total": escape(domain.format_euro(statement.total_cents)),
        "payment": escape(payment),
    }
    return _template().substitute(values)


def render_pdf(
    statement: Statement, settings: InvoicingSettings, provider_name: str, provider_kvk: str
) -> bytes:
    """Blocking and CPU-bound: call it in a worker thread."""
    document = HTML(string=render_html(statement, settings, provider_name, provider_kvk))
    with _render_lock:
        pdf: bytes | None = document.write_pdf(stylesheets=[_stylesheet()], font_config=_fonts())
    assert pdf is not None
    return pdf
