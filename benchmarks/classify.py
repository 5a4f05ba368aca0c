"""Benchmark of the intent classifier (issue 4): load time, throughput, latency, quality, and a plain baseline.

    .venv/bin/python benchmarks/classify.py [--rounds N] [--data FILE] [--intents DIR] [--cv-files]

- load: ``load_intents`` + ``Classifier`` (parse, validate and index the YAML, read the training files, train
  the learned models), best and median of 5; the training alone is printed beside it;
- throughput: messages classified one at a time in this process (``Classifier.classify``), over ``--data``
  (default: the held-out blind-4 set) repeated ``--rounds`` times; p50 / p99 latency per message;
- quality on ``--data``: macro-F1, none->ticket, urgent precision / recall, location accuracy;
- baseline, measured in the same run on the same data: TF-IDF over char 1-2 grams + multinomial logistic
  regression alone (no rules, no similarity), trained on the same examples and training files with the same
  normalisation; its speed, accuracy and macro-F1 beside ours;
- ``--cv-files``: leave one training file out: for each file named by ``none.training``, train without it and
  evaluate on it (how the engine does on a set written by someone else, which it never learned from).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from intents.classifier import NGRAM_SIZES, Classifier  # noqa: E402
from intents.evaluate import EvalReport, evaluate, read_samples  # noqa: E402
from intents.learned import LearnedModel  # noqa: E402
from intents.loader import load_intents  # noqa: E402
from intents.normalize import normalize  # noqa: E402

DEFAULT_DATA = ROOT / "benchmarks" / "data" / "blind-4.jsonl"


class Baseline:
    """Char n-gram TF-IDF + multinomial logistic regression alone, on normalised text: the plain baseline."""

    def __init__(self, texts: list[str], labels: list[str], l2: float) -> None:
        classes = sorted(set(labels))
        self.model = LearnedModel([normalize(t) for t in texts], labels, classes, l2=l2, sizes=NGRAM_SIZES)

    def predict(self, text: str) -> str:
        p = self.model.proba(normalize(text))
        return max(p, key=p.__getitem__)


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


def cross_validate_files(intent_set) -> list[tuple[str, EvalReport]]:
    """Leave one training file out: the engine trained without a file, evaluated on that file."""
    out = []
    for path in sorted({r.file for r in intent_set.training}):
        rest = [r for r in intent_set.training if r.file != path]
        clf = Classifier(dataclasses.replace(intent_set, training=rest))
        out.append((Path(path).name, evaluate(clf, read_samples(Path(path)))))
    return out


def summary(rep: EvalReport) -> str:
    return (
        f"macro-F1 {rep.macro_f1:.3f}, accuracy {rep.accuracy:.3f}, none->ticket {rep.none_ticketed}/{rep.none_total} "
        f"({rep.none_ticket_rate:.1%}; to an issue incl. review {rep.none_flag_rate:.1%}), urgent P {rep.urgent_precision:.2f} "
        f"R {rep.urgent_recall:.2f}, location {rep.location_accuracy:.1%}, unsure {rep.unsure}"
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="labelled JSON lines (default: held-out blind-4)")
    ap.add_argument("--intents", type=Path, default=None, help="intent YAML folder (default: shipped)")
    ap.add_argument("--rounds", type=int, default=10, help="passes over the data for the throughput figure")
    ap.add_argument("--cv-files", action="store_true", help="also leave each training file out in turn")
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
    print(
        f"data: {args.data.name} ({len(texts)} messages) x {args.rounds} rounds; {len(intent_set.intents)} intents, "
        f"{n_ex} examples, {len(intent_set.training)} training messages"
    )
    print(f"load+index YAML: best {min(loads) * 1000:.0f} ms, median {statistics.median(loads) * 1000:.0f} ms (target < 1000 ms)")
    untrained = dataclasses.replace(intent_set, settings={**intent_set.settings, "learned_weight": 0.0, "urgent_threshold": 1.0})
    builds = {True: [], False: []}
    for _ in range(3):
        for learned, iset in ((True, intent_set), (False, untrained)):
            t = time.perf_counter()
            Classifier(iset)
            builds[learned].append(time.perf_counter() - t)
    print(f"  of which training the learned models: about {(min(builds[True]) - min(builds[False])) * 1000:.0f} ms")

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
    print(f"  {summary(evaluate(clf, samples))}")

    train_texts = [text for d in intent_set.defs.values() for text, _line in d.examples]
    train_labels = [iid for iid, d in intent_set.defs.items() for _ in d.examples]
    train_texts += [r.text for r in intent_set.training]
    train_labels += [r.intent for r in intent_set.training]
    t = time.perf_counter()
    base = Baseline(train_texts, train_labels, intent_set.settings["learned_l2"])
    train_s = time.perf_counter() - t
    total_b, lat_b = timed_loop(base.predict, stream)
    preds = [base.predict(s.text) for s in samples]
    gold = [s.intent for s in samples]
    acc = sum(p == g for p, g in zip(preds, gold, strict=True)) / len(gold)
    none_total = sum(1 for g in gold if g == "none")
    none_ticket = sum(1 for p, g in zip(preds, gold, strict=True) if g == "none" and p != "none")
    print(
        f"baseline TF-IDF char 1-2gram + logistic regression alone (same examples and training files, trained in "
        f"{train_s:.2f} s): {len(stream) / total_b:,.0f} msg/s; p50 {pct(lat_b, 0.5) * 1e6:.0f} us, "
        f"p99 {pct(lat_b, 0.99) * 1e6:.0f} us"
    )
    print(
        f"  accuracy {acc:.3f}, macro-F1 {macro_f1(gold, preds):.3f}, "
        f"none->ticket {none_ticket / none_total if none_total else 0:.1%}"
    )
    if args.cv_files:
        reps = cross_validate_files(intent_set)
        for name, rep in reps:
            print(f"left out {name} ({rep.total}): {summary(rep)}")
        n = sum(r.total for _, r in reps)
        nt = sum(r.none_ticketed for _, r in reps)
        nn = sum(r.none_total for _, r in reps)
        tp = sum(r.urgent_tp for _, r in reps)
        fp = sum(r.urgent_fp for _, r in reps)
        fn = sum(r.urgent_fn for _, r in reps)
        print(
            f"left-out files pooled ({n}): accuracy {sum(r.accuracy * r.total for _, r in reps) / n:.3f}, "
            f"mean macro-F1 {statistics.mean(r.macro_f1 for _, r in reps):.3f}, none->ticket {nt}/{nn} "
            f"({nt / nn if nn else 0:.1%}), urgent P {tp / (tp + fp) if tp + fp else 1:.2f} R {tp / (tp + fn) if tp + fn else 1:.2f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
