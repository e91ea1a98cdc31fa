"""The shipped model composes with no data folder and no checkpoint argument."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cadenza.cli import app
from cadenza.composing import list_composers
from cadenza.midi import read_midi
from cadenza.shipped import DEFAULT_MODEL, model_card, shipped_models

runner = CliRunner()


def test_shipped_models_have_cards_and_fit_the_size_budget() -> None:
    models = shipped_models()
    assert DEFAULT_MODEL in models and "pianoroll-piano" in models
    size = sum(p.stat().st_size for folder in models.values() for p in folder.iterdir())
    assert size < 30e6
    for name, folder in models.items():
        card = model_card(name)
        for key in ("data", "training", "evaluation", "listening_check"):
            assert key in card, (name, key)
        assert "CC BY-SA" in str(card["data"])
        info = json.loads((folder / "config.json").read_text())
        assert not Path(info["data"]["source"]).is_absolute()  # no machine paths shipped


def test_shipped_model_offers_the_primer_composers() -> None:
    composers = list_composers(None)
    assert {"Bach", "Mozart", "Chopin"} <= set(composers)


def test_generate_without_checkpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CADENZA_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)  # no data folder anywhere near
    result = runner.invoke(app, ["generate", "--bars", "2", "--seed", "4", "--composer",
                                 "mozart", "--out", "out"])
    assert result.exit_code == 0, result.output
    files = list((tmp_path / "out").glob("*.mid"))
    assert len(files) == 1
    score = read_midi(files[0])
    assert score.num_notes > 0
    assert any(m.text.startswith("cadenza: generated") for m in score.markers)
    assert "guards:" not in result.output
    verbose = runner.invoke(app, ["-v", "generate", "--bars", "2", "--seed", "4", "--out", "v"])
    assert verbose.exit_code == 0 and "guards: " in verbose.output  # what the guards did


def test_card_metrics_reads_an_evaluation(tmp_path: Path) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
    import card_metrics

    stats = {"mean": 0.30957, "std": 0.0571, "count": 8}
    metrics = {"comparison": {"metrics": {"dissonance_rate": {
        "generated": stats, "reference": {"mean": 0.152, "std": 0.046, "count": 25},
        "overlap_area": {"reference": 0.34512, "generated": 0.5},
        "kl_divergence": {"reference": 1.2736, "generated": 0.7},
    }}}}
    (tmp_path / "metrics.json").write_text(json.dumps(metrics))
    (tmp_path / "card.json").write_text(json.dumps({"model": "m", "evaluation": {"note": "n"}}))
    assert card_metrics.main([str(tmp_path / "metrics.json"), "--card",
                              str(tmp_path / "card.json")]) == 0
    card = json.loads((tmp_path / "card.json").read_text())
    assert card["evaluation"]["note"] == "n"
    assert card["evaluation"]["metrics"]["dissonance_rate"] == {
        "generated": "0.31 ± 0.057", "held_out_reference": "0.152 ± 0.046",
        "overlap_area_generated_side": 0.5, "overlap_area_reference_side": 0.345,
        "kl_divergence_reference_side": 1.274,
    }


def test_a_shipped_config_names_its_own_step_not_the_runs_best(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 28: biaxial-piano's config said ``best_step 1250, best_valid_loss 0.0715`` of a
    checkpoint that was not its run's best (4,000 was). Shipped configs name the step shipped
    and the validation loss there; a run's best-so-far keys never travel with a shipped
    model, and older configs that have them still read."""
    from cadenza.checkpoint import load_checkpoint, save_checkpoint
    from cadenza.models.registry import build_model, get_preset
    from cadenza.representations import PianoRoll
    from cadenza.shipped import shipped_config, validation_at_step

    for name, folder in shipped_models().items():
        info = json.loads((folder / "config.json").read_text())
        assert "best_step" not in info and "best_valid_loss" not in info, name
        assert info["shipped_step"] == info["step"], name
    biaxial = json.loads((shipped_models()["biaxial-piano"] / "config.json").read_text())
    assert validation_at_step(biaxial) == (1250, pytest.approx(0.0715, abs=1e-4))
    old = {"step": 1250, "best_step": 1250, "best_valid_loss": 0.0715}  # an older config
    assert validation_at_step(old) == (1250, 0.0715)
    assert shipped_config(old) == {"step": 1250, "shipped_step": 1250,
                                   "valid_loss_at_shipped_step": 0.0715}
    assert shipped_config(shipped_config(old)) == shipped_config(old)
    # A run's checkpoint written after its best: the best's loss is not this one's.
    later = {"step": 5, "best_step": 3, "best_valid_loss": 0.5}
    assert validation_at_step(later) == (5, None)

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
    import ship_model

    checkpoint = save_checkpoint(tmp_path / "run" / "step-000005",
                                 build_model(get_preset("pianoroll-debug")), PianoRoll(),
                                 {"preset": "pianoroll-debug", **later,
                                  "data": {"source": "/home/me/midi"},
                                  "generation": {"onset_profile": [0.25] * 4}})
    card = tmp_path / "card.json"
    card.write_text(json.dumps({"data": {"corpus": "a corpus"}}))
    monkeypatch.setattr(ship_model, "models_dir", lambda: tmp_path / "models")
    assert ship_model.main([str(checkpoint), "mine", "--card", str(card),
                            "--temperature", "0.9"]) == 0
    shipped = json.loads((tmp_path / "models" / "mine" / "config.json").read_text())
    # the calibrated settings join what the run recorded
    assert shipped["generation"] == {"onset_profile": [0.25] * 4, "temperature": 0.9}
    assert shipped["shipped_step"] == 5 and "valid_loss_at_shipped_step" not in shipped
    assert "best_step" not in shipped and "best_valid_loss" not in shipped
    assert load_checkpoint(tmp_path / "models" / "mine").step == 5
