"""The wecom app's own Chinese catalogue: compiled, complete, nothing fuzzy."""

import re
from pathlib import Path

from django.utils import translation

import wecom

CATALOGUE = Path(wecom.__file__).parent / "locale" / "zh_Hans" / "LC_MESSAGES"


def _untranslated(text: str) -> list[str]:
    missing = []
    for block in text.split("\n\n"):
        lines = [line for line in block.splitlines() if line and not line.startswith("#")]
        if not lines or lines[0] == 'msgid ""':
            continue  # the header
        msgstr = "".join(line.split(" ", 1)[1].strip('"') if line.startswith("msgstr") else line.strip('"')
                         for line in lines[next(i for i, line in enumerate(lines) if line.startswith("msgstr")):])
        if not msgstr:
            missing.append(lines[0])
    return missing


def test_every_message_is_translated_and_none_is_fuzzy():
    text = (CATALOGUE / "django.po").read_text(encoding="utf-8")
    assert not re.search(r"^#,.*\bfuzzy\b", text, re.MULTILINE)
    assert _untranslated(text) == []


def test_the_compiled_catalogue_is_used():
    assert (CATALOGUE / "django.mo").is_file()
    with translation.override("zh-hans"):
        assert translation.gettext("WeCom settings saved.") == "企业微信设置已保存。"
