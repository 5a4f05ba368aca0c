"""Reading a bare answer to "请问是几号楼？"."""

from __future__ import annotations

import pytest

from handlers.answers import read_bare_building


@pytest.mark.parametrize(("text", "building"), [("3", "3"), ("３", "3"), ("8号", "8"), ("十二栋", "12"), ("b座", "B")])
def test_bare_building_answers(text, building):
    assert read_bare_building(text) == building


def test_a_sentence_is_not_a_bare_building():
    assert read_bare_building("3点以后在家") is None
