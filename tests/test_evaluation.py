"""Set comparison after Yang & Lerch (2018) and the ``cadenza evaluate`` command."""

from __future__ import annotations

import json
import math
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from cadenza import evaluation as ev
from cadenza.cli import app
from cadenza.errors import DataError
from cadenza.metrics import metric_names
from cadenza.midi import read_midi, write_midi
from cadenza.score import (
    GENERATED_MARKER,
    MARKER_PITCH,
    Marker,
    Score,
    Tempo,
    TimeSignature,
    make_notes,
)

runner = CliRunner()
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


# -- distances and densities -------------------------------------------------------------------
def test_intra_and_inter_set_distances() -> None:
    assert ev.intra_set_distances([1.0, 2.0, 4.0]).tolist() == [1.0, 3.0, 2.0]
    assert ev.intra_set_distances([5.0]).tolist() == []
    assert sorted(ev.inter_set_distances([1.0, 2.0], [4.0]).tolist()) == [2.0, 3.0]
    assert len(ev.inter_set_distances(np.arange(3.0), np.arange(5.0))) == 15
    with pytest.raises(DataError, match="finite"):
        ev.intra_set_distances([1.0, math.nan])


def test_scott_bandwidth_and_floor() -> None:
    sample = np.array([0.0, 1.0, 2.0, 3.0, 4.0])
    assert ev.bandwidth(sample) == pytest.approx(np.std(sample, ddof=1) * 5 ** -0.2)
    assert ev.bandwidth(np.zeros(4), floor=0.5) == 0.5
    assert ev.bandwidth(np.array([3.0]), floor=0.1) == 0.1


def test_kde_matches_the_direct_sum_of_gaussians() -> None:
    rng = np.random.default_rng(0)
    sample = rng.normal(2.0, 0.5, 300)
    grid = np.linspace(-1.0, 5.0, 1024)
    width = 0.2
    direct = np.exp(-0.5 * ((grid[:, None] - sample) / width) ** 2).sum(axis=1)
    direct /= len(sample) * width * math.sqrt(2 * math.pi)
    binned = ev.kde(sample, grid, width)
    assert np.abs(binned - direct).max() < 1e-3 * direct.max()
    assert np.trapezoid(binned, grid) == pytest.approx(1.0, abs=1e-3)


def test_overlap_area_and_kl_divergence() -> None:
    rng = np.random.default_rng(1)
    a, b = rng.normal(0.0, 1.0, 4000), rng.normal(1.0, 1.0, 4000)
    assert ev.overlap_area(a, a) == pytest.approx(1.0)
    assert ev.kl_divergence(a, a) == 0.0
    # Two unit normals one standard deviation apart overlap by 2 Phi(-1/2) = 0.617 and
    # have KL = 1/2 nat; the kernels widen both a little.
    assert ev.overlap_area(a, b) == pytest.approx(0.617, abs=0.04)
    assert ev.kl_divergence(a, b) == pytest.approx(0.5, abs=0.1)
    far = ev.kl_divergence(np.array([0.0, 0.1, 0.2]), np.array([50.0, 50.1]))
    assert ev.overlap_area(np.array([0.0, 0.1, 0.2]), np.array([50.0, 50.1])) < 1e-6
    assert 10.0 < far < 30.0  # finite thanks to the density floor


def test_constant_samples_do_not_give_nan() -> None:
    zeros = np.zeros(6)
    assert ev.overlap_area(zeros, np.zeros(3)) == pytest.approx(1.0)
    assert ev.kl_divergence(zeros, np.zeros(3)) == 0.0
    assert ev.overlap_area(zeros, np.ones(3)) < 1e-6
    assert math.isfinite(ev.kl_divergence(zeros, np.ones(3)))
    with pytest.raises(DataError, match="at least one value"):
        ev.overlap_area(zeros, np.zeros(0))


# -- set comparison ----------------------------------------------------------------------------
def _pieces(values: list[float], name: str = "x") -> list[dict[str, float]]:
    return [{name: v} for v in values]


def test_compare_metric_summaries_and_headline_pair() -> None:
    comparison = ev.compare_metric("x", [1.0, 2.0, 3.0], [1.0, 2.0, 3.0, 2.0])
    assert comparison.generated.mean == 2.0
    assert comparison.generated.std == pytest.approx(math.sqrt(2 / 3))
    assert comparison.intra_generated.count == 3 and comparison.inter.count == 12
    assert comparison.oa_reference is not None and comparison.oa_reference > 0.6
    shifted = ev.compare_metric("x", [11.0, 12.0, 13.0], [1.0, 2.0, 3.0, 2.0])
    assert shifted.oa_reference is not None and shifted.oa_reference < 0.01
    assert shifted.kld_reference is not None and comparison.kld_reference is not None
    assert shifted.kld_reference > comparison.kld_reference + 5


def test_sets_of_one_piece_give_none_not_nan() -> None:
    result = ev.compare_sets(_pieces([1.0]), _pieces([1.0, 2.0]), names=["x"])
    metric = result["x"]
    assert metric.oa_generated is None and metric.kld_generated is None
    assert metric.intra_generated.mean is None and metric.intra_generated.count == 0
    assert metric.oa_reference is not None and math.isfinite(metric.oa_reference)
    text = json.dumps(result.to_json(), allow_nan=False)
    assert '"generated": null' in text
    single = ev.compare_sets(_pieces([1.0]), _pieces([3.0]))
    assert single["x"].oa_reference is None and single["x"].inter.mean == 2.0


def test_compare_sets_errors_and_defaults(tiny_score: Score) -> None:
    with pytest.raises(DataError, match="0 generated"):
        ev.compare_sets([], _pieces([1.0]))
    with pytest.raises(DataError, match="reference piece 1 has no value for metric 'x'"):
        ev.compare_sets(_pieces([1.0]), [{"x": 1.0}, {"y": 2.0}], names=["x"])
    from cadenza.metrics import compute_all

    values = [compute_all(tiny_score), compute_all(tiny_score.transpose(3))]
    result = ev.compare_sets(values, values)
    assert [metric.name for metric in result.metrics] == list(metric_names())
    assert result.generated_count == result.reference_count == 2


def test_distribution_figure_is_a_png(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    rng = np.random.default_rng(2)
    generated = [{"a": float(v), "b": 1.0} for v in rng.normal(0, 1, 5)]
    reference = [{"a": float(v), "b": 1.0} for v in rng.normal(1, 1, 6)]
    result = ev.compare_sets(generated, reference, names=["a", "b"])
    path = ev.write_distributions_png(result, tmp_path / "out" / "d.png")
    assert path.read_bytes().startswith(PNG_MAGIC)
    assert set(result["a"].curves) == {"grid", "inter", "intra_generated", "intra_reference"}


# -- the generated part of a piece -------------------------------------------------------------
def test_generated_part_drops_the_primer_and_the_marker_note() -> None:
    pitches = [60, 62, 64, MARKER_PITCH, 65, 67]
    notes = make_notes([0, 4, 20, 20, 24, 28], [4, 4, 4, 1, 4, 4], pitches)
    score = Score(notes, 4, tempos=(Tempo(0, 90.0),), time_signatures=(TimeSignature(0, 4, 4),),
                  markers=(Marker(20, GENERATED_MARKER),))
    part = ev.generated_part(score)
    # The marker is in bar 2 (ticks 16..31): the part starts at that bar line.
    assert part.notes["start"].tolist() == [4, 8, 12]
    assert part.notes["pitch"].tolist() == [64, 65, 67]
    assert part.tempos == (Tempo(0, 90.0),) and part.markers == ()
    plain = score.copy_with(markers=())
    assert ev.generated_part(plain) is plain


# -- the command line --------------------------------------------------------------------------
def _write_set(folder: Path, scores: list[Score]) -> Path:
    folder.mkdir(parents=True)
    for i, score in enumerate(scores):
        write_midi(score, folder / f"piece{i}.mid")
    return folder


def _scale() -> Score:
    """C major up an octave in quarter notes: two bars."""
    return Score(make_notes(list(range(0, 32, 4)), [4] * 8, [60, 62, 64, 65, 67, 69, 71, 72]), 4)


@pytest.fixture
def two_sets(tmp_path: Path, tiny_score: Score) -> tuple[Path, Path]:
    generated = _write_set(tmp_path / "gen", [tiny_score.transpose(k) for k in (0, 2, 5)])
    (generated / "broken.mid").write_bytes(b"MThd but not really")
    reference = _write_set(tmp_path / "ref", [_scale(), _scale().transpose(7), tiny_score])
    return generated, reference


def evaluate(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["evaluate", *args, "--no-progress"])
    return result.exit_code, result.output


def test_evaluate_writes_metrics_and_figure(two_sets: tuple[Path, Path]) -> None:
    generated, reference = two_sets
    code, out = evaluate(str(generated), "--reference", str(reference))
    assert code == 0, out
    assert "pitch_class_entropy" in out and "OA" in out and "KLD" in out
    assert "3 pieces measured of 4 (skipped 1: corrupt 1)" in out
    report = json.loads((generated / "evaluation" / "metrics.json").read_text())
    assert report["generated"]["measured"] == 3 and report["reference"]["measured"] == 3
    assert report["generated"]["skipped"] == {"corrupt": 1}
    first = report["reference"]["pieces"][0]
    assert first["name"] == "piece0" and first["metrics"]["scale_consistency"] == 1.0
    assert set(report["comparison"]["metrics"]) == set(metric_names())
    assert report["metrics"]["longest_silence"]["unit"] == "beats"
    if (generated / "evaluation" / "distributions.png").exists():
        assert (generated / "evaluation" / "distributions.png").read_bytes()[:8] == PNG_MAGIC


def test_evaluate_refuses_to_overwrite(two_sets: tuple[Path, Path], tmp_path: Path) -> None:
    generated, reference = two_sets
    out_dir = tmp_path / "report"
    assert evaluate(str(generated), "-r", str(reference), "--out", str(out_dir))[0] == 0
    code, out = evaluate(str(generated), "-r", str(reference), "--out", str(out_dir))
    assert code == 2 and "metrics.json already exists; pass --overwrite" in out
    code, out = evaluate(str(generated), "-r", str(reference), "-o", str(out_dir),
                         "--overwrite", "--limit", "1")
    assert code == 0, out
    report = json.loads((out_dir / "metrics.json").read_text())
    assert report["generated"]["measured"] == 1 and report["options"]["limit"] == 1


def test_evaluate_refuses_nested_sets_and_never_reads_its_own_output(
        two_sets: tuple[Path, Path], tmp_path: Path) -> None:
    """Issue 28: folders are read with their subfolders, so a reference inside the generated
    folder was counted as generated; and the default output folder GENERATED/evaluation lies
    inside GENERATED."""
    generated, reference = two_sets
    inner = shutil.copytree(reference, generated / "ref")
    code, out = evaluate(str(generated), "-r", str(inner))
    assert code == 2 and "lies inside the generated folder" in out
    assert len(out.strip().splitlines()) == 1
    code, out = evaluate(str(inner), "-r", str(generated), "-o", str(tmp_path / "o"))
    assert code == 2 and "lie inside the reference folder" in out
    shutil.rmtree(inner)
    assert evaluate(str(generated), "-r", str(reference))[0] == 0
    own = generated / "evaluation"  # written by the run above; a MIDI file put there too
    _write_set(own / "midi", [Score(make_notes([0], [4], [60]), 4)])
    code, out = evaluate(str(generated), "-r", str(reference), "--overwrite")
    assert code == 0, out
    report = json.loads((own / "metrics.json").read_text())
    assert report["generated"]["found"] == 4 and report["generated"]["measured"] == 3
    assert all("evaluation" not in piece["path"] for piece in report["generated"]["pieces"])


def test_evaluate_crops_the_primer_unless_asked(tmp_path: Path, tiny_score: Score) -> None:
    marked = tiny_score.copy_with(markers=(Marker(16, GENERATED_MARKER),))  # bar 2 generated
    generated = _write_set(tmp_path / "gen", [marked, marked.transpose(1)])
    assert read_midi(generated / "piece0.mid").markers  # the marker survives the file
    reference = _write_set(tmp_path / "ref", [tiny_score, tiny_score.transpose(2)])
    cropped = tmp_path / "cropped"
    whole = tmp_path / "whole"
    assert evaluate(str(generated), "-r", str(reference), "-o", str(cropped))[0] == 0
    assert evaluate(str(generated), "-r", str(reference), "-o", str(whole),
                    "--include-primer")[0] == 0

    def notes_per_second(folder: Path) -> float:
        report = json.loads((folder / "metrics.json").read_text())
        return float(report["generated"]["pieces"][0]["metrics"]["notes_per_second"])

    # tiny_score has 5 notes in each bar; bar 2 alone lasts half as long as both bars.
    assert notes_per_second(whole) == pytest.approx(10 / tiny_score.seconds())
    assert notes_per_second(cropped) == pytest.approx(5 / (tiny_score.seconds() / 2))


def test_evaluate_against_the_jsb_test_split(jsb_path: Path, two_sets: tuple[Path, Path],
                                             tmp_path: Path) -> None:
    generated, _ = two_sets
    out_dir = tmp_path / "jsb"
    code, out = evaluate(str(generated), "-r", str(jsb_path), "--limit", "3", "-o", str(out_dir))
    assert code == 0, out
    report = json.loads((out_dir / "metrics.json").read_text())
    pieces = report["reference"]["pieces"]
    assert [p["name"] for p in pieces] == ["test-0", "test-1", "test-2"]
    assert all(p["metrics"]["polyphony"] > 2.5 for p in pieces)  # four-part chorales
    assert report["reference"]["found"] > 3


def test_evaluate_errors_are_one_line(tmp_path: Path, two_sets: tuple[Path, Path]) -> None:
    generated, reference = two_sets
    empty = tmp_path / "empty"
    empty.mkdir()
    code, out = evaluate(str(empty), "-r", str(reference))
    assert code == 2 and f"{empty}: no readable pieces" in out
    assert len(out.strip().splitlines()) == 1
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "a.mid").write_text("not midi")
    code, out = evaluate(str(generated), "-r", str(junk), "-o", str(tmp_path / "o"))
    assert code == 2 and f"{junk}: no readable pieces" in out and "not-midi 1" in out
    code, out = evaluate(str(tmp_path / "missing"), "-r", str(reference))
    assert code == 2 and "not-found" in out


def test_evaluate_prints_both_sides_and_a_summary(two_sets: tuple[Path, Path],
                                                  tiny_score: Score, tmp_path: Path) -> None:
    """The printed figures are those of the pieces: metric values known by hand, and each
    side's mean overlap area computed here from the sets' own scores (the generated set is
    ``tiny_score`` in three keys, the reference two scales and ``tiny_score``); 'n/a' with
    the reason for a side of one piece."""
    from cadenza.metrics import compute_all

    generated, reference = two_sets
    code, out = evaluate(str(generated), "--reference", str(reference))
    assert code == 0, out
    cells = {row.split("│")[1].split("(")[0].strip(): [c.strip() for c in row.split("│")[2:-1]]
             for row in out.splitlines() if row.startswith("│")}
    # tiny_score spans C3..C5 with 10 notes in 2 bars; the scale an octave with 8 notes.
    assert cells["pitch_range"][:2] == ["24 ± 0", "16 ± 5.7"]  # reference 12, 12, 24
    assert cells["notes_per_bar"][:2] == ["5 ± 0", "4.33 ± 0.47"]  # reference 4, 4, 5
    gen = [compute_all(tiny_score.transpose(k)) for k in (0, 2, 5)]
    ref = [compute_all(s) for s in (_scale(), _scale().transpose(7), tiny_score)]
    sides: dict[str, list[float]] = {"generated": [], "reference": []}
    for name in metric_names():
        g, r = [p[name] for p in gen], [p[name] for p in ref]
        inter = ev.inter_set_distances(g, r)
        for side, values in (("generated", g), ("reference", r)):
            area = ev.overlap_area(ev.intra_set_distances(values), inter)
            sides[side].append(area)
            column = {"generated": 4, "reference": 2}[side]  # OA gen, OA ref
            assert float(cells[name][column]) == pytest.approx(area, abs=5e-4, rel=5e-3), name
    mean_gen, mean_ref = np.mean(sides["generated"]), np.mean(sides["reference"])
    assert mean_gen < 0.5 < mean_ref  # the keys differ, the figures cannot be swapped
    line = next(row for row in out.splitlines() if row.startswith("mean overlap area"))
    assert line == (f"mean overlap area (1 = indistinguishable): generated side "
                    f"{mean_gen:.3f}; reference side {mean_ref:.3f}")
    single = tmp_path / "one"
    single.mkdir()
    first = sorted(reference.glob("*.mid"))[0]
    (single / first.name).write_bytes(first.read_bytes())
    code, out = evaluate(str(generated), "--reference", str(single), "--out",
                         str(tmp_path / "ev"))
    assert code == 0, out
    assert "reference side: n/a (one piece has no intra-set distances)" in out


def test_evaluate_counts_the_folder_entries_it_cannot_read(two_sets: tuple[Path, Path]) -> None:
    generated, reference = two_sets
    os.mkfifo(generated / "pipe.mid")  # reading it would wait forever
    (generated / "folder.mid").mkdir()
    code, out = evaluate(str(generated), "--reference", str(reference))
    assert code == 0, out
    assert "3 pieces measured of 6 (skipped 3: not-a-file 2, corrupt 1)" in out
    report = json.loads((generated / "evaluation" / "metrics.json").read_text())
    assert report["generated"]["skipped"] == {"not-a-file": 2, "corrupt": 1}
