"""The linear codec's data-dependent start: before any training it is PCA + residual k-means."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from musicgen.codec import build_codec_model
from musicgen.codec_init import init_linear_codec, stacked_steps, without_context
from musicgen.config import preset
from musicgen.errors import InputError
from musicgen.features import MelAnalyzer, to_model_scale
from musicgen.toymusic import arpeggio, click_and_chords


def _mels(cfg) -> list[np.ndarray]:
    analyzer, sr = MelAnalyzer(cfg.features), cfg.features.sample_rate
    return [analyzer.log_mel(0.3 * arpeggio(15, sr, bpm=100 + 10 * i, root=55 + 3 * i, seed=i))
            for i in range(3)] + [analyzer.log_mel(0.3 * click_and_chords(15, sr))]


def _rmse(model, mel, features) -> float:
    x = to_model_scale(mel[: len(mel) // 4 * 4], features)[None]
    return float(np.sqrt(np.mean((np.asarray(model(x, training=False)) - x) ** 2)))


def test_init_makes_the_untrained_codec_a_kmeans_codec() -> None:
    cfg = preset("tiny")
    codec_cfg = dataclasses.replace(cfg.codec, levels=3, codebook_size=16)
    mels = _mels(cfg)
    model = build_codec_model(cfg.features, codec_cfg)
    before = _rmse(model, mels[0], cfg.features)
    figures = init_linear_codec(model, cfg.features, codec_cfg, cfg.train, mels, log=lambda _: None)
    after = _rmse(model, mels[0], cfg.features)
    # the Keras model (projection -> RVQ -> inverse projection + a zero context network) now
    # reproduces the NumPy fit: same error on the music it was fitted on
    assert after < 0.5 * before
    assert after == pytest.approx(figures["kmeans_rmse"], rel=0.35)
    assert figures["projection_rmse"] < figures["kmeans_rmse"]
    # every code starts alive, so the first training step re-seeds none of them
    rvq = model.get_layer("rvq")
    assert np.asarray(rvq.ema_count).min() >= codec_cfg.dead_code_threshold
    np.testing.assert_allclose(np.asarray(rvq.ema_sum) / np.asarray(rvq.ema_count)[..., None],
                               np.asarray(rvq.codebooks), rtol=1e-5, atol=1e-6)


def test_init_refuses_a_conv_codec_and_too_little_audio() -> None:
    cfg = preset("tiny")
    conv = dataclasses.replace(cfg.codec, encoder="conv")
    with pytest.raises(ValueError, match="linear"):
        init_linear_codec(build_codec_model(cfg.features, conv), cfg.features, conv, cfg.train,
                          _mels(cfg)[:1])
    short = [_mels(cfg)[0][:40]]
    assert len(stacked_steps(short, cfg.features, 4)) == 10
    with pytest.raises(InputError, match="too little training audio"):
        init_linear_codec(build_codec_model(cfg.features, cfg.codec), cfg.features, cfg.codec,
                          cfg.train, short)


def test_dropping_the_context_network_keeps_the_codes_and_the_linear_path() -> None:
    cfg = preset("tiny")
    mels = _mels(cfg)
    model = build_codec_model(cfg.features, cfg.codec)
    init_linear_codec(model, cfg.features, cfg.codec, cfg.train, mels, log=lambda _: None)
    out = model.get_layer("decoder").get_layer("dec_out")  # a trained context network
    out.set_weights([np.full_like(w, 0.01) for w in out.get_weights()])
    lean, lean_cfg = without_context(model, cfg.features, cfg.codec)
    assert lean_cfg.decoder_context is False
    assert not any("ctx" in layer.name for layer in lean.get_layer("decoder").layers)
    x = to_model_scale(mels[1][:200], cfg.features)[None]
    latent = model.get_layer("encoder")(x)
    np.testing.assert_array_equal(np.asarray(lean.get_layer("encoder")(x)), np.asarray(latent))
    np.testing.assert_array_equal(np.asarray(lean.get_layer("rvq").codebooks),
                                  np.asarray(model.get_layer("rvq").codebooks))
    # the lean decoder is the full one minus the context network's contribution
    out.set_weights([np.zeros_like(w) for w in out.get_weights()])
    np.testing.assert_allclose(np.asarray(lean.get_layer("decoder")(latent)),
                               np.asarray(model.get_layer("decoder")(latent)), atol=1e-5)
