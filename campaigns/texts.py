"""Personalising a message: placeholders such as {备注名} and {昵称} filled in per recipient.

    {备注名}  the remark name, or the nickname when there is none      (English: {remark_name})
    {昵称}    the nickname, or the remark name when there is none      (English: {nickname})
    {备注名|王姐}  with the text to use when the contact has neither

Without a fallback of its own an empty placeholder becomes 亲 ("dear", what Chinese shops call any customer), so
"{备注名}，新品到了" never reads "，新品到了".
"""

import re

DEFAULT_FALLBACK = "亲"
PLACEHOLDER = re.compile(r"\{(备注名|昵称|remark_name|nickname)(?:\|([^{}|]{0,20}))?\}")
_REMARK_FIRST = {"备注名", "remark_name"}


def personalise(template: str, *, remark_name: str, nickname: str) -> str:
    def fill(match: re.Match) -> str:
        name, fallback = match.group(1), match.group(2)
        first, second = (remark_name, nickname) if name in _REMARK_FIRST else (nickname, remark_name)
        value = (first or "").strip() or (second or "").strip()
        return value or (fallback if fallback is not None else DEFAULT_FALLBACK)

    return PLACEHOLDER.sub(fill, template)


def placeholders_in(template: str) -> list[str]:
    return [match.group(0) for match in PLACEHOLDER.finditer(template)]
