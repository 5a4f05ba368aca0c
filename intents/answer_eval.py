"""Figures of the answer reader on labelled answers (``linli answers FILE`` with labelled lines).

The figures the issue asks for: accuracy; false closes (a ``not_fixed`` answer read as ``fixed``) as a share
of the ``not_fixed`` answers; ``fixed`` read as ``not_fixed`` as a share of the ``fixed`` answers; and
the recall of ``unclear``. A confusion matrix (rows: label, columns: reading) follows.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from .answer_reader import ANSWERS


@dataclass(slots=True)
class AnswerReport:
    confusion: Counter = field(default_factory=Counter)  # (label, reading) -> count
    misses: list[tuple[str, str, str, str]] = field(default_factory=list)  # (id, text, label, reading)

    def add(self, id_: str, text: str, label: str, reading: str) -> None:
        self.confusion[(label, reading)] += 1
        if label != reading:
            self.misses.append((id_, text, label, reading))

    def total(self, label: str | None = None) -> int:
        return sum(n for (lab, _r), n in self.confusion.items() if label is None or lab == label)

    def rate(self, label: str, reading: str) -> float:
        n = self.total(label)
        return self.confusion[(label, reading)] / n if n else 0.0

    def summary(self) -> dict[str, float | int]:
        n = self.total()
        right = sum(self.confusion[(a, a)] for a in ANSWERS)
        return {
            "answers": n,
            "accuracy": round(right / n, 4) if n else 0.0,
            "false_close": round(self.rate("not_fixed", "fixed"), 4),
            "fixed_as_not_fixed": round(self.rate("fixed", "not_fixed"), 4),
            "unclear_recall": round(self.rate("unclear", "unclear"), 4),
            "fixed_recall": round(self.rate("fixed", "fixed"), 4),
            "not_fixed_recall": round(self.rate("not_fixed", "not_fixed"), 4),
        }


def format_report(rep: AnswerReport, show_misses: bool = True) -> str:
    s = rep.summary()
    lines = [
        f"answers {s['answers']}  accuracy {s['accuracy']:.3f}",
        f"false close (not_fixed → fixed) {s['false_close']:.1%} of not_fixed   "
        f"fixed → not_fixed {s['fixed_as_not_fixed']:.1%} of fixed   unclear recognised {s['unclear_recall']:.1%}",
        "",
        "label \\ read    " + "".join(f"{a:>11}" for a in ANSWERS),
    ]
    for lab in ANSWERS:
        lines.append(f"{lab:<16}" + "".join(f"{rep.confusion[(lab, a)]:>11}" for a in ANSWERS))
    if show_misses and rep.misses:
        lines += ["", "misread:"]
        lines += [f"  {i}  {lab} → {read}  {text}" for i, text, lab, read in rep.misses]
    return "\n".join(lines)
