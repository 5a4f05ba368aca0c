import os

import pytest

from intents.loader import IntentConfigError
from intents.registry import IntentRegistry


def test_reload_with_bad_yaml_keeps_last_good(intents_copy):
    reg = IntentRegistry(intents_copy)
    assert reg.classifier.classify("电梯坏了").intent == "elevator"
    assert reg.reload_if_changed() is None  # nothing changed

    path = intents_copy / "elevator.yaml"
    good = path.read_text(encoding="utf-8")
    path.write_text(good.replace("ack: 30m", "ack: soon"), encoding="utf-8")
    os.utime(path, ns=(1, 1))  # make sure the change is seen whatever the clock resolution
    res = reg.reload_if_changed()
    assert res is not None and not res.ok
    assert any(e.file.endswith("elevator.yaml") and e.line == 5 for e in res.errors)
    assert "elevator.yaml:5:" in res.message
    # the last good set still runs
    assert reg.classifier.classify("电梯坏了").intent == "elevator"
    assert reg.intents.get("elevator").ack.total_seconds() == 1800
    assert reg.reload_if_changed() is None  # the broken state is reported once

    # an admin fixes it and adds a new phrasing
    path.write_text(good.replace("examples:\n", "examples:\n  - 升降梯又趴窝了\n"), encoding="utf-8")
    res = reg.reload()
    assert res.ok and "已重新加载" in res.message
    assert reg.intents.defs["elevator"].examples[0][0] == "升降梯又趴窝了"


def test_first_load_failure_raises(tmp_path):
    (tmp_path / "none.yaml").write_text("id: none\nname: x\nfoo: 1\n", encoding="utf-8")
    with pytest.raises(IntentConfigError):
        IntentRegistry(tmp_path)


def test_deleted_file_is_noticed(intents_copy):
    reg = IntentRegistry(intents_copy)
    (intents_copy / "greenery.yaml").unlink()
    res = reg.reload_if_changed()
    assert res is not None and res.ok
    assert "greenery" not in reg.intents.intents


def test_an_edited_training_file_is_noticed(intents_copy):
    reg = IntentRegistry(intents_copy)
    n = len(reg.intents.training)
    assert n > 0
    with open(intents_copy / "data" / "messages-dev.jsonl", "a", encoding="utf-8") as f:
        f.write('{"text": "升降梯又趴窝了", "intent": "elevator"}\n')
    res = reg.reload_if_changed()
    assert res is not None and res.ok and f"{n + 1} 条训练消息" in res.message
    assert len(reg.intents.training) == n + 1
    assert reg.reload_if_changed() is None

    # a new training file matching the glob counts too; a broken line keeps the last good set
    (intents_copy / "data" / "extra.jsonl").write_text('{"text": "x"}\n', encoding="utf-8")
    res = reg.reload_if_changed()
    assert res is not None and not res.ok and "extra.jsonl:1:" in res.message
    assert len(reg.intents.training) == n + 1


def test_a_deleted_training_file_is_noticed(intents_copy):
    reg = IntentRegistry(intents_copy)
    n = len(reg.intents.training)
    (intents_copy / "data" / "challenge.jsonl").unlink()
    res = reg.reload_if_changed()
    assert res is not None and res.ok
    assert 0 < len(reg.intents.training) < n


def test_a_fix_to_a_file_of_a_new_glob_is_noticed(intents_copy):
    """The new glob is in a broken none.yaml edit's set, not the last good one: its files are watched too."""
    reg = IntentRegistry(intents_copy)
    none = intents_copy / "none.yaml"
    none.write_text(none.read_text(encoding="utf-8").replace("  - data/*.jsonl\n", "  - data/*.jsonl\n  - extra/*.jsonl\n"), encoding="utf-8")
    (intents_copy / "extra").mkdir()
    bad = intents_copy / "extra" / "ours.jsonl"
    bad.write_text('{"text": "电梯又坏了"}\n', encoding="utf-8")
    res = reg.reload_if_changed()
    assert res is not None and not res.ok and "ours.jsonl:1:" in res.message
    bad.write_text('{"text": "电梯又坏了", "intent": "elevator"}\n', encoding="utf-8")
    res = reg.reload_if_changed()
    assert res is not None and res.ok
    assert any(r.file.endswith("ours.jsonl") for r in reg.intents.training)


def test_an_unexpected_error_keeps_the_last_good_set(intents_copy, monkeypatch):
    """Whatever goes wrong while loading, the bot's tick goes on with the last good intents."""
    reg = IntentRegistry(intents_copy)
    good = reg.classifier

    def broken(*_a, **_k):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr("intents.registry.load_intents", broken)
    res = reg.reload()
    assert not res.ok and "disk on fire" in res.message
    assert reg.classifier is good
