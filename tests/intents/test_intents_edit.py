import pytest

from intents.edit import add_example
from intents.loader import IntentConfigError, load_intents


def test_add_example_keeps_comments_and_validates(intents_copy):
    path = add_example("elevator", "升降梯又趴窝了，十几层只能走上去", intents_copy)
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# 电梯")
    s = load_intents(intents_copy)
    assert s.defs["elevator"].examples[-1][0] == "升降梯又趴窝了，十几层只能走上去"
    assert len(s.defs["elevator"].examples) == len(load_intents().defs["elevator"].examples) + 1


def test_add_duplicate_example_is_refused_and_file_restored(intents_copy):
    before = (intents_copy / "lighting.yaml").read_text(encoding="utf-8")
    existing = load_intents(intents_copy).defs["none"].examples[0][0]
    with pytest.raises(IntentConfigError):
        add_example("lighting", existing, intents_copy)  # already a 'none' example
    assert (intents_copy / "lighting.yaml").read_text(encoding="utf-8") == before


def test_add_example_quotes_yaml_specials(intents_copy):
    add_example("none", "- 好的: #1", intents_copy)
    assert load_intents(intents_copy).defs["none"].examples[-1][0] == "- 好的: #1"


def test_unknown_intent(intents_copy):
    with pytest.raises(KeyError):
        add_example("nope", "x", intents_copy)
