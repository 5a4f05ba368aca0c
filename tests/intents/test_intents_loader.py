from datetime import timedelta
from pathlib import Path

import pytest

from intents.loader import (
    TAXONOMY_IDS,
    ConfigError,
    IntentConfigError,
    default_intents_dir,
    load_intents,
    parse_duration,
)

NONE_YAML = "id: none\nname: 非诉求\nexamples:\n  - 收到\n"


def write(d: Path, name: str, text: str) -> None:
    (d / name).write_text(text, encoding="utf-8")


def errors_of(d: Path) -> list[ConfigError]:
    with pytest.raises(IntentConfigError) as ei:
        load_intents(d)
    return ei.value.errors


def test_shipped_set_matches_taxonomy():
    s = load_intents()
    assert s.directory == default_intents_dir()
    assert set(s.intents) == {*TAXONOMY_IDS, "none"}
    assert s.issue_ids == list(TAXONOMY_IDS)
    assert s.warnings == []
    none = s.get("none")
    assert (none.route, none.ack, none.resolve) == (None, None, None)
    el = s.get("elevator")
    assert (el.name, el.route, el.ack, el.resolve) == ("电梯", "building_head", timedelta(minutes=30), timedelta(days=1))
    assert s.get("gas").ack == timedelta(minutes=15)
    assert s.get("greenery").resolve == timedelta(days=7)
    assert s.get("parking").route == "grid_worker"
    for iid in TAXONOMY_IDS:
        assert len(s.defs[iid].examples) >= 10, iid


@pytest.mark.parametrize(("text", "td"), [("30m", timedelta(minutes=30)), ("2h", timedelta(hours=2)), ("3d", timedelta(days=3)), ("1h30m", timedelta(minutes=90))])
def test_parse_duration(text, td):
    assert parse_duration(text) == td


@pytest.mark.parametrize("text", ["", "2", "h", "2 hours", "0m", "-1h", "2w"])
def test_parse_duration_rejects(text):
    assert parse_duration(text) is None


def test_errors_carry_file_and_line(tmp_path):
    write(tmp_path, "none.yaml", NONE_YAML)
    write(
        tmp_path,
        "bad.yaml",
        "id: lighting\n"  # 1
        "name: 照明\n"  # 2
        "route: somebody\n"  # 3 bad route
        "ack: 2 hours\n"  # 4 bad duration
        "resolve: 2d\n"  # 5
        "colour: red\n"  # 6 unknown key
        "regex:\n"  # 7
        "  - '(unclosed'\n"  # 8 invalid regex
        "examples:\n"  # 9
        "  - 收到\n",  # 10 duplicate of none's example
    )
    errs = errors_of(tmp_path)
    by_line = {e.line: e for e in errs if e.file.endswith("bad.yaml")}
    assert "route" in by_line[3].message
    assert "duration" in by_line[4].message
    assert "colour" in by_line[6].message
    assert "regular expression" in by_line[8].message
    dup = [e for e in errs if "duplicate example" in e.message]
    assert len(dup) == 1 and dup[0].line in (4, 10)  # reported at the second occurrence, naming the first
    assert "bad.yaml:10" in str(dup[0]) or "none.yaml:4" in str(dup[0])
    text = str(IntentConfigError(errs))
    assert f"{tmp_path / 'bad.yaml'}:3: " in text
    assert all(str(e).count(":") >= 2 for e in errs)


def test_duplicate_ids_and_missing_fields(tmp_path):
    write(tmp_path, "none.yaml", NONE_YAML)
    write(tmp_path, "a.yaml", "id: gas\nname: 燃气\nroute: grid_worker\nack: 15m\nresolve: 4h\n")
    write(tmp_path, "b.yaml", "- id: gas\n  name: 燃气\n  route: grid_worker\n  ack: 15m\n  resolve: 4h\n- id: heating\n  name: 供暖\n")
    errs = errors_of(tmp_path)
    msgs = [str(e) for e in errs]
    assert any("b.yaml:1: duplicate intent id 'gas'" in m for m in msgs)
    assert any("b.yaml:6:" in m and "'route'" in m for m in msgs)
    assert any("b.yaml:6:" in m and "'ack'" in m for m in msgs)


def test_none_is_required_and_missing_taxonomy_intents_warn(tmp_path):
    write(tmp_path, "gas.yaml", "id: gas\nname: 燃气\nroute: grid_worker\nack: 15m\nresolve: 4h\n")
    errs = errors_of(tmp_path)
    assert any("'none' intent is missing" in e.message for e in errs)
    write(tmp_path, "none.yaml", NONE_YAML)
    s = load_intents(tmp_path)
    assert set(s.intents) == {"gas", "none"}
    assert any("lighting" in w.message for w in s.warnings)


def test_yaml_syntax_error_has_line(tmp_path):
    write(tmp_path, "none.yaml", NONE_YAML)
    write(tmp_path, "x.yaml", "id: gas\nname: [燃气\nroute: grid_worker\n")
    errs = errors_of(tmp_path)
    assert errs[0].file.endswith("x.yaml") and errs[0].line is not None
    assert "syntax" in errs[0].message


def test_none_must_not_have_route(tmp_path):
    write(tmp_path, "none.yaml", "id: none\nname: 非诉求\nroute: grid_worker\n")
    errs = errors_of(tmp_path)
    assert errs[0].line == 3 and "none" in errs[0].message


def test_empty_or_missing_directory(tmp_path):
    assert "no *.yaml" in errors_of(tmp_path)[0].message
    assert "does not exist" in errors_of(tmp_path / "nope")[0].message


def test_all_errors_reported_at_once(tmp_path):
    write(tmp_path, "none.yaml", NONE_YAML)
    write(tmp_path, "a.yaml", "id: gas\nname: 燃气\nroute: nobody\nack: 15m\nresolve: 4h\n")
    write(tmp_path, "b.yaml", "id: heating\nname: 供暖\nroute: building_head\nack: soon\nresolve: 2d\n")
    errs = errors_of(tmp_path)
    assert {Path(e.file).name for e in errs} == {"a.yaml", "b.yaml"}


LIGHTING_YAML = (
    "id: lighting\nname: 照明\nroute: building_head\nack: 2h\nresolve: 1d\n"
    "keywords:\n  strong: [灯]\nexamples:\n  - 楼道灯不亮\n"
)


def with_training(d: Path, lines: str) -> Path:
    """A small intent set (none + lighting) whose none.training reads data/a.jsonl holding ``lines``."""
    write(d, "none.yaml", NONE_YAML + "training:\n  - data/*.jsonl\n")
    write(d, "lighting.yaml", LIGHTING_YAML)
    (d / "data").mkdir()
    write(d / "data", "a.jsonl", lines)
    return d


def test_training_files_are_read_with_their_urgency(tmp_path):
    with_training(tmp_path, '{"text": "3栋楼道黑了", "intent": "lighting", "urgent": false}\n\n{"text": "谢谢", "intent": "none"}\n')
    rows = load_intents(tmp_path).training
    assert [(r.text, r.intent, r.urgent, r.line) for r in rows] == [
        ("3栋楼道黑了", "lighting", False, 1),
        ("谢谢", "none", None, 3),
    ]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("not json", "needs JSON with text and intent"),
        ('{"text": "灯坏了"}', "needs JSON with text and intent"),
        ('{"text": "灯坏了", "intent": "lighting", "urgent": "yes"}', "urgent must be true or false"),
        ('{"text": "  ", "intent": "lighting"}', "empty text"),
        ('{"text": "灯坏了", "intent": ["lighting"]}', "intent must be a text"),
    ],
)
def test_a_bad_training_line_is_reported_with_file_and_line(tmp_path, line, message):
    with_training(tmp_path, '{"text": "灯坏了", "intent": "lighting"}\n' + line + "\n")
    errs = errors_of(tmp_path)
    assert len(errs) == 1
    assert errs[0].file.endswith("a.jsonl") and errs[0].line == 2 and message in errs[0].message


def test_a_training_pattern_matching_nothing_is_a_warning(tmp_path):
    write(tmp_path, "none.yaml", NONE_YAML + "training:\n  - data/*.jsonl\n")
    s = load_intents(tmp_path)
    assert s.training == []
    assert any("matches no file" in w.message and w.line == 6 for w in s.warnings)


def test_training_lines_of_an_undefined_intent_are_skipped_with_a_warning(tmp_path):
    """An admin may delete an intent (or mistype one): its training lines are skipped, not fatal."""
    with_training(
        tmp_path,
        '{"text": "灯坏了", "intent": "lighting"}\n{"text": "树倒了", "intent": "greenery"}\n'
        '{"text": "又倒了一棵", "intent": "greenery"}\n{"text": "灯不亮", "intent": "lightning"}\n',
    )
    s = load_intents(tmp_path)
    assert [r.text for r in s.training] == ["灯坏了"]
    (w,) = [w for w in s.warnings if "undefined intents" in w.message]
    assert w.file.endswith("a.jsonl") and w.line == 2
    assert "'greenery'" in w.message and "'lightning'" in w.message


@pytest.mark.parametrize(
    ("pattern", "message"),
    [("/etc/*.jsonl", "inside it"), ("../data/*.jsonl", "inside it"), ("''", "must not be empty")],
)
def test_a_training_pattern_outside_the_folder_is_an_error(tmp_path, pattern, message):
    write(tmp_path, "none.yaml", NONE_YAML + f"training:\n  - {pattern}\n")
    (err,) = errors_of(tmp_path)
    assert err.file.endswith("none.yaml") and err.line == 6 and message in err.message


def test_a_training_file_with_a_bom_is_read(tmp_path):
    with_training(tmp_path, '\ufeff{"text": "灯坏了", "intent": "lighting"}\n')
    assert [r.text for r in load_intents(tmp_path).training] == ["灯坏了"]
