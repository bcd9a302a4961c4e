"""Codec: shapes, the RVQ layer against its NumPy twin, and learning on synthesized music."""

from __future__ import annotations

import dataclasses

import numpy as np

from musicgen.codec import Codec, build_codec_model, dequantize, quantize
from musicgen.config import preset
from musicgen.features import MelAnalyzer, from_model_scale, to_model_scale
from musicgen.toymusic import arpeggio


def test_model_scale_round_trip() -> None:
    cfg = preset("tiny").features
    db = np.linspace(cfg.floor_db, 0, 50, dtype=np.float32)[:, None]
    scaled = to_model_scale(db, cfg)
    assert scaled.min() >= -1.0001 and scaled.max() <= 1.0001
    np.testing.assert_allclose(from_model_scale(scaled, cfg), db, atol=1e-4)


def test_numpy_quantize_matches_the_layer() -> None:
    cfg = preset("tiny")
    model = build_codec_model(cfg.features, cfg.codec)
    rvq = model.get_layer("rvq")
    rng = np.random.default_rng(0)
    rvq.codebooks.assign(rng.normal(0, 1, rvq.codebooks.shape).astype("float32"))
    latents = rng.normal(0, 1, (1, 20, cfg.codec.latent_dim)).astype("float32")
    keras_out = np.asarray(rvq(latents, training=False))[0]
    codebooks = np.asarray(rvq.codebooks)
    codes = quantize(latents[0], codebooks)
    assert codes.shape == (20, cfg.codec.levels)
    np.testing.assert_allclose(dequantize(codes, codebooks), keras_out, atol=1e-5)
    # each residual level reduces the error
    errors = [np.abs(latents[0] - dequantize(codes[:, :k + 1], codebooks[:k + 1])).mean()
              for k in range(cfg.codec.levels)]
    assert errors == sorted(errors, reverse=True)


def test_codec_learns_and_keeps_codes_alive() -> None:
    """A few seconds of training beat the untrained codec; dead codes get re-seeded."""
    cfg = preset("tiny")
    codec_cfg = dataclasses.replace(cfg.codec, codebook_size=32)
    analyzer = MelAnalyzer(cfg.features)
    sr = cfg.features.sample_rate
    mel = analyzer.log_mel(0.3 * arpeggio(20, sr, seed=1))
    x = to_model_scale(mel, cfg.features)
    window = 64
    batch = np.stack([x[i:i + window] for i in range(0, len(x) - window, 8)])
    model = build_codec_model(cfg.features, codec_cfg)
    model.compile(optimizer="adam", loss="mse")
    before = model.evaluate(batch, batch, verbose=0)
    model.fit(batch, batch, epochs=25, batch_size=16, verbose=0)
    after = model.evaluate(batch, batch, verbose=0)
    assert after < 0.5 * before

    codec = Codec(cfg.features, codec_cfg, model.get_layer("encoder"), model.get_layer("decoder"),
                  np.asarray(model.get_layer("rvq").codebooks))
    codes = codec.encode(0.3 * arpeggio(6, sr, seed=2))
    frames = len(analyzer.log_mel(0.3 * arpeggio(6, sr, seed=2)))
    assert codes.shape == (-(-frames // codec_cfg.frames_per_step), codec_cfg.levels)
    assert codec.decode(codes).shape == (codes.shape[0] * codec_cfg.frames_per_step,
                                         cfg.features.n_mels)
    used = [len(np.unique(codes[:, level])) for level in range(codec_cfg.levels)]
    assert min(used) >= 4, f"codes per level in use: {used}"
