"""How people say the things a group chat says around a ticket — pure functions, one place for each rule.

- a **me-too** ("+1", "同上", "我们单元也是", "8号楼也一样"): the sender has the same problem;
- a **status question** ("什么时候修？", "有人管吗", "进度呢", "怎么还没人来");
- a **help request** ("怎么报修", "帮助");
- a message that is **only a place** ("8号楼", "3栋2单元"), which is no report without a question before it;
- a **public place** (广场, 小区门口, 地库, 路灯): never the reporter's flat.

Each works on the normalised text (:func:`intents.normalize.normalize`), so traditional characters, full
width and emoji are already folded.
"""

from __future__ import annotations

import re

from intents.normalize import normalize

# a building / unit / room mention, in digits or Chinese numerals
_PLACE = r"(?:[0-9一二三四五六七八九十两]{1,4}\s*(?:号楼|号|栋|幢|座|#|单元|楼|层|室)|[a-h]\s*座)"
_PLACE_RE = re.compile(_PLACE)
_PARTICLES_RE = re.compile(r"[\s,，.。!！~～、…啊呀啦哦哈呢吧嘛的了]+")

_ME_TOO_BARE_RE = re.compile(r"^(\+\d*|加一|同上|同问|同|附议|一样|同样|我也是|我也一样|俺也一样|我也|\+1同上)$")
_ME_TOO_RE = re.compile(
    r"^(我|我们|俺|咱|咱们|我家|我们家|俺家|我这|我这边|我这里|我们这|我们这边|我们这里|我们那|这边|这里|那边)?"
    r"(家|这|这边|这里|单元|楼|楼栋|栋|层|那边)?"
    r"(也|同样|一样|都)(是|这样|这个情况|一样|有|有这个问题|遇到|碰到|是这样|这样子|是这个问题|一样的情况)?"
    r"(的)?(情况|问题)?$"
)
_STATUS_RE = re.compile(
    r"(什么时候|啥时候|几时|多久|何时|哪天|要等多久|还要多久)(能|才能|才|可以|会)?(来|修|弄|处理|好|解决|管|派人|有人)"
    r"|有人管(吗|没|不)|有没有人(管|来|处理)|没人管(吗|啊|呀)?$|到底(修不修|管不管|有没有人|什么时候|啥时候)"
    r"|进度(呢|如何|怎么样|咋样|怎样|到哪)|(处理|修|弄)得?(怎么样|咋样|如何)了"
    r"|(怎么|咋|为什么|为啥)(还|都)?没(人|修|来|弄|处理|好|动静|消息|回复|人管)"
    r"|(还要|要)等(多久|多长时间|到什么时候)|(催|催一下|催催|催下)(吧|啊|呀)?$|有消息(吗|没)"
)
_HELP_RE = re.compile(r"^(/?help|帮助|使用说明|说明|菜单|怎么用|怎么使用|(怎么|如何|怎样|在哪|哪里)(报修|报事|反映问题|提问题|投诉))[?？吗]*$")
# public places: a report about one of these is never about the reporter's flat
PUBLIC_WORDS = (
    "广场", "小区门口", "大门", "东门", "西门", "南门", "北门", "正门", "侧门", "地库", "地下车库", "车库", "停车场",
    "路灯", "主干道", "小区道路", "小区里的路", "花园", "绿地", "草坪", "健身区", "健身器材", "儿童乐园", "游乐场",
    "篮球场", "门岗", "岗亭", "垃圾站", "快递柜", "充电桩", "车棚", "非机动车棚", "物业办公室", "会所", "凉亭", "水池",
)
_PUBLIC_RE = re.compile("|".join(sorted(map(re.escape, PUBLIC_WORDS), key=len, reverse=True)))


def _bare(text: str) -> str:
    return _PARTICLES_RE.sub("", normalize(text))


def me_too_place(text: str) -> tuple[bool, str]:
    """Is ``text`` a me-too? Returns (yes, the text with its place mentions taken out)."""
    t = _bare(text)
    rest = _PLACE_RE.sub("", t)
    if not rest:
        return False, rest
    return bool(_ME_TOO_BARE_RE.match(rest) or _ME_TOO_RE.match(rest)), rest


def is_me_too(text: str) -> bool:
    """"+1", "同上", "我们单元也是", "我家也这样", "8号楼也一样" — and nothing more in the message."""
    return me_too_place(text)[0]


def is_status_question(text: str) -> bool:
    """"什么时候修？", "有人管吗", "进度呢", "怎么还没人来" (short messages only: a long one is a report)."""
    t = normalize(text)
    return len(t) <= 40 and bool(_STATUS_RE.search(t))


def is_help_request(text: str) -> bool:
    return bool(_HELP_RE.match(_bare(text)))


def is_only_place(text: str) -> bool:
    """"8号楼", "3栋", "5-2-301": a place and nothing else."""
    t = _bare(text)
    if not t:
        return False
    rest = _PLACE_RE.sub("", t)
    rest = re.sub(r"^[0-9a-h]{1,4}([-－—]\d{1,4}){0,2}$", "", rest)
    return rest == ""


def public_place(text: str) -> str | None:
    """The public place a message names (广场, 地库…), if any."""
    m = _PUBLIC_RE.search(normalize(text))
    return m.group(0) if m else None


def find_area(text: str, areas: dict[str, list[str]]) -> str | None:
    """The community area (``areas`` maps a name to its aliases) the message names; the longest mention wins."""
    t = normalize(text)
    best: tuple[int, str] | None = None
    for name, aliases in areas.items():
        for word in (name, *aliases):
            w = normalize(word)
            if w and w in t and (best is None or len(w) > best[0]):
                best = (len(w), name)
    return best[1] if best else None
