"""Text normalisation shared by the loader, the classifier and the extractors.

- quoted replies (``「…」`` + a ``- - - -`` line) -> only the reply is kept
- ``@name`` mentions are dropped (``@所有人`` is kept: it marks a broadcast)
- Unicode NFKC (full-width digits/letters/punctuation -> ASCII), Traditional -> Simplified (OpenCC t2s)
- a few meaningful emoji become words (🪳 -> 蟑螂), other emoji and WeChat codes like ``[捂脸]`` are dropped
- ASCII lower-case, whitespace collapsed; text spelled out one character at a time ("楼 道 灯 坏 了", as
  some voice input and elderly typists produce) is joined up again
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from opencc import OpenCC

_QUOTE_RE = re.compile(r"^.*?\n[ \t]*(?:[-—–_][ \t]*){3,}\n", re.S)
_QUOTE_ONLY_RE = re.compile(r"^「[^」]*」\s*")
_MENTION_RE = re.compile(r"@(?!所有人)[^\s\u2005@,，:：]{1,20}[\s\u2005]*")
_WECHAT_CODE_RE = re.compile(r"\[[\u4e00-\u9fffA-Za-z]{1,4}\]")
_SPACE_RE = re.compile(r"\s+")
# four or more single characters (Chinese, a digit, a letter) separated by single spaces: a spelled-out run
_SPELLED_RE = re.compile(r"(?<![\u4e00-\u9fff0-9a-z])(?:[\u4e00-\u9fff0-9a-z] ){3,}[\u4e00-\u9fff0-9a-z](?![\u4e00-\u9fff0-9a-z])")

EMOJI_WORDS = {
    "🪳": "蟑螂", "🐀": "老鼠", "🐭": "老鼠", "🐁": "老鼠", "🦟": "蚊子", "🐕": "狗", "🐶": "狗", "🐩": "狗",
    "🔥": "火", "💡": "灯", "💧": "水", "🚰": "水", "🚗": "车", "🚙": "车", "🛗": "电梯", "🗑": "垃圾",
    "🚮": "垃圾", "💩": "屎", "🌳": "树", "🌲": "树",
    # tears of laughter: chit-chat far more often than a complaint (a sarcastic one keeps its issue words)
    "😂": " 哈哈 ", "🤣": " 哈哈 ",
}  # fmt: skip

_t2s = OpenCC("t2s")


_EMOJI_WORD_RE = re.compile("|".join(map(re.escape, EMOJI_WORDS)))
# pictographs, dingbats, misc symbols and arrows, variation selectors, ZWJ, keycap, skin tones
_EMOJI_RE = re.compile(
    "[\U0001F000-\U0001FAFF\u2190-\u21FF\u2300-\u23FF\u2460-\u24FF\u25A0-\u27BF\u2B00-\u2BFF"
    "\u3297\u3299\uFE0E\uFE0F\u200D\u20E3\U000E0020-\U000E007F]+"
)


def strip_quote(text: str) -> str:
    """Keep only the reply part of a quoted reply."""
    m = _QUOTE_RE.match(text)
    if m and m.group(0).lstrip().startswith(("「", '"', "“")):
        rest = text[m.end() :]
        if rest.strip():
            return rest
    return text


@lru_cache(maxsize=1)
def _convertible_chars() -> frozenset[str]:
    """Every character that starts an entry of OpenCC's t2s dictionaries (a fast pre-check)."""
    _t2s.convert("測")  # make OpenCC load its dictionaries
    chars: set[str] = set()
    try:
        for chain in _t2s._dict_chain_data:
            for _max_len, _min_len, table in chain:
                for key, value in table.items():
                    if len(key) == 1 and key != value:
                        chars.add(key)
    except (AttributeError, TypeError, ValueError):  # pragma: no cover - other opencc internals
        return frozenset()
    return frozenset(chars)


def to_simplified(text: str) -> str:
    """Traditional -> Simplified with OpenCC; skipped when no character could change."""
    if text.isascii():
        return text
    chars = _convertible_chars()
    if chars and chars.isdisjoint(text):
        return text
    return _t2s.convert(text)


def normalize(text: str, *, keep_regex: bool = False) -> str:
    """Normalise a message (or a YAML phrase) for matching. ``keep_regex`` only folds width and script."""
    if not text:
        return ""
    if keep_regex:
        return to_simplified(unicodedata.normalize("NFKC", text))
    text = strip_quote(text)
    text = unicodedata.normalize("NFKC", text)
    text = _MENTION_RE.sub(" ", text)
    text = _WECHAT_CODE_RE.sub(" ", text)
    text = to_simplified(text)
    if not text.isascii():
        text = _EMOJI_WORD_RE.sub(lambda m: EMOJI_WORDS[m.group(0)], text)
        text = _EMOJI_RE.sub(" ", text)
    text = _SPACE_RE.sub(" ", text.lower()).strip()
    if " " in text and not text.isascii():
        text = _SPELLED_RE.sub(lambda m: m.group(0).replace(" ", ""), text)
    return text
