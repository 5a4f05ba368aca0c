"""The YAML-driven, explainable intent classifier.

Score of an intent = keyword hits (strong / weak weights) + regex hits + char n-gram TF-IDF similarity to
its examples (nearest example and intent centroid) + a rapidfuzz bonus when the message is a near-duplicate
of an example. ``negative`` patterns veto an intent; the ``none`` intent's ``veto_issues`` veto every issue
(a fix confirmed, a notice, an ad) unless ``none``'s own ``negative`` patterns say the problem is back.
``none`` gets a bias, so an issue needs real evidence. The confidence is a softmax over the scores; an
issue below the threshold comes back with ``unsure=True`` (not ticketed: the admins' review list).
Text after "顺便 / 另外 / 还有" is a secondary problem: its keyword and regex hits count less.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from dataclasses import dataclass, field, replace

import numpy as np
from rapidfuzz import fuzz, process

from .extract import extract_location, tense_cues, urgent_match
from .learned import LearnedModel, ngrams, tfidf_vector
from .loader import NONE_ID, IntentSet
from .model import Classification
from .normalize import normalize

_SECONDARY_RE = re.compile(
    r"[,，。.!！;；\s](顺便(说一下|说下|提一下|问一下|问下|说一句)?|另外|还有就是|还有个|还有一个|对了|再说一下)"
)
SECONDARY_FACTOR = 0.4
REGEX_MIN_LEARNED = 0.05  # an intent's regexes are tried when the learned model gives it at least this
CALM, URGENT = "calm", "urgent"  # the learned urgency model's two classes
FUZZY_MAX_LEN = 60  # near-duplicate matching is for short messages; long ones rely on the n-grams
FUZZY_CANDIDATES = 8  # compare only with the examples nearest by n-gram
FUZZY_CUTOFF = 60
NGRAM_SIZES = (1, 2)
# a reply that only makes sense with the quoted message: "我们这边也是", "3号楼也坏了", "同样"
_ME_TOO_RE = re.compile(r"也(是|一样|坏|不|没|停|堵|漏|有|这样)|同样|一样|同问|我家也|这边也")
_QUOTE_SEP_RE = re.compile(r"\n[ \t]*(?:[-—–_][ \t]*){3,}\n")
# a reply under a quoted notice that disputes it: "完成个啥，昨晚厨房又跑过去一只"
_DISPUTE_RE = re.compile(r"又|还|根本|哪里|哪儿|个啥|个屁|什么|啥|没用|照样|依旧|不是说|说好的|骗|然后呢|呵呵|结果")
# a notice pasted at the top of a message, the writer's own words below it
_NOTICE_HEAD_RE = re.compile(r"^\s*(【[^】]{0,16}(通知|公告|提示|告知)[^】]{0,8}】|(物业|社区|居委会|业委会)?(通知|公告|温馨提示)[:：])")
_NOTICE_MARK_RE = re.compile(r"【[^】]{0,16}】|(物业|社区|居委会|业委会)?(通知|公告|温馨提示)[:：]|[「」]")
# a notice's own last line (its request, signature or date), not a reader's reply
_NOTICE_TAIL_RE = re.compile(r"\s*(请|敬请|特此|谢谢(大家|各位)?(的)?(配合|支持|理解)|感谢(配合|支持|理解)|望|各位|物业|社区|居委|业委|"
                             r"[0-9０-９]{2,4}[年./-]|[一二三四五六七八九十]+月)")
# where a message names a second problem: a new sentence, or a joining word
_CLAUSE_SPLIT_RE = re.compile(r"[。！!？?；;\n,，]+|(?=还有|另外|而且|顺便|同时|以及|再就是|此外)")
ALSO_MIN_CONFIDENCE = 0.8
# a second problem is named with one of these ("…，监控也坏了", "另外…"): other messages are not split
_ALSO_CUE_RE = re.compile(r"还有|另外|而且|顺便|同时|以及|再就是|此外|也|还")  # a clause's own reading must be this sure to count as a second problem


# \d: messages are NFKC-normalised, so digits are ASCII (other scripts' digits are not expected)
_DIGITS = "0123456789"


def split_quote(text: str) -> tuple[str, str]:
    """(quoted message, reply) of a quoted reply — WeChat's 「…」 + dashes form, or a notice pasted at the top with
    the writer's words on the last line — else ("", text)."""
    m = _QUOTE_SEP_RE.search(text)
    if m and text.lstrip().startswith(("「", '"', "“")) and text[m.end():].strip():
        return text[: m.start()], text[m.end():]
    if _NOTICE_HEAD_RE.match(text) and "\n" in text.strip():
        head, _, last = text.strip().rpartition("\n")
        if len(last.strip()) >= 2 and not _NOTICE_TAIL_RE.match(last):
            return head, last
    return "", text


def first_chars(rx: re.Pattern[str]) -> frozenset[str] | None:
    """Characters one of which every match of ``rx`` starts with (None when that cannot be told).

    A message holding none of them cannot match, so the search is skipped: most of an intent's regexes are
    ruled out by one set test per message.
    """
    try:
        from re import _parser as sre_parse  # type: ignore[attr-defined]
    except ImportError:  # pragma: no cover - other Python versions
        import sre_parse  # type: ignore[no-redef]
    c = sre_parse
    try:
        tree = c.parse(rx.pattern, rx.flags)
    except Exception:  # pragma: no cover - compiled already, so parsing works
        return None
    if rx.flags & re.IGNORECASE:
        return None

    def seq(items: list) -> set[str] | None:
        for i, (op, av) in enumerate(items):
            if op in (c.AT, c.ASSERT, c.ASSERT_NOT):
                continue  # zero width
            if op is c.LITERAL:
                return {chr(av)}
            if op is c.IN:
                out: set[str] = set()
                for iop, iav in av:
                    if iop is c.LITERAL:
                        out.add(chr(iav))
                    elif iop is c.RANGE and iav[1] - iav[0] <= 64:
                        out.update(chr(x) for x in range(iav[0], iav[1] + 1))
                    elif iop is c.CATEGORY and iav is c.CATEGORY_DIGIT:
                        out.update(_DIGITS)
                    else:
                        return None
                return out
            if op is c.CATEGORY and av is c.CATEGORY_DIGIT:
                return set(_DIGITS)
            if op is c.SUBPATTERN:
                return seq(list(av[-1]))
            if op is c.BRANCH:
                out = set()
                for branch in av[1]:
                    f = seq(list(branch))
                    if f is None:
                        return None
                    out |= f
                return out
            if op in (c.MAX_REPEAT, c.MIN_REPEAT):
                lo, _hi, sub = av
                f = seq(list(sub))
                if f is None:
                    return None
                if lo >= 1:
                    return f
                rest = seq(items[i + 1 :])
                return None if rest is None else f | rest
            return None
        return None  # the pattern can match the empty string

    first = seq(list(tree))
    return frozenset(first) if first else None


def char_ngrams(text: str) -> list[str]:
    """The n-gram features of a prepared text (the similarity index and the learned models share them)."""
    return ngrams(text, NGRAM_SIZES)


@dataclass(slots=True)
class IntentScore:
    """One intent's score with the evidence behind it (formatted only when asked for)."""

    intent: str
    score: float = 0.0
    keywords: list[tuple[str, float]] = field(default_factory=list)
    regexes: list[tuple[str, float]] = field(default_factory=list)
    similarity: float = 0.0
    nearest: str | None = None
    group: int | None = None  # which intent group of examples holds the nearest one (looked up when shown)
    fuzzy: tuple[float, str] | None = None
    learned: float = 0.0  # probability of this intent under the learned model (0 when it is off)
    vetoed: str | None = None
    notes: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Analysis:
    text: str
    normalized: str
    scores: list[IntentScore]  # best first
    classification: Classification


class Classifier:
    def __init__(self, intent_set: IntentSet) -> None:
        self.intent_set = intent_set
        s = intent_set.settings
        self.strong_w = s["strong_weight"]
        self.weak_w = s["weak_weight"]
        self.sim_w = s["similarity_weight"]
        self.fuzzy_w = s["fuzzy_weight"]
        self.none_bias = s["none_bias"]
        self.threshold = s["threshold"]
        self.temperature = max(s["temperature"], 1e-6)
        self.learned_w = s["learned_weight"]
        self._syn = intent_set.synonyms
        # one search tells whether any synonym variant occurs at all (most messages hold none)
        self._syn_any = (
            re.compile("|".join(re.escape(v) for v, _ in self._syn)) if self._syn else None
        )
        self._defs = intent_set.defs
        self._ids = list(intent_set.defs)
        self._issue_ids = [i for i in self._ids if i != NONE_ID]
        none_def = intent_set.defs[NONE_ID]
        self._veto_issues = [(p.regex, first_chars(p.regex)) for p in none_def.veto_issues]
        self._none_negative = [(p.regex, first_chars(p.regex)) for p in none_def.negative]
        self._not_urgent = [p.regex for p in none_def.not_urgent]
        self._persistent = [p.regex for p in none_def.persistent]
        self._past = [p.regex for p in none_def.past]
        self._present = [p.regex for p in none_def.present]
        # none's own urgent patterns are shared: people in danger now, whatever the issue
        self._shared_urgent = [(p.regex, first_chars(p.regex)) for p in none_def.urgent]
        # every intent's regexes with the characters their matches start with: a message only tries the
        # regexes whose first character it holds (or whose first character cannot be told)
        self._regexes = {
            i: [(p.regex, p.weight, first_chars(p.regex)) for p in d.regex] for i, d in self._defs.items() if d.regex
        }
        self._negative = {i: [p.regex for p in d.negative] for i, d in self._defs.items()}
        self._urgent = {i: [(p.regex, first_chars(p.regex)) for p in d.urgent] for i, d in self._defs.items()}

        # keywords (after synonyms), indexed by first character: one pass over the text finds all hits
        by_char: dict[str, list[tuple[str, str, float]]] = defaultdict(list)
        for iid, d in self._defs.items():
            weights: dict[str, float] = {}
            for k in d.weak:
                weights[self.prep(k)] = self.weak_w
            for k in d.strong:
                weights[self.prep(k)] = self.strong_w
            for k, w in weights.items():
                if k:
                    by_char[k[0]].append((k, iid, w))
        self._kw_by_char = {ch: sorted(v, key=lambda e: -len(e[0])) for ch, v in by_char.items()}

        # examples -> TF-IDF char n-gram vectors; one flat accumulator: slots 0..E-1 are examples,
        # slots E..E+I-1 are intent centroids
        self._ex_text: list[str] = []
        self._ex_intent: list[str] = []
        for iid, d in self._defs.items():
            for text, _line in d.examples:
                self._ex_text.append(self.prep(normalize(text)))
                self._ex_intent.append(iid)
        train = intent_set.training
        train_text = [self.prep(normalize(r.text)) for r in train]
        n_ex = len(self._ex_text)
        ex_grams = [char_ngrams(t) for t in self._ex_text]
        df: dict[str, int] = defaultdict(int)
        for grams in ex_grams:
            for g in set(grams):
                df[g] += 1
        # the idf (and the n-gram ids) cover the training messages too: the learned models see their n-grams
        all_df = dict(df)
        train_grams = [char_ngrams(t) for t in train_text]
        for grams in train_grams:
            for g in set(grams):
                all_df[g] = all_df.get(g, 0) + 1
        n_all = n_ex + len(train_text)
        self._idf = {g: math.log((n_all + 1) / (c + 1)) + 1.0 for g, c in all_df.items()}
        # every n-gram of the examples and training messages gets an id (its row in the learned models too); a
        # message's vector is keyed by these ids, so the postings and the learned weights need no second lookup
        self._gid = {g: j for j, g in enumerate(self._idf)}
        self._idf_by_id = list(self._idf.values())
        # very common n-grams (了, 的, 楼 ...) are left out of the example index: they add little to
        # a cosine and cost most of the time; the centroids keep a few more of them
        max_df = max(6, int(0.04 * n_ex))
        max_df_centroid = max(12, int(0.10 * n_ex))
        grams_by_id = list(self._idf)
        index: dict[int, list[tuple[int, float]]] = defaultdict(list)
        centroids: dict[str, dict[int, float]] = {i: defaultdict(float) for i in self._ids}
        for ei, grams in enumerate(ex_grams):
            for j, w in self._qvector(grams).items():
                g = grams_by_id[j]
                if df[g] <= max_df and len(g) > 1:  # single characters only count via the centroids
                    index[j].append((ei, w))
                if df[g] <= max_df_centroid:
                    centroids[self._ex_intent[ei]][j] += w
        for k, iid in enumerate(self._ids):
            c = centroids[iid]
            norm = math.sqrt(sum(w * w for w in c.values())) or 1.0
            for j, w in c.items():
                index[j].append((n_ex + k, w / norm))
        # postings in compressed form (row j = the slots of n-gram id j): a message's similarities are then a
        # few numpy calls (gather its n-grams' postings, one bincount) rather than a Python loop
        ptr = [0]
        post_slot: list[int] = []
        post_w: list[float] = []
        for j in range(len(grams_by_id)):
            for slot, w in index.get(j, ()):
                post_slot.append(slot)
                post_w.append(w)
            ptr.append(len(post_slot))
        self._post_ptr = np.asarray(ptr, dtype=np.int64)
        self._post_slot = np.asarray(post_slot, dtype=np.int64)
        self._post_w = np.asarray(post_w, dtype=np.float64)
        self._n_ex = n_ex
        self._n_slots = n_ex + len(self._ids)
        # the examples of one intent are contiguous slots: (intent, first slot) of each intent that has some
        bounds = [(iid, k) for k, iid in enumerate(self._ex_intent) if k == 0 or self._ex_intent[k - 1] != iid]
        self._ex_groups = [iid for iid, _ in bounds]
        self._ex_starts = np.asarray([k for _, k in bounds], dtype=np.int64)
        self._ex_ends = np.append(self._ex_starts[1:], n_ex)
        # the learned evidence: logistic regression over the same char n-grams, trained on the examples and
        # the training messages; and the learned urgency, trained on the training messages that say urgent
        self.learned: LearnedModel | None = None
        self.urgency: LearnedModel | None = None
        self.urgent_threshold = s["urgent_threshold"]
        self.promote_threshold = s["promote_threshold"]
        if self.learned_w > 0 and (n_ex or train):
            self.learned = LearnedModel(
                [*ex_grams, *train_grams], [*self._ex_intent, *(r.intent for r in train)], self._ids,
                l2=s["learned_l2"], sizes=NGRAM_SIZES, vocab=self._gid, idf=self._idf_by_id,
            )
        rated = [k for k, r in enumerate(train) if r.urgent is not None]
        # both classes are needed: trained on urgent messages only, the model would call everything urgent
        if self.urgent_threshold < 1 and len({train[k].urgent for k in rated}) == 2:
            self.urgency = LearnedModel(
                [train_grams[k] for k in rated], [URGENT if train[k].urgent else CALM for k in rated],
                [CALM, URGENT], l2=s["learned_l2"], sizes=NGRAM_SIZES, vocab=self._gid, idf=self._idf_by_id,
                balanced=True,  # few messages are urgent: both classes weigh the same in training
            )

    # -- helpers -----------------------------------------------------------------------------------
    def prep(self, normalized_text: str) -> str:
        """Apply the YAML synonyms (typos, dialect) to already-normalised text."""
        t = normalized_text
        if self._syn_any is None or not self._syn_any.search(t):
            return t
        for variant, canonical in self._syn:
            if variant in t:
                t = t.replace(variant, canonical)
        return t

    def _qvector(self, grams: list[str]) -> dict[int, float]:
        """The message's unit-length TF-IDF vector, keyed by n-gram id (n-grams that no example or training
        message has are dropped)."""
        return tfidf_vector(grams, self._gid, self._idf_by_id)

    def _similarities(self, qvec: dict[int, float]) -> np.ndarray | None:
        """Cosine of the message's vector with every example (slots 0..E-1) and intent centroid (E..), or None
        when no n-gram of the message has postings."""
        if not qvec:
            return None
        ptr = self._post_ptr
        qi = np.fromiter(qvec.keys(), dtype=np.int64, count=len(qvec))
        starts = ptr[qi]
        lens = ptr[qi + 1] - starts
        total = int(lens.sum())
        if not total:
            return None
        # the positions of all postings of the message's n-grams, run after run
        offs = np.repeat(starts - np.cumsum(lens) + lens, lens) + np.arange(total)
        qv = np.fromiter(qvec.values(), dtype=np.float64, count=len(qvec))
        weights = self._post_w[offs] * np.repeat(qv, lens)
        return np.bincount(self._post_slot[offs], weights=weights, minlength=self._n_slots)

    def describe(self, s: IntentScore) -> list[str]:
        """Human-readable evidence of one intent's score."""
        out = list(s.notes)
        if s.keywords or s.regexes:
            hits = [f"{k}+{w:g}" for k, w in s.keywords] + [f"/{m}/+{w:g}" for m, w in s.regexes]
            out.append("kw " + " ".join(hits))
        if s.similarity:
            out.append(f"sim {s.similarity:.2f}" + (f" '{s.nearest[:24]}'" if s.nearest else ""))
        if s.fuzzy:
            out.append(f"fuzzy {s.fuzzy[0]:.0f}% '{s.fuzzy[1][:24]}'")
        if s.learned >= 0.01:
            out.append(f"learned {s.learned:.2f}")
        return out

    def learned_ngrams(self, prepared_text: str, intent: str, k: int = 3) -> list[tuple[str, float]]:
        """The n-grams of the (prepared) text that push the learned model most towards ``intent``."""
        if self.learned is None:
            return []
        return self.learned.top_grams(prepared_text, intent, k)

    # -- scoring ------------------------------------------------------------------------------------
    def analyse(self, text: str) -> Analysis:
        quote, reply = split_quote(text)
        norm = normalize(reply if quote else text)
        a = self._analyse(text, norm)
        c = a.classification
        if quote and (c.intent == NONE_ID or c.unsure):
            # a reply under a quote: the reply decides, the quote only supplies the topic. "我们这边也是" or a
            # reply that disputes a notice ("完成个啥，昨晚厨房又跑过去一只") is read together with the quote
            top = a.scores[0]
            none_cues = c.intent == NONE_ID and (top.keywords or top.regexes or top.notes)
            me_too = not none_cues and _ME_TOO_RE.search(norm)
            if me_too or _DISPUTE_RE.search(norm):
                full = normalize(reply + "\n" + _NOTICE_MARK_RE.sub(" ", quote))
                b = self._analyse(text, full)
                bc = b.classification
                if bc.intent != NONE_ID and (c.intent == NONE_ID or not bc.unsure):
                    b.scores[0].notes.append("read with the quoted message (the reply alone says too little)")
                    a = self._decide(
                        text, full, b.normalized, {s.intent: s.score for s in b.scores},
                        {s.intent: s for s in b.scores}, loc_text=norm,
                    )
        c = a.classification
        if c.intent != NONE_ID and not c.unsure:
            also = self._also(text, norm, c.intent)
            if also:
                a.classification = replace(c, also=also, why=c.why + " | also " + ", ".join(
                    f"{i} {p:.2f}" for i, p in also))
        return a

    def _also(self, text: str, norm: str, main: str) -> tuple[tuple[str, float], ...]:
        """The other problems a message names: each clause read on its own; a clause sure of another issue
        intent ("3号楼电梯又坏了，楼道灯也不亮" → lighting besides elevator) counts."""
        if not _ALSO_CUE_RE.search(norm):
            return ()
        clauses = [c.strip() for c in _CLAUSE_SPLIT_RE.split(norm) if len(c.strip()) >= 4]
        if len(clauses) < 2:
            return ()
        found: dict[str, float] = {}
        for clause in clauses:
            cc = self._analyse(text, clause).classification
            if cc.intent not in (NONE_ID, main) and not cc.unsure and cc.confidence >= ALSO_MIN_CONFIDENCE:
                found[cc.intent] = max(found.get(cc.intent, 0.0), cc.confidence)
        return tuple(sorted(found.items(), key=lambda e: -e[1]))

    def _analyse(self, text: str, norm: str) -> Analysis:
        t = self.prep(norm)
        score = dict.fromkeys(self._ids, 0.0)
        ev: dict[str, IntentScore] = {}  # evidence, only for intents that have some

        def evidence(iid: str) -> IntentScore:
            e = ev.get(iid)
            if e is None:
                e = ev[iid] = IntentScore(iid)
            return e

        if not t:
            score[NONE_ID] = self.none_bias + self.strong_w
            evidence(NONE_ID).notes.append("empty after normalisation (emoji / image / mention only)")
            return self._decide(text, norm, t, score, ev)

        chars = set(t)
        none_negated = any(
            p.search(t) for p, first in self._none_negative if first is None or not first.isdisjoint(chars)
        )
        veto_all = None
        if not none_negated:
            for p, first in self._veto_issues:
                if first is not None and first.isdisjoint(chars):
                    continue
                m = p.search(t)
                if m:
                    veto_all = m.group(0)
                    break
        sec = _SECONDARY_RE.search(t)
        sec_pos = sec.start() if sec else len(t) + 1

        # keywords: one pass with the first-character index; a keyword counts once, and one inside a
        # longer keyword of the same intent does not count again
        found: dict[str, list[tuple[str, int, int, float]]] = {}
        by_char = self._kw_by_char
        for i, ch in enumerate(t):
            cands = by_char.get(ch)
            if cands:
                for k, iid, w in cands:
                    if t.startswith(k, i):
                        found.setdefault(iid, []).append((k, i, i + len(k), w))
        for iid, hits in found.items():
            e = evidence(iid)
            if len(hits) > 1:
                hits.sort(key=lambda h: (h[1] - h[2], h[1]))
            covered: list[tuple[int, int]] = []
            seen: set[str] = set()
            total = 0.0
            for k, pos, end, w in hits:
                if k in seen or any(a <= pos and end <= b for a, b in covered):
                    continue
                seen.add(k)
                covered.append((pos, end))
                if pos >= sec_pos:
                    w *= SECONDARY_FACTOR
                total += w
                e.keywords.append((k, w))
            score[iid] += total
        if none_negated:
            score[NONE_ID] = 0.0
            e = evidence(NONE_ID)
            e.keywords.clear()
            e.regexes.clear()
            e.notes.append("none cues cancelled: the problem is still there")

        # n-gram similarity: nearest example per intent and the intent centroid
        qvec = self._qvector(char_ngrams(t))
        acc = self._similarities(qvec)
        n_ex = self._n_ex
        best_ex: dict[str, tuple[float, int]] = {}
        centroid: dict[str, float] = {}
        if acc is not None:
            for iid, v in zip(self._ids, acc[n_ex:].tolist(), strict=True):
                if v > 0:
                    centroid[iid] = v
            if n_ex:
                ex_acc = acc[:n_ex]
                maxima = np.maximum.reduceat(ex_acc, self._ex_starts).tolist()
                for g, (iid, v) in enumerate(zip(self._ex_groups, maxima, strict=True)):
                    if v > 0:
                        best_ex[iid] = (v, g)  # which example it is, is looked up only if it counts
        sim_w = self.sim_w
        for iid in centroid.keys() | best_ex.keys():
            b = best_ex.get(iid)
            sim = 0.6 * (b[0] if b else 0.0) + 0.4 * centroid.get(iid, 0.0)
            if sim > 0.05:
                score[iid] += sim_w * sim
                e = evidence(iid)
                e.similarity = sim
                if b:
                    e.group = b[1]

        # learned evidence: every intent (none included) gets learned_weight x its probability. The model's
        # features are the same TF-IDF vector (same n-grams, same idf) as the similarity's
        if self.learned is not None:
            lw = self.learned_w
            for iid, p in zip(self._ids, self.learned.proba_ids(qvec), strict=True):
                if iid == NONE_ID and none_negated:
                    continue  # "又坏了 / 还是不亮": what looked like a fix or thanks to the model is not one
                score[iid] += lw * p
                e = ev.get(iid)
                if e is not None:
                    e.learned = p
                elif p >= REGEX_MIN_LEARNED:
                    evidence(iid).learned = p

        # regexes: only for intents with some evidence already — a keyword hit, a similar example or the
        # learned model giving them a chance (saves most searches; an intent with none of these cannot win)
        live = set(found)
        for iid, e in ev.items():
            if e.similarity or e.learned >= REGEX_MIN_LEARNED:
                live.add(iid)
        if none_negated:
            live.discard(NONE_ID)
        for iid in live:
            for rx, w, first in self._regexes.get(iid, ()):
                if first is not None and first.isdisjoint(chars):
                    continue
                m = rx.search(t)
                if m:
                    if m.start() >= sec_pos:
                        w *= SECONDARY_FACTOR
                    score[iid] += w
                    evidence(iid).regexes.append((m.group(0), w))

        # rapidfuzz: is the message a near-duplicate of an example (typo, small rewording)?
        if len(t) <= FUZZY_MAX_LEN:
            ex_slots = np.flatnonzero(acc[:n_ex] > 0) if acc is not None else ()
            if len(ex_slots):
                if len(ex_slots) > FUZZY_CANDIDATES:
                    ex_slots = ex_slots[np.argpartition(-acc[ex_slots], FUZZY_CANDIDATES)[:FUZZY_CANDIDATES]]
                ranked_slots = sorted(ex_slots.tolist(), key=lambda k: (-acc[k], k))
                choices = {k: self._ex_text[k] for k in ranked_slots}
                hit = process.extractOne(t, choices, scorer=fuzz.ratio, score_cutoff=FUZZY_CUTOFF)
                if hit is not None:
                    ex, ratio, slot = hit
                    iid = self._ex_intent[slot]
                    score[iid] += self.fuzzy_w * (ratio - FUZZY_CUTOFF) / (100 - FUZZY_CUTOFF)
                    evidence(iid).fuzzy = (ratio, ex)

        # vetoes (intents too weak to win are not checked)
        floor = 0.5 * self.none_bias
        for iid in self._issue_ids:
            if veto_all is not None:
                if score[iid] > 0:
                    evidence(iid).vetoed = f"none veto '{veto_all}'"
                score[iid] = 0.0
            elif score[iid] >= floor:
                for rx in self._negative[iid]:
                    m = rx.search(t)
                    if m:
                        evidence(iid).vetoed = f"negative '{m.group(0)}'"
                        score[iid] = 0.0
                        break
        score[NONE_ID] += self.none_bias
        if veto_all is not None:
            score[NONE_ID] += self.strong_w
            evidence(NONE_ID).notes.append(f"veto_issues '{veto_all}'")
        return self._decide(text, norm, t, score, ev, vetoed=veto_all is not None, qvec=qvec, acc=acc)

    def _decide(
        self,
        text: str,
        norm: str,
        t: str,
        score: dict[str, float],
        ev: dict[str, IntentScore],
        loc_text: str | None = None,
        vetoed: bool = False,
        qvec: dict[int, float] | None = None,
        acc: np.ndarray | None = None,
    ) -> Analysis:
        order = sorted(score, key=score.__getitem__, reverse=True)
        ranked = []
        for iid in order:
            e = ev.get(iid) or IntentScore(iid)
            e.score = score[iid]
            ranked.append(e)
        if acc is not None:
            for e in ranked[:3]:  # the nearest example is shown for the top three only
                if e.group is not None and e.nearest is None:
                    start, end = int(self._ex_starts[e.group]), int(self._ex_ends[e.group])
                    e.nearest = self._ex_text[start + int(np.argmax(acc[start:end]))]
        best = ranked[0]
        mx = best.score
        temp = self.temperature
        z = sum(math.exp((v - mx) / temp) for v in score.values())
        conf = 1.0 / z
        promoted = None
        chars: set[str] | None = None
        lasting = None if vetoed else self._lasting_danger(t)
        if best.intent == NONE_ID and not vetoed and len(ranked) > 1:
            # people in danger now (a shared urgent pattern, not past, not negated) is never "not a request",
            # even in words no intent knows: the best issue intent takes it, ticketed and urgent
            promoted = lasting or self._shared_danger(t, chars := set(t))
            if promoted is None and self.urgency is not None and self.promote_threshold < 1:
                promoted = self._learned_danger(t, self.promote_threshold, qvec)[0]
            if promoted is not None:
                best = next(e for e in ranked if e.intent != NONE_ID)
                ranked.remove(best)
                ranked.insert(0, best)
                note = f"promoted over none: urgent '{promoted}'"
                if note not in best.notes:  # a quoted reply is decided twice on the same evidence
                    best.notes.append(note)
                conf = math.exp((best.score - mx) / temp) / z
        loc = extract_location(norm if loc_text is None else loc_text, normalized=True)
        urgent = unsure = False
        danger = urgent_note = None
        runner = ranked[1] if len(ranked) > 1 else None
        if best.intent != NONE_ID:
            cands = list(self._urgent[best.intent])
            if runner is not None and runner.intent != NONE_ID and runner.score >= 0.5 * mx:
                cands += self._urgent[runner.intent]
            cands += self._shared_urgent
            if chars is None:
                chars = set(t)
            pats = [rx for rx, first in cands if first is None or not first.isdisjoint(chars)]
            danger, urgent_note = urgent_match(t, pats, self._not_urgent, self._past, self._present)
            if danger is None and urgent_note is None and self.urgency is not None:
                danger, urgent_note = self._learned_danger(t, qvec=qvec)
            if danger is None and lasting is not None:
                # gas, fire, smoke: still there after the telling, past tense and calm words notwithstanding
                danger, urgent_note = lasting, None
            urgent = danger is not None
            # people in danger now are never parked on the review list: a doubtful intent still opens an
            # urgent ticket (the responders see the text), only a doubtful non-urgent issue waits for the admins
            unsure = conf < self.threshold and promoted is None and not urgent
        why = f"{best.intent} {best.score:.1f}: " + ("; ".join(self.describe(best)) or "no evidence")
        if runner is not None:
            why += f" | next {runner.intent} {runner.score:.1f}"
            if runner.vetoed:
                why += f" ({runner.vetoed})"
        if urgent:
            why += f" | urgent '{danger}'"
        elif urgent_note:
            why += f" | not urgent: {urgent_note}"
        if unsure:
            why += f" | unsure (confidence {conf:.2f} < {self.threshold:.2f})"
        elif urgent and conf < self.threshold:
            why += f" | ticketed although confidence {conf:.2f} < {self.threshold:.2f}: urgent"
        cls = Classification(
            intent=best.intent,
            confidence=round(conf, 4),
            building=loc.building,
            unit=loc.unit,
            room=loc.room,
            urgent=urgent,
            why=why,
            unsure=unsure,
        )
        return Analysis(text=text, normalized=t, scores=ranked, classification=cls)

    def _lasting_danger(self, t: str) -> str | None:
        """A danger that outlasts the telling (``none.persistent``: gas, fire, smoke) unless a ``not_urgent`` cue
        says it is over or hypothetical."""
        for rx in self._persistent:
            m = rx.search(t)
            if m:
                if any(n.search(t) for n in self._not_urgent):
                    return None
                return m.group(0)
        return None

    def _shared_danger(self, t: str, chars: set[str]) -> str | None:
        """The danger a shared ``urgent`` pattern finds in the prepared text now (None if none / past / negated)."""
        pats = [rx for rx, first in self._shared_urgent if first is None or not first.isdisjoint(chars)]
        if not pats:
            return None
        return urgent_match(t, pats, self._not_urgent, self._past, self._present)[0]

    def _learned_danger(
        self, t: str, threshold: float | None = None, qvec: dict[int, float] | None = None
    ) -> tuple[str | None, str | None]:
        """Urgency by the learned model: ``(evidence, None)`` when its probability reaches the threshold and
        the message holds no sign that the danger is over (a ``not_urgent`` cue, or a past time cue with no
        present cue after it)."""
        assert self.urgency is not None
        if qvec is None:
            qvec = self._qvector(char_ngrams(t))
        p = self.urgency.proba_ids(qvec)[1]
        if p < (self.urgent_threshold if threshold is None else threshold):
            return None, None
        for rx in self._not_urgent:
            m = rx.search(t)
            if m:
                return None, f"learned urgency {p:.2f} but not urgent '{m.group(0)}'"
        cues = tense_cues(t, self._past, self._present)
        if cues and cues[-1][1]:
            return None, f"learned urgency {p:.2f} but in the past"
        grams = "".join(f" {g}" for g, _ in self.urgency.top_grams(t, URGENT))
        return f"learned {p:.2f}:{grams}", None

    def classify(self, text: str) -> Classification:
        return self.analyse(text).classification
