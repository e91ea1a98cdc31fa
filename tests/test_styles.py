"""Style-conditioned models: labels from folders or metadata, training, ``--init`` from a
style-free model, composing in a style from the CLI, the Python API and the web API, and the
style strength that pushes a style from the centre of the model's styles."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from debug_run import write_smoke_corpus
from torch import nn
from typer.testing import CliRunner

import cadenza.api as api
from cadenza.checkpoint import init_from, load_checkpoint
from cadenza.cli import app
from cadenza.composing import ComposeRequest
from cadenza.composing.settings import style_strength
from cadenza.data.styles import StyleChoice, label_pieces
from cadenza.errors import ConfigError, DataError
from cadenza.experiment import prepare_experiment
from cadenza.generation import GenerationConfig
from cadenza.models.styleinput import style_vectors, with_style

runner = CliRunner()
PRESET = "biaxial-debug"


def _train(corpus: Path, out: Path, *extra: str) -> Any:
    return runner.invoke(app, ["train", "--model", PRESET, "--data", str(corpus), "--steps", "3",
                               "--out", str(out), "--log-every", "3", "--eval-every", "0",
                               "--checkpoint-every", "3", "--sample-every", "0", "--threads",
                               "1", "--no-progress", "--workers", "1", *extra])


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two style folders (``Bach``, ``Mozart``) of small built-in pieces."""
    return write_smoke_corpus(tmp_path_factory.mktemp("styles") / "corpus")


@pytest.fixture(scope="module")
def styled_run(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("styled") / PRESET
    result = _train(corpus, out, "--style-from", "folder", "--min-style-pieces", "2")
    assert result.exit_code == 0, result.output
    assert "styles (training pieces): Bach (3), Mozart (3)" in result.output
    return out


# -- labels ------------------------------------------------------------------------------------
PIECES = [("Bach/a.mid", "train"), ("Mozart/b.mid", "train"), ("Mozart/c.mid", "train"),
          ("Chopin/d.mid", "train"), ("Chopin/e.mid", "train"), ("Chopin/f.mid", "valid"),
          ("Christmas/g.mid", "train"), ("loose.mid", "train")]


def test_periods_merge_a_thin_period_into_the_next(tmp_path: Path) -> None:
    labels = label_pieces(StyleChoice("folder", "period", 2), tmp_path, PIECES)
    assert labels.styles == ("Baroque+Classical", "Romantic")
    assert labels.train_counts == {"Baroque+Classical": 3, "Romantic": 2}
    assert labels.index("Bach/a.mid") == labels.index("Mozart/b.mid") == 0
    assert labels.index("Chopin/f.mid") == 1  # a valid piece keeps its label
    assert labels.index("Christmas/g.mid") is None and labels.index("loose.mid") is None
    assert any("merged with Classical" in note for note in labels.notes)


def test_composers_below_the_minimum_are_left_out_with_a_message(tmp_path: Path) -> None:
    labels = label_pieces(StyleChoice("folder", "composer", 2), tmp_path, PIECES)
    assert labels.styles == ("Chopin", "Mozart")
    assert labels.index("Bach/a.mid") is None and labels.index("Christmas/g.mid") is None
    assert any("Bach (1)" in note and "Christmas (1)" in note for note in labels.notes)
    with pytest.raises(DataError, match=r"fewer than two styles.*Chopin 2"):
        label_pieces(StyleChoice("folder", "composer", 3), tmp_path, PIECES)


def test_metadata_labels_come_from_the_csv_not_the_folder(tmp_path: Path) -> None:
    root = tmp_path / "midis"
    pieces = [("x/1.mid", "train"), ("x/2.mid", "train"), ("y/3.mid", "train")]
    with pytest.raises(ConfigError, match=r"no metadata\.csv"):
        label_pieces(StyleChoice("metadata", "composer", 1), root, pieces)
    root.mkdir()
    (tmp_path / "metadata.csv").write_text(
        "composer,midi\nHaydn,midis/x/1.mid\nLiszt,midis/x/2.mid\nLiszt,midis/y/3.mid\n")
    labels = label_pieces(StyleChoice("metadata", "composer", 1), root, pieces)
    assert labels.styles == ("Haydn", "Liszt")
    assert [labels.index(p) for p, _ in pieces] == [0, 1, 1]


def test_bad_style_choices_name_the_option(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="style-from must be one of folder, metadata"):
        StyleChoice("title")
    with pytest.raises(ConfigError, match="style-level must be one of composer, period"):
        StyleChoice("folder", "decade")
    result = runner.invoke(app, ["train", "--model", PRESET, "--data", str(tmp_path),
                                 "--out", str(tmp_path / "run"), "--style-level", "period"])
    assert result.exit_code == 2 and "--style-level and --min-style-pieces need" in result.output


# -- training ----------------------------------------------------------------------------------
def test_a_styled_run_keeps_its_styles_in_the_config(styled_run: Path) -> None:
    info = json.loads((styled_run / "run.json").read_text())
    assert info["model"]["styles"] == ["Bach", "Mozart"]
    assert info["data"]["styles"]["train_pieces"] == {"Bach": 3, "Mozart": 3}
    loaded = load_checkpoint(styled_run)
    assert loaded.model.config.styles == ("Bach", "Mozart")  # type: ignore[attr-defined]


def test_other_families_refuse_styles(corpus: Path, tmp_path: Path) -> None:
    too_few = _train(corpus, tmp_path / "few", "--style-from", "folder")
    assert too_few.exit_code == 2 and "fewer than two styles with 5" in too_few.output
    refused = runner.invoke(app, ["train", "--model", "pianoroll-debug", "--data", str(corpus),
                                  "--steps", "1", "--out", str(tmp_path / "pr"),
                                  "--style-from", "folder", "--threads", "1"])
    assert refused.exit_code == 2
    assert "the pianoroll family cannot be conditioned on a style" in refused.output


def _probabilities(model: Any, style: int | None, **strength: float) -> torch.Tensor:
    """P(play) of one step from silence, composed in ``style`` (at ``style_strength``)."""
    model.eval()
    features = torch.zeros(1, model.config.num_notes, 80)
    features[..., 78] = 1.0  # a beat input, so the step is not all zeros
    outputs, _ = model.step(features, model.init_state(1),
                            sample=lambda p, note: (p > 2).to(p.dtype), style=style, **strength)
    return outputs["probs"]


def test_the_style_changes_the_probabilities(styled_run: Path) -> None:
    model = load_checkpoint(styled_run).model
    bach, mozart = _probabilities(model, 0), _probabilities(model, 1)
    assert not torch.allclose(bach, mozart, atol=1e-6)
    assert torch.equal(bach, _probabilities(model, 0))


def test_init_from_a_style_free_model_starts_from_the_same_function(
        corpus: Path, tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    assert _train(corpus, plain).exit_code == 0
    base = load_checkpoint(plain).model.eval()
    experiment = prepare_experiment(PRESET, corpus, workers=1, progress=False,
                                    style=StyleChoice("folder", "composer", 2))
    styled = experiment.model
    init_from(styled, plain, experiment.representation)
    styled.eval()
    assert styled.style_embedding is not None  # type: ignore[attr-defined]
    assert float(styled.style_embedding.weight.detach().abs().sum()) > 0  # type: ignore[attr-defined]
    expected = _probabilities(base, None)
    for style in (0, 1):
        assert torch.equal(_probabilities(styled, style), expected)
    batch = next(iter(experiment.train_batches.eval_batches()))
    assert batch["style"].dtype == torch.int64
    assert torch.equal(styled.predict_probs(batch), base.predict_probs(  # type: ignore[attr-defined]
        {k: v for k, v in batch.items() if k != "style"}))


# -- composing ---------------------------------------------------------------------------------
def test_generate_in_a_style_starts_from_silence(styled_run: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["generate", str(styled_run), "--style", "mozart", "--bars", "1",
                                 "--seed", "3", "--out", str(tmp_path), "--threads", "1"])
    assert result.exit_code == 0, result.output
    assert "primer: none (silence)" in result.output and "style: mozart" in result.output
    assert (tmp_path / f"{PRESET}-mozart-silence.mid").is_file()
    sidecar_path = next(tmp_path.glob("*.json"))
    assert json.loads(sidecar_path.read_text())["settings"]["style"] == "mozart"
    again = runner.invoke(app, ["generate", "--replay", str(sidecar_path), "--out",
                                str(tmp_path / "again")])
    assert again.exit_code == 0, again.output
    (first,), (second,) = tmp_path.glob("*.mid"), (tmp_path / "again").glob("*.mid")
    assert first.read_bytes() == second.read_bytes()


def test_list_styles(styled_run: Path) -> None:
    result = runner.invoke(app, ["generate", str(styled_run), "--list-styles"])
    assert result.exit_code == 0 and result.output.split() == ["Bach", "Mozart"]


def test_unknown_styles_and_style_free_models_are_refused(styled_run: Path, corpus: Path,
                                                         tmp_path: Path) -> None:
    result = runner.invoke(app, ["generate", str(styled_run), "--style", "Chopin", "--bars", "1",
                                 "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert "unknown style 'Chopin'; this model knows Bach, Mozart" in result.output
    plain = tmp_path / "plain"
    assert _train(corpus, plain).exit_code == 0
    result = runner.invoke(app, ["generate", str(plain), "--style", "Bach", "--bars", "1",
                                 "--out", str(tmp_path)])
    assert result.exit_code == 2 and "trained without styles" in result.output


def test_a_style_without_a_checkpoint_composes_with_the_shipped_style_model(
        tmp_path: Path) -> None:
    listed = runner.invoke(app, ["generate", "--list-styles"])
    assert listed.exit_code == 0
    assert listed.output.split() == ["Baroque+Classical", "Romantic", "Late-Romantic"]
    result = runner.invoke(app, ["generate", "--style", "Romantic", "--bars", "1", "--seed", "2",
                                 "--out", str(tmp_path), "--threads", "1"])
    assert result.exit_code == 0, result.output
    assert "biaxial-styles" in result.output and "primer: none (silence)" in result.output
    assert (tmp_path / "biaxial-styles-Romantic-silence.mid").is_file()
    assert api.styles() == ["Baroque+Classical", "Romantic", "Late-Romantic"]


def test_the_api_takes_a_style(styled_run: Path) -> None:
    assert api.styles(styled_run) == ["Bach", "Mozart"]
    bach = api.compose(styled_run, bars=2, style="Bach", seed=5)
    again = api.compose(styled_run, bars=2, style="Bach", seed=5)
    mozart = api.compose(styled_run, bars=2, style="Mozart", seed=5)
    assert bach.primer == "none (silence)" and bach.request.style == "Bach"
    assert np.array_equal(bach.notes, again.notes)
    assert bach.request != mozart.request
    with pytest.raises(ConfigError, match="knows Bach, Mozart"):
        api.compose(styled_run, bars=1, style="Liszt")


def test_the_web_request_takes_a_style(styled_run: Path, tmp_path: Path) -> None:
    web = pytest.importorskip("test_web_api", reason="the web extra is not installed")
    client = web.make_client(styled_run.parent, tmp_path, compose_fn=web.fake_compose())
    with client:
        models = client.get("/api/models").json()["models"]
        assert [m["styles"] for m in models] == [["Bach", "Mozart"]]
        model = models[0]["id"]
        refused = web.post(client, model=model, style="Chopin")
        assert refused.status_code == 422, refused.text
        assert "style" in refused.text and "Bach, Mozart" in refused.text
        accepted = web.post(client, model=model, style="Mozart")
        assert accepted.status_code == 202, accepted.text
        assert web.wait_for(client, accepted.json()["id"])["status"] == "done"


# -- the benchmark's classifier -----------------------------------------------------------------
def test_the_style_classifier_tells_styles_apart_and_attributes_pieces() -> None:
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import styles as bench

    rng = np.random.default_rng(0)
    centres = np.array([[0.0, 0.0], [1.5, 0.0], [0.0, 1.5]])  # overlapping styles
    labels = np.repeat([0, 1, 2], [200, 20, 20])  # the first style ten times the others
    x = np.c_[centres[labels] + rng.normal(size=(len(labels), 2)), np.ones(len(labels))]
    classifier = bench.StyleClassifier(x, labels, 3, l2=1.0)  # the constant column left out
    test = np.repeat([0, 1, 2], 200)
    guesses = classifier.predict(np.c_[centres[test] + rng.normal(size=(600, 2)), np.ones(600)])
    recall = [float(np.mean(guesses[test == s] == s)) for s in range(3)]
    assert min(recall) > 0.45, recall  # balanced: the small styles are not swallowed
    shares = bench.attribution({"a": np.array([0, 0, 1, 0]), "b": np.array([1, 1, 0, 2]),
                                "c": np.array([2, 0, 2, 2])}, ["a", "b", "c"])
    assert shares["a"] == {"own": 0.75, "others": 0.25}
    assert shares["b"] == {"own": 0.5, "others": 0.125}
    assert bench.style_of("Mozart", ["Baroque+Classical", "Romantic"]) == 0
    assert bench.style_of("Chopin", ["Chopin", "Liszt"]) == 0
    assert bench.style_of("Christmas", ["Baroque+Classical", "Romantic"]) is None


# -- style strength ------------------------------------------------------------------------------
def _appended(embedding: nn.Embedding, strength: float) -> torch.Tensor:
    """The style columns the time axis reads for styles 0, 1, 2 at ``strength``: (3, E)."""
    features = torch.randn(3, 4, 80)
    out = with_style(embedding, features, torch.tensor([0, 1, 2]), strength).detach()
    assert torch.equal(out[..., :80], features)
    return out[:, 0, 80:]


def test_style_strength_one_reads_each_style_s_own_embedding_bit_for_bit() -> None:
    torch.manual_seed(0)
    embedding = nn.Embedding(3, 16)
    assert torch.equal(_appended(embedding, 1.0), embedding.weight.detach())
    features = torch.randn(2, 5, 7, 80)
    assert torch.equal(with_style(embedding, features, torch.tensor([2, 0]), 1.0),
                       with_style(embedding, features, torch.tensor([2, 0])))


def test_style_strength_moves_the_style_from_the_centre_of_the_styles() -> None:
    torch.manual_seed(1)
    embedding = nn.Embedding(3, 16)
    weight = embedding.weight.detach()
    centre = weight.mean(dim=0)
    for strength in (0.0, 0.5, 2.0, 3.5, 8.0):
        expected = centre + strength * (weight - centre)
        torch.testing.assert_close(_appended(embedding, strength), expected)
        torch.testing.assert_close(
            style_vectors(embedding, torch.tensor([1]), strength).detach(), expected[1:2])
    assert torch.equal(_appended(embedding, 0.0), centre.expand(3, -1))  # every style alike


def test_style_strength_reaches_the_model_s_step(styled_run: Path) -> None:
    model = load_checkpoint(styled_run).model
    assert torch.equal(_probabilities(model, 0, style_strength=1.0), _probabilities(model, 0))
    assert torch.equal(_probabilities(model, 0, style_strength=0.0),
                       _probabilities(model, 1, style_strength=0.0))
    assert not torch.allclose(_probabilities(model, 0, style_strength=3.0),
                              _probabilities(model, 0), atol=1e-6)


def test_strength_zero_composes_every_style_alike(styled_run: Path) -> None:
    bach = api.compose(styled_run, bars=2, style="Bach", seed=5, style_strength=0.0)
    mozart = api.compose(styled_run, bars=2, style="Mozart", seed=5, style_strength=0.0)
    assert np.array_equal(bach.notes, mozart.notes)
    assert bach.request.style_strength == 0.0
    plain = api.compose(styled_run, bars=2, style="Bach", seed=5)
    at_one = api.compose(styled_run, bars=2, style="Bach", seed=5, style_strength=1.0)
    assert np.array_equal(plain.notes, at_one.notes)


def test_bad_style_strengths_are_refused_in_one_line() -> None:
    for bad in (-0.5, 8.5, float("nan"), True):
        with pytest.raises(ConfigError, match=r"^style_strength must be in \[0, 8\], got"):
            GenerationConfig(style_strength=bad)
        with pytest.raises(ConfigError, match=r"^style_strength must be in \[0, 8\], got"):
            ComposeRequest(style="Bach", style_strength=bad)
    with pytest.raises(ConfigError, match=r"^style_strength must be in \[0, 8\], got -1"):
        with_style(nn.Embedding(2, 3), torch.zeros(1, 2, 80), 0, -1.0)
    with pytest.raises(ConfigError, match=r"^style strength 2\.0 needs a style"):
        ComposeRequest(style_strength=2.0)
    with pytest.raises(ConfigError, match="trained without styles"):
        api.compose("biaxial-piano", bars=1, style="Romantic", style_strength=2.0)


def test_the_model_s_calibrated_strength_is_the_default(styled_run: Path) -> None:
    loaded = load_checkpoint(styled_run)
    assert style_strength(ComposeRequest(style="Bach"), loaded) == 1.0
    loaded.info["generation"] = {"style_strength": 3.0}
    assert style_strength(ComposeRequest(style="Bach"), loaded) == 3.0
    assert style_strength(ComposeRequest(style="Bach", style_strength=0.5), loaded) == 0.5
    assert style_strength(ComposeRequest(), loaded) == 1.0  # no style: nothing to strengthen


def test_generate_takes_a_style_strength_and_replays_it(styled_run: Path,
                                                        tmp_path: Path) -> None:
    def generate(*extra: str) -> Any:
        return runner.invoke(app, ["generate", str(styled_run), "--bars", "1", "--seed", "3",
                                   "--out", str(tmp_path), "--threads", "1", *extra])

    result = generate("--style", "Bach", "--style-strength", "2.5")
    assert result.exit_code == 0, result.output
    assert "style: Bach (strength 2.5)" in result.output
    sidecar_path = next(tmp_path.glob("*.json"))
    assert json.loads(sidecar_path.read_text())["settings"]["style_strength"] == 2.5
    again = runner.invoke(app, ["generate", "--replay", str(sidecar_path), "--out",
                                str(tmp_path / "again")])
    assert again.exit_code == 0, again.output
    (first,), (second,) = tmp_path.glob("*.mid"), (tmp_path / "again").glob("*.mid")
    assert first.read_bytes() == second.read_bytes()
    refused = generate("--style-strength", "2")
    assert refused.exit_code == 2 and "style strength 2.0 needs a style" in refused.output
    refused = generate("--style", "Bach", "--style-strength", "9")
    assert refused.exit_code == 2 and "style_strength must be in [0, 8], got 9.0" in refused.output


def test_the_web_request_takes_a_style_strength(styled_run: Path, tmp_path: Path) -> None:
    web = pytest.importorskip("test_web_api", reason="the web extra is not installed")
    asked: list[float | None] = []
    client = web.make_client(styled_run.parent, tmp_path, compose_fn=web.fake_compose(
        lambda request: asked.append(request.style_strength)))
    with client:
        model = client.get("/api/models").json()["models"][0]["id"]
        for bad in ({"style": "Bach", "style_strength": 9.0}, {"style_strength": 2.0}):
            refused = web.post(client, model=model, **bad)
            assert refused.status_code == 422, refused.text
            assert "style_strength" in refused.text
        accepted = web.post(client, model=model, style="Bach", style_strength=2.5)
        assert accepted.status_code == 202, accepted.text
        assert web.wait_for(client, accepted.json()["id"])["status"] == "done"
    assert asked == [2.5]


def test_ship_model_writes_the_default_style_strength(styled_run: Path, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
    import ship_model

    card = tmp_path / "card.json"
    card.write_text(json.dumps({"data": {"corpus": "a corpus"}}))
    monkeypatch.setattr(ship_model, "models_dir", lambda: tmp_path / "models")
    assert ship_model.main([str(styled_run), "mine", "--card", str(card),
                            "--style-strength", "2.0"]) == 0
    shipped = load_checkpoint(tmp_path / "models" / "mine")
    assert shipped.generation_default("style_strength", 1.0) == 2.0
