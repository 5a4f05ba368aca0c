"""``linli classify | eval | explain | intents check`` (registered into the lead's bot/cli.py)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TextIO

from .loader import IntentConfigError, IntentSet, default_intents_dir, load_intents
from .normalize import normalize


def _add_intents_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--intents",
        metavar="DIR",
        type=Path,
        default=None,
        help=f"folder of intent *.yaml (default: the shipped {default_intents_dir()})",
    )


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("classify", help="classify JSON lines {id, text} from FILE or stdin")
    p.add_argument("file", nargs="?", type=Path, help="JSON lines file (default: stdin)")
    _add_intents_arg(p)
    p.set_defaults(func=cmd_classify)

    p = subparsers.add_parser("eval", help="evaluate on labelled JSON lines: P/R/F1, confusion, urgency, location")
    p.add_argument("file", type=Path, help="labelled JSON lines (id, text, intent, building, unit, room, urgent)")
    p.add_argument("--html", metavar="OUT", type=Path, help="also write a self-contained HTML report")
    p.add_argument("--json", dest="json_out", action="store_true", help="print the summary figures as JSON")
    _add_intents_arg(p)
    p.set_defaults(func=cmd_eval)

    p = subparsers.add_parser("explain", help="show the normalised text and the top-3 intents with scores and why")
    p.add_argument("text", help="the message")
    p.add_argument("--ticket-intent", dest="ticket_intent", help="read it as an answer about a ticket of this type")
    _add_intents_arg(p)
    p.set_defaults(func=cmd_explain)

    p = subparsers.add_parser(
        "answers", help='read answers to "问题解决了吗？" from JSON lines {id, text, intent?}: fixed / not_fixed / unclear'
    )
    p.add_argument("file", nargs="?", type=Path, help="JSON lines file (default: stdin)")
    p.add_argument("--report", action="store_true",
                   help="lines carry a label 'answer': print accuracy, false closes and the confusion matrix to stderr")
    _add_intents_arg(p)
    p.set_defaults(func=cmd_answers)

    p = subparsers.add_parser("intents", help="intent YAML tools")
    isub = p.add_subparsers(dest="intents_command", metavar="{check}")
    pc = isub.add_parser("check", help="validate the intent YAML (errors with file:line, examples misclassified)")
    _add_intents_arg(pc)
    pc.set_defaults(func=cmd_intents_check)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def _load_classifier(directory: Path | None, err: TextIO):
    from .classifier import Classifier

    try:
        intent_set = load_intents(directory)
    except IntentConfigError as exc:
        for e in exc.errors:
            print(str(e), file=err)
        return None
    return Classifier(intent_set)


def classification_dict(id_: object, c) -> dict:
    return {
        "id": id_,
        "intent": c.intent,
        "confidence": c.confidence,
        "building": c.building,
        "unit": c.unit,
        "room": c.room,
        "urgent": c.urgent,
        "why": c.why,
        "unsure": c.unsure,
        "also": [{"intent": i, "confidence": round(p, 4)} for i, p in c.also],
    }


def read_requests(lines, out: TextIO, bad: list[int], check=None):
    """The JSON-line objects with an ``id`` and a text ``text`` (``check`` may refuse more by raising ValueError);
    a malformed line gets {"line": N, "error": ...} in ``out`` in its place and its number in ``bad``."""
    for n, raw in enumerate(lines, 1):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
            if not isinstance(obj, dict):
                raise ValueError("not a JSON object")
            if "id" not in obj:
                raise ValueError("missing 'id'")
            if not isinstance(obj.get("text"), str):
                raise ValueError("missing or non-text 'text'")
            if check is not None:
                check(obj)
        except ValueError as exc:
            bad.append(n)
            out.write(json.dumps({"line": n, "error": str(exc)}, ensure_ascii=False) + "\n")
            continue
        yield obj


def run_classify(classifier, lines, out: TextIO) -> int:
    """Classify JSON lines; a malformed line gets {"line": N, "error": ...} in its place. Returns the exit code."""
    bad: list[int] = []
    for obj in read_requests(lines, out, bad):
        out.write(json.dumps(classification_dict(obj["id"], classifier.classify(obj["text"])), ensure_ascii=False) + "\n")
    out.flush()
    return 1 if bad else 0


def cmd_classify(args: argparse.Namespace) -> int:
    classifier = _load_classifier(args.intents, sys.stderr)
    if classifier is None:
        return 2
    if args.file is not None:
        try:
            with open(args.file, encoding="utf-8") as f:
                return run_classify(classifier, f, sys.stdout)
        except OSError as exc:
            print(f"linli classify: {exc}", file=sys.stderr)
            return 2
    return run_classify(classifier, sys.stdin, sys.stdout)


def _load_answer_reader(directory: Path | None, err: TextIO):
    from .answer_reader import load_answer_reader
    from .classifier import Classifier

    try:
        intent_set = load_intents(directory)
        return load_answer_reader(directory, Classifier(intent_set).prep)
    except IntentConfigError as exc:
        for e in exc.errors:
            print(str(e), file=err)
        return None


def run_answers(reader, lines, out: TextIO, report=None) -> int:
    """Read answers from JSON lines; a malformed line gets {"line": N, "error": ...}. Returns the exit code."""
    from .answer_reader import ANSWERS

    def check(obj: dict) -> None:
        intent = obj.get("intent")
        if intent is not None and not isinstance(intent, str):
            raise ValueError("'intent' must be a text or null")
        if report is not None and obj.get("answer") not in ANSWERS:
            raise ValueError(f"'answer' must be one of {', '.join(ANSWERS)} for --report")

    bad: list[int] = []
    for obj in read_requests(lines, out, bad, check):
        r = reader.read(obj["text"], obj.get("intent"))
        out.write(json.dumps({"id": obj["id"], "answer": r.answer, "why": r.why}, ensure_ascii=False) + "\n")
        if report is not None:
            report.add(str(obj["id"]), obj["text"], obj["answer"], r.answer)
    out.flush()
    return 1 if bad else 0


def cmd_answers(args: argparse.Namespace) -> int:
    from .answer_eval import AnswerReport, format_report

    reader = _load_answer_reader(args.intents, sys.stderr)
    if reader is None:
        return 2
    report = AnswerReport() if args.report else None
    try:
        if args.file is not None:
            with open(args.file, encoding="utf-8") as f:
                code = run_answers(reader, f, sys.stdout, report)
        else:
            code = run_answers(reader, sys.stdin, sys.stdout, report)
    except OSError as exc:
        print(f"linli answers: {exc}", file=sys.stderr)
        return 2
    if report is not None:
        print(format_report(report), file=sys.stderr)
    return code


def cmd_eval(args: argparse.Namespace) -> int:
    from .evaluate import evaluate, format_html, format_text, read_samples

    classifier = _load_classifier(args.intents, sys.stderr)
    if classifier is None:
        return 2
    try:
        samples = read_samples(args.file)
    except (OSError, ValueError) as exc:
        print(f"linli eval: {exc}", file=sys.stderr)
        return 2
    rep = evaluate(classifier, samples)
    if args.json_out:
        print(json.dumps(rep.summary(), ensure_ascii=False))
    else:
        print(format_text(rep))
    if args.html:
        args.html.write_text(format_html(rep, f"Linli intent evaluation — {args.file.name}"), encoding="utf-8")
        print(f"HTML report written to {args.html}", file=sys.stderr)
    return 0


def cmd_explain(args: argparse.Namespace) -> int:
    from .answer_reader import load_answer_reader

    classifier = _load_classifier(args.intents, sys.stderr)
    if classifier is None:
        return 2
    print(explain_text(classifier, args.text))
    try:
        reader = load_answer_reader(args.intents, classifier.prep)
    except IntentConfigError as exc:
        print(f"answer reader not loaded:\n{exc}", file=sys.stderr)
        return 2
    r = reader.read(args.text, getattr(args, "ticket_intent", None))
    print(f"as an answer to 问题解决了吗: {r.answer}  ({r.why})")
    return 0


def explain_text(classifier, text: str) -> str:
    a = classifier.analyse(text)
    c = a.classification
    lines = [f"text:       {text}", f"normalised: {a.normalized}", ""]
    for rank, s in enumerate(a.scores[:3], 1):
        name = classifier.intent_set.intents[s.intent].name
        lines.append(f"{rank}. {s.intent} ({name})  score {s.score:.2f}")
        for part in classifier.describe(s):
            lines.append(f"     {part}")
        if s.vetoed:
            lines.append(f"     vetoed: {s.vetoed}")
        if s.nearest:
            lines.append(f"     nearest example: {s.nearest}")
        if s.learned >= 0.01:
            grams = classifier.learned_ngrams(a.normalized, s.intent)
            if grams:
                lines.append("     learned from: " + " ".join(f"{g}+{w:.2f}" for g, w in grams))
    lines += [
        "",
        f"result:     {c.intent}  confidence {c.confidence:.2f}{'  (unsure: review list)' if c.unsure else ''}",
        f"location:   building={c.building} unit={c.unit} room={c.room}",
        f"urgent:     {c.urgent}",
        f"why:        {c.why}",
    ]
    return "\n".join(lines)


def label_conflicts(intent_set: IntentSet) -> list[str]:
    """Training messages whose text (after normalisation) is elsewhere an example or a training message of
    another intent: the learned models get two answers for one message."""
    first: dict[str, tuple[str, str]] = {}
    for d in intent_set.defs.values():
        for text, line in d.examples:
            first.setdefault(normalize(text), (d.spec.id, f"{d.file}:{line}"))
    out = []
    for r in intent_set.training:
        key = normalize(r.text)
        seen = first.setdefault(key, (r.intent, f"{r.file}:{r.line}"))
        if seen[0] != r.intent:
            out.append(f"{r.file}:{r.line}: training message labelled {r.intent!r} is {seen[0]!r} at {seen[1]}: {r.text}")
    return out


def cmd_intents_check(args: argparse.Namespace) -> int:
    directory = args.intents
    try:
        intent_set = load_intents(directory)
    except IntentConfigError as exc:
        for e in exc.errors:
            print(f"error: {e}")
        print(f"{len(exc.errors)} error(s)")
        return 1
    from .answer_reader import answers_dir_for, load_answer_reader
    from .classifier import Classifier

    classifier = Classifier(intent_set)
    try:
        answers = load_answer_reader(directory, classifier.prep)
    except IntentConfigError as exc:
        for e in exc.errors:
            print(f"error: {e}")
        print(f"{len(exc.errors)} error(s) in {answers_dir_for(directory)}")
        return 1
    warnings = [f"warning: {w}" for w in intent_set.warnings + answers.rules.warnings]
    for text, answer, line in answers.rules.examples:
        read = answers.read(text).answer
        if read != answer:
            warnings.append(f"warning: {answers.rules.file}:{line}: example of {answer!r} is read as {read!r}: {text}")
    for d in intent_set.defs.values():
        for text, line in d.examples:
            c = classifier.classify(text)
            if c.intent != d.spec.id:
                warnings.append(
                    f"warning: {d.file}:{line}: example of {d.spec.id!r} is classified as {c.intent!r}"
                    f"{' (unsure)' if c.unsure else ''}: {text}"
                )
    warnings += [f"warning: {c}" for c in label_conflicts(intent_set)]
    for w in warnings:
        print(w)
    n_ex = sum(len(d.examples) for d in intent_set.defs.values())
    n_tr = len(intent_set.training)
    n_ans = len(answers.rules.examples) + len(answers.rules.training)
    print(
        f"ok: {len(intent_set.intents)} intents, {n_ex} examples, {n_tr} training messages in {intent_set.directory}; "
        f"answer reader: {n_ans} labelled answers; {len(warnings)} warning(s)"
    )
    return 0
