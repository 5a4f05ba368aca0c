"""Reading a resident's short answer: is it fixed? which building?

An answer is read as a whole phrase, never as a substring: "没修好" contains "修好" but says the
opposite, and "好了好了别吵了" is not an answer at all.
"""

from __future__ import annotations

import re
from typing import Literal

Answer = Literal["fixed", "not_fixed", "unclear"]

_COURTESY = re.compile(
    r"(谢谢(你们|您|师傅|大家)?|多谢|感谢(你们|您)?|辛苦(了|啦)?|麻烦(了|你们了)|师傅|物业|[啦呀哈哦噢嗯啊吧呢]+|"
    r"[\s,，.。!！~～、;；:：?？…]+|[\U0001F300-\U0001FAFF\u2600-\u27BF\uFE0F]+)"
)
_FIXED = re.compile(
    r"^(1|一|是|是的|对|ok|okay|好|好了|好的|修好了?|弄好了|搞定了?|已?解决了?|已经?(好|修好|弄好|解决|通|亮|正常)了?"
    r"|亮了|通了|不堵了|不漏了|不响了|能用了|可以了|正常了|恢复了|没问题了?|没事了|没有问题了|已修复|修复了)$",
    re.I,
)
_NOT_FIXED = re.compile(
    r"^(2|二|否|没有|不是|不行|没好|没修好|没弄好|还没好|还没修好|还没弄好|还没解决|没解决|未解决|没有解决|没人来|没人修"
    r"|[\u4e00-\u9fff]{0,6}(还是|仍然|依然|又|还)(不|没|在|是|坏|堵|漏|响|黑|停|有)[\u4e00-\u9fff]{0,5}"
    r"|[\u4e00-\u9fff]{0,6}(没修好|没解决|没弄好|没好|不行))$",
    re.I,
)


_CLAUSE_SPLIT = re.compile(r"[\s,，.。!！~～、;；:：?？…]+")
_NEGATION = re.compile(r"没|不|未|还是|又|仍|依然|别")


def read_resolution(text: str) -> Answer:
    """Classify an answer to "is it fixed?" as ``fixed``, ``not_fixed`` or ``unclear``.

    Each clause must be a whole answer phrase: "好了，人出来了，谢谢" is fixed (its first clause is),
    "没修好" is not fixed, and "好了好了别吵了" (one clause, no answer phrase) is unclear.
    """
    if len(text) > 40:
        return "unclear"
    clauses = [_COURTESY.sub("", c.lower()) for c in _CLAUSE_SPLIT.split(text.strip())]
    clauses = [c for c in clauses if c]
    if not clauses:
        # Only thanks ("谢谢师傅！") after a fix reads as yes.
        return "fixed" if re.search(r"谢|感谢", text) else "unclear"
    if any(len(c) <= 14 and _NOT_FIXED.match(c) for c in clauses):
        return "not_fixed"
    if _FIXED.match(clauses[0]) and not any(_NEGATION.search(c) for c in clauses[1:]):
        return "fixed"
    return "unclear"


_BARE_BUILDING = re.compile(r"^\s*([0-9０-９]{1,3}|[A-Ha-h])\s*(号|号楼|栋|幢|#|座)?\s*[。.!！]?\s*$")
_CN_BARE = re.compile(r"^\s*([一二三四五六七八九十]{1,3})\s*(号|号楼|栋|幢|座)?\s*[。.!！]?\s*$")


def read_bare_building(text: str) -> str | None:
    """A bare answer to "请问是几号楼？": "3", "３", "B", "十二"."""
    m = _BARE_BUILDING.match(text)
    if m:
        value = m.group(1).translate(str.maketrans("０１２３４５６７８９", "0123456789"))
        return value.upper()
    m = _CN_BARE.match(text)
    if m:
        import cn2an

        try:
            return str(cn2an.cn2an(m.group(1), "smart"))
        except ValueError:
            return None
    return None
