"""The learned evidence: small logistic regressions trained at load time.

Features are TF-IDF weighted character n-grams of the *prepared* text (normalised, synonyms applied, every
run of digits read as one ``0``), rows of unit length. The classifier trains two models each time the intents
are loaded: the intent model on every intent's ``examples`` (``none`` included) and the messages of the
``none.training`` files, and the urgency model (two classes, weighted equally) on the training messages that
say ``urgent``. No model file, no download; an admin's new example or training line is learned at
``/reload``.

Training is full-batch Adam from zero weights on a scipy sparse matrix, so it is deterministic: the same
files always give the same weights. Scoring a message sums the weight rows of its n-grams.
"""

from __future__ import annotations

import math
import re

import numpy as np
from scipy import sparse

_PUNCT_RE = re.compile(r"[\s,，。.!！?？、;；:：~…\"'“”‘’()（）【】\[\]<>《》\-—_/|*#@+=]+")
# every run of digits reads as one "0": which building, room, phone number or price a message names says
# nothing about its intent (an ad's phone number must not make a resident's callback number look like an ad)
_DIGITS_RE = re.compile(r"[0-9]+")
LEARNED_NGRAMS = (1, 2, 3)


def ngrams(text: str, sizes: tuple[int, ...] = LEARNED_NGRAMS) -> list[str]:
    """Character n-grams of each punctuation-free chunk of ``text`` (digit runs folded to one ``0``)."""
    grams: list[str] = []
    for chunk in _PUNCT_RE.sub(" ", _DIGITS_RE.sub("0", text)).split():
        n_chunk = len(chunk)
        for n in sizes:
            if n == 1:
                grams.extend(chunk)
            elif n_chunk >= n:
                grams.extend([chunk[i : i + n] for i in range(n_chunk - n + 1)])
    return grams


def tfidf_vector(grams: list[str], vocab: dict[str, int], idf: list[float]) -> dict[int, float]:
    """The unit-length TF-IDF vector of a list of n-grams, keyed by n-gram id (n-grams not in ``vocab`` are
    dropped). The classifier's message vector and the model's own are both this one."""
    tf: dict[int, float] = {}
    for g in grams:
        j = vocab.get(g)
        if j is not None:
            tf[j] = tf.get(j, 0.0) + idf[j]
    norm = math.sqrt(sum(w * w for w in tf.values())) or 1.0
    return {j: w / norm for j, w in tf.items()}


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
        idf: list[float] | None = None,
        balanced: bool = False,
    ) -> None:
        self.classes = list(classes)
        self.sizes = sizes
        k = len(self.classes)
        cls_index = {c: i for i, c in enumerate(self.classes)}
        # a text may come already split into n-grams (the classifier has them at hand)
        docs = [t if isinstance(t, list) else ngrams(t, sizes) for t in texts]
        # the n-gram ids: given (the classifier shares its own; n-grams outside it are no feature), or in
        # order of first appearance
        if vocab is None:
            vocab = {}
            for grams in docs:
                for g in grams:
                    if g not in vocab:
                        vocab[g] = len(vocab)
        get = vocab.get
        id_docs = [[j for j in map(get, grams) if j is not None] for grams in docs]
        n = len(texts)
        n_feat = len(vocab)
        self.vocab = vocab
        self.W = np.zeros((n_feat, k))
        self.b = np.zeros(k)
        # the design matrix, sparse (scipy): one row per text, term counts x idf, rows of unit length
        cols_arr = np.fromiter((j for d in id_docs for j in d), dtype=np.int64)
        rows_arr = np.repeat(np.arange(n), [len(d) for d in id_docs])
        counts = sparse.csr_matrix(
            (np.ones(len(cols_arr), dtype=np.float32), (rows_arr, cols_arr)), shape=(n, n_feat)
        )
        counts.sum_duplicates()
        if idf is not None:
            # the caller's weights (the classifier's), so that training and scoring see the same feature values
            self.idf = list(idf)
        else:
            df = np.bincount(counts.indices, minlength=n_feat)
            self.idf = (np.log((n + 1) / (df + 1.0)) + 1.0).tolist()
        if n == 0 or n_feat == 0 or counts.nnz == 0:
            return
        x = counts
        x.data *= np.asarray(self.idf, dtype=np.float32)[x.indices]
        row_of = np.repeat(np.arange(n), np.diff(x.indptr))
        x.data /= np.sqrt(np.bincount(row_of, weights=x.data**2, minlength=n)).astype(np.float32)[row_of]
        xt = x.T.tocsr()
        y = np.zeros((n, k), dtype=np.float32)
        label_ids = np.asarray([cls_index[lab] for lab in labels])
        y[np.arange(n), label_ids] = 1.0
        # each row's share of the loss: 1/n, or (balanced) so that every class present weighs the same
        if balanced:
            per_class = np.bincount(label_ids, minlength=k).astype(np.float32)
            present = int((per_class > 0).sum())
            row_w = (1.0 / (present * per_class[label_ids]))[:, None].astype(np.float32)
        else:
            row_w = np.full((n, 1), 1.0 / n, dtype=np.float32)
        # Adam on the mean cross-entropy + L2: per-weight steps suit sparse n-gram features (rare n-grams get
        # as large a step as common ones)
        w = np.zeros((n_feat, k), dtype=np.float32)
        b = np.zeros(k, dtype=np.float32)
        mw = np.zeros_like(w)
        vw = np.zeros_like(w)
        mb = np.zeros_like(b)
        vb = np.zeros_like(b)
        beta1, beta2, eps = 0.9, 0.999, 1e-8
        for it in range(1, iterations + 1):
            z = x @ w + b
            z -= z.max(axis=1, keepdims=True)
            p = np.exp(z)
            p /= p.sum(axis=1, keepdims=True)
            g = (p - y) * row_w
            gw = xt @ g + l2 * w
            gb = g.sum(axis=0)
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

    def vector(self, grams: list[str]) -> dict[int, float]:
        """The model's TF-IDF vector of a list of n-grams (unit length, keyed by id; unknown n-grams dropped)."""
        return tfidf_vector(grams, self.vocab, self.idf)

    def proba(self, text: str) -> dict[str, float]:
        """Probability of every class for a (prepared) text."""
        p = self.proba_ids(self.vector(ngrams(text, self.sizes)))
        return dict(zip(self.classes, p, strict=True))

    def top_grams(self, text: str, intent: str, k: int = 3) -> list[tuple[str, float]]:
        """The n-grams of ``text`` that push most towards ``intent`` (weight x feature value)."""
        c = self.classes.index(intent)
        grams = ngrams(text, self.sizes)
        gram_of = {self.vocab[g]: g for g in grams if g in self.vocab}
        contrib = [(gram_of[j], float(v * self.W[j, c])) for j, v in self.vector(grams).items()]
        contrib.sort(key=lambda e: -e[1])
        return [e for e in contrib[:k] if e[1] >= 0.005]
