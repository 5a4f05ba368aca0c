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
        iterations: int = 25,
        lr: float = 0.1,
        sizes: tuple[int, ...] = LEARNED_NGRAMS,
        vocab: dict[str, int] | None = None,
    ) -> None:
        self.classes = list(classes)
        self.sizes = sizes
        k = len(self.classes)
        cls_index = {c: i for i, c in enumerate(self.classes)}
        docs = [ngrams(t, sizes) for t in texts]
        # the n-gram ids: given (the classifier shares its own), or in order of first appearance
        if vocab is None:
            vocab = {}
            for grams in docs:
                for g in grams:
                    if g not in vocab:
                        vocab[g] = len(vocab)
        df = [0] * len(vocab)
        for grams in docs:
            for g in set(grams):
                df[vocab[g]] += 1
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
        v_arr = np.asarray(vals, dtype=np.float32)
        y = np.zeros((n, k), dtype=np.float32)
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

        all_rows = bool(has_row.all())

        def logits(w: np.ndarray, b: np.ndarray) -> np.ndarray:
            s = np.add.reduceat(v_by_row * w[c_arr], starts_nonempty, axis=0)
            if all_rows:
                return s + b
            z = np.tile(b, (n, 1))
            z[has_row] += s
            return z

        def grad(w: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            z = logits(w, b)
            z -= z.max(axis=1, keepdims=True)
            p = np.exp(z)
            p /= p.sum(axis=1, keepdims=True)
            g = (p - y) / n
            gw = np.add.reduceat(v_by_col * g[r_by_col], col_starts, axis=0) + l2 * w
            return gw, g.sum(axis=0)

        # Adam: per-weight steps suit sparse n-gram features (rare n-grams get as large a step as common ones)
        w = np.zeros((n_feat, k), dtype=np.float32)
        b = np.zeros(k, dtype=np.float32)
        mw = np.zeros_like(w)
        vw = np.zeros_like(w)
        mb = np.zeros_like(b)
        vb = np.zeros_like(b)
        beta1, beta2, eps = 0.9, 0.999, 1e-8
        for it in range(1, iterations + 1):
            gw, gb = grad(w, b)
            mw = beta1 * mw + (1 - beta1) * gw
            vw = beta2 * vw + (1 - beta2) * gw * gw
            mb = beta1 * mb + (1 - beta1) * gb
            vb = beta2 * vb + (1 - beta2) * gb * gb
            c1 = 1 - beta1**it
            c2 = 1 - beta2**it
            w -= lr * (mw / c1) / (np.sqrt(vw / c2) + eps)
            b -= lr * (mb / c1) / (np.sqrt(vb / c2) + eps)
        self.W = w.astype(np.float64)
        self.b = b.astype(np.float64)

    def proba_ids(self, vec: dict[int, float]) -> list[float]:
        """Class probabilities (in ``classes`` order) of a TF-IDF vector keyed by n-gram id (unit length)."""
        z = (self.b + np.dot(list(vec.values()), self.W.take(list(vec), axis=0))).tolist() if vec else self.b.tolist()
        mx = max(z)
        e = [math.exp(v - mx) for v in z]
        total = sum(e)
        return [v / total for v in e]

    def proba_vector(self, vec: dict[str, float]) -> list[float]:
        """Class probabilities (in ``classes`` order) of a TF-IDF vector keyed by n-gram (unit length)."""
        vocab = self.vocab
        idx = []
        vals = []
        for g, v in vec.items():
            j = vocab.get(g)
            if j is not None:
                idx.append(j)
                vals.append(v)
        z = (self.b + np.dot(vals, self.W.take(idx, axis=0))).tolist() if idx else self.b.tolist()
        mx = max(z)
        e = [math.exp(v - mx) for v in z]
        total = sum(e)
        return [v / total for v in e]

    def vector(self, grams: list[str]) -> dict[str, float]:
        """The model's TF-IDF vector of a list of n-grams (unit length; unknown n-grams dropped)."""
        idf = self.idf
        vocab = self.vocab
        tf: dict[str, float] = {}
        for g in grams:
            j = vocab.get(g)
            if j is not None:
                tf[g] = tf.get(g, 0.0) + idf[j]
        norm = math.sqrt(sum(v * v for v in tf.values())) or 1.0
        return {g: v / norm for g, v in tf.items()}

    def proba(self, text: str) -> dict[str, float]:
        """Probability of every class for a (prepared) text."""
        p = self.proba_vector(self.vector(ngrams(text, self.sizes)))
        return dict(zip(self.classes, p, strict=True))

    def top_grams(self, text: str, intent: str, k: int = 3) -> list[tuple[str, float]]:
        """The n-grams of ``text`` that push most towards ``intent`` (weight x feature value)."""
        c = self.classes.index(intent)
        contrib = [(g, float(v * self.W[self.vocab[g], c])) for g, v in self.vector(ngrams(text, self.sizes)).items()]
        contrib.sort(key=lambda e: -e[1])
        return [e for e in contrib[:k] if e[1] >= 0.005]
