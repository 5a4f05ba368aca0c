"""Load and validate the intent YAML (``intents/*.yaml``).

Every problem is reported as ``file:line: message``; all problems found are reported at once.
See the README, section "Intent YAML", for the format.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, NamedTuple

import yaml
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from .model import IntentSpec
from .normalize import normalize

TAXONOMY_IDS = (
    "lighting", "drainage", "flying_lead", "noise", "water_supply", "leak", "elevator", "sanitation",
    "parking", "facilities", "security", "fire_safety", "gas", "heating", "pets", "greenery", "pests",
    "dispute", "assistance", "suggestion",
)  # fmt: skip
NONE_ID = "none"
ROUTES = ("building_head", "grid_worker")

ISSUE_KEYS = {
    "id", "name", "route", "ack", "resolve", "description", "keywords", "synonyms", "regex",
    "negative", "urgent", "examples", "advice", "night",
}  # fmt: skip
NIGHT_MODES = ("on_duty", "wait")
#: intents whose reports go to the night duty during quiet hours unless their YAML says ``night: wait``
NIGHT_ON_DUTY_DEFAULT = frozenset({"noise", "parking"})
ADVICE_FIELDS = ("fire", "medical", "police", "gas")
NONE_EXTRA_KEYS = {"veto_issues", "not_urgent", "past", "present", "persistent", "settings", "training"}
KEYWORD_KEYS = {"strong", "weak"}
DEFAULT_SETTINGS: dict[str, float] = {
    "strong_weight": 3.0,  # score of one strong keyword / regex hit
    "weak_weight": 1.0,  # score of one weak keyword hit
    "similarity_weight": 6.0,  # multiplier of the char n-gram cosine to the nearest examples
    "fuzzy_weight": 2.0,  # multiplier of the rapidfuzz ratio (0..1) to the nearest example
    "none_bias": 1.5,  # score "none" gets for free: an issue must beat it
    "threshold": 0.45,  # below this confidence an issue-like message is "unsure"
    "temperature": 1.75,  # softmax temperature turning scores into a confidence
    "learned_weight": 25.0,  # multiplier of the learned probability (logistic regression, examples + training)
    "learned_l2": 1e-4,  # L2 penalty of that logistic regression (larger: smoother, less sure)
    # a message is urgent when the learned urgency model (trained on the training files' ``urgent``) gives at
    # least this probability, besides the urgent patterns; 1 or more turns the learned urgency off
    "urgent_threshold": 0.7,
    # ... and when "none" wins but the learned urgency reaches this, the best issue takes the message (people
    # in danger are never "not a request"); 1 or more turns that off
    "promote_threshold": 0.9,
}

# libyaml's parser when PyYAML was built with it (several times faster; same nodes and line marks)
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
# settings where 0 would make every message pass (urgent, promoted): only values above 0 make sense
POSITIVE_SETTINGS = frozenset({"urgent_threshold", "promote_threshold", "temperature"})
_DURATION_RE = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?$")
_ID_RE = re.compile(r"^[a-z][a-z0-9_]*$")


class ConfigError(NamedTuple):
    file: str
    line: int | None
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line if self.line is not None else '-'}: {self.message}"


class IntentConfigError(Exception):
    def __init__(self, errors: list[ConfigError]) -> None:
        self.errors = list(errors)
        super().__init__("\n".join(str(e) for e in self.errors))

    def __str__(self) -> str:
        return "\n".join(str(e) for e in self.errors)


@dataclass(frozen=True, slots=True)
class Pattern:
    """A compiled regex with its weight and where it came from."""

    source: str
    regex: re.Pattern[str]
    weight: float
    file: str
    line: int


@dataclass(slots=True)
class IntentDef:
    """Everything the YAML says about one intent (the classifier's input)."""

    spec: IntentSpec
    file: str
    line: int
    description: str = ""
    strong: list[str] = field(default_factory=list)
    weak: list[str] = field(default_factory=list)
    synonyms: dict[str, list[str]] = field(default_factory=dict)
    regex: list[Pattern] = field(default_factory=list)
    negative: list[Pattern] = field(default_factory=list)
    urgent: list[Pattern] = field(default_factory=list)
    examples: list[tuple[str, int]] = field(default_factory=list)  # (text, line)
    veto_issues: list[Pattern] = field(default_factory=list)  # none only
    not_urgent: list[Pattern] = field(default_factory=list)  # none only
    persistent: list[Pattern] = field(default_factory=list)  # none only: dangers that outlast the telling (gas, smoke)
    past: list[Pattern] = field(default_factory=list)  # none only: time cues of harm that is over
    present: list[Pattern] = field(default_factory=list)  # none only: time cues of "now"
    training: list[tuple[str, int]] = field(default_factory=list)  # none only: globs of labelled JSON lines


class TrainingRow(NamedTuple):
    """One labelled message from a ``none.training`` file (the learned models learn from it)."""

    text: str
    intent: str
    urgent: bool | None  # None when the line does not say
    file: str
    line: int


@dataclass(slots=True)
class IntentSet:
    intents: dict[str, IntentSpec]
    defs: dict[str, IntentDef]
    settings: dict[str, float]
    synonyms: list[tuple[str, str]]  # (variant, canonical), longest variant first
    directory: Path
    files: list[Path]
    warnings: list[ConfigError] = field(default_factory=list)
    #: labelled messages that train the learned models besides the examples, from the files named by
    #: ``none.training`` (the classifier prepares their text)
    training: list[TrainingRow] = field(default_factory=list)

    def get(self, intent_id: str) -> IntentSpec:
        return self.intents[intent_id]

    @property
    def issue_ids(self) -> list[str]:
        return [i for i in self.intents if i != NONE_ID]

    def __contains__(self, intent_id: object) -> bool:
        return intent_id in self.intents

    def __len__(self) -> int:
        return len(self.intents)


def default_intents_dir() -> Path:
    """The folder holding the shipped ``*.yaml`` (this package's own folder)."""
    return Path(__file__).resolve().parent


def parse_duration(text: str) -> timedelta | None:
    """``30m``, ``2h``, ``3d``, ``1h30m`` -> timedelta; None when malformed or zero."""
    m = _DURATION_RE.match(text.strip())
    if not m or not any(m.groups()):
        return None
    d, h, mi = (int(g) if g else 0 for g in m.groups())
    td = timedelta(days=d, hours=h, minutes=mi)
    return td if td > timedelta(0) else None


def yaml_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.glob("*.yaml") if p.is_file())


class _Ctx:
    def __init__(self, file: str) -> None:
        self.file = file
        self.errors: list[ConfigError] = []
        self.constructor = SafeConstructor()

    def err(self, node: Node | None, message: str) -> None:
        line = node.start_mark.line + 1 if node is not None else None
        self.errors.append(ConfigError(self.file, line, message))

    def scalar(self, node: Node) -> Any:
        try:
            return self.constructor.construct_object(node, deep=True)
        except ConstructorError as exc:  # pragma: no cover - odd tags
            self.err(node, f"cannot read value: {exc.problem}")
            return None

    def string(self, node: Node, what: str) -> str | None:
        if not isinstance(node, ScalarNode):
            self.err(node, f"{what} must be a text, not a {_kind(node)}")
            return None
        value = self.scalar(node)
        if value is None or (isinstance(value, str) and not value.strip()):
            self.err(node, f"{what} must not be empty")
            return None
        return str(value).strip()

    def string_list(self, node: Node, what: str) -> list[tuple[str, int]]:
        if isinstance(node, ScalarNode) and self.scalar(node) is None:
            return []
        if not isinstance(node, SequenceNode):
            self.err(node, f"{what} must be a list (one '- item' per line), not a {_kind(node)}")
            return []
        out = []
        for item in node.value:
            s = self.string(item, f"an item of {what}")
            if s is not None:
                out.append((s, item.start_mark.line + 1))
        return out

    def patterns(self, node: Node, what: str, weight: float) -> list[Pattern]:
        out = []
        if isinstance(node, ScalarNode) and self.scalar(node) is None:
            return out
        if not isinstance(node, SequenceNode):
            self.err(node, f"{what} must be a list of regular expressions, not a {_kind(node)}")
            return out
        for item in node.value:
            w = weight
            src_node = item
            if isinstance(item, MappingNode):
                src_node = None
                for k, v in item.value:
                    key = self.scalar(k)
                    if key == "pattern":
                        src_node = v
                    elif key == "weight":
                        wv = self.scalar(v)
                        if isinstance(wv, bool) or not isinstance(wv, int | float) or wv <= 0:
                            self.err(v, f"weight in {what} must be a positive number")
                        else:
                            w = float(wv)
                    else:
                        self.err(k, f"unknown key {key!r} in an item of {what} (allowed: pattern, weight)")
                if src_node is None:
                    self.err(item, f"an item of {what} needs 'pattern'")
                    continue
            src = self.string(src_node, f"an item of {what}")
            if src is None:
                continue
            try:
                rx = re.compile(normalize(src, keep_regex=True))
            except re.error as exc:
                self.err(src_node, f"invalid regular expression in {what}: {src!r}: {exc}")
                continue
            out.append(Pattern(src, rx, w, self.file, src_node.start_mark.line + 1))
        return out


def _kind(node: Node) -> str:
    if isinstance(node, MappingNode):
        return "mapping"
    if isinstance(node, SequenceNode):
        return "list"
    return "text"


def _mapping_items(ctx: _Ctx, node: MappingNode, where: str) -> dict[str, tuple[Node, Node]]:
    items: dict[str, tuple[Node, Node]] = {}
    for k, v in node.value:
        key = ctx.scalar(k) if isinstance(k, ScalarNode) else None
        if not isinstance(key, str):
            ctx.err(k, f"keys in {where} must be texts")
            continue
        if key in items:
            ctx.err(k, f"duplicate key {key!r} in {where} (first at line {items[key][0].start_mark.line + 1})")
            continue
        items[key] = (k, v)
    return items


def _parse_intent(ctx: _Ctx, node: Node, settings: dict[str, float]) -> IntentDef | None:
    if not isinstance(node, MappingNode):
        ctx.err(node, f"an intent must be a mapping (id: ..., name: ...), not a {_kind(node)}")
        return None
    items = _mapping_items(ctx, node, "the intent")
    id_node = items.get("id")
    if id_node is None:
        ctx.err(node, "intent has no 'id'")
        return None
    intent_id = ctx.string(id_node[1], "id")
    if intent_id is None:
        return None
    if not _ID_RE.match(intent_id):
        ctx.err(id_node[1], f"id {intent_id!r} must be lower-case letters, digits and '_'")
    is_none = intent_id == NONE_ID
    allowed = ISSUE_KEYS | (NONE_EXTRA_KEYS if is_none else set())
    for key, (knode, _v) in items.items():
        if key not in allowed:
            extra = " (only allowed in the 'none' intent)" if key in NONE_EXTRA_KEYS else ""
            ctx.err(knode, f"unknown key {key!r} in intent {intent_id!r}{extra}; allowed: {', '.join(sorted(allowed))}")

    name = None
    if "name" in items:
        name = ctx.string(items["name"][1], "name")
    else:
        ctx.err(node, f"intent {intent_id!r} has no 'name' (its Chinese name)")

    route = None
    ack = resolve = None
    if is_none:
        for key in ("route", "ack", "resolve"):
            if key in items and ctx.scalar(items[key][1]) is not None:
                ctx.err(items[key][1], f"'none' opens no ticket: remove {key!r}")
    else:
        if "route" not in items:
            ctx.err(node, f"intent {intent_id!r} has no 'route' ({' | '.join(ROUTES)})")
        else:
            r = ctx.string(items["route"][1], "route")
            if r is not None and r not in ROUTES:
                ctx.err(items["route"][1], f"route {r!r} is not one of: {', '.join(ROUTES)}")
            else:
                route = r
        for key in ("ack", "resolve"):
            if key not in items:
                ctx.err(node, f"intent {intent_id!r} has no {key!r} deadline (e.g. 30m, 2h, 3d)")
                continue
            raw = ctx.string(items[key][1], key)
            if raw is None:
                continue
            td = parse_duration(raw)
            if td is None:
                ctx.err(items[key][1], f"bad duration {raw!r} for {key!r}: use a number with m, h or d, e.g. 30m, 2h, 3d")
            elif key == "ack":
                ack = td
            else:
                resolve = td

    advice = night = None
    if not is_none:
        if "advice" in items:
            advice = ctx.string(items["advice"][1], "advice")
            if advice is not None:
                try:
                    advice.format(**{k: "" for k in ADVICE_FIELDS})
                except (KeyError, IndexError, ValueError) as exc:
                    ctx.err(items["advice"][1], f"advice may name only {{fire}}, {{medical}}, {{police}}, {{gas}}: {exc}")
                    advice = None
        night = "on_duty" if intent_id in NIGHT_ON_DUTY_DEFAULT else None
        if "night" in items:
            n = ctx.string(items["night"][1], "night")
            if n is not None and n not in NIGHT_MODES:
                ctx.err(items["night"][1], f"night {n!r} is not one of: {', '.join(NIGHT_MODES)}")
            elif n is not None:
                night = None if n == "wait" else n
    else:
        for key in ("advice", "night"):
            if key in items:
                ctx.err(items[key][1], f"'none' opens no ticket: remove {key!r}")

    d = IntentDef(
        spec=IntentSpec(id=intent_id, name=name or intent_id, route=route, ack=ack, resolve=resolve,  # type: ignore[arg-type]
                        advice=advice, night=night),
        file=ctx.file,
        line=node.start_mark.line + 1,
    )
    if "description" in items:
        d.description = ctx.string(items["description"][1], "description") or ""
    if "keywords" in items:
        kn = items["keywords"][1]
        if isinstance(kn, SequenceNode):
            d.strong = [s for s, _ in ctx.string_list(kn, "keywords")]
        elif isinstance(kn, MappingNode):
            kitems = _mapping_items(ctx, kn, "keywords")
            for key, (knode, vnode) in kitems.items():
                if key not in KEYWORD_KEYS:
                    ctx.err(knode, f"unknown key {key!r} in keywords (allowed: strong, weak)")
                    continue
                phrases = [normalize(s) for s, _ in ctx.string_list(vnode, f"keywords.{key}")]
                (d.strong if key == "strong" else d.weak).extend(p for p in phrases if p)
        else:
            ctx.err(kn, "keywords must be a mapping with 'strong' and/or 'weak' lists")
    if "synonyms" in items:
        sn = items["synonyms"][1]
        if not isinstance(sn, MappingNode):
            ctx.err(sn, "synonyms must be a mapping: canonical word -> list of variants (typos, dialect)")
        else:
            for key, (_knode, vnode) in _mapping_items(ctx, sn, "synonyms").items():
                variants = [s for s, _ in ctx.string_list(vnode, f"synonyms.{key}")]
                d.synonyms[key] = variants
    if "regex" in items:
        d.regex = ctx.patterns(items["regex"][1], "regex", settings["strong_weight"])
    if "negative" in items:
        d.negative = ctx.patterns(items["negative"][1], "negative", 1.0)
    if "urgent" in items:
        d.urgent = ctx.patterns(items["urgent"][1], "urgent", 1.0)
    if "examples" in items:
        d.examples = ctx.string_list(items["examples"][1], "examples")
    if is_none:
        if "veto_issues" in items:
            d.veto_issues = ctx.patterns(items["veto_issues"][1], "veto_issues", 1.0)
        if "not_urgent" in items:
            d.not_urgent = ctx.patterns(items["not_urgent"][1], "not_urgent", 1.0)
        if "persistent" in items:
            d.persistent = ctx.patterns(items["persistent"][1], "persistent", 1.0)
        if "past" in items:
            d.past = ctx.patterns(items["past"][1], "past", 1.0)
        if "present" in items:
            d.present = ctx.patterns(items["present"][1], "present", 1.0)
        if "training" in items:
            d.training = ctx.string_list(items["training"][1], "training")
        if "settings" in items:
            sn = items["settings"][1]
            if not isinstance(sn, MappingNode):
                ctx.err(sn, "settings must be a mapping")
            else:
                for key, (knode, vnode) in _mapping_items(ctx, sn, "settings").items():
                    if key not in DEFAULT_SETTINGS:
                        ctx.err(knode, f"unknown setting {key!r}; allowed: {', '.join(DEFAULT_SETTINGS)}")
                        continue
                    v = ctx.scalar(vnode)
                    if isinstance(v, bool) or not isinstance(v, int | float) or v < 0:
                        ctx.err(vnode, f"setting {key!r} must be a number >= 0")
                    elif v == 0 and key in POSITIVE_SETTINGS:
                        ctx.err(vnode, f"setting {key!r} must be above 0 (1 turns it off)")
                    else:
                        settings[key] = float(v)
    return d


def _read_file(path: Path, settings: dict[str, float], errors: list[ConfigError]) -> list[IntentDef]:
    ctx = _Ctx(str(path))
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        errors.append(ConfigError(str(path), None, f"cannot read file: {exc}"))
        return []
    try:
        root = yaml.compose(text, Loader=_YAML_LOADER)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        errors.append(ConfigError(str(path), line, f"YAML syntax error: {exc.problem or exc}"))
        return []
    except yaml.YAMLError as exc:
        errors.append(ConfigError(str(path), None, f"YAML error: {exc}"))
        return []
    if root is None:
        errors.append(ConfigError(str(path), 1, "file is empty"))
        return []
    nodes = root.value if isinstance(root, SequenceNode) else [root]
    out = []
    for n in nodes:
        d = _parse_intent(ctx, n, settings)
        if d is not None:
            out.append(d)
    errors.extend(ctx.errors)
    return out


def load_intents(directory: Path | None = None) -> IntentSet:
    """Read and validate every ``*.yaml`` in ``directory`` (default: the shipped intents).

    Raises IntentConfigError listing every problem found (file:line: message).
    Taxonomy intents that are missing are allowed (an admin may delete one deliberately) and are
    reported as warnings by ``linli intents check``; ``none`` must exist.
    """
    directory = Path(directory) if directory is not None else default_intents_dir()
    errors: list[ConfigError] = []
    warnings: list[ConfigError] = []
    if not directory.is_dir():
        raise IntentConfigError([ConfigError(str(directory), None, "intents directory does not exist")])
    files = yaml_files(directory)
    if not files:
        raise IntentConfigError([ConfigError(str(directory), None, "no *.yaml intent files found")])
    settings = dict(DEFAULT_SETTINGS)
    defs: dict[str, IntentDef] = {}
    for path in files:
        for d in _read_file(path, settings, errors):
            prev = defs.get(d.spec.id)
            if prev is not None:
                errors.append(
                    ConfigError(d.file, d.line, f"duplicate intent id {d.spec.id!r} (first defined at {prev.file}:{prev.line})")
                )
                continue
            defs[d.spec.id] = d
    if NONE_ID not in defs:
        errors.append(ConfigError(str(directory), None, "the 'none' intent is missing (it is required)"))
    for tid in TAXONOMY_IDS:
        if tid not in defs:
            warnings.append(ConfigError(str(directory), None, f"taxonomy intent {tid!r} is not defined (deliberately removed?)"))

    # examples: duplicates within or across intents (compared after normalisation)
    seen: dict[str, tuple[str, str, int]] = {}
    for d in defs.values():
        for text, line in d.examples:
            key = normalize(text)
            if not key:
                errors.append(ConfigError(d.file, line, f"example {text!r} is empty after normalisation"))
                continue
            if key in seen:
                oid, ofile, oline = seen[key]
                where = "the same intent" if oid == d.spec.id else f"intent {oid!r}"
                errors.append(ConfigError(d.file, line, f"duplicate example {text!r} (also in {where} at {ofile}:{oline})"))
                continue
            seen[key] = (d.spec.id, d.file, line)

    # synonyms: one variant must map to one canonical word
    syn_seen: dict[str, tuple[str, str, int]] = {}
    synonyms: list[tuple[str, str]] = []
    for d in defs.values():
        for canonical, variants in d.synonyms.items():
            c = normalize(canonical)
            for v in variants:
                nv = normalize(v)
                if not nv or nv == c:
                    continue
                if nv in syn_seen and syn_seen[nv][0] != c:
                    errors.append(
                        ConfigError(d.file, d.line, f"synonym {v!r} maps to {canonical!r} here but to {syn_seen[nv][0]!r} in {syn_seen[nv][1]}")
                    )
                    continue
                if nv not in syn_seen:
                    syn_seen[nv] = (c, d.file, d.line)
                    synonyms.append((nv, c))
    synonyms.sort(key=lambda p: -len(p[0]))

    training = _read_training(directory, defs, errors, warnings) if NONE_ID in defs else []

    if errors:
        raise IntentConfigError(errors)
    ordered = {i: defs[i] for i in [*TAXONOMY_IDS, *sorted(defs)] if i in defs and i != NONE_ID}
    ordered[NONE_ID] = defs[NONE_ID]
    return IntentSet(
        intents={i: d.spec for i, d in ordered.items()},
        defs=ordered,
        settings=settings,
        synonyms=synonyms,
        directory=directory,
        files=files,
        warnings=warnings,
        training=training,
    )


def _read_training(
    directory: Path, defs: dict[str, IntentDef], errors: list[ConfigError], warnings: list[ConfigError]
) -> list[TrainingRow]:
    """Labelled messages for the learned models: ``none.training`` lists globs (relative to the intents
    folder) of JSON-lines files with at least ``text`` and ``intent`` (and optionally ``urgent``, a
    boolean); every line is checked and a bad one is reported as file:line."""
    none = defs[NONE_ID]
    out: list[TrainingRow] = []
    for pattern, line in none.training:
        parts = Path(pattern).parts
        if not pattern.strip() or Path(pattern).is_absolute() or ".." in parts:
            errors.append(ConfigError(none.file, line, f"training pattern {pattern!r} must be relative to the intents folder, inside it"))
            continue
        try:
            paths = sorted(p for p in directory.glob(pattern) if p.is_file())
        except (ValueError, NotImplementedError) as exc:
            errors.append(ConfigError(none.file, line, f"bad training pattern {pattern!r}: {exc}"))
            continue
        if not paths:
            warnings.append(ConfigError(none.file, line, f"training pattern {pattern!r} matches no file"))
        for path in paths:
            try:
                lines = path.read_text(encoding="utf-8-sig").splitlines()  # a BOM (Windows editors) is fine
            except (OSError, UnicodeDecodeError) as exc:
                errors.append(ConfigError(str(path), None, f"cannot read training file: {exc}"))
                continue
            undefined: dict[str, int] = {}  # intent -> first line (a deliberately removed intent, or a typo)
            for n, raw in enumerate(lines, 1):
                if not raw.strip():
                    continue
                try:
                    row = json.loads(raw)
                    text, intent = row["text"], row["intent"]
                    if not isinstance(intent, str):
                        raise TypeError(f"intent must be a text, not {intent!r}")
                except (json.JSONDecodeError, KeyError, TypeError) as exc:
                    errors.append(ConfigError(str(path), n, f"training line needs JSON with text and intent ({exc})"))
                    continue
                urgent = row.get("urgent")
                if not isinstance(text, str) or not text.strip():
                    errors.append(ConfigError(str(path), n, "training line has an empty text"))
                elif intent not in defs:
                    undefined.setdefault(intent, n)
                elif urgent is not None and not isinstance(urgent, bool):
                    errors.append(ConfigError(str(path), n, f"training line: urgent must be true or false, not {urgent!r}"))
                else:
                    out.append(TrainingRow(text, intent, urgent, str(path), n))
            if undefined:
                first = min(undefined.values())
                names = ", ".join(repr(i) for i in undefined)
                warnings.append(ConfigError(str(path), first, f"training lines for undefined intents skipped: {names}"))
    return out
