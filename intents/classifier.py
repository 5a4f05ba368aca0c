"""The YAML-driven, explainable intent classifier.

Score of an intent = keyword hits (strong/weak weights) + regex hits + char n-gram TF-IDF similarity to its
examples (nearest example and centroid) + a rapidfuzz bonus for a near-duplicate example. Negative patterns
veto an intent; the ``none`` intent's ``veto_issues`` veto every issue (fix confirmed, notice, ad) unless its
``negative`` patterns say the problem is back. ``none`` gets a bias so an issue needs real evidence.
Confidence is a softmax over the scores; an issue below the threshold is returned with ``unsure=True``.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from dataclasses import dataclass, field

from rapidfuzz import fuzz, process

from .extract import extract_location, is_urgent
from .loader import NONE_ID, IntentSet
from .model import Classification
from .normalize import normalize

# text after these markers is a secondary problem: its keyword / regex hits count less
_SECONDARY_RE = re.compile(r"[,，。.!！;；\s](顺便(说一下|说下|提一下|问一下|问下|说一句)?|另外|还有就是|还有个|还有一个|对了|再说一下)")
SECONDARY_FACTOR = 0.4

_PUNCT_RE = re.compile(r"[\s,，。.!！?？、;；:：~…\"'“”‘’()（）【】\[\]<>《》\-—_/|*#@+=]+")


def _ngrams(text: str) -> list[str]:
    t = _PUNCT_RE.sub(" ", text)
    grams: list[str] = []
    for chunk in t.split():
        grams.extend(chunk)
        grams.extend(chunk[i : i + 2] for i in range(len(chunk) - 1))
        grams.extend(chunk[i : i + 3] for i in range(len(chunk) - 2))
    return grams


@dataclass(slots=True)
class IntentScore:
    intent: str
    score: float
    parts: list[str] = field(default_factory=list)
    vetoed: str | None = None
    nearest: str | None = None


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
        self._syn = intent_set.synonyms
        self._syn_first = {v[0] for v, _ in self._syn}
        self._ids = list(intent_set.defs)
        none_def = intent_set.defs[NONE_ID]
        self._veto_issues = [p.regex for p in none_def.veto_issues]
        self._none_negative = [p.regex for p in none_def.negative]
        self._not_urgent = [p.regex for p in none_def.not_urgent]
        self._defs = intent_set.defs
        # keywords: deduplicated per intent, longest first
        self._kw: dict[str, list[tuple[str, float]]] = {}
        for iid, d in self._defs.items():
            seen: dict[str, float] = {}
            for k in d.weak:
                seen[self.prep(k)] = self.weak_w
            for k in d.strong:
                seen[self.prep(k)] = self.strong_w
            self._kw[iid] = sorted(((k, w) for k, w in seen.items() if k), key=lambda kw: -len(kw[0]))
        # examples -> TF-IDF char n-gram vectors, inverted index, centroids
        self._ex_text: list[str] = []
        self._ex_intent: list[str] = []
        for iid, d in self._defs.items():
            for text, _line in d.examples:
                self._ex_text.append(self.prep(normalize(text)))
                self._ex_intent.append(iid)
        df: dict[str, int] = defaultdict(int)
        ex_grams = [_ngrams(t) for t in self._ex_text]
        for grams in ex_grams:
            for g in set(grams):
                df[g] += 1
        n = max(len(ex_grams), 1)
        self._idf = {g: math.log((n + 1) / (c + 1)) + 1.0 for g, c in df.items()}
        self._index: dict[str, list[tuple[int, float]]] = defaultdict(list)
        centroids: dict[str, dict[str, float]] = {i: defaultdict(float) for i in self._ids}
        # very common n-grams (了, 的, 楼 ...) are left out of the per-example index: they add little to
        # the nearest-example cosine and cost most of the time; the centroids keep them
        max_df = max(6, int(0.04 * n))
        for ei, grams in enumerate(ex_grams):
            vec = self._vector(grams)
            for g, w in vec.items():
                if df[g] <= max_df:
                    self._index[g].append((ei, w))
                centroids[self._ex_intent[ei]][g] += w
        self._centroid_index: dict[str, list[tuple[str, float]]] = defaultdict(list)
        for iid, c in centroids.items():
            norm = math.sqrt(sum(w * w for w in c.values())) or 1.0
            for g, w in c.items():
                self._centroid_index[g].append((iid, w / norm))
        self._index = dict(self._index)
        self._centroid_index = dict(self._centroid_index)

    # -- helpers -----------------------------------------------------------------------------------
    def prep(self, normalized_text: str) -> str:
        """Apply the YAML synonyms (typos, dialect) to already-normalised text."""
        t = normalized_text
        for variant, canonical in self._syn:
            if variant in t:
                t = t.replace(variant, canonical)
        return t

    def _vector(self, grams: list[str]) -> dict[str, float]:
        tf: dict[str, float] = defaultdict(float)
        for g in grams:
            idf = self._idf.get(g)
            if idf is not None:
                tf[g] += idf
        norm = math.sqrt(sum(w * w for w in tf.values())) or 1.0
        return {g: w / norm for g, w in tf.items()}

    # -- scoring ------------------------------------------------------------------------------------
    def analyse(self, text: str) -> Analysis:
        norm = normalize(text)
        t = self.prep(norm)
        scores: dict[str, IntentScore] = {i: IntentScore(i, 0.0) for i in self._ids}
        if not t:
            scores[NONE_ID].score = self.none_bias + self.strong_w
            scores[NONE_ID].parts.append("empty after normalisation (emoji / image / mention only)")
            return self._decide(text, norm, t, scores)

        none_negated = any(p.search(t) for p in self._none_negative)
        veto_all = None
        if not none_negated:
            for p in self._veto_issues:
                m = p.search(t)
                if m:
                    veto_all = m.group(0)
                    break

        sec = _SECONDARY_RE.search(t)
        sec_pos = sec.start() if sec else len(t) + 1

        # keywords and regexes
        for iid, kws in self._kw.items():
            sc = scores[iid]
            if iid == NONE_ID and none_negated:
                sc.parts.append("none cues cancelled (problem still there)")
                continue
            covered: list[tuple[int, int]] = []
            hits = []
            total = 0.0
            for k, w in kws:
                pos = t.find(k)
                if pos < 0:
                    continue
                end = pos + len(k)
                if any(a <= pos and end <= b for a, b in covered):
                    continue  # inside a longer keyword already counted
                covered.append((pos, end))
                if pos >= sec_pos:
                    w *= SECONDARY_FACTOR
                total += w
                hits.append(f"{k}+{w:g}")
            for pat in self._defs[iid].regex:
                m = pat.regex.search(t)
                if m:
                    w = pat.weight * (SECONDARY_FACTOR if m.start() >= sec_pos else 1.0)
                    total += w
                    hits.append(f"/{m.group(0)}/+{w:g}")
            if hits:
                sc.score += total
                sc.parts.append("kw " + " ".join(hits[:6]))

        # n-gram similarity to examples
        qvec = self._vector(_ngrams(t))
        dots: dict[int, float] = defaultdict(float)
        cdots: dict[str, float] = defaultdict(float)
        for g, qw in qvec.items():
            for ei, w in self._index.get(g, ()):
                dots[ei] += qw * w
            for iid, w in self._centroid_index.get(g, ()):
                cdots[iid] += qw * w
        best_ex: dict[str, tuple[float, int]] = {}
        for ei, v in dots.items():
            iid = self._ex_intent[ei]
            if iid not in best_ex or v > best_ex[iid][0]:
                best_ex[iid] = (v, ei)
        for iid in self._ids:
            mx, ei = best_ex.get(iid, (0.0, -1))
            c = cdots.get(iid, 0.0)
            sim = 0.6 * mx + 0.4 * c
            if sim > 0.05:
                scores[iid].score += self.sim_w * sim
                scores[iid].parts.append(f"sim {sim:.2f}")
                if ei >= 0:
                    scores[iid].nearest = self._ex_text[ei]

        # rapidfuzz: near-duplicate of an example (typos, small rewordings)
        if self._ex_text:
            hit = process.extractOne(t, self._ex_text, scorer=fuzz.ratio, score_cutoff=60)
            if hit is not None:
                _s, ratio, ei = hit
                iid = self._ex_intent[ei]
                bonus = self.fuzzy_w * (ratio - 60) / 40
                scores[iid].score += bonus
                scores[iid].parts.append(f"fuzzy {ratio:.0f}% '{self._ex_text[ei][:20]}'")

        # vetoes
        for iid in self._ids:
            if iid == NONE_ID:
                continue
            sc = scores[iid]
            if veto_all is not None:
                sc.vetoed = f"none veto '{veto_all}'"
            else:
                for pat in self._defs[iid].negative:
                    m = pat.regex.search(t)
                    if m:
                        sc.vetoed = f"negative '{m.group(0)}'"
                        break
            if sc.vetoed:
                sc.score = 0.0
        scores[NONE_ID].score += self.none_bias
        if veto_all is not None:
            scores[NONE_ID].score += self.strong_w
            scores[NONE_ID].parts.append(f"veto_issues '{veto_all}'")
        return self._decide(text, norm, t, scores)

    def _decide(self, text: str, norm: str, t: str, scores: dict[str, IntentScore]) -> Analysis:
        ranked = sorted(scores.values(), key=lambda s: -s.score)
        best = ranked[0]
        mx = best.score
        z = sum(math.exp((s.score - mx) / self.temperature) for s in ranked)
        conf = 1.0 / z
        loc = extract_location(norm, normalized=True)
        urgent = False
        unsure = False
        if best.intent != NONE_ID:
            pats = [p.regex for p in self._defs[best.intent].urgent]
            if len(ranked) > 1 and ranked[1].intent != NONE_ID and ranked[1].score >= 0.5 * mx:
                pats += [p.regex for p in self._defs[ranked[1].intent].urgent]
            urgent = is_urgent(t, pats, self._not_urgent)
            unsure = conf < self.threshold
        runner = ranked[1] if len(ranked) > 1 else None
        why = f"{best.intent} {best.score:.1f}: " + ("; ".join(best.parts) or "no evidence")
        if runner is not None:
            why += f" | next {runner.intent} {runner.score:.1f}"
            if runner.vetoed:
                why += f" ({runner.vetoed})"
        if urgent:
            why += " | urgent"
        if unsure:
            why += f" | unsure (confidence {conf:.2f} < {self.threshold:.2f})"
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

    def classify(self, text: str) -> Classification:
        return self.analyse(text).classification
