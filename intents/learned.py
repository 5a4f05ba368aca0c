"""The learned evidence: a small multinomial logistic regression trained at load time on the YAML examples.

Features are TF-IDF weighted character n-grams (1..3) of the *prepared* text (normalised, synonyms
applied), L2-normalised. The model is trained on every intent's ``examples`` (``none`` included) each time
the intents are loaded: no model file, no download, and an admin's new example is learned at ``/reload``.

Training is full-batch gradient descent (Nesterov momentum) from zero weights, so it is deterministic: the
same YAML always gives the same weights. Scoring a message sums the weight rows of its n-grams.
"""

from __future__ import annotations

import math
import re

import numpy as np

_PUNCT_RE = re.compile(r"[\s,，。.!！?？、;；:：~…\"'“”‘’()（）【】\[\]<>《》\-—_/|*#@+=]+")
LEARNED_NGRAMS = (1, 2, 3)


def ngrams(text: str, sizes: tuple[int, ...] = LEARNED_NGRAMS) -> list[str]:
    """Character n-grams of each punctuation-free chunk of ``text``."""
    grams: list[str] = []
    for chunk in _PUNCT_RE.sub(" ", text).split():
        n_chunk = len(chunk)
        for n in sizes:
            if n == 1:
                grams.extend(chunk)
            elif n_chunk >= n:
                grams.extend([chunk[i : i + n] for i in range(n_chunk - n + 1)])
    return grams


class LearnedModel:
    """Multinomial logistic regression over TF-IDF char n-grams.

    ``l2`` is the L2 penalty on the weights (per example, on the mean cross-entropy); ``iterations`` the
    number of full-batch steps.
    """

    def __init__(
        self,
        texts: list[str],
        labels: list[str],
        classes: list[str],
        *,
        l2: float = 1e-3,
        iterations: int = 120,
        sizes: tuple[int, ...] = LEARNED_NGRAMS,
    ) -> None:
        self.classes = list(classes)
        self.sizes = sizes
        k = len(self.classes)
        cls_index = {c: i for i, c in enumerate(self.classes)}
        docs = [ngrams(t, sizes) for t in texts]
        vocab: dict[str, int] = {}
        df: list[int] = []
        for grams in docs:
            for g in set(grams):
                j = vocab.get(g)
                if j is None:
                    vocab[g] = len(df)
                    df.append(1)
                else:
                    df[j] += 1
        n = len(texts)
        idf = np.log((n + 1) / (np.asarray(df, dtype=np.float64) + 1)) + 1.0
        self.vocab = vocab
        self.idf = idf.tolist()
        # sparse design matrix in coordinate form, rows in order
        rows: list[int] = []
        cols: list[int] = []
        vals: list[float] = []
        for r, grams in enumerate(docs):
            tf: dict[int, float] = {}
            for g in grams:
                j = vocab[g]
                tf[j] = tf.get(j, 0.0) + 1.0
            norm = math.sqrt(sum((c * self.idf[j]) ** 2 for j, c in tf.items())) or 1.0
            for j, c in tf.items():
                rows.append(r)
                cols.append(j)
                vals.append(c * self.idf[j] / norm)
        n_feat = len(vocab)
        self.W = np.zeros((n_feat, k))
        self.b = np.zeros(k)
        if n == 0 or n_feat == 0 or not rows:
            return
        r_arr = np.asarray(rows)
        c_arr = np.asarray(cols)
        v_arr = np.asarray(vals)
        y = np.zeros((n, k))
        y[np.arange(n), [cls_index[lab] for lab in labels]] = 1.0
        # row sums: nnz are grouped by row already (rows with no n-gram simply get bias only)
        row_starts = np.searchsorted(r_arr, np.arange(n))
        has_row = np.bincount(r_arr, minlength=n) > 0
        col_order = np.argsort(c_arr, kind="stable")
        c_sorted = c_arr[col_order]
        col_starts = np.searchsorted(c_sorted, np.arange(n_feat))
        r_by_col = r_arr[col_order]
        v_by_col = v_arr[col_order][:, None]
        v_by_row = v_arr[:, None]
        starts_nonempty = row_starts[has_row]

        def logits(w: np.ndarray, b: np.ndarray) -> np.ndarray:
            z = np.tile(b, (n, 1))
            z[has_row] += np.add.reduceat(v_by_row * w[c_arr], starts_nonempty, axis=0)
            return z

        def grad(w: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            z = logits(w, b)
            z -= z.max(axis=1, keepdims=True)
            p = np.exp(z)
            p /= p.sum(axis=1, keepdims=True)
            g = (p - y) / n
            gw = np.add.reduceat(v_by_col * g[r_by_col], col_starts, axis=0) + l2 * w
            return gw, g.sum(axis=0)

        # Nesterov accelerated gradient; features are unit-norm rows, so a fixed step is stable
        step = 0.5 * n / max(1.0, float(np.bincount(r_arr).max()))
        step = min(step, 1.0 / (l2 + 1e-12), 50.0)
        w = np.zeros((n_feat, k))
        b = np.zeros(k)
        w_prev, b_prev = w, b
        for it in range(1, iterations + 1):
            mom = (it - 1) / (it + 2)
            w_look = w + mom * (w - w_prev)
            b_look = b + mom * (b - b_prev)
            gw, gb = grad(w_look, b_look)
            w_prev, b_prev = w, b
            w = w_look - step * gw
            b = b_look - step * gb
        self.W = w
        self.b = b

    def features(self, grams: list[str]) -> tuple[list[int], list[float]]:
        vocab = self.vocab
        tf: dict[int, float] = {}
        for g in grams:
            j = vocab.get(g)
            if j is not None:
                tf[j] = tf.get(j, 0.0) + 1.0
        idf = self.idf
        idx = list(tf)
        vals = [tf[j] * idf[j] for j in idx]
        norm = math.sqrt(sum(v * v for v in vals)) or 1.0
        return idx, [v / norm for v in vals]

    def proba_grams(self, grams: list[str]) -> np.ndarray:
        idx, vals = self.features(grams)
        if idx:
            z = self.b + np.asarray(vals) @ self.W[idx]
        else:
            z = self.b.copy()
        z = np.exp(z - z.max())
        return z / z.sum()

    def proba(self, text: str) -> dict[str, float]:
        p = self.proba_grams(ngrams(text, self.sizes))
        return dict(zip(self.classes, p.tolist(), strict=True))

    def top_grams(self, text: str, intent: str, k: int = 3) -> list[tuple[str, float]]:
        """The n-grams of ``text`` that push most towards ``intent`` (weight x feature value)."""
        c = self.classes.index(intent)
        grams = ngrams(text, self.sizes)
        idx, vals = self.features(grams)
        names = {j: g for g in grams if (j := self.vocab.get(g)) is not None}
        contrib = [(names[j], float(v * self.W[j, c])) for j, v in zip(idx, vals, strict=True)]
        contrib.sort(key=lambda e: -e[1])
        return [e for e in contrib[:k] if e[1] > 0]
