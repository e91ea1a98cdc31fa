"""The benchmark scripts run end to end on debug presets and write sensible JSON."""

from __future__ import annotations

import json
import math
import statistics
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import biaxial_step  # noqa: E402
import cache_store  # noqa: E402
import generate_speed  # noqa: E402
import train_throughput  # noqa: E402

from cadenza.midi import write_midi  # noqa: E402
from cadenza.score import Score  # noqa: E402

FAMILIES = {"biaxial", "pianoroll", "events", "notetokens"}


@pytest.fixture(autouse=True)
def keep_torch_threads() -> Iterator[None]:
    """The scripts set torch's thread count; give the rest of the session its own back."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def test_train_throughput_quick(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "train.json"
    assert train_throughput.main(["--quick", "--threads", "1", "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    printed = capsys.readouterr().out
    assert "load average" in printed and "target not measured" in printed
    assert data["machine"]["matmul_gflops"] > 0
    assert data["settings"]["threads"] == 1
    results = data["results"]
    assert {r["family"] for r in results} == FAMILIES
    for r in results:
        derived = r["derived"]
        assert len(r["step_seconds"]) == 2 and min(r["step_seconds"]) > 0
        assert r["flops_per_step"] > 0 and r["peak_mb"] > 0
        assert math.isfinite(r["loss"])
        median = statistics.median(r["step_seconds"])  # from the raw timings
        assert derived["steps_per_second"] == pytest.approx(1 / median)
        assert derived["samples_per_second"] == pytest.approx(r["batch_size"] / median)
        assert derived["achieved_gflops"] == pytest.approx(r["flops_per_step"] / median / 1e9)


def test_generate_speed_quick(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "generate.json"
    args = ["--quick", "--threads", "1", "--steps", "8", "--json", str(out)]
    assert generate_speed.main(args) == 0
    data = json.loads(out.read_text())
    assert "x real time" in capsys.readouterr().out
    results = data["results"]
    assert {r["family"] for r in results} == FAMILIES
    assert {r["batch"] for r in results} == {1, 2}
    for r in results:
        assert r["length"] == 8 and r["median_wall_seconds"] > 0
        assert r["real_time_factor"] == pytest.approx(
            r["music_seconds"] / r["median_wall_seconds"]
        )
        if r["family"] in ("biaxial", "pianoroll"):
            # 8 generated 16th-note steps at 120 qpm are one second per piece.
            assert r["music_seconds"] == pytest.approx(r["batch"] * 1.0)
            assert r["piece_seconds_per_element"] == pytest.approx(0.125)
            assert r["real_time_factor_at_piece_density"] == pytest.approx(r["real_time_factor"])
        else:
            assert r["piece_seconds_per_element"] > 0


def test_biaxial_flops_count_by_hand() -> None:
    """Time layer 80 -> 4: 2 * 4 gates * 4 * (80 + 4) = 2688 FLOPs per cell; note layer
    (4 + 2) -> 3: 2 * 4 * 3 * (6 + 3) = 216; output 3 -> 2: 12. Forward + backward = 3x."""
    from cadenza.models.biaxial import BiaxialConfig, build

    model = build(BiaxialConfig(time_sizes=(4,), note_sizes=(3,)))
    batch = {"features": torch.zeros(2, 5, 78, 80)}
    assert model.flops_per_batch(batch) == 3 * 2 * 5 * 78 * (2688 + 216 + 12)


@pytest.mark.parametrize("kind", ["events", "notetokens", "notestate"])
def test_generated_seconds_of_a_known_piece(kind: str) -> None:
    """Four quarter notes at 120 qpm last 2 s: all of it after an empty primer, none after
    the whole piece; the script's clamp at 0 is never what makes these hold."""
    import numpy as np

    from cadenza.representations import REGISTRY
    from cadenza.score import TimeSignature, make_notes

    rep = REGISTRY[kind]()
    spq = rep.config.steps_per_quarter
    notes = make_notes([0, spq, 2 * spq, 3 * spq], [spq] * 4, [60, 62, 64, 65])
    score = Score(notes, spq, time_signatures=(TimeSignature(0, 4, 4),))
    rep.fit([score])
    array = rep.encode(score)
    seconds, count = generate_speed.generated_seconds(rep, array, 0)
    assert seconds == pytest.approx(2.0) and count == 4
    seconds, count = generate_speed.generated_seconds(rep, array, len(array))
    assert seconds == pytest.approx(0.0, abs=1e-9) and count == 0
    assert np.all(array == rep.encode(score))


@pytest.mark.parametrize("where", ["each in a fresh process", "all in this process"])
def test_preprocess_benchmark_runs_on_a_small_folder(
    tmp_path: Path, tiny_score: Score, capsys: pytest.CaptureFixture[str], where: str
) -> None:
    import preprocess

    for i in range(3):
        write_midi(tiny_score.transpose(i), tmp_path / "midi" / f"piece{i}.mid")
    options = ["--same-process"] if where.startswith("all") else []
    argv = [str(tmp_path / "midi"), "--music21-files", "0", "--repeat", "2", *options]
    assert preprocess.main(argv) == 0
    printed = capsys.readouterr().out
    assert f"cadenza builds: {where}" in printed
    for row in ("2 workers, cold cache", "1 worker, cold cache", "2 workers, warm cache",
                "1 worker, no cache", "pretty_midi"):
        assert row in printed
    assert "median of 2" in printed and "3 read, 0 skipped" in printed


def test_pretty_midi_baseline_makes_the_same_roll(tmp_path: Path, tiny_score: Score) -> None:
    """Like for like: the baseline paints the same 16th-note roll cadenza encodes."""
    import preprocess

    from cadenza.midi import ReadOptions, load_piece
    from cadenza.representations import PianoRoll

    path = write_midi(tiny_score, tmp_path / "tiny.mid")
    baseline = preprocess.pretty_midi_roll(path)
    score, _ = load_piece(path, ReadOptions(steps_per_quarter=4, time_signatures=None))
    ours = PianoRoll().encode(score).astype(bool)
    assert ours.any()
    assert baseline.shape[1] == ours.shape[1] == 88
    assert len(baseline) >= len(ours) and not baseline[len(ours):].any()
    assert (baseline[: len(ours)] == ours).all()


def test_train_precision_quick(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                               monkeypatch: pytest.MonkeyPatch) -> None:
    """What the benchmark claims: two copies start from the same weights on the same batch,
    one in float32 and one under bfloat16 autocast (their first losses are those computed
    here), and the printed and saved figures are computed from the steps it recorded.

    A CPU without native bfloat16 makes it refuse (exit 2); the comparison still runs here
    through PyTorch's own kernels (oneDNN has no bfloat16 LSTM without native support), so
    it checks the bookkeeping, not the speed."""
    import numpy as np
    import train_precision

    from cadenza.experiment import prepare_experiment
    from cadenza.score import TimeSignature, make_notes
    from cadenza.training import native_bf16

    monkeypatch.setenv("CADENZA_CACHE_DIR", str(tmp_path / "cache"))
    if not native_bf16(torch.device("cpu")):
        assert train_precision.main(["--quick"]) == 2
        assert "no native bfloat16" in capsys.readouterr().out
    monkeypatch.setattr(train_precision, "native_bf16", lambda device: True)
    monkeypatch.setattr(torch.backends.mkldnn, "enabled", False)
    # Pieces long enough that each draw of the batch generator gives another batch.
    rng = np.random.default_rng(0)
    starts = np.arange(0, 256, 2)
    for i in range(4):
        notes = make_notes(starts, np.full(len(starts), 2), rng.integers(48, 84, len(starts)))
        write_midi(Score(notes, 4, time_signatures=(TimeSignature(0, 4, 4),)),
                   tmp_path / "midi" / f"p{i}.mid")
    side_by_side = train_precision.train_side_by_side("biaxial-debug", tmp_path / "midi",
                                                      steps=2, seed=0, overrides={})
    torch.manual_seed(0)
    experiment = prepare_experiment("biaxial-debug", tmp_path / "midi", progress=False)
    batch = experiment.train_batches.training_batch(np.random.default_rng(0))
    other = experiment.train_batches.training_batch(np.random.default_rng(1))
    assert not torch.equal(batch["features"], other["features"])
    with torch.no_grad():
        fp32 = float(experiment.model.loss(batch)[0])
        with torch.autocast("cpu", dtype=torch.bfloat16):
            bf16 = float(experiment.model.loss(batch)[0])
    assert side_by_side["losses"]["fp32"][0] == pytest.approx(fp32, rel=1e-6)
    assert side_by_side["losses"]["bf16"][0] == pytest.approx(bf16, rel=1e-6)
    assert bf16 != pytest.approx(fp32, rel=1e-6)  # autocast rounds: the copies differ

    out = tmp_path / "precision.json"
    assert train_precision.main(["--quick", "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    printed = capsys.readouterr().out
    seconds, losses = data["seconds"], data["losses"]
    assert len(seconds["fp32"]) == len(seconds["bf16"]) == len(losses["bf16"]) == 4
    medians = {k: statistics.median(v) for k, v in seconds.items()}
    assert data["median_seconds"] == pytest.approx(medians)
    assert data["speedup"] == pytest.approx(medians["fp32"] / medians["bf16"])
    curves = data["curve_blocks"]
    for name in ("fp32", "bf16"):  # 4 steps in 4 blocks: a step a block
        assert curves[name] == pytest.approx(losses[name])
    gap = max(abs(b - f) / abs(f) for f, b in zip(losses["fp32"], losses["bf16"], strict=True))
    assert data["largest_block_gap"] == pytest.approx(gap)
    assert f"the two curves: {gap:.1%}" in printed
    for name in ("fp32", "bf16"):
        assert f"{1 / medians[name]:.2f}" in printed  # steps/s
        assert " ".join(f"{v:.4f}" for v in losses[name]) in printed
    verdict = "met" if data["speedup"] >= train_precision.TARGET_SPEEDUP else "NOT met"
    assert f"fp32: {data['speedup']:.2f}x ({verdict})" in printed


def test_biaxial_step_quick(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Old and new code give the same losses (to float32 rounding) in separate processes;
    its copy of the old feature loop still computes today's features; the table comes from
    the recorded runs."""
    import numpy as np
    from biaxial_step import _old_input_features

    from cadenza.representations.notestate import input_features

    state = (np.random.default_rng(0).random((2, 9, 78, 3)) < 0.2).astype(np.uint8)
    np.testing.assert_array_equal(_old_input_features(state, 5), input_features(state, 5))

    out = tmp_path / "step.json"
    assert biaxial_step.main(["--quick", "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    printed = capsys.readouterr().out
    assert data["same_curve"] is True and data["largest_loss_gap"] <= 1e-5
    runs = data["results"]["debug"]
    assert set(runs) == {"old", "new code", "new"}
    curves = [r["losses"] for variant in runs.values() for r in variant]
    assert len(curves) == 3 and all(len(c) == 2 for c in curves)
    assert runs["new"][0]["losses"] == runs["new code"][0]["losses"]  # the allocator alone
    np.testing.assert_allclose(runs["new"][0]["losses"], runs["old"][0]["losses"], rtol=1e-5)
    old = statistics.median(s for r in runs["old"] for s in r["seconds"]["step"])
    new = statistics.median(s for r in runs["new"] for s in r["seconds"]["step"])
    assert f"| {1e3 * old:.0f} | {1e3 * new:.0f} | {old / new:.2f}x |" in printed
    assert "of the first run's: yes" in printed and "torch.mm" in printed


def test_both_cache_stores_give_back_what_they_took(tmp_path: Path) -> None:
    entries = [(f"entry-{i}", bytes([i % 256]) * (100 + i)) for i in range(300)]
    names = [name for name, _ in entries]
    for number, (write, read) in enumerate(cache_store.STORES.values()):
        target = tmp_path / f"store-{number}"
        write(target, entries[:150], 64)
        write(target, entries[150:], 64)  # a second writer's share
        assert read(target, names) == sum(len(data) for _, data in entries)


def test_gates_see_primers_taken_from_the_reference(web_runs: Path, tmp_path: Path) -> None:
    """A run primes from its corpus' generation split; a reference folder holding those
    pieces or windows of them is reported, a folder of other files is not."""
    import _pieces

    from cadenza.composing import primer_bank

    run = web_runs / "pianoroll-debug"
    names = sorted({Path(p.name).name for p in primer_bank(run).primers})
    assert names
    reference = tmp_path / "reference"
    reference.mkdir()
    (reference / names[0]).write_bytes(b"")
    (reference / "other.mid").write_bytes(b"")
    assert _pieces.primers_in_reference(str(run), reference) == [names[0]]
    (reference / names[0]).unlink()
    assert _pieces.primers_in_reference(str(run), reference) == []
    (reference / f"{names[0]}.window-256.mid").write_bytes(b"")  # a window of it
    assert _pieces.primers_in_reference(str(run), reference) == [names[0]]


def test_play_along_latency_times_every_round(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    """The script serves, plays and answers, and reports each round against the target."""
    pytest.importorskip("uvicorn", reason="the web extra (uvicorn) is not installed")
    import play_along_latency

    out = tmp_path / "play-along.json"
    code = play_along_latency.main(["--tries", "1", "--rounds", "2", "--bars", "1",
                                    "--target", "60", "--json", str(out)])
    assert code == 0  # a minute is enough for anyone
    rounds = json.loads(out.read_text())["rounds"]
    assert len(rounds) == 2 and all(len(r) == 1 for r in rounds)
    for (latency, wall, cpu), in rounds:
        assert latency >= wall > 0 and cpu > 0
    printed = capsys.readouterr().out
    assert "target 60 s" in printed and printed.count("met") >= 2
