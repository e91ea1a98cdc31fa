"""What a composition request may ask for: every refusal names its field, and a piece is
bounded by how long it lasts (bars at a tempo), not only by its bars."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from test_web_api import (
    checkpoints,  # noqa: F401  (a fixture)
    fake_compose,
    make_client,
    post,
    wait_for,
)


# -- every 422 names its field ---------------------------------------------------------------
@pytest.mark.parametrize(("fields", "field"), [
    ({"pitch_range": "C9-C2"}, "pitch_range"),
    ({"pitch_range": "zz"}, "pitch_range"),
    ({"max_polyphony": 3, "pitch_range": "C4-C3"}, "pitch_range"),
    ({"key": "D minor", "key_strength": 0.5, "pitch_range": "C1-C0"}, "pitch_range"),
    ({"key": "H dorian", "pitch_range": "C2-C6"}, "key"),
    ({"density": "4..2", "humanise": 0.5}, "density"),
    ({"ensemble": "trio"}, "ensemble"),
    ({"program": 40, "ensemble": "satb"}, "ensemble"),
], ids=lambda value: ",".join(value) if isinstance(value, dict) else value)
def test_a_bad_control_is_refused_in_its_own_name(
    checkpoints: Path, tmp_path: Path, fields: dict[str, Any], field: str  # noqa: F811
) -> None:
    with make_client(checkpoints, tmp_path, compose_fn=fake_compose()) as client:
        answer = post(client, **fields)
    assert answer.status_code == 422, answer.text
    assert answer.json()["field"] == field, answer.json()
    assert answer.json()["detail"].startswith(f"{field}: ")


def test_a_bad_query_names_its_parameter(checkpoints: Path, tmp_path: Path) -> None:  # noqa: F811
    with make_client(checkpoints, tmp_path) as client:
        answer = client.get("/api/compositions?limit=0")
    assert answer.status_code == 422
    assert answer.json()["field"] == "limit" and answer.json()["detail"].startswith("limit: ")


# -- a piece is bounded by how long it lasts --------------------------------------------------
def test_bars_at_a_slow_tempo_are_refused_by_their_duration(
    checkpoints: Path, tmp_path: Path  # noqa: F811
) -> None:
    """256 bars at 10 bpm last 102 minutes: refused before anything runs (it once wrote a
    2 GB WAV and died of a MemoryError); the same bars at a usual tempo are composed."""
    with make_client(checkpoints, tmp_path, compose_fn=fake_compose()) as client:
        slow = post(client, bars=256, bpm=10)
        history = client.get("/api/compositions").json()["compositions"]
        usual = post(client, bars=256, bpm=120)
    assert slow.status_code == 422, slow.text
    assert slow.json()["field"] == "bars"
    assert slow.json()["detail"] == ("bars: 256 bars at 10 bpm last 102 minutes; the page "
                                     "composes at most 20 minutes")
    assert history == []
    assert usual.status_code == 202, usual.text


def test_the_duration_cap_is_a_setting_and_counts_an_upload(
    checkpoints: Path, tmp_path: Path  # noqa: F811
) -> None:
    from test_web_studio import melody_bytes, upload

    with make_client(checkpoints, tmp_path, compose_fn=fake_compose(), max_minutes=1) as client:
        assert post(client, bars=16, bpm=60).status_code == 422  # 64 beats at 60 bpm
        assert post(client, bars=15, bpm=60).status_code == 202  # 60 beats
        melody = upload(client, melody_bytes(bars=16)).json()["id"]  # 64 beats at 100 bpm
        kept = post(client, mode="harmonise", upload=melody, bpm=60)
        assert post(client, mode="harmonise", upload=melody).status_code == 202
        longer = post(client, mode="continue", upload=melody, bars=12)
    assert kept.status_code == 422 and kept.json()["field"] == "bpm"
    assert "your file at 60 bpm last 1 minutes" in kept.json()["detail"]
    assert longer.status_code == 422 and longer.json()["field"] == "bars"
    assert "your file and 12 more bars at 100 bpm (your file's tempo)" in longer.json()["detail"]


def long_piece() -> Any:
    from cadenza.score import Score, Tempo, TimeSignature, make_notes

    return Score(notes=make_notes([0, 480 * 60], [480, 480], [60, 64], 80),
                 ticks_per_quarter=480, tempos=(Tempo(0, 60.0),),
                 time_signatures=(TimeSignature(0, 4, 4),))  # 61 s


def test_a_piece_too_long_for_audio_keeps_its_midi_and_says_why(
    checkpoints: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch  # noqa: F811
) -> None:
    """The tempo of a held-out primer is only known once composed: a piece longer than
    --max-wav-minutes gets no WAV (its renderer is never called), the rest is kept."""
    import test_web_api

    rendered: list[Path] = []
    monkeypatch.setattr(test_web_api, "tiny_piece", long_piece)
    with make_client(checkpoints, tmp_path, compose_fn=fake_compose(), max_wav_minutes=1,
                     render_fn=lambda score, path: rendered.append(path) or path) as client:
        job = wait_for(client, post(client).json()["id"])
    assert job["status"] == "done" and rendered == []
    assert "midi" in job["urls"] and "notes" in job["urls"] and "wav" not in job["urls"]
    assert job["wav_error"] == ("the piece lasts 1.0 minutes, and the page renders audio for "
                                "pieces of at most 1 minutes")


def test_running_out_of_memory_while_rendering_costs_only_the_wav(
    checkpoints: Path, tmp_path: Path  # noqa: F811
) -> None:
    def no_memory(score: Any, path: Path) -> Path:
        raise MemoryError

    with make_client(checkpoints, tmp_path, compose_fn=fake_compose(),
                     render_fn=no_memory) as client:
        job = wait_for(client, post(client).json()["id"])
        midi = client.get(f"/api/compositions/{job['id']}/midi")
    assert job["status"] == "done", job["error"]
    assert "memory" in job["wav_error"] and midi.content[:4] == b"MThd"


def test_an_ensemble_composes_a_track_per_instrument(checkpoints: Path,  # noqa: F811
                                                      tmp_path: Path) -> None:
    import symusic

    with make_client(checkpoints, tmp_path) as client:
        response = post(client, ensemble="quartet", bars=2)
        assert response.status_code == 202, response.text
        job = wait_for(client, response.json()["id"])
        assert job["status"] == "done", job["error"]
        midi = client.get(job["urls"]["midi"])
        xml = client.get(job["urls"]["musicxml"]).text
        svg = client.get(job["urls"]["score"]).text
    tracks = symusic.Score.from_midi(midi.content).tracks
    assert [t.name for t in tracks] == ["Violin I", "Violin II", "Viola", "Cello"]
    assert [t.program for t in tracks] == [40, 40, 41, 42]
    # the page's sheet music: a part per instrument, engraved, not a piano score
    assert xml.count("<score-part ") == 4 and "<part-name>Viola</part-name>" in xml
    assert svg.startswith("<svg") and "Cello" in svg
