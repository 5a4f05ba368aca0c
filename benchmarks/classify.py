"""Benchmark of the intent classifier (issue 4): load time, throughput, latency, and a plain baseline.

    .venv/bin/python benchmarks/classify.py [--rounds N] [--data FILE] [--intents DIR] [--cv K]

- load: ``load_intents`` + ``Classifier`` (parse, validate and index the YAML, train the learned model on
  the examples), best and median of 5; the training alone is printed beside it;
- throughput: messages classified one at a time in this process (``Classifier.classify``), over the
  bundled labelled messages repeated ``--rounds`` times; p50 / p99 latency per message;
- baseline, measured in the same run on the same data: TF-IDF over char 1-2 grams + multinomial logistic
  regression, trained on the same YAML examples (pure Python, no scikit-learn / numpy needed), with the
  same normalisation; its accuracy and macro-F1 beside ours.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import random
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from intents.classifier import NGRAM_SIZES, Classifier, char_ngrams  # noqa: E402
from intents.evaluate import Sample, evaluate, read_samples  # noqa: E402
from intents.learned import LearnedModel  # noqa: E402
from intents.loader import load_intents  # noqa: E402
from intents.normalize import normalize  # noqa: E402

DEFAULT_DATA = ROOT / "intents" / "data" / "messages-dev.jsonl"


class TfidfLogReg:
    """Char n-gram TF-IDF + multinomial logistic regression (SGD), pure Python."""

    def __init__(self, epochs: int = 30, lr: float = 0.5, l2: float = 1e-4, seed: int = 0) -> None:
        self.epochs, self.lr, self.l2, self.seed = epochs, lr, l2, seed

    def _vec(self, text: str) -> dict[str, float]:
        tf: dict[str, float] = {}
        for g in char_ngrams(normalize(text)):
            w = self.idf.get(g)
            if w is not None:
                tf[g] = tf.get(g, 0.0) + w
        n = math.sqrt(sum(v * v for v in tf.values())) or 1.0
        return {g: v / n for g, v in tf.items()}

    def fit(self, texts: list[str], labels: list[str]) -> TfidfLogReg:
        self.classes = sorted(set(labels))
        df: dict[str, int] = defaultdict(int)
        for t in texts:
            for g in set(char_ngrams(normalize(t))):
                df[g] += 1
        n = len(texts)
        self.idf = {g: math.log((n + 1) / (c + 1)) + 1 for g, c in df.items()}
        xs = [self._vec(t) for t in texts]
        ys = [self.classes.index(y) for y in labels]
        k = len(self.classes)
        self.w: dict[str, list[float]] = defaultdict(lambda: [0.0] * k)
        self.b = [0.0] * k
        rng = random.Random(self.seed)
        order = list(range(n))
        for epoch in range(self.epochs):
            rng.shuffle(order)
            lr = self.lr / (1 + epoch * 0.1)
            for i in order:
                x, y = xs[i], ys[i]
                p = self._proba(x)
                p[y] -= 1.0  # gradient of the cross-entropy wrt the logits
                for c in range(k):
                    self.b[c] -= lr * p[c]
                for g, v in x.items():
                    wg = self.w[g]
                    for c in range(k):
                        wg[c] -= lr * (p[c] * v + self.l2 * wg[c])
        self.w = dict(self.w)
        return self

    def _proba(self, x: dict[str, float]) -> list[float]:
        z = list(self.b)
        for g, v in x.items():
            wg = self.w.get(g)
            if wg is not None:
                for c in range(len(z)):
                    z[c] += wg[c] * v
        m = max(z)
        e = [math.exp(v - m) for v in z]
        s = sum(e)
        return [v / s for v in e]

    def predict(self, text: str) -> str:
        p = self._proba(self._vec(text))
        return self.classes[max(range(len(p)), key=p.__getitem__)]


def macro_f1(gold: list[str], pred: list[str]) -> float:
    labels = sorted(set(gold) | set(pred))
    f1s = []
    for lab in labels:
        tp = sum(1 for g, p in zip(gold, pred, strict=True) if g == lab and p == lab)
        fp = sum(1 for g, p in zip(gold, pred, strict=True) if g != lab and p == lab)
        fn = sum(1 for g, p in zip(gold, pred, strict=True) if g == lab and p != lab)
        pr = tp / (tp + fp) if tp + fp else 0.0
        rc = tp / (tp + fn) if tp + fn else 0.0
        f1s.append(2 * pr * rc / (pr + rc) if pr + rc else 0.0)
    return sum(f1s) / len(f1s)


def timed_loop(fn, texts: list[str]) -> tuple[float, list[float]]:
    lat = []
    t0 = time.perf_counter()
    for t in texts:
        s = time.perf_counter()
        fn(t)
        lat.append(time.perf_counter() - s)
    return time.perf_counter() - t0, lat


def pct(values: list[float], q: float) -> float:
    v = sorted(values)
    return v[min(len(v) - 1, int(q * len(v)))]


def cross_validate(intent_set, k: int, **settings: float) -> tuple[float, float, int, int, int]:
    """k-fold cross-validation over the YAML examples: each fold's examples are left out of the index, the
    fuzzy matching and the learned model, then classified. Returns mean macro-F1, mean accuracy, the
    ``none`` examples ticketed, the ``none`` examples and the unsure count."""
    f1s, accs, ticketed, nones, unsure = [], [], 0, 0, 0
    for fold in range(k):
        defs, test = {}, []
        for iid, d in intent_set.defs.items():
            keep = []
            for j, (text, line) in enumerate(d.examples):
                if j % k == fold:
                    test.append(Sample(f"{iid}-{j}", text, iid, None, None, None, False))
                else:
                    keep.append((text, line))
            defs[iid] = dataclasses.replace(d, examples=keep)
        fold_set = dataclasses.replace(intent_set, defs=defs, settings={**intent_set.settings, **settings})
        rep = evaluate(Classifier(fold_set), test)
        f1s.append(rep.macro_f1)
        accs.append(rep.accuracy)
        ticketed += rep.none_ticketed
        nones += rep.none_total
        unsure += rep.unsure
    return sum(f1s) / k, sum(accs) / k, ticketed, nones, unsure


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="labelled JSON lines (default: bundled dev set)")
    ap.add_argument("--intents", type=Path, default=None, help="intent YAML folder (default: shipped)")
    ap.add_argument("--rounds", type=int, default=10, help="passes over the data for the throughput figure")
    ap.add_argument(
        "--cv", type=int, default=0, metavar="K",
        help="also K-fold cross-validate over the YAML examples, with and without the learned model",
    )
    args = ap.parse_args(argv)
    if hasattr(os, "getloadavg"):
        print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} (other processes slow the figures)")

    loads = []
    for _ in range(5):
        t = time.perf_counter()
        intent_set = load_intents(args.intents)
        clf = Classifier(intent_set)
        loads.append(time.perf_counter() - t)
    n_ex = sum(len(d.examples) for d in intent_set.defs.values())
    samples = read_samples(args.data)
    texts = [s.text for s in samples]
    print(f"data: {args.data.name} ({len(texts)} messages) x {args.rounds} rounds; {len(intent_set.intents)} intents, {n_ex} examples")
    print(f"load+index YAML: best {min(loads) * 1000:.0f} ms, median {statistics.median(loads) * 1000:.0f} ms (target < 1000 ms)")
    if clf.learned is not None:
        fits = []
        for _ in range(3):
            t = time.perf_counter()
            LearnedModel(
                clf._ex_text, clf._ex_intent, clf._ids, l2=intent_set.settings["learned_l2"],
                sizes=NGRAM_SIZES, vocab=clf._gid,
            )
            fits.append(time.perf_counter() - t)
        print(f"  of which training the learned model (logistic regression on the examples): best {min(fits) * 1000:.0f} ms")

    for t in texts[:50]:  # warm-up
        clf.classify(t)
    stream = texts * args.rounds
    total, lat = timed_loop(clf.classify, stream)
    per_round = [timed_loop(clf.classify, texts)[0] for _ in range(args.rounds)]
    print(
        f"linli classifier: {len(stream) / total:,.0f} msg/s one at a time over all rounds, "
        f"best round {len(texts) / min(per_round):,.0f} msg/s (target >= 3,000); "
        f"p50 {pct(lat, 0.5) * 1e6:.0f} us, p99 {pct(lat, 0.99) * 1e6:.0f} us"
    )
    rep = evaluate(clf, samples)
    print(f"  accuracy {rep.accuracy:.3f}, macro-F1 {rep.macro_f1:.3f}, none->ticket {rep.none_ticket_rate:.1%}")

    train_texts, train_labels = [], []
    for iid, d in intent_set.defs.items():
        for text, _line in d.examples:
            train_texts.append(text)
            train_labels.append(iid)
    t = time.perf_counter()
    base = TfidfLogReg().fit(train_texts, train_labels)
    train_s = time.perf_counter() - t
    total_b, lat_b = timed_loop(base.predict, stream)
    preds = [base.predict(s.text) for s in samples]
    gold = [s.intent for s in samples]
    acc = sum(p == g for p, g in zip(preds, gold, strict=True)) / len(gold)
    none_total = sum(1 for g in gold if g == "none")
    none_ticket = sum(1 for p, g in zip(preds, gold, strict=True) if g == "none" and p != "none")
    print(
        f"baseline TF-IDF char 1-2gram + logistic regression (same YAML examples, trained in {train_s:.1f} s): "
        f"{len(stream) / total_b:,.0f} msg/s; p50 {pct(lat_b, 0.5) * 1e6:.0f} us, p99 {pct(lat_b, 0.99) * 1e6:.0f} us"
    )
    print(
        f"  accuracy {acc:.3f}, macro-F1 {macro_f1(gold, preds):.3f}, "
        f"none->ticket {none_ticket / none_total if none_total else 0:.1%}"
    )
    if args.cv > 1:
        for label, extra in (("as configured", {}), ("learned model off", {"learned_weight": 0.0})):
            f1, acc, ticketed, nones, unsure = cross_validate(intent_set, args.cv, **extra)
            print(
                f"{args.cv}-fold cross-validation over the YAML examples, {label}: macro-F1 {f1:.4f}, "
                f"accuracy {acc:.4f}, none ticketed {ticketed}/{nones}, unsure {unsure}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
