"""The content check: words that China's advertising law (广告法, article 9) forbids in marketing copy, such as
最, 第一, 唯一, 国家级. Broadcasts and moments posts show a warning for each one found; the check never blocks, since
the seller knows whether a word is a claim ("最后一天" is not) and a fine is their risk to weigh.

Each workspace keeps its own list (campaigns.MessagingSettings.ad_words, one word or phrase a line), starting from
DEFAULT_AD_WORDS.
"""

from dataclasses import dataclass

DEFAULT_AD_WORDS = (
    "最", "第一", "唯一", "首个", "首选", "顶级", "顶尖", "极品", "极致", "国家级", "世界级", "全球级", "全国首",
    "100%", "百分百", "百分之百", "绝对", "万能", "独家", "史无前例", "全网最低", "销量冠军", "领导品牌", "根治",
    "无副作用", "零风险", "永久",
)
SNIPPET_CONTEXT = 8  # characters shown either side of a word found


@dataclass(frozen=True)
class ContentWarning:
    word: str
    count: int
    snippet: str  # the first place it appears, with a few characters around it


def default_ad_words_text() -> str:
    """The default list as the settings page edits it: one word a line."""
    return "\n".join(DEFAULT_AD_WORDS)


def words_from_text(text: str) -> list[str]:
    """The words of a list as typed: one a line (commas and 、 separate them too), blanks and repeats dropped."""
    for separator in (",", "，", "、"):
        text = (text or "").replace(separator, "\n")
    return list(dict.fromkeys(word.strip() for word in text.splitlines() if word.strip()))


def content_warnings(text: str, *, words: list[str]) -> list[ContentWarning]:
    """Every listed word found in the text (case-insensitive), in the order of the list."""
    haystack = (text or "").casefold()
    warnings = []
    for word in words:
        needle = word.casefold()
        at = haystack.find(needle)
        if not needle or at < 0:
            continue
        start, end = max(0, at - SNIPPET_CONTEXT), at + len(word) + SNIPPET_CONTEXT
        snippet = ("…" if start else "") + text[start:end].replace("\n", " ") + ("…" if end < len(text) else "")
        warnings.append(ContentWarning(word=word, count=haystack.count(needle), snippet=snippet))
    return warnings
