"""The templates' Dutch is in the catalogue: Babel's extraction (babel.cfg, the Jinja2 extractor
jinja2.ext.babel_extract) over the templates finds no msgid that messages.po lacks."""

from __future__ import annotations

from pathlib import Path

import pytest
from ck_gateway import extraction, i18n
from ck_gateway.rendering import TEMPLATE_DIR, templates
from jinja2 import TemplateSyntaxError


def test_the_jinja2_extractor_reads_the_templates() -> None:
    method_map, options_map = extraction.template_mapping()
    assert [method for _, method in method_map] == ["jinja2.ext:babel_extract"]
    assert all(options["newstyle_gettext"] == "true" for options in options_map.values())
    found = extraction.template_messages()
    # every template has text of its own, and each is read
    assert {Path(item.filename).name for item in found} == {
        path.name for path in TEMPLATE_DIR.glob("*.html")
    }
    assert len({item.msgid for item in found}) > 300


def test_every_template_text_is_in_the_catalogue() -> None:
    gaps = extraction.missing(extraction.template_messages())
    assert [(item.filename, item.lineno, item.msgid) for item in gaps] == []


def test_the_templates_section_is_up_to_date() -> None:
    """`make catalogue` has been run: no text a template no longer uses, none written twice."""
    po_text = i18n.CATALOGUE.read_text(encoding="utf-8")
    assert extraction.rewritten(po_text, extraction.template_messages()) == po_text
    written = extraction.msgids_in(po_text)
    assert sorted({msgid for msgid in written if written.count(msgid) > 1}) == []


def test_a_template_text_missing_from_the_catalogue_is_caught(tmp_path: Path) -> None:
    """The checks above can fail: a template with text the catalogue lacks is reported, both a
    {% trans %} block and a _() call, and the generated section would then change."""
    folder = tmp_path / "src" / "ck_gateway" / "templates"
    folder.mkdir(parents=True)
    (folder / "new.html").write_text(
        "<p>{% trans name=x %}Nergens vertaald, {{ name }}{% endtrans %}</p>\n"
        '<a title="{{ _("Ook nergens") }}">{% trans %}Inloggen{% endtrans %}</a>\n',
        encoding="utf-8",
    )
    found = extraction.extract(tmp_path, *extraction.template_mapping())
    assert [item.msgid for item in extraction.missing(found)] == [
        "Nergens vertaald, %(name)s",
        "Ook nergens",
    ]
    po_text = i18n.CATALOGUE.read_text(encoding="utf-8")
    assert extraction.rewritten(po_text, found) != po_text


def test_a_template_jinja_cannot_parse_fails_the_extraction(tmp_path: Path) -> None:
    folder = tmp_path / "src" / "ck_gateway" / "templates"
    folder.mkdir(parents=True)
    (folder / "broken.html").write_text("{% trans %}Open blok", encoding="utf-8")
    with pytest.raises(TemplateSyntaxError):  # not skipped silently (silent = false)
        extraction.extract(tmp_path, *extraction.template_mapping())


def test_template_text_renders_as_the_catalogue_says() -> None:
    """Rendering goes through ck_gateway.i18n: an empty msgstr gives the msgid itself, a
    {% trans %} block's variables are filled in and escaped."""
    assert i18n.gettext("Uitloggen") == "Uitloggen"
    page = templates.env.from_string(
        "{% trans name=name %}Welkom, {{ name }}{% endtrans %} {{ _('BTW') }}"
    ).render(name="<b>Jan</b>")
    assert page == "Welkom, &lt;b&gt;Jan&lt;/b&gt; BTW"
