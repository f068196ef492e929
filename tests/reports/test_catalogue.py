"""The reports' own Chinese catalogue: complete, compiled, and found by Django."""

import ast
import gettext
from pathlib import Path

from django.conf import settings
from django.utils import translation

LOCALE_DIR = Path(settings.BASE_DIR) / "reports" / "locale" / "zh_Hans" / "LC_MESSAGES"


def _po_entries() -> dict[str, str]:
    """msgid -> msgstr of the .po file (header left out), multi-line strings joined."""
    entries, key, parts, current = {}, None, {}, None
    for line in (LOCALE_DIR / "django.po").read_text(encoding="utf-8").splitlines() + [""]:
        if line.startswith(("msgid ", "msgstr ")):
            current, literal = line.split(" ", 1)
            parts[current] = [ast.literal_eval(literal)]
        elif line.startswith('"') and current:
            parts[current].append(ast.literal_eval(line))
        elif not line.strip() and parts:
            key = "".join(parts.get("msgid", []))
            if key:
                entries[key] = "".join(parts.get("msgstr", []))
            parts, current = {}, None
    return entries


def test_every_message_is_translated_and_none_is_fuzzy():
    text = (LOCALE_DIR / "django.po").read_text(encoding="utf-8")
    assert "fuzzy" not in text
    entries = _po_entries()
    assert entries and [msgid for msgid, msgstr in entries.items() if not msgstr] == []


def test_the_compiled_catalogue_holds_every_message():
    with open(LOCALE_DIR / "django.mo", "rb") as mo:
        compiled = gettext.GNUTranslations(mo)
    for msgid, msgstr in _po_entries().items():
        assert compiled.gettext(msgid) == msgstr


def test_django_finds_the_reports_catalogue():
    with translation.override("zh-hans"):
        assert translation.gettext("Repeat purchase") == "复购分析"
        assert translation.gettext("Champions") == "重要价值客户"
