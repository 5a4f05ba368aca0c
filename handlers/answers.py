"""Reading a resident's bare answer to "请问是几号楼？".

Whether a problem is fixed is read by the answer reader of the intent engine
(:mod:`intents.answer_reader`, rules in ``intents/answers/answers.yaml``), one reader for the core,
``linli answers`` and ``linli explain``.
"""

from __future__ import annotations

import re

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
