"""Tests for musicgen.baselines: proper distributions and known entropy rates."""

from __future__ import annotations

import numpy as np
import pytest

from musicgen.baselines import NgramBaseline, evaluate_baselines


def _first_order_chain(K: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, float]:
    """Peaked random transition matrix, its stationary law and entropy rate (bits)."""
    P = rng.dirichlet(np.full(K, 0.3), size=K)
    evals, evecs = np.linalg.eig(P.T)
    pi = np.real(evecs[:, np.argmin(np.abs(evals - 1))])
    pi /= pi.sum()
    rate = float(-np.sum(pi[:, None] * P * np.log2(P)))
    return P, pi, rate


def _sample_first_order(P: np.ndarray, pi: np.ndarray, T: int, rng: np.random.Generator):
    cum = np.cumsum(P, axis=1)
    x = np.empty(T, dtype=np.int64)
    x[0] = rng.choice(P.shape[0], p=pi)
    u = rng.random(T)
    for t in range(1, T):
        x[t] = min(np.searchsorted(cum[x[t - 1]], u[t]), P.shape[0] - 1)
    return x


def _sample_second_order(P2: np.ndarray, T: int, rng: np.random.Generator) -> np.ndarray:
    """P2[a, b] is the law of x_t given x_{t-2} = a, x_{t-1} = b."""
    K = P2.shape[0]
    cum = np.cumsum(P2, axis=2)
    x = np.empty(T, dtype=np.int64)
    x[:2] = rng.integers(0, K, size=2)
    u = rng.random(T)
    for t in range(2, T):
        x[t] = min(np.searchsorted(cum[x[t - 2], x[t - 1]], u[t]), K - 1)
    return x


def next_distribution(model: NgramBaseline, level: int, history) -> np.ndarray:
    """p(next code | history) for every code, read through the public log2_probs."""
    levels = len(model.discounts)
    tracks = np.zeros((model.K, len(history) + 1, levels), np.int64)
    tracks[:, : len(history), level] = history
    tracks[:, -1, level] = np.arange(model.K)
    return np.array([2.0 ** model.log2_probs(track)[-1, level] for track in tracks])


@pytest.mark.parametrize("order", [1, 2, 3])
def test_distributions_normalise_and_are_positive(order: int) -> None:
    rng = np.random.default_rng(0)
    K = 512
    # Skewed codes so that some contexts are frequent, many rare, most never seen.
    tracks = [
        np.minimum(rng.geometric(0.02, size=(400, 2)) - 1, K - 1).astype(np.int64) for _ in range(5)
    ]
    model = NgramBaseline().fit(tracks, K, order)
    seen = tracks[0][:, 0]
    histories = [[], [int(seen[5])], [int(seen[5]), int(seen[6])], [511, 510], [0, 1, 2, 3]]
    for level in (0, 1):
        for history in histories:
            p = next_distribution(model, level, history)
            assert p.shape == (K,)
            assert p.sum() == pytest.approx(1.0, abs=1e-9)
            assert p.min() > 0


def test_distribution_exhaustive_small_k_and_matches_log2_probs() -> None:
    rng = np.random.default_rng(1)
    K = 5
    tracks = [rng.integers(0, K, size=(60, 1)) for _ in range(3)]
    tracks.append(np.array([[0], [0], [0], [1]]))  # short track
    model = NgramBaseline().fit(tracks, K, 3)
    for a in range(K):
        assert next_distribution(model, 0, [a]).sum() == pytest.approx(1.0, abs=1e-12)
        for b in range(K):
            p = next_distribution(model, 0, [a, b])
            assert p.sum() == pytest.approx(1.0, abs=1e-12)
            assert p.min() > 0
    # Per-step log-probs agree with the full distributions, including the first steps.
    track = tracks[0]
    lp = model.log2_probs(track)
    for t in range(6):
        p = next_distribution(model, 0, track[:t, 0])
        assert lp[t, 0] == pytest.approx(np.log2(p[track[t, 0]]))


def test_bigram_beats_unigram_and_reaches_entropy_rate() -> None:
    rng = np.random.default_rng(2)
    K = 8
    P, pi, rate = _first_order_chain(K, rng)
    unigram_entropy = float(-np.sum(pi * np.log2(pi)))
    train = [_sample_first_order(P, pi, 2000, rng)[:, None] for _ in range(8)]
    held = [_sample_first_order(P, pi, 2000, rng)[:, None] for _ in range(3)]
    bits = evaluate_baselines(train, held, K)
    assert set(bits) == {"unigram", "bigram", "trigram"}
    assert bits["unigram"] == pytest.approx(unigram_entropy, abs=0.05)
    assert bits["bigram"] < bits["unigram"] - 0.5
    assert bits["bigram"] == pytest.approx(rate, abs=0.06)
    # A trigram cannot know more than a first-order chain holds; smoothing keeps it close.
    assert bits["trigram"] == pytest.approx(bits["bigram"], abs=0.05)


def test_trigram_beats_bigram_on_second_order_chain() -> None:
    rng = np.random.default_rng(3)
    K = 6
    P2 = rng.dirichlet(np.full(K, 0.3), size=(K, K))
    train = [_sample_second_order(P2, 3000, rng)[:, None] for _ in range(6)]
    held = [_sample_second_order(P2, 3000, rng)[:, None] for _ in range(2)]
    bits = evaluate_baselines(train, held, K)
    assert bits["trigram"] < bits["bigram"] - 0.3
    assert bits["bigram"] < bits["unigram"]
    # Entropy rate estimated from the sampled contexts of the held-out data.
    x = np.concatenate([h[2:, 0] for h in held])
    a = np.concatenate([h[:-2, 0] for h in held])
    b = np.concatenate([h[1:-1, 0] for h in held])
    rate = float(np.mean(-np.log2(P2[a, b, x])))
    assert bits["trigram"] == pytest.approx(rate, abs=0.08)


def test_levels_are_modelled_separately_and_summed() -> None:
    rng = np.random.default_rng(4)
    K = 8
    chains = [_first_order_chain(K, rng) for _ in range(2)]

    def track(T: int) -> np.ndarray:
        return np.stack([_sample_first_order(P, pi, T, rng) for P, pi, _ in chains], axis=1)

    train = [track(2000) for _ in range(6)]
    held = [track(2000) for _ in range(2)]
    two_level = NgramBaseline().fit(train, K, 2).bits_per_step(held)
    per_level = [
        NgramBaseline()
        .fit([t[:, [lv]] for t in train], K, 2)
        .bits_per_step([h[:, [lv]] for h in held])
        for lv in range(2)
    ]
    assert two_level == pytest.approx(sum(per_level), rel=1e-12)
    assert two_level == pytest.approx(chains[0][2] + chains[1][2], abs=0.1)


def test_tuning_backs_off_on_random_codes() -> None:
    # Uniform random codes with K = 512: every bigram is seen about once, so the tuned
    # bigram must fall back to the unigram instead of trusting those counts.
    rng = np.random.default_rng(5)
    K = 512
    train = [rng.integers(0, K, size=(3000, 1)) for _ in range(10)]
    held = [rng.integers(0, K, size=(3000, 1))]
    bits = evaluate_baselines(train, held, K)
    assert bits["unigram"] == pytest.approx(9.0, abs=0.05)
    assert bits["bigram"] < bits["unigram"] + 0.03
    assert bits["trigram"] < bits["unigram"] + 0.03


def test_fit_records_discounts_from_grid() -> None:
    rng = np.random.default_rng(6)
    model = NgramBaseline().fit([rng.integers(0, 4, size=(200, 3))], 4, 3)
    assert len(model.discounts) == 3
    assert all(len(d) == 3 and set(d) <= set(model.discount_grid) for d in model.discounts)


def test_input_validation() -> None:
    good = [np.zeros((10, 2), dtype=np.int64)]
    with pytest.raises(ValueError):
        NgramBaseline().fit([np.full((10, 2), 8)], 8, 2)
    with pytest.raises(ValueError):
        NgramBaseline().fit(good, 8, 4)
    with pytest.raises(ValueError):
        NgramBaseline().fit([np.zeros((10, 2), int), np.zeros((10, 3), int)], 8, 2)
    with pytest.raises(ValueError):
        NgramBaseline().fit([np.zeros((10, 2))], 8, 2)  # float codes
    with pytest.raises(RuntimeError):
        NgramBaseline().bits_per_step(good)
    model = NgramBaseline().fit(good, 8, 2)
    with pytest.raises(ValueError):
        model.bits_per_step([np.zeros((5, 3), dtype=np.int64)])
