"""What the beat chooser sees of one decision: distances, not the audio itself.

At a decision the output has heard `history` (the seed's units, then the output's own, as seed
unit indices) and may jump to one of several seed units on the same place in the bar. Per
candidate c and per history beat h_j (the j-th last beat heard, j = 1 .. lags):

    change from h_j to c's beat            (is c like what was heard j beats ago?)
    change from h_j to the beat before c   (did the seed reach c from music like h_j?)
    change from h_j to h_1                 (which beats heard were like the last one?)
    1 where h_j exists (a short seed has fewer beats)

each change as (chroma, log-mel), over the seed's own 95th percentile of it (`BeatChange`),
capped at `RATIO_CAP`; and three scalars per candidate: the join's log-mel mismatch (dB / 10),
where c sits in the seed (0-1) and its beats before the seed's end (/ 16, capped). Being ratios
to the seed's own changes, the features mean the same on a calm and a busy seed, so a chooser
trained on one corpus can judge music outside it. The last beats' changes carry the bar's
repetition (a beat is often like the one a bar ago) and the seed's own order (the beat that
followed a beat like this one); the recurrent layer learns which to trust.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # (render.units imports this module)
    from musicgen.render.beat_change import BeatChange

LAGS = 12  # history beats compared (6 s at 120 bpm)
SEQ_FEATURES = 7
SCALAR_FEATURES = 3
RATIO_CAP = 4.0  # changes this many times the seed's usual are all simply "unlike"
# Beats from a candidate to the seed's end, /16, are capped here: training seeds are 8 s
# (mostly under 24 beats), the app takes up to 30 s, and a dense layer extrapolates badly.
BEATS_BEFORE_END_CAP = 1.5


def history_beats(change: BeatChange, history: np.ndarray, lags: int) -> tuple[np.ndarray,
                                                                               np.ndarray]:
    """Mean features of the last `lags` beats of `history` (oldest first) and which exist."""
    beat = change.beat
    history = np.asarray(history, np.int64)
    width = lags * beat
    recent = history[-width:] if len(history) >= width else np.concatenate(
        [np.full(width - len(history), -1, np.int64), history])
    windows = recent.reshape(lags, beat)
    exists = (windows >= 0).all(1)
    means = np.zeros((lags, change.features.shape[1]))
    if exists.any():
        means[exists] = change.features[windows[exists]].mean(1)
    return means, exists


def decision_features(change: BeatChange, history: np.ndarray, candidates: np.ndarray,
                      mismatch_db: np.ndarray, seed_units: int, lags: int = LAGS
                      ) -> tuple[np.ndarray, np.ndarray]:
    """(sequence [C, lags, SEQ_FEATURES], scalars [C, SCALAR_FEATURES]) for C candidates.

    `history`: unit indices into `change`'s features of everything heard, oldest first;
    `candidates`: the seed units a jump would start at; `mismatch_db`: the join's log-mel
    mismatch per candidate (`units.join_mismatch`)."""
    candidates = np.asarray(candidates, np.int64)
    beat = change.beat
    heard, exists = history_beats(change, history, lags)
    own = change.beat_means(candidates)[:, None]  # [C, 1, D]
    before = change.beat_means(np.maximum(candidates - beat, 0))[:, None]
    like = change.ratios(own, heard[None])  # each [C, lags]
    reached = change.ratios(before, heard[None])
    last = change.ratios(heard, heard[-1:])  # [lags]
    count = len(candidates)
    columns = [*like, *reached, *(np.broadcast_to(x, (count, lags)) for x in last)]
    seq = np.stack(columns, -1)
    seq = np.minimum(np.where(np.isfinite(seq), seq, RATIO_CAP), RATIO_CAP)
    seq = np.where(exists[None, :, None], seq, 0.0)
    seq = np.concatenate([seq, np.broadcast_to(exists[None, :, None].astype(float),
                                               (count, lags, 1))], -1)
    place = candidates / max(seed_units, 1)
    beats_before_end = np.minimum((seed_units - candidates) / beat / 16.0, BEATS_BEFORE_END_CAP)
    scalars = np.stack([np.asarray(mismatch_db, float) / 10.0, place, beats_before_end], -1)
    return seq.astype(np.float32), scalars.astype(np.float32)
