"""The model card's and README's tables are rendered from the checkpoints' musicgen.json."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from musicgen.card import Shipped, render_document, update_documents
from musicgen.cli import main
from musicgen.errors import InputError

ROOT = Path(__file__).resolve().parents[1]
CHECKPOINTS = ROOT / "checkpoints"
DOCUMENTS = [CHECKPOINTS / "README.md", ROOT / "README.md"]


def test_shipped_card_and_readme_agree_with_the_json() -> None:
    stale = update_documents(CHECKPOINTS, DOCUMENTS, check=True)
    assert stale == [], (f"{[str(p) for p in stale]} disagree with checkpoints/*/musicgen.json: "
                         "run `python -m musicgen card`")


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    """The shipped JSON and card with stand-in model files (the tables read their sizes)."""
    root = tmp_path / "checkpoints"
    for name in ("codec", "prior-gru", "prior-lstm"):
        (root / name).mkdir(parents=True)
        shutil.copy(CHECKPOINTS / name / "musicgen.json", root / name)
        (root / name / "model.keras").write_bytes(b"x" * 2_500_000)
    shutil.copy(CHECKPOINTS / "README.md", root / "README.md")
    main(["card", "--checkpoints", str(root), "--documents", str(root / "README.md")])
    return root


def _rendered(copy: Path, section: str) -> str:
    """One generated section, rendered from the copy's JSON."""
    return render_document(f"<!-- generated: {section} -->\n<!-- /generated -->",
                           Shipped.read(copy))


def _edit(folder: Path, change) -> None:
    meta = json.loads((folder / "musicgen.json").read_text())
    change(meta["metrics"]["evaluate"])
    (folder / "musicgen.json").write_text(json.dumps(meta))


def test_a_changed_figure_makes_the_card_stale_until_regenerated(
        copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    card = copy / "README.md"
    args = ["card", "--checkpoints", str(copy), "--documents", str(card)]
    assert main([*args, "--check"]) == 0
    assert "model.keras 2.5 MB" in card.read_text()
    _edit(copy / "prior-gru", lambda e: e["generation"]["synth"].update(flatness_ratio=3.217))
    assert main([*args, "--check"]) == 1
    assert "out of date" in capsys.readouterr().out
    assert "3.22" not in card.read_text()
    assert main(args) == 0
    synth = json.loads((copy / "prior-gru" / "musicgen.json").read_text())[
        "metrics"]["evaluate"]["generation"]["synth"]
    row = f"| synth | {100 * synth['static_share']:.1f}% | {synth['change_ratio']:.2f} | 3.22 |"
    assert row in card.read_text()
    assert main([*args, "--check"]) == 0


def test_chain_table_is_rendered_from_the_stored_chain(copy: Path) -> None:
    rows = {"true audio": [0.0, 1.0, 1.0, 1.0, 0.0],
            "codec round trip, quantized": [5.1, 4.14, 0.96, 0.66, 0.02]}
    chain = {"rows": {name: dict(zip(["rmse_db", "flatness_ratio", "pulse_ratio",
                                      "change_ratio", "static_share"], values, strict=True))
                      for name, values in rows.items()},
             "windows": ["a.ogg@10.0s", "b.ogg@20.0s"], "codec_bits_per_second": 689.1,
             "config": {"window_seconds": 15.0}}
    _edit(copy / "prior-gru", lambda e: e.update(chain=chain))
    text = _rendered(copy, "chain")
    assert "| codec round trip, quantized | 5.10 | 4.14 | 0.96 | 0.66 | 2.0% |" in text
    synth = json.loads((copy / "prior-gru" / "musicgen.json").read_text())[
        "metrics"]["evaluate"]["generation"]["synth"]
    assert (f"| synth continuation, prior-gru (pulse × the seed's) | – | "
            f"{synth['flatness_ratio']:.2f} | {synth['pulse_ratio']:.2f} | "
            f"{synth['change_ratio']:.2f} |") in text
    assert "2 held-out windows of 15 s (a.ogg@10.0s, b.ogg@20.0s)" in text


def test_unknown_sections_and_missing_figures_are_clear_errors(copy: Path) -> None:
    shipped = Shipped.read(copy)
    with pytest.raises(InputError, match="unknown generated section 'nope'"):
        render_document("<!-- generated: nope -->\n<!-- /generated -->", shipped)
    _edit(copy / "prior-lstm", lambda e: e.clear())
    with pytest.raises(InputError, match="prior-lstm has no evaluate figures"):
        _rendered(copy, "prior")


def test_targets_are_judged_from_the_json(copy: Path) -> None:
    """Each target row shows each prior's figure and met/missed by the target's own test;
    the steering targets divide by the uniform row of the same evaluation."""
    def set_figures(e: dict) -> None:
        e["generation"]["synth"]["pulse_ratio"] = 0.61
        e["generation"]["seed"]["jarring_share"] = 0.150
        e["generation"]["seed, uniform prior"]["jarring_share"] = 0.200
        e["generation"]["seed"]["loop_share"] = 0.30
        e["generation"]["seed, uniform prior"]["loop_share"] = 0.20

    _edit(copy / "prior-gru", set_figures)
    _edit(copy / "prior-lstm", lambda e: e["generation"]["synth"].update(pulse_ratio=0.59))
    text = _rendered(copy, "targets")
    rows = {line.split(" | ")[0].lstrip("| "): line for line in text.splitlines()}
    assert "| 0.610 met | 0.590 **missed** |" in rows["synth: pulse × seed ≥ 0.6"]
    assert "| 0.750 met |" in rows["seed: jarring ÷ the uniform choice's ≤ 0.75"]
    assert "| 1.500 **missed** |" in rows["seed: loops ÷ the uniform choice's ≤ 1"]


def test_the_generation_protocol_is_read_from_the_stored_config(copy: Path) -> None:
    """The sentence saying how many seeds and renders made the medians is generated too, and
    refuses to describe two priors measured differently."""
    def protocol(seeds: int, renders: int | None, clear: int):
        def change(e: dict) -> None:
            e["config"].update(seeds=seeds, renders_per_seed=renders)
            if renders is None:  # JSON written before renders_per_seed existed
                e["config"].pop("renders_per_seed")
            e["generation"]["true continuation"]["clear_beat_seeds"] = clear
        return change

    card = copy / "README.md"
    args = ["card", "--checkpoints", str(copy), "--documents", str(card)]
    for prior in ("prior-gru", "prior-lstm"):
        _edit(copy / prior, protocol(7, 2, 5))
    assert main(args) == 0
    text = card.read_text()
    assert "7 seeds (8 s) from the held-out tracks x 2 random seeds each" in text
    assert "medians over the 14 renders" in text and "renders of the 5 seeds" in text
    for prior in ("prior-gru", "prior-lstm"):
        _edit(copy / prior, protocol(7, None, 5))
    assert main(args) == 0
    assert "(one random seed each)" in card.read_text()
    _edit(copy / "prior-lstm", protocol(7, 3, 5))  # one table measured differently
    with pytest.raises(InputError, match="measured differently"):
        update_documents(copy, [card])


def test_next_beat_table_shows_each_priors_own_figures(copy: Path) -> None:
    """Each prior's row comes from its own evaluation (the GRU's may also hold the LSTM's,
    from --compare); a prior not yet measured names the command that measures it."""
    def figures(prior: float) -> dict:
        return {"beats": 120, "chance": 0.25, "prior": prior, "chooser": 0.65, "costs": 0.6,
                "prior + costs": 0.45, "chooser + costs": 0.66, "latest in seed": 0.3,
                "over_costs": {"chooser + costs": {"difference": 0.06, "low": 0.021,
                                                   "high": 0.094, "seeds": 20}}}
    _edit(copy / "prior-gru", lambda e: e.update(next_beat={
        "prior-gru": figures(0.351), "prior-lstm": figures(0.9)}))
    _edit(copy / "prior-lstm", lambda e: e.update(next_beat={"prior-lstm": figures(0.372)}))
    text = _rendered(copy, "next-beat")
    assert ("| prior | beats judged | chance | prior | chooser | costs | prior + costs | "
            "chooser + costs | latest in seed |") in text
    assert ("| prior-gru | 120 | 25.0% | 35.1% | 65.0% | 60.0% | 45.0% | 66.0% | 30.0% | "
            "+6.0 [+2.1, +9.4] |") in text
    assert "| prior-lstm | 120 | 25.0% | 37.2% | 65.0% | 60.0% | 45.0% | 66.0% | 30.0% |" in text
    _edit(copy / "prior-lstm", lambda e: e.pop("next_beat"))
    text = _rendered(copy, "next-beat")
    assert "Not measured for prior-lstm yet" in text and "--update-checkpoint" in text


def test_chooser_table_shows_how_each_chooser_was_fitted(copy: Path) -> None:
    """From each prior's `chooser` section (`train-chooser`); a prior without a chooser names
    the command that trains one."""
    def fitted(arch: str, top: float) -> dict:
        return {"config": {"arch": arch}, "provenance": {"train_tracks": 100,
                                                         "choosing_tracks": 12},
                "metrics": {"decisions": 5000, "validation_decisions": 400,
                            "validation_chance": 0.2, "validation_costs_top_share": 0.5,
                            "validation_top_share": top}}
    for arch, top in (("gru", 0.61), ("lstm", 0.58)):
        meta = json.loads((copy / f"prior-{arch}" / "musicgen.json").read_text())
        meta["chooser"] = fitted(arch, top)
        (copy / f"prior-{arch}" / "musicgen.json").write_text(json.dumps(meta))
    text = _rendered(copy, "chooser")
    assert "| prior-gru | GRU | 5000 (100 tracks) | 400 (12 tracks) | 20.0% | 50.0% | 61.0% |" \
        in text
    assert "| prior-lstm | LSTM | 5000 (100 tracks) | 400 (12 tracks) | 20.0% | 50.0% | 58.0% |" \
        in text
    meta = json.loads((copy / "prior-lstm" / "musicgen.json").read_text())
    del meta["chooser"]
    (copy / "prior-lstm" / "musicgen.json").write_text(json.dumps(meta))
    text = _rendered(copy, "chooser")
    assert "prior-lstm has no beat chooser yet" in text and "train-chooser" in text
    assert "| prior-gru | GRU | 5000 (100 tracks) |" in text  # the other row stays


def test_paired_table_shows_means_with_intervals(copy: Path) -> None:
    """Each prior's seed row, then the uniform choice once; a prior measured before the
    intervals existed names the command that measures it."""
    def pair(ratio: float) -> dict:
        return {"ratio": ratio, "low": ratio - 0.1, "high": ratio + 0.2, "seeds": 20}

    def paired(mean: float, true: float, uniform: float | None) -> dict:
        refs = {"uniform": pair(uniform)} if uniform else {}
        return {"jarring_share": {"mean": mean, "true": pair(true), **refs},
                **{key: {"mean": 1.0, **refs} for key in ("pulse_ratio", "loop_share")}}
    for arch, mean in (("gru", 0.121), ("lstm", 0.117)):
        _edit(copy / f"prior-{arch}", lambda e, mean=mean: (
            e["generation"]["seed"].update(paired=paired(mean, 1.2, 1.1)),
            e["generation"]["seed, uniform prior"].update(paired=paired(0.11, 0.9, None))))
    text = _rendered(copy, "paired")
    assert ("| seed renderer | mean jarring | jarring ÷ uniform's | jarring ÷ true's | "
            "pulse ÷ uniform's | loops ÷ uniform's | tempo kept ÷ uniform's |") in text
    assert ("| prior-gru | 0.121 | 1.100 [1.000, 1.300] | 1.200 [1.100, 1.400] | "
            "1.100 [1.000, 1.300] | 1.100 [1.000, 1.300] | – |") in text
    assert "| prior-lstm | 0.117 | 1.100 [1.000, 1.300] | 1.200 [1.100, 1.400] |" in text
    assert text.count("| uniform choice | 0.110 | – | 0.900 [0.800, 1.100] | – | – | – |") == 1
    _edit(copy / "prior-lstm", lambda e: e["generation"]["seed"].pop("paired"))
    text = _rendered(copy, "paired")
    assert "Not measured for prior-lstm yet" in text and "--update-checkpoint" in text
