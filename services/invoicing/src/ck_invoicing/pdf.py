"""The invoice as an A4 PDF in Dutch (R-INVOICE-2), rendered with WeasyPrint.

The template is plain HTML with `string.Template` placeholders (every value HTML-escaped and
cleaned of control characters here) and one small stylesheet, parsed once per process. CJP's
details come from the settings.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Sequence
from datetime import timedelta
from html import escape as html_escape
from importlib import resources
from string import Template

from ck_contracts.bounds import remove_forbidden
from ck_contracts.invoicing import Invoice, InvoiceStatus
from weasyprint import CSS, HTML
from weasyprint.text.fonts import FontConfiguration

from ck_invoicing import domain
from ck_invoicing.settings import InvoicingSettings

# WeasyPrint (Pango, fontconfig) is not documented as thread-safe: one render at a time.
_render_lock = threading.Lock()


@functools.cache
def _template() -> Template:
    text = resources.files("ck_invoicing").joinpath("templates/invoice.html").read_text("utf-8")
    return Template(text)


@functools.cache
def _fonts() -> FontConfiguration:
    return FontConfiguration()


@functools.cache
def _stylesheet() -> CSS:
    text = resources.files("ck_invoicing").joinpath("templates/invoice.css").read_text("utf-8")
    return CSS(string=text, font_config=_fonts())


def escape(text: str) -> str:
    """HTML-escaped, without the invisible control characters the boundary refuses (defence
    in depth for rows stored before the rules: a bidi override would make the invoice read
    differently from what it says, a lone surrogate would stop the render)."""
    return html_escape(remove_forbidden(text))


def filename(number: str) -> str:
    return f"factuur_{number}.pdf"


def _p(text: str) -> str:
    return f"<p>{escape(text)}</p>"


def _cjp_details(settings: InvoicingSettings) -> str:
    parts = [_p(line) for line in settings.cjp_address_lines()]
    for label, value in (
        ("KvK", settings.cjp_kvk),
        ("BTW-nummer", settings.cjp_vat_number),
        ("IBAN", settings.cjp_iban),
        ("BIC", settings.cjp_bic),
        ("E-mail", settings.cjp_email),
    ):
        if value:
            parts.append(_p(f"{label}: {value}"))
    return "\n    ".join(parts)


def _payment(invoice: Invoice, due: str, settings: InvoicingSettings) -> str:
    if invoice.status == InvoiceStatus.PAID and invoice.paid_on is not None:
        return escape(f"Betaald op {domain.format_date(invoice.paid_on)}. Hartelijk dank.")
    text = f"Wij verzoeken u het totaalbedrag van {domain.format_euro(invoice.total_cents)}"
    text += f" vóór {due} over te maken"
    if settings.cjp_iban:
        text += f" op IBAN {settings.cjp_iban}"
        if settings.cjp_name:
            text += f" ten name van {settings.cjp_name}"
    text += f", onder vermelding van factuurnummer {invoice.number}."
    return escape(text)


def _line_rows(invoice: Invoice) -> str:
    rows = []
    for line in invoice.lines:
        cells = (
            f"<td>{escape(line.product)}</td>",
            f'<td class="num">{domain.format_count(line.count)}</td>',
            f'<td class="num">{escape(domain.format_euro(line.ocw_cents))}</td>',
            f'<td class="num">{escape(domain.format_euro(line.vat_cents))}</td>',
            f'<td class="num">{escape(domain.format_euro(line.total_cents))}</td>',
        )
        rows.append(f"    <tr>{''.join(cells)}</tr>")
    return "\n".join(rows)


def render_html(
    invoice: Invoice,
    school_number: int,
    settings: InvoicingSettings,
    school_name: str = "",
    address_lines: Sequence[str] = (),
) -> str:
    """address_lines: the school's postal address under its name (R-INVOICE-2), when known."""
    local_day = domain.local_date(invoice.invoice_date)
    due = domain.format_date(local_day + timedelta(days=settings.payment_term_days))
    vat = sum(line.vat_cents for line in invoice.lines)
    values = {
        "number": escape(invoice.number),
        "cjp_name": escape(settings.cjp_name),
        "cjp_details": _cjp_details(settings),
        "school_number": str(school_number),
        # The name as accounts announced it; the number alone until it is known.
        "school_name": escape(school_name or f"School {school_number}"),
        "school_address": "\n      ".join(_p(line) for line in address_lines),
        "invoice_date": domain.format_date(local_day),
        "due_date": due,
        "reference": escape(invoice.reference or "-"),
        "status": escape(domain.status_label(invoice.status)),
        "lines": _line_rows(invoice),
        "subtotal": escape(domain.format_euro(invoice.total_cents - vat)),
        "vat": escape(domain.format_euro(vat)),
        "total": escape(domain.format_euro(invoice.total_cents)),
        "payment": _payment(invoice, due, settings),
    }
    return _template().substitute(values)


def render_pdf(
    invoice: Invoice,
    school_number: int,
    settings: InvoicingSettings,
    school_name: str = "",
    address_lines: Sequence[str] = (),
) -> bytes:
    """Blocking and CPU-bound (some milliseconds): call it in a worker thread."""
    html = render_html(invoice, school_number, settings, school_name, address_lines)
    document = HTML(string=html)
    with _render_lock:
        pdf: bytes | None = document.write_pdf(stylesheets=[_stylesheet()], font_config=_fonts())
    assert pdf is not None
    return pdf
