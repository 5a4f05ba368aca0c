"""Reading a resident's answer to "问题解决了吗？": ``fixed``, ``not_fixed`` or ``unclear``, with the evidence.

The rules and phrases live in ``answers/answers.yaml`` (admins edit them; see the comments there and the
README, "The answer reader"); a small logistic regression over character n-grams is trained at load on the
YAML examples and the labelled answer files. One reader serves the core (closing and reopening tickets),
``linli answers`` and ``linli explain``.

How an answer is read:

1. normalised like a message (:func:`intents.normalize.normalize`), the intents' synonyms and the answer
   synonyms applied (Cantonese 好咗 → 好了, 仲係唔得 → 还是不行), a word said twice read once;
2. cut into clauses at punctuation and at contrast words (但是, 现在, 又 …);
3. every phrase (a whole clause, courtesy words taken out), pattern and ticket-type word is evidence with a
   position; among the ``fixed`` / ``not_fixed`` evidence the one that ends last decides — a person's last
   word on it ("早上还不亮，现在亮了" is fixed);
4. no such evidence: ``unclear`` when an unclear phrase or pattern speaks (好的, 还没回家, a question back),
   else the learned model when it is sure enough, else ``unclear``;
5. the learned model may overrule a rule only when it is nearly certain the rule is wrong (sarcasm the
   patterns do not know).

Linli never closes a ticket on ``unclear``: it asks once more with the two options.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, NamedTuple

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode

from .learned import LearnedModel
from .loader import _YAML_LOADER, ConfigError, IntentConfigError, Pattern, _Ctx, _kind, _mapping_items
from .normalize import normalize

Answer = Literal["fixed", "not_fixed", "unclear"]
ANSWERS: tuple[Answer, ...] = ("fixed", "not_fixed", "unclear")
DECISIVE: tuple[Answer, ...] = ("fixed", "not_fixed")
ANSWERS_FILE = "answers.yaml"
ANSWERS_DIRNAME = "answers"

DEFAULT_SETTINGS: dict[str, float] = {
    "learned_threshold": 0.6,
    "learned_fixed_threshold": 0.75,
    "veto": 0.08,
    "override": 0.85,
    "max_phrase_chars": 14,
    "doubt": 0.6,
    "l2": 1e-4,
}
TOP_KEYS = {"settings", "training", "courtesy", "contrast", "past", "synonyms", "by_intent", *ANSWERS}
ANSWER_KEYS = {"phrases", "patterns", "examples"}

# emoji that carry an answer; normalisation drops the others
_EMOJI_ANSWERS = {"✅": " 好了 ", "✔": " 好了 ", "☑": " 好了 ", "❌": " 没好 ", "✖": " 没好 ", "❎": " 没好 "}
_EMOJI_ANSWER_RE = re.compile("|".join(map(re.escape, _EMOJI_ANSWERS)))
# punctuation that ends a clause (a question mark is kept on its clause: a question back is not a verdict)
_CLAUSE_RE = re.compile(r"[^,，.。!！;；:：~～、…\n?？]+[?？]*")
# a word of two to four characters said twice or more in a row: "亮了亮了" → "亮了"
_REPEAT_RE = re.compile(r"(\S{2,4}?)\1+")
_SPACE_RE = re.compile(r"\s+")
# a question about the fix ("修好了吗？") confirms nothing; nor does a condition ("好了的话")
_QUESTION_RE = re.compile(r"[?？]\s*$|(吗|么)\s*$|(啥时候|什么时候|啥辰光|什么辰光|什么时间|几时|哪天|多久|何时)")
# a hedge keeps its side even with a question mark: "好像好了？" leans fixed
_HEDGE_RE = re.compile(r"好像|应该|估计|大概|似乎|貌似|可能")
_ECHO_RE = re.compile(r"(完成|修好|好了|解决|处理好|搞定|处理完|弄好|办结)")
# a fix someone only claims ("说是修好了", "号称通了") is no evidence that it is fixed
_CLAIM_RE = re.compile(r"(说是|号称|所谓|据说|说什么|说已经|标记|不能视为|不能算|不算|不代表|不等于|谈不上)[\u4e00-\u9fff]{0,2}$")
# words in quotation marks are cited ("对“已完成”的认定"), not said
_QUOTED_RE = re.compile(r"[“\"「『'‘][^”\"」』'’]{1,20}[”\"」』'’]")
_WH_RE = re.compile(r"哪|谁|什么|啥|几|多少|多久|请问|怎么|为什么|\b(who|which|what|when|where|how)\b")
# a yes/no question ending "…不？", "…没有？" decides nothing either way ("明天还停水不？")
_YES_NO_RE = re.compile(r"(不|没|没有|否)\s*[?？]*\s*$")
# "修好是修好了" concedes and a "but" follows: the concession is no verdict
_CONCESSION_RE = re.compile(r"([\u4e00-\u9fff]{1,2})是\1了")
_BUT_RE = re.compile(r"(就是|但是|但|可是|可|不过|只是)")
_BUT_ANYWHERE_RE = re.compile(r"(但是|但|可是|不过|只是)")
# spaces cut units, except between two latin words ("not fixed" is one unit)
_UNIT_SPACE_RE = re.compile(r"(?<![a-z'])\s+|\s+(?![a-z])")
# a unit of one repeated digit ("22222", "1 1 1") says that digit
_DIGIT_RUN_RE = re.compile(r"^([12])(\s*\1)*$")
_CONDITION_RE = re.compile(r"的话|如果|要是|假如|万一")
# "A 不 A" asks: 亮没亮, 好没好, 在不在, 漏不漏
_A_NOT_A_RE = re.compile(r"([\u4e00-\u9fff])(不|没)\1|[\u4e00-\u9fff]了没有?(?![\u4e00-\u9fff])")


def collapse_repeats(text: str) -> str:
    """Read a word said twice or more once: 亮了亮了 → 亮了, 好了好了好了 → 好了 (谢谢 stays)."""
    return _REPEAT_RE.sub(r"\1", text)


@dataclass(slots=True)
class AnswerRules:
    """Everything ``answers.yaml`` says (the reader's input)."""

    file: str
    settings: dict[str, float]
    courtesy: list[str]
    contrast: list[str]
    past: list[str]
    synonyms: list[tuple[str, str]]  # (variant, canonical), longest first
    phrases: dict[str, dict[str, int]]  # answer -> {normalised phrase: line}
    patterns: dict[str, list[Pattern]]
    examples: list[tuple[str, str, int]]  # (text, answer, line)
    by_intent: dict[str, dict[str, list[str]]]  # intent -> answer -> words
    training: list[TrainingAnswer] = field(default_factory=list)
    warnings: list[ConfigError] = field(default_factory=list)


class TrainingAnswer(NamedTuple):
    text: str
    answer: str
    intent: str | None
    file: str
    line: int


class Evidence(NamedTuple):
    answer: str
    start: int
    end: int
    source: str  # what matched, for the explanation
    phrase: bool = False  # a whole clause (never overruled by the learned model)
    past: bool = False  # in a clause about an earlier attempt ("上次没通")


@dataclass(frozen=True, slots=True)
class Reading:
    """How an answer was read."""

    answer: Answer
    why: str
    normalized: str = ""
    evidence: tuple[Evidence, ...] = ()
    learned: dict[str, float] = field(default_factory=dict)


# -- loading ----------------------------------------------------------------------------------------------------
def default_answers_dir() -> Path:
    return Path(__file__).resolve().parent / ANSWERS_DIRNAME


def answers_dir_for(intents_dir: Path | None) -> Path:
    """The answer rules of an intents folder: its own ``answers/`` when it has one, else the shipped ones."""
    if intents_dir is not None:
        own = Path(intents_dir) / ANSWERS_DIRNAME
        if (own / ANSWERS_FILE).is_file():
            return own
    return default_answers_dir()


def load_answer_rules(directory: Path | None = None) -> AnswerRules:
    """Read and validate ``answers.yaml`` and its training files; raises IntentConfigError (file:line)."""
    directory = Path(directory) if directory is not None else default_answers_dir()
    path = directory / ANSWERS_FILE
    ctx = _Ctx(str(path))
    try:
        text = path.read_text(encoding="utf-8")
        root = yaml.compose(text, Loader=_YAML_LOADER)
    except OSError as exc:
        raise IntentConfigError([ConfigError(str(path), None, f"cannot read file: {exc}")]) from exc
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise IntentConfigError(
            [ConfigError(str(path), mark.line + 1 if mark else None, f"YAML syntax error: {exc.problem or exc}")]
        ) from exc
    if not isinstance(root, MappingNode):
        raise IntentConfigError([ConfigError(str(path), 1, "answers.yaml must be a mapping (fixed:, not_fixed:, unclear: …)")])
    items = _mapping_items(ctx, root, "answers.yaml")
    for key, (knode, _v) in items.items():
        if key not in TOP_KEYS:
            ctx.err(knode, f"unknown key {key!r} (allowed: {', '.join(sorted(TOP_KEYS))})")
    settings = dict(DEFAULT_SETTINGS)
    if "settings" in items:
        _read_settings(ctx, items["settings"][1], settings)
    courtesy = [normalize(w) for w, _ in ctx.string_list(items["courtesy"][1], "courtesy")] if "courtesy" in items else []
    contrast = [normalize(w) for w, _ in ctx.string_list(items["contrast"][1], "contrast")] if "contrast" in items else []
    past = [normalize(w) for w, _ in ctx.string_list(items["past"][1], "past")] if "past" in items else []
    synonyms = _read_synonyms(ctx, items["synonyms"][1]) if "synonyms" in items else []
    phrases: dict[str, dict[str, int]] = {a: {} for a in ANSWERS}
    patterns: dict[str, list[Pattern]] = {a: [] for a in ANSWERS}
    examples: list[tuple[str, str, int]] = []
    seen_phrase: dict[str, tuple[str, int]] = {}
    for answer in ANSWERS:
        if answer not in items:
            ctx.err(root, f"'{answer}:' is missing")
            continue
        node = items[answer][1]
        if not isinstance(node, MappingNode):
            ctx.err(node, f"{answer} must be a mapping with phrases, patterns, examples, not a {_kind(node)}")
            continue
        sub = _mapping_items(ctx, node, answer)
        for key, (knode, _v) in sub.items():
            if key not in ANSWER_KEYS:
                ctx.err(knode, f"unknown key {key!r} in {answer} (allowed: {', '.join(sorted(ANSWER_KEYS))})")
        for phrase, line in ctx.string_list(sub["phrases"][1], f"{answer}.phrases") if "phrases" in sub else []:
            key = collapse_repeats(normalize(phrase))
            if key in seen_phrase and seen_phrase[key][0] != answer:
                other, oline = seen_phrase[key]
                ctx.errors.append(ConfigError(str(path), line, f"phrase {phrase!r} is also a phrase of {other} (line {oline})"))
                continue
            seen_phrase[key] = (answer, line)
            phrases[answer][key] = line
        if "patterns" in sub:
            patterns[answer] = ctx.patterns(sub["patterns"][1], f"{answer}.patterns", 1.0)
        if "examples" in sub:
            examples += [(t, answer, line) for t, line in ctx.string_list(sub["examples"][1], f"{answer}.examples")]
    by_intent = _read_by_intent(ctx, items["by_intent"][1]) if "by_intent" in items else {}
    rules = AnswerRules(str(path), settings, courtesy, contrast, past, synonyms, phrases, patterns, examples, by_intent)
    if "training" in items:
        globs = ctx.string_list(items["training"][1], "training")
        rules.training = _read_training(ctx, directory, globs, rules.warnings)
    if ctx.errors:
        raise IntentConfigError(ctx.errors)
    return rules


def _read_settings(ctx: _Ctx, node: Node, settings: dict[str, float]) -> None:
    if not isinstance(node, MappingNode):
        ctx.err(node, f"settings must be a mapping, not a {_kind(node)}")
        return
    for key, (knode, vnode) in _mapping_items(ctx, node, "settings").items():
        if key not in DEFAULT_SETTINGS:
            ctx.err(knode, f"unknown setting {key!r} (allowed: {', '.join(DEFAULT_SETTINGS)})")
            continue
        value = ctx.scalar(vnode)
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            ctx.err(vnode, f"setting {key} must be a number above 0, not {value!r}")
            continue
        settings[key] = float(value)


def _read_synonyms(ctx: _Ctx, node: Node) -> list[tuple[str, str]]:
    if not isinstance(node, MappingNode):
        ctx.err(node, f"synonyms must be a mapping (word: [variants]), not a {_kind(node)}")
        return []
    out: dict[str, str] = {}
    for canonical, (_k, vnode) in _mapping_items(ctx, node, "synonyms").items():
        for variant, line in ctx.string_list(vnode, f"synonyms of {canonical!r}"):
            v = normalize(variant)
            if v in out and out[v] != normalize(str(canonical)):
                ctx.errors.append(ConfigError(ctx.file, line, f"synonym {variant!r} maps to {canonical!r} and {out[v]!r}"))
                continue
            out[v] = normalize(str(canonical))
    return sorted(out.items(), key=lambda p: -len(p[0]))


def _read_by_intent(ctx: _Ctx, node: Node) -> dict[str, dict[str, list[str]]]:
    if not isinstance(node, MappingNode):
        ctx.err(node, f"by_intent must be a mapping (intent: {{fixed: [...], not_fixed: [...]}}), not a {_kind(node)}")
        return {}
    out: dict[str, dict[str, list[str]]] = {}
    for intent, (_k, vnode) in _mapping_items(ctx, node, "by_intent").items():
        if not isinstance(vnode, MappingNode):
            ctx.err(vnode, f"by_intent.{intent} must be a mapping with fixed / not_fixed")
            continue
        words: dict[str, list[str]] = {}
        for answer, (knode, wnode) in _mapping_items(ctx, vnode, f"by_intent.{intent}").items():
            if answer not in DECISIVE:
                ctx.err(knode, f"by_intent.{intent}: unknown key {answer!r} (allowed: fixed, not_fixed)")
                continue
            words[answer] = [normalize(w) for w, _ in ctx.string_list(wnode, f"by_intent.{intent}.{answer}")]
        out[str(intent)] = words
    return out


def _read_training(ctx: _Ctx, directory: Path, globs: list[tuple[str, int]], warnings: list[ConfigError]) -> list[TrainingAnswer]:
    out: list[TrainingAnswer] = []
    for pattern, line in globs:
        if Path(pattern).is_absolute() or ".." in Path(pattern).parts:
            ctx.errors.append(ConfigError(ctx.file, line, f"training pattern {pattern!r} must be relative to {directory}, inside it"))
            continue
        paths = sorted(p for p in directory.glob(pattern) if p.is_file())
        if not paths:
            warnings.append(ConfigError(ctx.file, line, f"training pattern {pattern!r} matches no file"))
        for path in paths:
            out += read_labelled_answers(path, ctx.errors)
    return out


def read_labelled_answers(path: Path, errors: list[ConfigError]) -> list[TrainingAnswer]:
    """Lines ``{"text", "answer", "intent"?}`` of a labelled answer file; a bad line is an error (file:line)."""
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        errors.append(ConfigError(str(path), None, f"cannot read answer file: {exc}"))
        return []
    out = []
    for n, raw in enumerate(lines, 1):
        if not raw.strip():
            continue
        try:
            row = json.loads(raw)
            text, answer, intent = row["text"], row["answer"], row.get("intent")
        except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as exc:
            errors.append(ConfigError(str(path), n, f"answer line needs JSON with text and answer ({exc})"))
            continue
        if not isinstance(text, str) or not text.strip():
            errors.append(ConfigError(str(path), n, "answer line has an empty text"))
        elif answer not in ANSWERS:
            errors.append(ConfigError(str(path), n, f"answer must be one of {', '.join(ANSWERS)}, not {answer!r}"))
        elif intent is not None and not isinstance(intent, str):
            errors.append(ConfigError(str(path), n, f"intent must be a text or null, not {intent!r}"))
        else:
            out.append(TrainingAnswer(text, answer, intent, str(path), n))
    return out


# -- reading ----------------------------------------------------------------------------------------------------
class AnswerReader:
    """Reads answers with the rules of ``answers.yaml`` and a model trained on its examples and files.

    ``prep`` applies the intent engine's synonyms (the classifier's ``prep``), so the answer reader and
    the classifier read dialect the same way.
    """

    def __init__(self, rules: AnswerRules, prep: Callable[[str], str] | None = None) -> None:
        self.rules = rules
        self._prep = prep
        s = rules.settings
        self.max_phrase = int(s["max_phrase_chars"])
        courtesy = sorted((w for w in rules.courtesy if w), key=len, reverse=True)
        self._courtesy_re = re.compile("|".join(map(re.escape, courtesy))) if courtesy else None
        contrast = sorted((w for w in rules.contrast if w), key=len, reverse=True)
        self._contrast_re = re.compile("|".join(map(re.escape, contrast))) if contrast else None
        past = sorted((w for w in rules.past if w), key=len, reverse=True)
        self._past_re = re.compile("|".join(map(re.escape, past))) if past else None
        self._syn = rules.synonyms
        texts = [self.prepare(t) for t, _a, _l in rules.examples] + [self.prepare(r.text) for r in rules.training]
        labels = [a for _t, a, _l in rules.examples] + [r.answer for r in rules.training]
        self.model: LearnedModel | None = None
        if len(set(labels)) >= 2:
            self.model = LearnedModel(texts, labels, list(ANSWERS), l2=s["l2"], iterations=60, balanced=True)

    # -- preparation -------------------------------------------------------------------------------------------
    def prepare(self, text: str) -> str:
        t = _EMOJI_ANSWER_RE.sub(lambda m: _EMOJI_ANSWERS[m.group(0)], text)
        t = normalize(t)  # other emoji (👍, 🙏, 👌) say nothing on their own: they are dropped
        for variant, canonical in self._syn:
            if variant in t:
                t = t.replace(variant, canonical)
        if self._prep is not None:
            t = self._prep(t)
        return collapse_repeats(_SPACE_RE.sub(" ", t)).strip()

    def clauses(self, prepared: str) -> list[tuple[int, str]]:
        """(offset, clause) pairs: cut at punctuation and before every contrast word."""
        out: list[tuple[int, str]] = []
        for m in _CLAUSE_RE.finditer(prepared):
            start, chunk = m.start(), m.group(0)
            cuts = [0]
            if self._contrast_re is not None:
                cuts += [c.start() for c in self._contrast_re.finditer(chunk) if c.start() > 0]
            cuts.append(len(chunk))
            for a, b in zip(cuts, cuts[1:], strict=False):
                piece = chunk[a:b]
                if piece.strip():
                    out.append((start + a, piece))
        return out

    def core_of(self, clause: str) -> str:
        """A clause without courtesy words and spaces: what is compared with the phrases."""
        c = clause.replace(" ", "")
        if self._courtesy_re is not None:
            c = self._courtesy_re.sub("", c)
        return c.strip("?？")

    # -- evidence ----------------------------------------------------------------------------------------------
    def evidence(self, prepared: str, intent: str | None) -> list[Evidence]:
        """Every phrase, pattern and ticket-type word found, with its position. Fixed evidence inside a question
        ("修好了吗？") or a condition ("好了的话") is no evidence; decisive evidence inside an unclear match is
        masked by it ("还没看" is not "还没", "亮没亮" is not "没亮"); evidence in a clause about an earlier
        attempt ("上次没通") only counts when nothing else speaks."""
        found: list[Evidence] = []
        words = self.rules.by_intent.get(intent or "", {})
        for m in _CLAUSE_RE.finditer(prepared):
            chunk, offset = m.group(0), m.start()
            question = bool(_QUESTION_RE.search(chunk)) and not (_HEDGE_RE.search(chunk) and "吗" not in chunk)
            condition = bool(_CONDITION_RE.search(chunk))
            hypothetical = question or condition
            here: list[Evidence] = []
            for answer in ANSWERS:
                for p in self.rules.patterns[answer]:
                    for hit in p.regex.finditer(chunk):
                        if hit.end() > hit.start():
                            # an unclear pattern of weight below 1 (a question back) only speaks when nothing else does
                            here.append(Evidence(answer, offset + hit.start(), offset + hit.end(), f"「{hit.group(0)}」",
                                                 phrase=answer == "unclear" and p.weight < 1))
            for answer, ws in words.items():
                for w in ws:
                    i = chunk.find(w)
                    while i >= 0:
                        if not (answer == "fixed" and i > 0 and chunk[i - 1] in "没不未"):
                            here.append(Evidence(answer, offset + i, offset + i + len(w), f"「{w}」({intent})"))
                        i = chunk.find(w, i + 1)
            for hit in _A_NOT_A_RE.finditer(chunk):  # masks "没亮" in "亮没亮", decides nothing by itself
                here.append(Evidence("unclear", offset + hit.start(), offset + hit.end(), f"「{hit.group(0)}」(问句)",
                                     phrase=True))
            for start, unit in self._units(chunk):
                bare = unit.replace(" ", "").strip("?？")
                digits = _DIGIT_RUN_RE.match(bare)
                if digits:
                    bare = digits.group(1)
                core = bare if any(bare in ph for ph in self.rules.phrases.values()) else self.core_of(unit)
                if core and len(core) <= self.max_phrase:
                    for answer in ANSWERS:
                        if core in self.rules.phrases[answer]:
                            # a whole clause ends where the clause ends and beats its parts
                            end = offset + start + len(unit.rstrip())
                            here.append(Evidence(answer, offset + start, end + 1, f"「{core}」", phrase=True))
            here = [e for e in here if not (e.answer == "fixed" and _CLAIM_RE.search(chunk[: e.start - offset]))]
            for q in _QUOTED_RE.finditer(chunk):
                a, b = offset + q.start(), offset + q.end()
                here = [e for e in here if not (e.answer != "unclear" and a <= e.start and e.end <= b)]
            if condition:  # "还堵的话我再找你们": no verdict either way
                here = [e for e in here if e.answer == "unclear"]
                here.append(Evidence("unclear", offset, offset + len(chunk), f"「{chunk.strip()}」(条件)"))
            # a question with a question word asks something ("哪辆车被拖了？"); one without echoes the fix as a doubt
            echo = question and (any(e.answer == "fixed" for e in here) or bool(_ECHO_RE.search(chunk))) \
                and not _WH_RE.search(chunk)
            if hypothetical:
                here = [e for e in here if e.answer != "fixed"]
            if echo and not condition and not any(e.answer == "not_fixed" for e in here):
                # "完成了？" / "这叫修好了？" echoes the fix as a doubt; "修好了吗？" is a doubt only when the resident
                # goes on ("亮了吗？你自己来看")
                rest = prepared[m.end():]
                genuine = bool(re.search(r"(吗|么)\s*[?？]*\s*$", chunk))
                follows = any(self.core_of(c2) for c2 in _CLAUSE_RE.findall(rest))
                if not genuine or follows:
                    here.append(Evidence("not_fixed", offset, offset + len(chunk.rstrip()), f"「{chunk.strip()}」(反问)"))
            if _YES_NO_RE.search(chunk) and _QUESTION_RE.search(chunk) or ("还是" in chunk and hypothetical):
                # "明天还停水不？", "白的还是黑的？": a question, not a verdict
                here = [e for e in here if e.answer == "unclear" or (_YES_NO_RE.search(chunk) is None
                                                                     and not chunk[e.start - offset:].startswith("还是"))]
            # "是热了，就是…" concedes before a "but": the concession is no verdict
            if _BUT_RE.match(prepared[m.end():].lstrip(" ,，")):
                here = [e for e in here if not (e.answer == "fixed" and e.start > offset
                                                and prepared[e.start - 1] == "是")]
            for c in _CONCESSION_RE.finditer(chunk):
                a, b = offset + c.start(), offset + c.end()
                here = [e for e in here if not (e.answer == "fixed" and a <= e.start and e.end <= b)]
            past_spans = [(offset + s0, offset + s0 + len(u)) for s0, u in self._units(chunk) if self._past_re
                          and self._past_re.match(u.strip())]
            here = [e._replace(past=any(a <= e.start < b for a, b in past_spans) and not e.source.startswith("「又"))
                    for e in here]
            found += here
        unclear = [e for e in found if e.answer == "unclear"]

        def masked(e: Evidence) -> bool:
            for u in unclear:
                if u.phrase and u.source.endswith("(问句)"):  # 亮没亮 / 在不在: anything touching it is asked
                    if e.start < u.end and u.start < e.end:
                        return True
                elif u.start <= e.start and e.end <= u.end and (u.end - u.start) > (e.end - e.start):
                    return True
            return False

        return [e for e in found if e.answer == "unclear" or not masked(e)]

    def _units(self, chunk: str) -> list[tuple[int, str]]:
        """A chunk cut at spaces and before contrast words: the units compared with the phrases."""
        cuts = {0, len(chunk)}
        cuts |= {m.end() for m in _UNIT_SPACE_RE.finditer(chunk)}
        if self._contrast_re is not None:
            cuts |= {c.start() for c in self._contrast_re.finditer(chunk)}
        points = sorted(cuts)
        return [(a, chunk[a:b]) for a, b in zip(points, points[1:], strict=False) if chunk[a:b].strip()]

    def read(self, text: str, intent: str | None = None) -> Reading:
        """Read one answer (``intent``: the ticket's type, for its own words)."""
        prepared = self.prepare(text)
        if not prepared:
            return Reading("unclear", "空白或只有表情", prepared)
        ev = self.evidence(prepared, intent)
        learned = self._learned(prepared)
        decisive = [e for e in ev if e.answer in DECISIVE]
        if decisive and not all(e.past for e in decisive):
            decisive = [e for e in decisive if not e.past]  # "这次通了，上次没通": the earlier attempt is over
        pending = [e for e in ev if e.answer == "unclear" and not e.phrase]
        contest = decisive + pending
        if decisive:
            # the evidence that ends last decides; at the same end the longer match, then not_fixed (safer)
            last = max(contest, key=lambda e: (e.end, e.end - e.start, e.answer == "not_fixed"))
            verdict: Answer = last.answer  # type: ignore[assignment]
            why = f"{last.source} → {verdict}"
            if len({e.answer for e in contest}) > 1:
                why += "（前后说法不同，以最后的为准）"
            s = self.rules.settings
            if verdict == "fixed" and not last.phrase and learned and learned["not_fixed"] >= s["doubt"]:
                # the patterns say fixed but the answer reads like a complaint: ask once more rather than close
                return Reading("unclear", f"{why}; but it reads like not fixed (learned {learned['not_fixed']:.2f}): asked again",
                               prepared, tuple(ev), learned)
            if verdict == "fixed":
                doubt = self._doubt(prepared, last, ev)
                if doubt and (not learned or learned["fixed"] < s["learned_fixed_threshold"]):
                    return Reading("unclear", f"{why}; 但后面还有「{doubt}」，没说清是否解决", prepared, tuple(ev), learned)
            if learned and not last.phrase and verdict != "unclear" and learned[verdict] < s["veto"]:
                best = max(learned, key=learned.__getitem__)
                if best != verdict and learned[best] >= s["override"]:
                    return Reading(best, f"{why}; learned model overrules: {best} {learned[best]:.2f}",  # type: ignore[arg-type]
                                   prepared, tuple(ev), learned)
            return Reading(verdict, why, prepared, tuple(ev), learned)
        unclear = [e for e in ev if e.answer == "unclear" and not (e.phrase and e.source.startswith("「") and
                                                                  e.source[1:-1] in self.rules.phrases["unclear"])]
        if unclear:
            return Reading("unclear", f"{unclear[-1].source} → unclear（未说明是否解决）", prepared, tuple(ev), learned)
        acks = [e for e in ev if e.answer == "unclear"]
        content = [self.core_of(u) for m in _CLAUSE_RE.finditer(prepared) for _s, u in self._units(m.group(0))]
        content = [c for c in content if c and c not in self.rules.phrases["unclear"]]
        if acks and not content:
            return Reading("unclear", f"{acks[-1].source} → unclear（只是客气话或“收到”，未说明是否解决）", prepared,
                           tuple(ev), learned)
        if any(_QUESTION_RE.search(m.group(0)) for m in _CLAUSE_RE.finditer(prepared)):
            return Reading("unclear", "问句，未说明是否解决", prepared, tuple(ev), learned)
        cores = [self.core_of(c) for _o, c in self.clauses(prepared)]
        if not any(cores):
            return Reading("unclear", "只有客气话或表情，未说明是否解决", prepared, tuple(ev), learned)
        if learned:
            best = max(learned, key=learned.__getitem__)
            s = self.rules.settings
            need = s["learned_fixed_threshold"] if best == "fixed" else s["learned_threshold"]
            if best != "unclear" and learned[best] >= need:
                grams = self.model.top_grams(prepared, best) if self.model else []
                from_ = " ".join(f"{g}+{w:.2f}" for g, w in grams)
                return Reading(best, f"learned: {best} {learned[best]:.2f}" + (f" ({from_})" if from_ else ""),  # type: ignore[arg-type]
                               prepared, tuple(ev), learned)
            return Reading("unclear", f"no rule; learned: {best} {learned[best]:.2f} (not sure enough)", prepared,
                           tuple(ev), learned)
        return Reading("unclear", "no rule spoke", prepared, tuple(ev), learned)

    def _doubt(self, prepared: str, last: Evidence, ev: list[Evidence]) -> str | None:
        """A "but" after the fix with something more said and no fix in it ("能动了，但是每层都哐当一下"): the
        text of that clause, else None."""
        rest = prepared[last.end:]
        m = _BUT_ANYWHERE_RE.search(rest)
        if m is None:
            return None
        tail = rest[m.start():]
        core = self.core_of(tail[len(m.group(0)):])
        if len(core) < 2 or any(e.answer == "fixed" and e.start >= last.end + m.start() for e in ev):
            return None
        return tail.strip(" ,，。.!！")[:20]

    def _learned(self, prepared: str) -> dict[str, float]:
        if self.model is None:
            return {}
        return self.model.proba(prepared)


def load_answer_reader(intents_dir: Path | None = None, prep: Callable[[str], str] | None = None) -> AnswerReader:
    return AnswerReader(load_answer_rules(answers_dir_for(intents_dir)), prep)


def scalar_text(node: Node) -> str:  # pragma: no cover - helper for callers that need raw text
    return str(node.value) if isinstance(node, ScalarNode) else ""
