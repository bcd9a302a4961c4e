"""Per-level n-gram baselines on code sequences, to put the prior's cross-entropy in context.

A prior's bits per code step mean little alone: these baselines say how much of it a
unigram, bigram or trigram over the same codes already achieves. Each level ``l`` of the
[T, L] codes is modelled on its own (level ``l``'s code from level ``l``'s previous codes
only), and bits per step is the sum over levels, as for the prior.

Smoothing is interpolated absolute discounting (Ney, Essen & Kneser 1994):

    p_n(w | h) = (max(c(h, w) - D_n, 0) + R_n(h) * p_{n-1}(w | h')) / c(h)
    R_n(h)     = c(h) - sum_w max(c(h, w) - D_n, 0)       (the count mass discounted away)

where ``h'`` drops the oldest code of ``h``, a context never seen falls back to
``p_{n-1}`` entirely, and the chain ends in the uniform distribution 1/K. For D_n <= 1,
R_n(h) = D_n * N1+(h .), the textbook form; larger discounts are allowed (R_n is then the
mass actually removed) so that on near-random codes, where every context is seen with
dozens of different successors once each, the model can hand almost all mass to the lower
order instead of being stuck with a worse-than-unigram bigram. Any D_n > 0 gives
distributions that sum to 1 over K and are strictly positive.

Steps near a track's start that lack a full context use the highest order their history
allows. One discount per (level, order) is tuned by grid search on the last 10% of each
training track (counts from the first 90%, contexts may reach back into them), lowest
order first, then the counts are rebuilt from all of every training track. Counts are
sparse: n-grams are hashed to int64 keys (``h * K + w``) and looked up in sorted unique
arrays, so K = 512 trigrams cost memory in proportion to the data, not K^3.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

__all__ = ["DISCOUNT_GRID", "NgramBaseline", "evaluate_baselines"]

DISCOUNT_GRID: tuple[float, ...] = (0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.85, 1.0, 1.5, 2.0, 3.0, 5.0)
_DEFAULT_DISCOUNT = 0.75  # the classic value, used when there is nothing to tune on
_HOLDOUT_FRACTION = 0.1
_NAMES = {1: "unigram", 2: "bigram", 3: "trigram"}


def _as_tracks(tracks: Sequence[np.ndarray], K: int) -> list[np.ndarray]:
    """Validate tracks as int64 [T, L] arrays (1-D means L = 1) with values in [0, K)."""
    out = []
    n_levels = None
    for i, t in enumerate(tracks):
        a = np.asarray(t)
        a = a[:, None] if a.ndim == 1 else a
        if a.ndim != 2:
            raise ValueError(f"track {i}: expected [T, L] codes, got shape {a.shape}")
        if a.size and not np.issubdtype(a.dtype, np.integer):
            raise ValueError(f"track {i}: codes must be integers, got {a.dtype}")
        a = a.astype(np.int64)
        if a.size and (a.min() < 0 or a.max() >= K):
            raise ValueError(f"track {i}: codes must lie in [0, {K}), got {a.min()}..{a.max()}")
        if n_levels is None:
            n_levels = a.shape[1]
        elif a.shape[1] != n_levels:
            raise ValueError(f"track {i}: {a.shape[1]} levels, earlier tracks have {n_levels}")
        out.append(a)
    return out


def _ngram_keys(seq: np.ndarray, n: int, K: int) -> np.ndarray:
    """Hashed keys of all n-grams of a 1-D sequence: ((x_{t-n+1} * K) + ...) * K + x_t."""
    m = seq.size - n + 1
    if m <= 0:
        return np.zeros(0, dtype=np.int64)
    key = np.zeros(m, dtype=np.int64)
    for j in range(n):
        key = key * K + seq[j : j + m]
    return key


def _context_keys(seq: np.ndarray, t: np.ndarray, n: int, K: int) -> np.ndarray:
    """Hashed keys of the n-1 codes before each position t (all t >= n-1); 0 for n = 1."""
    key = np.zeros(t.size, dtype=np.int64)
    for j in range(n - 1, 0, -1):
        key = key * K + seq[t - j]
    return key


@dataclass
class _Counts:
    """Sparse counts of one order at one level, grouped by context."""

    keys: np.ndarray  # sorted unique n-gram keys h * K + w
    counts: np.ndarray  # c(h, w) per key (float)
    ctx_keys: np.ndarray  # sorted unique contexts h = key // K
    ctx_start: np.ndarray  # index of each context's first key
    ctx_totals: np.ndarray  # c(h) = sum_w c(h, w)
    _kept: dict[float, np.ndarray] = field(default_factory=dict, repr=False)

    @staticmethod
    def build(all_keys: np.ndarray, K: int) -> _Counts:
        keys, counts = np.unique(all_keys, return_counts=True)
        ctx_keys, start = np.unique(keys // K, return_index=True)
        totals = np.add.reduceat(counts, start) if counts.size else np.zeros(0)
        return _Counts(keys, counts.astype(np.float64), ctx_keys, start, totals.astype(np.float64))

    def kept(self, d: float) -> np.ndarray:
        """Per context, the count mass left after discounting: sum_w max(c(h, w) - d, 0)."""
        if d not in self._kept:
            if self.counts.size:
                self._kept[d] = np.add.reduceat(np.maximum(self.counts - d, 0.0), self.ctx_start)
            else:
                self._kept[d] = np.zeros(0)
        return self._kept[d]


def _find(sorted_keys: np.ndarray, query: np.ndarray) -> np.ndarray:
    """Index of each query key in sorted_keys, -1 where absent."""
    if sorted_keys.size == 0:
        return np.full(query.shape, -1, dtype=np.int64)
    idx = np.minimum(np.searchsorted(sorted_keys, query), sorted_keys.size - 1)
    return np.where(sorted_keys[idx] == query, idx, -1)


def _gather(values: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """values[idx] as float, 0 where idx is -1."""
    if values.size == 0:
        return np.zeros(idx.shape)
    return np.where(idx >= 0, values[np.maximum(idx, 0)], 0.0)


@dataclass
class _Stats:
    """Count look-ups of one order for a batch of (context, code) events."""

    ctx_idx: np.ndarray  # index into the order's contexts, -1 if never seen
    total: np.ndarray  # c(h)
    cnt: np.ndarray  # c(h, w)

    def prob(self, counts: _Counts, d: float, lower: np.ndarray) -> np.ndarray:
        """Interpolated absolute discounting on top of ``lower``; unseen contexts keep it."""
        seen = self.total > 0
        removed = self.total - _gather(counts.kept(d), self.ctx_idx)
        p = (np.maximum(self.cnt - d, 0.0) + removed * lower) / np.where(seen, self.total, 1.0)
        return np.where(seen, p, lower)


@dataclass
class _LevelModel:
    """Sparse counts of orders 1..order for one level."""

    K: int
    counts: list[_Counts]  # index n-1 holds order n

    @staticmethod
    def build(seqs: list[np.ndarray], K: int, order: int) -> _LevelModel:
        counts = []
        for n in range(1, order + 1):
            keys = np.concatenate([_ngram_keys(s, n, K) for s in seqs])
            counts.append(_Counts.build(keys, K))
        return _LevelModel(K, counts)

    def stats(self, ctx: np.ndarray, w: np.ndarray, n: int) -> _Stats:
        """Look up hashed contexts ``ctx`` followed by codes ``w`` in the order-n counts."""
        c = self.counts[n - 1]
        ctx_idx = _find(c.ctx_keys, ctx)
        key_idx = _find(c.keys, ctx * self.K + w)
        return _Stats(ctx_idx, _gather(c.ctx_totals, ctx_idx), _gather(c.counts, key_idx))

    def prob(
        self, seq: np.ndarray, t: np.ndarray, order: int, discounts: Sequence[float]
    ) -> np.ndarray:
        """p(seq[t] | history) for positions t, all with t >= order-1."""
        p = np.full(t.size, 1.0 / self.K)
        for n in range(1, order + 1):
            st = self.stats(_context_keys(seq, t, n, self.K), seq[t], n)
            p = st.prob(self.counts[n - 1], discounts[n - 1], p)
        return p

    def log2_probs(self, seq: np.ndarray, order: int, discounts: Sequence[float]) -> np.ndarray:
        """log2 p of every step of one sequence; early steps use the orders they can."""
        out = np.empty(seq.size)
        for t0 in range(min(order - 1, seq.size)):
            out[t0] = np.log2(self.prob(seq, np.array([t0]), t0 + 1, discounts)[0])
        t = np.arange(order - 1, seq.size)
        if t.size:
            out[t] = np.log2(self.prob(seq, t, order, discounts))
        return out


@dataclass
class NgramBaseline:
    """Per-level n-gram model of order 1-3 with tuned interpolated absolute discounting.

    After :meth:`fit`, ``discounts[l][n-1]`` is the discount chosen for order ``n`` at
    level ``l``.
    """

    order: int = 2
    K: int = 0
    discount_grid: tuple[float, ...] = DISCOUNT_GRID
    discounts: list[list[float]] = field(default_factory=list)
    _levels: list[_LevelModel] = field(default_factory=list, repr=False)

    def fit(self, train_tracks: Sequence[np.ndarray], K: int, order: int) -> NgramBaseline:
        """Tune discounts on the last 10% of each training track, then count all of it."""
        if order not in (1, 2, 3):
            raise ValueError(f"order must be 1, 2 or 3, got {order}")
        if K < 1:
            raise ValueError(f"K must be positive, got {K}")
        if not self.discount_grid or min(self.discount_grid) <= 0:
            raise ValueError("discount_grid must hold positive values")
        tracks = _as_tracks(train_tracks, K)
        if not tracks or sum(t.shape[0] for t in tracks) == 0:
            raise ValueError("need at least one non-empty training track")
        self.order, self.K = order, K
        self.discounts, self._levels = [], []
        for lv in range(tracks[0].shape[1]):
            seqs = [t[:, lv] for t in tracks]
            self.discounts.append(self._tune(seqs))
            self._levels.append(_LevelModel.build(seqs, K, order))
        return self

    def _tune(self, seqs: list[np.ndarray]) -> list[float]:
        """Grid-search one discount per order, lowest first, on held-aside track tails."""
        K, order = self.K, self.order
        heads, tails = [], []  # tails: (full sequence, positions held aside)
        for s in seqs:
            n_hold = int(round(_HOLDOUT_FRACTION * s.size))
            if n_hold >= 1 and s.size - n_hold >= 1:
                heads.append(s[: s.size - n_hold])
                tails.append((s, np.arange(max(s.size - n_hold, order - 1), s.size)))
            else:
                heads.append(s)
        tails = [(s, t) for s, t in tails if t.size]
        if not tails:
            return [_DEFAULT_DISCOUNT] * order
        model = _LevelModel.build(heads, K, order)
        # Look every held-aside event up once; each grid point then costs only arithmetic.
        w = np.concatenate([s[t] for s, t in tails])
        stats = [
            model.stats(np.concatenate([_context_keys(s, t, n, K) for s, t in tails]), w, n)
            for n in range(1, order + 1)
        ]
        lower = np.full(w.size, 1.0 / K)
        chosen: list[float] = []
        for counts, st in zip(model.counts, stats, strict=True):
            bits = [-np.sum(np.log2(st.prob(counts, d, lower))) for d in self.discount_grid]
            best = self.discount_grid[int(np.argmin(bits))]
            chosen.append(best)
            lower = st.prob(counts, best, lower)
        return chosen

    def _check_fitted(self) -> None:
        if not self._levels:
            raise RuntimeError("NgramBaseline is not fitted; call fit() first")

    def log2_probs(self, track: np.ndarray) -> np.ndarray:
        """log2 p of every code of one [T, L] track, shape [T, L]."""
        self._check_fitted()
        (a,) = _as_tracks([track], self.K)
        if a.shape[1] != len(self._levels):
            raise ValueError(f"track has {a.shape[1]} levels, model has {len(self._levels)}")
        out = np.zeros(a.shape)
        for lv, model in enumerate(self._levels):
            out[:, lv] = model.log2_probs(a[:, lv], self.order, self.discounts[lv])
        return out

    def bits_per_step(self, tracks: Sequence[np.ndarray]) -> float:
        """Mean over all steps of all tracks of the sum over levels of -log2 p."""
        total, steps = 0.0, 0
        for t in tracks:
            lp = self.log2_probs(t)
            total -= float(lp.sum())
            steps += lp.shape[0]
        if steps == 0:
            raise ValueError("no code steps to evaluate")
        return total / steps


def evaluate_baselines(
    train_tracks: Sequence[np.ndarray], heldout_tracks: Sequence[np.ndarray], K: int
) -> dict[str, float]:
    """Bits per step on held-out codes of the tuned unigram, bigram and trigram baselines."""
    return {
        _NAMES[n]: NgramBaseline().fit(train_tracks, K, n).bits_per_step(heldout_tracks)
        for n in (1, 2, 3)
    }
