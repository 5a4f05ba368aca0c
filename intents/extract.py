"""Building / unit / room extraction and urgency detection.

Conventions (shared/data/README.md): a building is written 3号楼 / 3栋 / 3幢 / 3# / B座 (Chinese numerals and
full-width digits too); ``2-1-302`` is building-unit-room; a room is a 3–4 digit door number (1201室, 楼上1502).
Not locations: floors (26层, 18楼, 六楼), garage levels and zones (B2层, B区), phases (二期), gates, dates,
plate numbers, phone numbers, prices.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import cn2an

from .model import Location
from .normalize import normalize

_CN_NUM = "零〇一二三四五六七八九十百"
# Chinese numerals directly before a location suffix -> Arabic digits (三号楼, 十二栋, 二单元, 一二零一室)
_CN_LOC_RE = re.compile(
    rf"(?<![{_CN_NUM}两几每整哪])([{_CN_NUM}]{{1,4}})(?=号楼|栋|幢|单元|座|号房|室)"
)
_ROOM_CONTEXT_BEFORE = re.compile(r"(?:我家|我住|住在?|楼上|楼下|对门|隔壁|单元)\s*$")
# emergency and hotline numbers are not rooms (快打119, 打了120, 12345热线)
_HOTLINES = frozenset({"110", "119", "120", "122", "999"})

_TRIPLE_RE = re.compile(r"(?<![\d\-./:])(\d{1,3})\s*-\s*(\d{1,2})\s*-\s*(\d{3,4})(?![\d\-./:])")
_PAIR_RE = re.compile(r"(?<![\d\-./:])(\d{1,3})\s*-\s*(\d{3,4})(?![\d\-./:号])")
_BUILDING_RE = re.compile(
    r"(?<![\d.])(\d{1,3})\s*(?:号楼|号栋|栋|幢|#|号座|座)"  # 3号楼, 12栋, 7幢, 5#, 3座
    r"|(?<![a-z0-9])([a-h])\s*(?:座|栋|幢|号楼)",  # B座, A栋
    re.I,
)
_UNIT_RE = re.compile(r"(?<![\d.])(\d{1,2})\s*单元")
_ROOM_EXPLICIT_RE = re.compile(r"(?<![\d.])(\d{3,4})\s*(?:室|号房|房间|户)")
_ROOM_BARE_RE = re.compile(r"(?<![\d.a-z*#¥$-])(\d{3,4})(?![\d.%*:：年月日号元块钱万千百个米度斤层楼分秒次岁g-])", re.I)
_NOT_ROOM_BEFORE = re.compile(r"(?:车牌.{0,8}|[京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼][a-z].{0,6}|尾号|车牌|牌照|电话|手机|号码|微信|价格|价|费|交了|花了|修了|编号|工号|[京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼][a-z]?)\s*$", re.I)


def cn_numerals_to_arabic(text: str) -> str:
    def repl(m: re.Match[str]) -> str:
        if m.group(1) == "一" and m.start() and text[m.start() - 1] in "这那":
            return m.group(1)  # 这一栋 = "this building", but 咱这四单元 = unit 4
        try:
            return str(cn2an.cn2an(m.group(1), "smart"))
        except (ValueError, KeyError):
            digits = "".join("0123456789"["零一二三四五六七八九".index(c)] if c in "零一二三四五六七八九" else "" for c in m.group(1))
            return digits or m.group(1)

    return _CN_LOC_RE.sub(repl, text)


def _plausible_room(num: str) -> bool:
    n = int(num)
    floor, door = divmod(n, 100)
    return 1 <= floor <= 60 and 1 <= door <= 30


def extract_location(text: str, *, normalized: bool = False) -> Location:
    """Building, unit and room stated in ``text`` (per the data README conventions)."""
    t = text if normalized else normalize(text)
    t = cn_numerals_to_arabic(t)
    building = unit = room = None
    m = _TRIPLE_RE.search(t)
    if m:
        building, unit, room = m.group(1), m.group(2), m.group(3)
        building, unit = str(int(building)), str(int(unit))
    else:
        p = _PAIR_RE.search(t)
        if p and _plausible_room(p.group(2)):
            building, room = str(int(p.group(1))), p.group(2)
    if building is None:
        bm = _BUILDING_RE.search(t)
        if bm:
            building = str(int(bm.group(1))) if bm.group(1) else bm.group(2).upper()
    if unit is None:
        um = _UNIT_RE.search(t)
        if um:
            unit = str(int(um.group(1)))
    if room is None:
        rm = _ROOM_EXPLICIT_RE.search(t)
        if rm:
            room = rm.group(1)
        else:
            for rm in _ROOM_BARE_RE.finditer(t):
                if _NOT_ROOM_BEFORE.search(t[: rm.start()]):
                    continue
                if rm.group(1) in _HOTLINES and not _ROOM_CONTEXT_BEFORE.search(t[: rm.start()]):
                    continue
                if _plausible_room(rm.group(1)) and not rm.group(1).startswith("0"):
                    room = rm.group(1)
                    break
    return Location(building, unit, room)


def tense_cues(text: str, past: Iterable[re.Pattern[str]], present: Iterable[re.Pattern[str]]) -> list[tuple[int, bool]]:
    """(position, is_past) of every time cue in the text, in order."""
    cues = [(m.start(), True) for p in past for m in p.finditer(text)]
    cues += [(m.start(), False) for p in present for m in p.finditer(text)]
    cues.sort()
    return cues


def urgent_match(
    text: str,
    patterns: Iterable[re.Pattern[str]],
    negations: Iterable[re.Pattern[str]] = (),
    past: Iterable[re.Pattern[str]] = (),
    present: Iterable[re.Pattern[str]] = (),
) -> tuple[str | None, str | None]:
    """``(matched danger, None)`` when people are in danger now, else ``(None, reason or None)``.

    A danger mention is *in the past* when the nearest time cue before its end is a past cue (昨天, 上次 ...)
    and no present cue (现在, 正在, 还在 ...) comes later in the message: "昨天有狗追小孩 今天又在楼下溜达"
    is not urgent, "昨天井盖就没了 现在还敞着" is. ``negations`` (the shared ``not_urgent``) cancel it all.
    """
    pats = list(patterns)
    if not pats:
        return None, None
    cues: list[tuple[int, bool]] | None = None
    dropped = None
    for p in pats:
        for m in p.finditer(text):
            if cues is None:
                cues = tense_cues(text, past, present)
            before = [is_past for pos, is_past in cues if pos < m.end()]
            later_present = any(not is_past and pos >= m.end() for pos, is_past in cues)
            if before and before[-1] and not later_present:
                dropped = f"'{m.group(0)}' is in the past"
                continue
            for n in negations:
                nm = n.search(text)
                if nm:
                    return None, f"not urgent '{nm.group(0)}'"
            return m.group(0), None
    return None, dropped


def is_urgent(
    text: str,
    patterns: Iterable[re.Pattern[str]],
    negations: Iterable[re.Pattern[str]] = (),
    past: Iterable[re.Pattern[str]] = (),
    present: Iterable[re.Pattern[str]] = (),
) -> bool:
    """True when an urgent pattern matches the (normalised) text now (see ``urgent_match``)."""
    return urgent_match(text, patterns, negations, past, present)[0] is not None
