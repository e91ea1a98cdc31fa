"""The benchmark scripts run end to end on debug presets and write sensible JSON."""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

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
        assert derived["samples_per_second"] == pytest.approx(
            r["batch_size"] * derived["steps_per_second"]
        )
        assert derived["ratio_to_matmul"] == pytest.approx(
            derived["achieved_gflops"] / r["matmul_gflops"]
        )


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
            assert r["music_seconds"] >= 0 and r["piece_seconds_per_element"] > 0


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
