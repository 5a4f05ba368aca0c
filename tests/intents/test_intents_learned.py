"""The learned evidence: logistic regressions trained at load time on the YAML examples and training files."""

import dataclasses
import json
import re
import time

import numpy as np
import pytest

from intents.classifier import Classifier, char_ngrams
from intents.cli import explain_text
from intents.evaluate import read_samples
from intents.learned import LearnedModel, ngrams
from intents.loader import IntentConfigError, load_intents
from intents.normalize import normalize

TOY = (
    ["楼道灯坏了", "路灯不亮", "灯一闪一闪的", "下水道堵了", "马桶堵了冒水", "厨房下水不通", "谢谢师傅", "收到", "好的谢谢"],
    ["lighting"] * 3 + ["drainage"] * 3 + ["none"] * 3,
)


def _with_settings(**settings):
    s = load_intents()
    return dataclasses.replace(s, settings={**s.settings, **settings})


def test_training_is_deterministic():
    a = LearnedModel(*TOY, ["lighting", "drainage", "none"])
    b = LearnedModel(*TOY, ["lighting", "drainage", "none"])
    assert a.vocab == b.vocab
    assert np.array_equal(a.W, b.W) and np.array_equal(a.b, b.b)


def test_shipped_model_is_deterministic_across_loads(classifier):
    other = Classifier(load_intents())
    assert np.array_equal(classifier.learned.W, other.learned.W)
    assert classifier.classify("楼道灯坏了好几天").why == other.classify("楼道灯坏了好几天").why


def test_toy_model_learns_the_examples():
    m = LearnedModel(*TOY, ["lighting", "drainage", "none"])
    p = m.proba("三楼楼道灯坏了")
    assert max(p, key=p.get) == "lighting"
    assert abs(sum(p.values()) - 1) < 1e-9
    p = m.proba("谢谢")
    assert max(p, key=p.get) == "none"
    # a text with no known n-gram gets the prior (bias only), still a distribution
    p = m.proba("xyz")
    assert abs(sum(p.values()) - 1) < 1e-9


def test_numbers_are_not_features():
    """Which building, room or phone number a message names says nothing about its intent."""
    assert ngrams("3号楼1201漏水", (1, 2)) == ngrams("12号楼302漏水", (1, 2))
    assert "0" in ngrams("电话13800138000", (1, 2)) and "00" not in ngrams("电话13800138000", (1, 2))


def test_a_callback_number_does_not_make_a_report_look_like_an_ad(classifier):
    # ads carry phone numbers; a resident leaving theirs is still reporting a problem
    c = classifier.classify("3号楼楼道灯不亮，有事打我电话13800138000")
    assert (c.intent, c.building) == ("lighting", "3")


def test_learned_uses_the_classifier_features(classifier):
    """The model's own text path and the classifier's shared vector give the same probabilities."""
    m = classifier.learned
    assert m.vocab is classifier._gid
    for text in ["电梯又停了，老人下不来", "谢谢物业", "晚上回家只能打着手机电筒摸上楼"]:
        t = classifier.prep(text)
        by_text = m.proba(t)
        shared = dict(zip(m.classes, m.proba_ids(classifier._qvector(char_ngrams(t))), strict=True))
        for k in by_text:
            assert by_text[k] == pytest.approx(shared[k], abs=1e-9)


def test_learned_model_alone_generalises(data_dir):
    """Sanity: trained only on the YAML examples (not on the training files, which hold the dev set), the
    model alone gets most dev messages right."""
    classifier = Classifier(dataclasses.replace(load_intents(), training=[]))
    m = classifier.learned
    samples = read_samples(data_dir / "messages-dev.jsonl")
    right = 0
    for s in samples:
        p = m.proba(classifier.prep(normalize(s.text)))
        right += max(p, key=p.get) == s.intent
    assert right / len(samples) >= 0.85


def test_explanation_shows_learned_evidence(classifier):
    c = classifier.classify("晚上回家只能打着手机电筒摸上楼")
    assert c.intent == "lighting"
    assert "learned 0." in c.why
    out = explain_text(classifier, "晚上回家只能打着手机电筒摸上楼")
    assert "learned 0." in out
    assert "learned from:" in out


def test_learned_weight_zero_turns_it_off():
    clf = Classifier(_with_settings(learned_weight=0.0))
    assert clf.learned is None
    c = clf.classify("晚上回家只能打着手机电筒摸上楼")
    assert c.intent == "lighting"
    assert "learned" not in c.why


def test_learned_evidence_changes_scores_by_its_weight():
    text = "楼道灯坏了好几天"
    on = Classifier(_with_settings(learned_weight=4.0)).analyse(text)
    off = Classifier(_with_settings(learned_weight=0.0)).analyse(text)
    s_on = {s.intent: s for s in on.scores}
    s_off = {s.intent: s.score for s in off.scores}
    for iid in ("lighting", "none"):
        assert s_on[iid].score == pytest.approx(s_off[iid] + 4.0 * s_on[iid].learned, abs=1e-6)


def test_learned_settings_are_validated(intents_copy):
    p = intents_copy / "none.yaml"
    text = p.read_text(encoding="utf-8")
    bad = re.sub(r"learned_weight: [0-9.]+", "learned_weight: -1", text)
    assert bad != text
    p.write_text(bad, encoding="utf-8")
    with pytest.raises(IntentConfigError) as exc:
        load_intents(intents_copy)
    assert "learned_weight" in str(exc.value)


def test_training_cost_is_modest():
    """Not a wall-clock target: training may cost a few times the rest of load + index, no more."""

    def best(settings):
        out = []
        for _ in range(3):
            s = _with_settings(**settings)
            t = time.perf_counter()
            Classifier(s)
            out.append(time.perf_counter() - t)
        return min(out)

    off = best({"learned_weight": 0.0, "urgent_threshold": 1.0})
    on = best({})
    assert on < 6 * off + 0.05


def _urgency_set(tmp_path, *, threshold: float | None = None):
    """A tiny intent set whose only source of urgency is the learned model (no urgent patterns)."""
    (tmp_path / "none.yaml").write_text(
        "id: none\nname: 非诉求\nkeywords:\n  strong: [谢谢]\nexamples: [收到, 谢谢物业]\ntraining: [data/*.jsonl]\n"
        "past: [昨天, 上周]\npresent: [现在, 还在]\nnot_urgent: [演练]\n"
        + (f"settings:\n  urgent_threshold: {threshold}\n" if threshold is not None else ""),
        encoding="utf-8",
    )
    (tmp_path / "gas.yaml").write_text(
        "id: gas\nname: 燃气\nroute: grid_worker\nack: 30m\nresolve: 4h\nkeywords:\n  strong: [燃气, 煤气]\n"
        "examples: [燃气费怎么交, 煤气灶打不着火, 燃气表不走字]\n",
        encoding="utf-8",
    )
    urgent = ["一股煤气味 熏得头晕", "燃气味好大 孩子在家", "煤气味越来越浓 快来", "闻到燃气味 头晕想吐", "楼道煤气味呛人 老人出不来"]
    calm = ["燃气费怎么交啊", "燃气表不走字了", "煤气灶打不着火", "燃气公司几点上班", "煤气管要不要换"]
    rows = [{"text": t, "intent": "gas", "urgent": True} for t in urgent]
    rows += [{"text": t, "intent": "gas", "urgent": False} for t in calm]
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "gas.jsonl").write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8"
    )
    return load_intents(tmp_path) if threshold != 0 else None


def test_learned_urgency_flags_danger_no_pattern_names(tmp_path):
    clf = Classifier(_urgency_set(tmp_path))
    assert clf.urgency is not None
    c = clf.classify("家里煤气味很浓 头晕")
    assert (c.intent, c.urgent) == ("gas", True)
    assert "urgent 'learned" in c.why
    calm = clf.classify("燃气费在哪交")
    assert (calm.intent, calm.urgent) == ("gas", False)


def test_learned_urgency_respects_past_and_not_urgent_cues(tmp_path):
    clf = Classifier(_urgency_set(tmp_path))
    past = clf.classify("昨天家里煤气味很浓 头晕")
    assert past.urgent is False and "in the past" in past.why
    assert clf.classify("昨天家里煤气味很浓 现在还在 头晕").urgent is True
    drill = clf.classify("家里煤气味很浓 头晕 是演练")
    assert drill.urgent is False and "演练" in drill.why


def test_learned_urgency_threshold_one_turns_it_off(tmp_path):
    clf = Classifier(_urgency_set(tmp_path, threshold=1))
    assert clf.urgency is None
    assert clf.classify("家里煤气味很浓 头晕").urgent is False


def test_learned_urgency_promotes_over_none(tmp_path):
    """People in danger now are never "not a request": when none wins on the rules (谢谢 here; the learned
    intent model off) but the learned urgency reaches promote_threshold, the best issue takes the message."""
    s = _urgency_set(tmp_path)
    for threshold, expected in ((0.6, ("gas", True)), (1.0, ("none", False))):
        settings = {**s.settings, "learned_weight": 0, "promote_threshold": threshold}
        c = Classifier(dataclasses.replace(s, settings=settings)).classify("谢谢 头晕想吐 快来")
        assert (c.intent, c.urgent) == expected, c.why
        assert ("promoted over none" in c.why) == (expected[0] == "gas")


def test_urgency_needs_both_classes(tmp_path):
    """Trained on urgent messages only, an urgency model would call everything urgent: it is not built."""
    s = _urgency_set(tmp_path)
    only_urgent = [r for r in s.training if r.urgent]
    clf = Classifier(dataclasses.replace(s, training=only_urgent))
    assert clf.urgency is None
    assert clf.classify("燃气费在哪交").urgent is False


def test_a_zero_threshold_is_refused(tmp_path):
    _urgency_set(tmp_path, threshold=0)
    with pytest.raises(IntentConfigError) as exc:
        load_intents(tmp_path)
    assert "urgent_threshold" in str(exc.value) and "above 0" in str(exc.value)
