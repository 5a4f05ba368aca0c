"""The answer reader: how a resident's answer to "问题解决了吗？" is read (fixed / not_fixed / unclear).

The phrases below are the ones real residents wrote in the trial that found the loop never closed, plus the
kinds the issue names; the reader must agree with a person on each.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from intents.answer_reader import AnswerReader, collapse_repeats, load_answer_reader, load_answer_rules
from intents.classifier import Classifier
from intents.loader import IntentConfigError, load_intents
from intents.registry import IntentRegistry

SHIPPED = Path(__file__).resolve().parents[2] / "intents"


@pytest.fixture(scope="module")
def reader() -> AnswerReader:
    return load_answer_reader(None, Classifier(load_intents()).prep)


@pytest.mark.parametrize("text", [
    "亮了亮了谢谢", "好了好了", "OK了", "早就好了", "行了", "现在正常了", "已解決", "好咗", "冇问题", "1", "选1",
    "好了", "修好了", "没问题了", "解决了，谢谢", "好了！👍", "已经修好了，谢谢师傅", "好了，人出来了，谢谢",
    "早上还不亮，现在亮了", "好像好了", "总算修好了，拖了一个礼拜", "✅",
])
def test_fixed(reader, text):
    assert reader.read(text).answer == "fixed", reader.read(text).why


@pytest.mark.parametrize("text", [
    "不亮", "没亮", "跟没修一样", "修了个寂寞", "根本没人来", "昨天好了今天又不行了", "好个屁", "修得真好，又漏了",
    "好像还是不太行", "仲係唔得", "2", "选2", "没修好", "还是不亮", "还是堵", "又坏了", "楼道灯还是不亮啊😡",
    "没解决", "还没好", "好了，但是晚上还不亮", "修好了又坏修好了又坏，烦死了", "亮了一盏，还有两盏不亮",
])
def test_not_fixed(reader, text):
    assert reader.read(text).answer == "not_fixed", reader.read(text).why


@pytest.mark.parametrize("text", [
    "好的", "收到", "嗯", "谢谢", "谢谢师傅！", "👌", "你们修的是哪个灯？", "什么时候修的？", "还没回家，晚上回去看看",
    "我晚上回家看看", "明天再说吧", "好了好了别吵了", "出差了，回去再说", "不知道亮没亮",
])
def test_unclear(reader, text):
    assert reader.read(text).answer == "unclear", reader.read(text).why


@pytest.mark.parametrize(("intent", "text"), [
    ("drainage", "通了"), ("water_supply", "有水了"), ("noise", "不响了"), ("parking", "车挪走了"), ("heating", "暖气热了"),
])
def test_words_of_the_ticket_type_count(reader, intent, text):
    assert reader.read(text, intent).answer == "fixed"


def test_the_last_word_decides_and_the_why_says_so(reader):
    r = reader.read("早上还不亮，现在亮了")
    assert r.answer == "fixed" and "亮了" in r.why and "最后" in r.why


def test_a_question_about_the_fix_confirms_nothing(reader):
    assert reader.read("修好了吗？").answer == "unclear"
    assert reader.read("哪儿修好了？你们来人看看").answer == "not_fixed"


def test_words_said_twice_are_read_once():
    assert collapse_repeats("亮了亮了亮了") == "亮了"
    assert collapse_repeats("谢谢") == "谢谢"


def _copy_intents(tmp_path: Path) -> Path:
    target = tmp_path / "intents"
    shutil.copytree(SHIPPED, target, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    return target


def test_an_admin_phrase_is_learned_without_code(tmp_path):
    folder = _copy_intents(tmp_path)
    before = load_answer_reader(folder).read("妥妥滴")
    yaml_file = folder / "answers" / "answers.yaml"
    yaml_file.write_text(yaml_file.read_text(encoding="utf-8").replace("phrases: [1, 一,", "phrases: [妥妥滴, 1, 一,", 1),
                         encoding="utf-8")
    after = load_answer_reader(folder).read("妥妥滴")
    assert before.answer != "fixed" and after.answer == "fixed"


def test_a_bad_edit_is_reported_with_file_and_line_and_keeps_the_last_good_reader(tmp_path):
    folder = _copy_intents(tmp_path)
    registry = IntentRegistry(folder)
    good = registry.answers
    yaml_file = folder / "answers" / "answers.yaml"
    lines = yaml_file.read_text(encoding="utf-8").splitlines()
    n = next(i for i, line in enumerate(lines) if line.startswith("not_fixed:"))
    lines.insert(n + 1, "  patterns: ['(unclosed']")
    yaml_file.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = registry.reload()
    assert not result.ok
    assert any(e.file.endswith("answers.yaml") and e.line == n + 2 for e in result.errors)
    assert registry.answers is good and registry.answers.read("亮了亮了谢谢").answer == "fixed"


def test_a_bad_training_line_is_reported_with_its_line(tmp_path):
    folder = _copy_intents(tmp_path)
    (folder / "answers" / "data" / "bad.jsonl").write_text(
        json.dumps({"text": "好了", "answer": "fixed"}) + "\n" + json.dumps({"text": "好了", "answer": "maybe"}) + "\n",
        encoding="utf-8")
    with pytest.raises(IntentConfigError) as exc:
        load_answer_rules(folder / "answers")
    assert any(e.file.endswith("bad.jsonl") and e.line == 2 for e in exc.value.errors)


@pytest.mark.parametrize(("text", "answer"), [
    ("完成了？逗我呢", "not_fixed"),            # a question that echoes the fix is a doubt
    ("修好了吗？", "unclear"),                 # ... a plain question is not
    ("还堵的话我再找你们", "unclear"),          # a condition decides nothing
    ("修好是修好了，就撑了两个小时", "not_fixed"),  # a concession, then the truth
    ("说是修好了，结果一开空调继续滴水", "not_fixed"),  # a claim is not a fix
    ("不漏了才怪", "not_fixed"),
    ("上次没通，这次通了", "fixed"),            # the earlier attempt is over
    ("不知道是挪了还是开出去了", "unclear"),
    ("经核查，飞线仍存在，请限期整改。", "not_fixed"),
    ("同意结单。", "fixed"),
    ("not fixed", "not_fixed"),
    ("all good now", "fixed"),
])
def test_how_people_hedge_doubt_and_concede(reader, text, answer):
    assert reader.read(text).answer == answer, reader.read(text).why


def test_a_fix_with_a_but_and_no_fix_after_it_is_asked_again(reader):
    r = reader.read("电梯能动了，但是每层都哐当一下，吓死人")
    assert r.answer != "fixed", r.why
