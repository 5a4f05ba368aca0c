"""The learned evidence: logistic regression trained at load time on the YAML examples."""

import dataclasses
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


def test_ngrams_match_the_similarity_ngrams():
    for text in ["楼道灯坏了，晚上 看不见!", "+1", "3号楼2单元", "a"]:
        assert ngrams(text, (1, 2)) == char_ngrams(text)


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


def test_learned_model_alone_generalises(classifier, data_dir):
    """Sanity: trained only on the YAML examples, the model alone gets most dev messages right."""
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
    p.write_text(p.read_text(encoding="utf-8").replace("learned_weight: 4", "learned_weight: -1"), encoding="utf-8")
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

    off = best({"learned_weight": 0.0})
    on = best({"learned_weight": 4.0})
    assert on < 6 * off + 0.05
