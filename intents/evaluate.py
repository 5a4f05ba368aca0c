"""Evaluation of the classifier on labelled JSON lines (like ``rasa test nlu``)."""

from __future__ import annotations

import html
import json
from dataclasses import dataclass, field
from pathlib import Path

from .classifier import Classifier
from .loader import NONE_ID
from .model import Classification


@dataclass(slots=True)
class Sample:
    id: str
    text: str
    intent: str
    building: str | None
    unit: str | None
    room: str | None
    urgent: bool
    also: tuple[str, ...] | None = None  # the other problems named, when the line says (``also``)
    kind: str | None = None  # the kind of message, when the line says (sarcasm, quoted_notice, …)


@dataclass(slots=True)
class EvalReport:
    labels: list[str]
    per_intent: dict[str, tuple[float, float, float, int]]  # precision, recall, f1, support
    macro_f1: float
    accuracy: float
    confusion: dict[str, dict[str, int]]  # gold -> predicted -> count
    none_total: int
    none_ticketed: int  # none messages that would open a ticket (an issue, not unsure)
    urgent_tp: int
    urgent_fp: int
    urgent_fn: int
    location_ok: int
    unsure: int
    total: int
    none_flagged: int = 0  # none messages given an issue intent at all (ticketed or sent to review)
    also_tp: int = 0  # second problems found (on lines that label ``also``)
    also_fp: int = 0
    also_fn: int = 0
    by_kind: dict[str, list[int]] = field(default_factory=dict)  # kind -> [right, total]
    errors: list[tuple[Sample, Classification]] = field(default_factory=list)
    location_errors: list[tuple[Sample, Classification]] = field(default_factory=list)
    urgent_errors: list[tuple[Sample, Classification]] = field(default_factory=list)

    @property
    def none_ticket_rate(self) -> float:
        return self.none_ticketed / self.none_total if self.none_total else 0.0

    @property
    def none_flag_rate(self) -> float:
        return self.none_flagged / self.none_total if self.none_total else 0.0

    @property
    def urgent_precision(self) -> float:
        d = self.urgent_tp + self.urgent_fp
        return self.urgent_tp / d if d else 1.0

    @property
    def urgent_recall(self) -> float:
        d = self.urgent_tp + self.urgent_fn
        return self.urgent_tp / d if d else 1.0

    @property
    def location_accuracy(self) -> float:
        return self.location_ok / self.total if self.total else 0.0

    def summary(self) -> dict[str, float | int]:
        return {
            "messages": self.total,
            "accuracy": round(self.accuracy, 4),
            "macro_f1": round(self.macro_f1, 4),
            "none_to_ticket_rate": round(self.none_ticket_rate, 4),
            "none_to_issue_rate": round(self.none_flag_rate, 4),
            "urgent_precision": round(self.urgent_precision, 4),
            "urgent_recall": round(self.urgent_recall, 4),
            "location_accuracy": round(self.location_accuracy, 4),
            "unsure": self.unsure,
            **({"also_precision": round(self.also_tp / (self.also_tp + self.also_fp), 4) if self.also_tp + self.also_fp else 1.0,
                "also_recall": round(self.also_tp / (self.also_tp + self.also_fn), 4) if self.also_tp + self.also_fn else 1.0}
               if self.also_tp + self.also_fp + self.also_fn else {}),
            **({"by_kind": {k: round(r / n, 4) for k, (r, n) in sorted(self.by_kind.items())}} if self.by_kind else {}),
        }


def _opt_str(v: object) -> str | None:
    return None if v is None else str(v)


def read_samples(path: Path) -> list[Sample]:
    out = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                r = json.loads(line)
                out.append(
                    Sample(
                        id=str(r.get("id", n)),
                        text=str(r["text"]),
                        intent=str(r["intent"]),
                        building=_opt_str(r.get("building")),
                        unit=_opt_str(r.get("unit")),
                        room=_opt_str(r.get("room")),
                        urgent=bool(r.get("urgent", False)),
                        also=tuple(r["also"]) if isinstance(r.get("also"), list) else None,
                        kind=_opt_str(r.get("kind")),
                    )
                )
            except (ValueError, KeyError, TypeError) as exc:
                raise ValueError(f"{path}:{n}: bad labelled line: {exc}") from exc
    return out


def evaluate(classifier: Classifier, samples: list[Sample]) -> EvalReport:
    labels = list(classifier.intent_set.intents)
    for s in samples:
        if s.intent not in labels:
            labels.append(s.intent)
    conf: dict[str, dict[str, int]] = {g: dict.fromkeys(labels, 0) for g in labels}
    rep = EvalReport(labels, {}, 0.0, 0.0, conf, 0, 0, 0, 0, 0, 0, 0, len(samples))
    correct = 0
    for s in samples:
        c = classifier.classify(s.text)
        conf[s.intent][c.intent] = conf[s.intent].get(c.intent, 0) + 1
        if c.intent == s.intent:
            correct += 1
        else:
            rep.errors.append((s, c))
        if c.unsure:
            rep.unsure += 1
        if s.intent == NONE_ID:
            rep.none_total += 1
            if c.intent != NONE_ID:
                rep.none_flagged += 1
                if not c.unsure:
                    rep.none_ticketed += 1
        if c.urgent and s.urgent:
            rep.urgent_tp += 1
        elif c.urgent:
            rep.urgent_fp += 1
            rep.urgent_errors.append((s, c))
        elif s.urgent:
            rep.urgent_fn += 1
            rep.urgent_errors.append((s, c))
        if s.also is not None:
            found = {i for i, _ in c.also} if c.intent == s.intent else set()
            rep.also_tp += len(found & set(s.also))
            rep.also_fp += len(found - set(s.also))
            rep.also_fn += len(set(s.also) - found)
        if s.kind is not None:
            tally = rep.by_kind.setdefault(s.kind, [0, 0])
            tally[0] += c.intent == s.intent
            tally[1] += 1
        if (c.building, c.unit, c.room) == (s.building, s.unit, s.room):
            rep.location_ok += 1
        else:
            rep.location_errors.append((s, c))
    f1s = []
    for lab in labels:
        tp = conf[lab][lab]
        support = sum(conf[lab].values())
        predicted = sum(conf[g][lab] for g in labels)
        if support == 0 and predicted == 0:
            continue
        p = tp / predicted if predicted else 0.0
        r = tp / support if support else 0.0
        f = 2 * p * r / (p + r) if p + r else 0.0
        rep.per_intent[lab] = (p, r, f, support)
        f1s.append(f)
    rep.macro_f1 = sum(f1s) / len(f1s) if f1s else 0.0
    rep.accuracy = correct / len(samples) if samples else 0.0
    return rep


def format_text(rep: EvalReport) -> str:
    lines = ["intent            precision  recall     f1  support"]
    for lab, (p, r, f, n) in rep.per_intent.items():
        lines.append(f"{lab:<16} {p:>10.3f} {r:>7.3f} {f:>6.3f} {n:>8}")
    s = rep.summary()
    lines += [
        "",
        f"messages {s['messages']}  accuracy {s['accuracy']:.3f}  macro-F1 {s['macro_f1']:.3f}  (unsure: {s['unsure']})",
        f"none -> ticket {rep.none_ticketed}/{rep.none_total} = {rep.none_ticket_rate:.1%}"
        f"  (-> an issue intent, review list included: {rep.none_flagged}/{rep.none_total} = {rep.none_flag_rate:.1%})",
        f"urgent precision {rep.urgent_precision:.3f} ({rep.urgent_tp}/{rep.urgent_tp + rep.urgent_fp})  "
        f"recall {rep.urgent_recall:.3f} ({rep.urgent_tp}/{rep.urgent_tp + rep.urgent_fn})",
        f"location (building+unit+room all exact) {rep.location_ok}/{rep.total} = {rep.location_accuracy:.1%}",
        *([f"also (second problems) precision {s['also_precision']:.3f} recall {s['also_recall']:.3f}"] if "also_recall" in s else []),
        *(["by kind: " + ", ".join(f"{k} {v:.3f} ({rep.by_kind[k][1]})" for k, v in s["by_kind"].items())] if "by_kind" in s else []),
        "",
        "confusion matrix (rows = gold, columns = predicted; labels abbreviated to 4 letters)",
    ]
    labs = [lab for lab in rep.labels if lab in rep.per_intent]
    lines.append("      " + " ".join(f"{lab[:4]:>4}" for lab in labs))
    for g in labs:
        lines.append(f"{g[:5]:<5} " + " ".join(f"{(rep.confusion[g].get(p, 0) or '.')!s:>4}" for p in labs))
    if rep.errors:
        lines += ["", f"misclassified ({len(rep.errors)}):"]
        for smp, c in rep.errors:
            flag = " [unsure]" if c.unsure else ""
            lines.append(f"  {smp.id} gold={smp.intent} pred={c.intent}{flag} conf={c.confidence:.2f}  {smp.text!r}")
            lines.append(f"      why: {c.why}")
    if rep.urgent_errors:
        lines += ["", f"urgency errors ({len(rep.urgent_errors)}):"]
        for smp, c in rep.urgent_errors:
            lines.append(f"  {smp.id} gold={smp.urgent} pred={c.urgent} ({c.intent})  {smp.text!r}")
    if rep.location_errors:
        lines += ["", f"location errors ({len(rep.location_errors)}):"]
        for smp, c in rep.location_errors:
            lines.append(
                f"  {smp.id} gold={(smp.building, smp.unit, smp.room)} pred={(c.building, c.unit, c.room)}  {smp.text!r}"
            )
    return "\n".join(lines)


def format_html(rep: EvalReport, title: str = "Linli intent evaluation") -> str:
    e = html.escape
    labs = [lab for lab in rep.labels if lab in rep.per_intent]
    peak = max((rep.confusion[g].get(p, 0) for g in labs for p in labs), default=1) or 1
    s = rep.summary()
    parts = [
        "<!doctype html><html lang='zh'><head><meta charset='utf-8'>",
        f"<title>{e(title)}</title><style>",
        "body{font-family:system-ui,'PingFang SC','Noto Sans CJK SC',sans-serif;margin:2em;color:#222}",
        "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}",
        "th{background:#f3f3f3}td.l{text-align:left}.cm td{width:2.2em;text-align:center}",
        ".cm th.r{text-align:left}.cm th.c{writing-mode:vertical-rl;transform:rotate(180deg)}",
        ".kpi span{display:inline-block;margin-right:2em;font-size:1.2em}",
        "</style></head><body>",
        f"<h1>{e(title)}</h1><div class='kpi'>",
        f"<span>messages <b>{s['messages']}</b></span><span>macro-F1 <b>{s['macro_f1']:.3f}</b></span>",
        f"<span>accuracy <b>{s['accuracy']:.3f}</b></span>",
        f"<span>none→ticket <b>{rep.none_ticket_rate:.1%}</b></span>",
        f"<span>urgent P/R <b>{rep.urgent_precision:.2f} / {rep.urgent_recall:.2f}</b></span>",
        f"<span>location <b>{rep.location_accuracy:.1%}</b></span><span>unsure <b>{rep.unsure}</b></span></div>",
        "<h2>Confusion matrix</h2><p>rows: gold label, columns: predicted; darker = more messages.</p>",
        "<table class='cm'><tr><th></th>" + "".join(f"<th class='c'>{e(lab)}</th>" for lab in labs) + "</tr>",
    ]
    for g in labs:
        row = [f"<tr><th class='r'>{e(g)}</th>"]
        for p in labs:
            v = rep.confusion[g].get(p, 0)
            a = v / peak
            hue = 210 if g == p else 0
            bg = f"hsla({hue},70%,45%,{a:.2f})" if v else "#fff"
            fg = "#fff" if a > 0.5 else "#222"
            row.append(f"<td style='background:{bg};color:{fg}' title='{e(g)} → {e(p)}: {v}'>{v or ''}</td>")
        parts.append("".join(row) + "</tr>")
    parts.append("</table><h2>Per intent</h2><table><tr><th>intent</th><th>precision</th><th>recall</th><th>F1</th><th>support</th></tr>")
    for lab, (p, r, f, n) in rep.per_intent.items():
        parts.append(f"<tr><td class='l'>{e(lab)}</td><td>{p:.3f}</td><td>{r:.3f}</td><td>{f:.3f}</td><td>{n}</td></tr>")
    parts.append("</table>")
    parts.append(f"<h2>Misclassified ({len(rep.errors)})</h2><table><tr><th>id</th><th>gold</th><th>predicted</th><th>text</th><th>why</th></tr>")
    for smp, c in rep.errors:
        pred = c.intent + (" (unsure)" if c.unsure else "")
        parts.append(
            f"<tr><td class='l'>{e(smp.id)}</td><td class='l'>{e(smp.intent)}</td><td class='l'>{e(pred)}</td>"
            f"<td class='l'>{e(smp.text)}</td><td class='l'>{e(c.why)}</td></tr>"
        )
    parts.append("</table>")
    parts.append(f"<h2>Location errors ({len(rep.location_errors)})</h2><table><tr><th>id</th><th>gold</th><th>predicted</th><th>text</th></tr>")
    for smp, c in rep.location_errors:
        parts.append(
            f"<tr><td class='l'>{e(smp.id)}</td><td class='l'>{e(str((smp.building, smp.unit, smp.room)))}</td>"
            f"<td class='l'>{e(str((c.building, c.unit, c.room)))}</td><td class='l'>{e(smp.text)}</td></tr>"
        )
    parts.append("</table></body></html>")
    return "\n".join(parts)
