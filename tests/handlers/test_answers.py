"""Reading residents' short answers as whole phrases."""

from __future__ import annotations

import pytest

from handlers.answers import read_bare_building, read_resolution


@pytest.mark.parametrize("text", ["好了", "修好了", "亮了", "通了", "没问题了", "解决了，谢谢", "1", "好了！👍", "已经修好了，谢谢师傅",
                                  "好了，人出来了，谢谢"])
def test_fixed(text):
    assert read_resolution(text) == "fixed"


@pytest.mark.parametrize("text", ["没修好", "还是不亮", "还是堵", "又坏了", "2", "楼道灯还是不亮啊😡", "没解决", "还没好",
                                  "好了，但是晚上还不亮", "修好了又坏修好了又坏，烦死了"])
def test_not_fixed(text):
    assert read_resolution(text) == "not_fixed"


@pytest.mark.parametrize("text", ["好了好了别吵了", "我晚上回家看看", "嗯", "明天再说吧"])
def test_unclear(text):
    assert read_resolution(text) == "unclear"


@pytest.mark.parametrize(("text", "building"), [("3", "3"), ("３", "3"), ("8号", "8"), ("十二栋", "12"), ("b座", "B")])
def test_bare_building_answers(text, building):
    assert read_bare_building(text) == building


def test_a_sentence_is_not_a_bare_building():
    assert read_bare_building("3点以后在家") is None
