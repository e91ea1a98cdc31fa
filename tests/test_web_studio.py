"""The studio routes: uploads, modes, every control, cancel and delete, sheet music."""

from __future__ import annotations

import logging
import shutil
import struct
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from test_web_api import (
    MODEL,
    checkpoints,  # noqa: F401  (a fixture)
    fake_compose,
    make_client,
    post,
    wait_for,
)

from cadenza.composing import ComposeRequest
from cadenza.midi import midi_bytes, parse_midi_bytes
from cadenza.score import Score, Tempo, TimeSignature, make_notes
from cadenza.web import catalog as catalog_module
from cadenza.web import uploads as uploads_module
from cadenza.web.requests import CompositionIn, check_mode, modes_of
from cadenza.web.uploads import MAX_UPLOAD_BYTES, MAX_UPLOAD_NOTES, clean_name

FINISHED = ("done", "failed", "cancelled")
TUNE = [60, 64, 67, 72, 65, 62, 59, 55]  # C E G C F D B G: no pitch struck twice in a row


def melody_bytes(bars: int = 4) -> bytes:
    """A one-voice melody in C major, quarter notes, 4/4 at 100 bpm."""
    pitches = TUNE * bars
    count = 4 * bars
    score = Score(
        notes=make_notes([i * 480 for i in range(count)], [480] * count, pitches[:count], 80),
        ticks_per_quarter=480, tempos=(Tempo(0, 100.0),),
        time_signatures=(TimeSignature(0, 4, 4),),
    )
    return midi_bytes(score)


def bomb_bytes(notes: int) -> bytes:
    """A small type-0 file of ``notes`` short notes (running status: 6 bytes a note)."""
    events = (b"\x00\x90\x3c\x40\x10\x3c\x00" + b"\x00\x3c\x40\x10\x3c\x00" * (notes - 1)
              + b"\x00\xff\x2f\x00")
    header = b"MThd" + struct.pack(">IHHH", 6, 0, 1, 480)
    return header + b"MTrk" + struct.pack(">I", len(events)) + events


def upload(client: Any, data: bytes, name: str = "melody.mid",
           kind: str = "audio/midi") -> Any:
    return client.post("/api/uploads", files={"file": (name, data, kind)})


# -- uploads ---------------------------------------------------------------------------------
def test_upload_is_read_described_and_kept_under_a_server_name(
    checkpoints: Path, tmp_path: Path  # noqa: F811
) -> None:
    with make_client(checkpoints, tmp_path) as client:
        answer = upload(client, melody_bytes(), name="../../etc/My Tune?.mid")
        assert answer.status_code == 201, answer.text
        info = answer.json()
        assert info["name"] == "My Tune_.mid"
        assert info["notes"] == 16 and info["bars"] == 4.0 and info["key"] == "C major"
        assert client.get(f"/api/uploads/{info['id']}").json() == info
        assert client.get("/api/uploads/../../etc").status_code == 404
        assert client.get("/api/uploads/" + "0" * 32).status_code == 404
    stored = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")
                    if p.is_file() and "uploads" in p.parts)
    assert stored == [f"uploads/{info['id']}/upload.json", f"uploads/{info['id']}/upload.mid"]


@pytest.mark.parametrize("name", ["", "..", "a/b\\c.mid", "\x00evil.mid", "x" * 500])
def test_client_file_names_are_cleaned(name: str) -> None:
    cleaned = clean_name(name)
    assert cleaned and len(cleaned) <= 80
    assert "/" not in cleaned and "\\" not in cleaned and "\x00" not in cleaned
    assert cleaned not in (".", "..")


def test_bad_uploads_are_refused_with_the_reason(checkpoints: Path,  # noqa: F811
                                                 tmp_path: Path) -> None:
    with make_client(checkpoints, tmp_path) as client:
        not_multipart = client.post("/api/uploads", json={"file": "x"})
        assert not_multipart.status_code == 415
        assert "multipart/form-data" in not_multipart.json()["detail"]
        no_file = client.post("/api/uploads", data={"other": "x"},
                              files={"notfile": ("a.mid", b"MThd", "audio/midi")})
        assert no_file.status_code == 422 and no_file.json()["field"] == "file"
        text = upload(client, b"hello, not a MIDI file", name="notes.txt")
        assert text.status_code == 422 and "no MThd header" in text.json()["detail"]
        assert "notes.txt" in text.json()["detail"]
        empty = upload(client, b"")
        assert empty.status_code == 422
        cut = upload(client, melody_bytes()[:40])
        assert cut.status_code == 422 and "melody.mid" in cut.json()["detail"]
        # Just over the file limit, yet inside the body limit: the upload check refuses it.
        over = upload(client, b"MThd" + b"\x00" * MAX_UPLOAD_BYTES)
        assert over.status_code == 413 and "1,048,576" in over.json()["detail"]
        # Far over: the body limit answers before the body is read.
        huge = upload(client, b"MThd" + b"\x00" * (2 * MAX_UPLOAD_BYTES))
        assert huge.status_code == 413
    assert not list((tmp_path / "uploads").glob("*/upload.mid"))


def test_a_midi_bomb_is_refused_before_it_is_parsed(
    checkpoints: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch  # noqa: F811
) -> None:
    data = bomb_bytes(MAX_UPLOAD_NOTES + 5_000)
    assert len(data) < 200_000  # a small file ...
    parsed: list[str] = []

    def spy(data: bytes, path: Any = "<bytes>", **kw: Any) -> Score:
        parsed.append(str(path))
        return parse_midi_bytes(data, path, **kw)

    monkeypatch.setattr(uploads_module, "parse_midi_bytes", spy)
    with make_client(checkpoints, tmp_path) as client:
        answer = upload(client, data, name="bomb.mid")
        assert answer.status_code == 413
        assert f"more than {MAX_UPLOAD_NOTES:,} notes" in answer.json()["detail"]
        assert parsed == []  # ... never parsed into notes
        fine = upload(client, bomb_bytes(100), name="fine.mid")
        assert fine.status_code == 201 and fine.json()["notes"] == 100
        assert parsed == ["fine.mid"]


# -- modes -----------------------------------------------------------------------------------
@pytest.mark.parametrize(("fields", "field", "words"), [
    ({"mode": "continue"}, "upload", "needs an uploaded MIDI file"),
    ({"mode": "compose", "upload": "0" * 32}, "upload", "needs a mode"),
    ({"mode": "continue", "upload": "0" * 32}, "upload", "no such upload"),
    ({"mode": "compose", "voice": "top"}, "voice", "only for mode harmonise"),
    ({"mode": "compose", "infill": "1-2"}, "infill", "only for mode infill"),
    ({"mode": "arrange"}, "mode", "mode"),
    ({"top_k": 5}, "top_k", "pianoroll family does not use it"),
    ({"bars": 257}, "bars", "less than or equal to 256"),
    ({"program": 128}, "program", "127"),
])
def test_mode_and_control_errors_name_their_field(
    checkpoints: Path, tmp_path: Path, fields: dict[str, Any], field: str,  # noqa: F811
    words: str,
) -> None:
    with make_client(checkpoints, tmp_path) as client:
        answer = post(client, **fields)
    assert answer.status_code == 422, answer.text
    assert answer.json()["field"] == field and words in answer.json()["detail"]


def test_upload_modes_refuse_a_composer_and_infill_needs_bars(
    checkpoints: Path, tmp_path: Path  # noqa: F811
) -> None:
    with make_client(checkpoints, tmp_path) as client:
        upload_id = upload(client, melody_bytes()).json()["id"]
        composer = post(client, mode="continue", upload=upload_id, composer="Bach")
        assert composer.status_code == 422 and composer.json()["field"] == "composer"
        no_bars = post(client, mode="infill", upload=upload_id)
        assert no_bars.status_code == 422 and no_bars.json()["field"] == "infill"


def test_families_without_a_control_refuse_its_mode() -> None:
    assert modes_of("pianoroll") == ["compose", "continue", "harmonise", "infill"]
    assert modes_of("transformer") == ["compose", "continue"]
    body = CompositionIn(model="m", mode="harmonise", upload="0" * 32)
    field, message = check_mode(body, "events") or ("", "")
    assert field == "mode" and "events family cannot harmonise" in message
    threshold = CompositionIn(model="m", threshold=0.2)
    assert check_mode(threshold, "notetokens") is not None
    assert check_mode(threshold, "pianoroll") is None


def test_models_say_which_controls_and_modes_they_honour(
    checkpoints: Path, tmp_path: Path  # noqa: F811
) -> None:
    with make_client(checkpoints, tmp_path) as client:
        model = client.get("/api/models").json()["models"][0]
    assert model["modes"] == ["compose", "continue", "harmonise", "infill"]
    assert {"key", "ending", "melody", "threshold"} <= set(model["controls"])
    assert "top_k" not in model["controls"]
    assert model["training_steps"] == model["step"] == 5


def test_harmonise_an_uploaded_melody_end_to_end(checkpoints: Path,  # noqa: F811
                                                 tmp_path: Path) -> None:
    """The issue's path: upload a melody, harmonise it in a key with an ending; MIDI, WAV,
    MusicXML and the SVG score come back, and the melody is kept."""
    pytest.importorskip("music21")
    pytest.importorskip("verovio")
    from cadenza.notation import count_svg_notes

    with make_client(checkpoints, tmp_path) as client:
        melody = upload(client, melody_bytes(), name="tune.mid").json()
        answer = post(client, mode="harmonise", upload=melody["id"], bars=4, key="C major",
                      ending="cadence", program=40, humanise=0.5)
        assert answer.status_code == 202, answer.text
        job = wait_for(client, answer.json()["id"], FINISHED)
        assert job["status"] == "done", job["error"]
        assert job["mode"] == "harmonise" and job["upload"] == "tune.mid"
        assert set(job["urls"]) == {"midi", "wav", "notes", "musicxml", "score", "input"}
        assert job["downloads"]["musicxml"].endswith(".musicxml")
        assert "-tune-" in job["downloads"]["midi"]
        midi = client.get(job["urls"]["midi"])
        score = parse_midi_bytes(midi.content, "composition.mid")
        assert score.program == 40
        # Every melody note is in the piece, at its time (on the model's grid).
        tpq = score.ticks_per_quarter
        onsets = {(int(n["start"]) * 4 // tpq, int(n["pitch"])) for n in score.notes}
        wanted = {(4 * i, p) for i, p in enumerate(TUNE * 2)}
        assert wanted <= onsets
        assert client.get(job["urls"]["input"]).content == melody_bytes()
        xml = client.get(job["urls"]["musicxml"])
        assert xml.status_code == 200 and b"<score-partwise" in xml.content
        svg = client.get(job["urls"]["score"])
        assert svg.headers["content-type"].startswith("image/svg+xml")
        assert "default-src 'none'" in svg.headers["content-security-policy"]
        assert count_svg_notes(svg.text) == score.num_notes


def test_continue_and_infill_an_upload(checkpoints: Path, tmp_path: Path) -> None:  # noqa: F811
    with make_client(checkpoints, tmp_path, engrave=False) as client:
        piece = upload(client, melody_bytes(4)).json()
        go_on = post(client, mode="continue", upload=piece["id"], bars=2, primer_bars=2)
        fill = post(client, mode="infill", upload=piece["id"], infill="2-3")
        for answer in (go_on, fill):
            assert answer.status_code == 202, answer.text
            job = wait_for(client, answer.json()["id"], FINISHED)
            assert job["status"] == "done", job["error"]
            assert "score" not in job["urls"]  # engraving switched off


def test_every_control_reaches_the_composing_request(checkpoints: Path,  # noqa: F811
                                                      tmp_path: Path) -> None:
    seen: list[ComposeRequest] = []
    controls = {"bpm": 90.0, "program": 73, "key": "D minor", "key_strength": 0.5,
                "pitch_range": "C3-C6", "max_polyphony": 3, "density": "1..3", "form": "AABA",
                "phrase_bars": 2, "variation": 0.25, "ending": "cadence", "ritardando": True,
                "humanise": 0.4, "velocity": 70, "threshold": 0.2}
    with make_client(checkpoints, tmp_path, compose_fn=fake_compose(seen.append),
                     engrave=False) as client:
        answer = post(client, bars=8, **controls)
        assert answer.status_code == 202, answer.text
        job = wait_for(client, answer.json()["id"], FINISHED)
    assert job["status"] == "done" and job["options"] == controls
    for name, value in controls.items():
        assert getattr(seen[0], name) == value, name


# -- cancel and delete ------------------------------------------------------------------------
def test_cancel_a_queued_and_a_running_job(checkpoints: Path, tmp_path: Path,  # noqa: F811
                                           caplog: pytest.LogCaptureFixture) -> None:
    """Both end cancelled; the server logs a cancel at INFO as "cancelled", never as a
    failure (issue 28: it logged ``WARNING composition ... failed: cancelled``)."""
    caplog.set_level(logging.INFO, logger="cadenza.web.jobs")
    release = threading.Event()
    calls: list[int] = []

    def slow(request: ComposeRequest) -> None:
        calls.append(1)
        while not release.is_set():  # reports progress until cancelled
            assert request.progress is not None
            request.progress(1, 100)
            time.sleep(0.01)

    with make_client(checkpoints, tmp_path, compose_fn=fake_compose(slow), workers=1,
                     engrave=False) as client:
        running = post(client).json()["id"]
        queued = post(client).json()["id"]
        end = time.monotonic() + 30
        while client.get(f"/api/compositions/{running}").json()["status"] != "running":
            assert time.monotonic() < end
            time.sleep(0.02)
        first = client.post(f"/api/compositions/{queued}/cancel")
        assert first.status_code == 202 and first.json()["status"] == "cancelled"
        second = client.post(f"/api/compositions/{running}/cancel")
        assert second.status_code == 202 and second.json()["status"] == "running"
        stopped = wait_for(client, running, FINISHED)
        assert stopped["status"] == "cancelled" and stopped["error"] == "cancelled"
        again = client.post(f"/api/compositions/{running}/cancel")
        assert again.status_code == 409
        assert client.post("/api/compositions/" + "f" * 32 + "/cancel").status_code == 404
        # The queued job never runs, and the queue is empty again.
        time.sleep(0.2)
        assert calls == [1]
        state = client.get("/api/compositions").json()
        assert state["queue"] == {"waiting": 0, "running": 0, "workers": 1, "capacity": 8}
        assert state["counts"]["cancelled"] == 2
        release.set()
    said = [(r.levelno, r.getMessage()) for r in caplog.records if r.name == "cadenza.web.jobs"]
    assert (logging.INFO, f"composition {running} cancelled") in said
    assert not any("failed" in message or level >= logging.WARNING for level, message in said)


def test_cancel_races_lose_no_job(checkpoints: Path, tmp_path: Path) -> None:  # noqa: F811
    """Cancel every job at once while two workers take them: each ends done or cancelled."""
    with make_client(checkpoints, tmp_path, compose_fn=fake_compose(), workers=2,
                     queue_size=50, engrave=False) as client:
        for _ in range(3):
            ids = [post(client).json()["id"] for _ in range(12)]
            codes = [client.post(f"/api/compositions/{i}/cancel").status_code for i in ids]
            assert set(codes) <= {202, 409}
            jobs = [wait_for(client, i, FINISHED) for i in ids]
            assert {j["status"] for j in jobs} <= {"done", "cancelled"}
            for job, code in zip(jobs, codes, strict=True):
                if code == 409:  # it had finished before the cancel arrived
                    assert job["status"] == "done"
        queue = client.get("/api/compositions").json()["queue"]
        assert queue["waiting"] == 0 and queue["running"] == 0


def test_delete_a_finished_job_removes_its_files(checkpoints: Path,  # noqa: F811
                                                 tmp_path: Path) -> None:
    release = threading.Event()
    with make_client(checkpoints, tmp_path, engrave=False, workers=1,
                     compose_fn=fake_compose(lambda r: release.wait(30))) as client:
        busy = post(client).json()["id"]
        assert client.delete(f"/api/compositions/{busy}").status_code == 409
        release.set()
        wait_for(client, busy, FINISHED)
        folder = tmp_path / "compositions" / busy
        assert folder.is_dir()
        assert client.delete(f"/api/compositions/{busy}").status_code == 204
        assert not folder.exists()
        assert client.get(f"/api/compositions/{busy}").status_code == 404
        assert client.delete(f"/api/compositions/{busy}").status_code == 404
        assert client.delete("/api/compositions/..%2F..%2Fetc").status_code == 404
    with make_client(checkpoints, tmp_path) as client:  # and it stays gone after a restart
        assert client.get(f"/api/compositions/{busy}").status_code == 404


# -- models appear without a restart ---------------------------------------------------------
def test_a_new_run_folder_appears_without_a_restart(
    checkpoints: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch  # noqa: F811
) -> None:
    monkeypatch.setattr(catalog_module, "RESCAN_SECONDS", 0.0)
    runs = tmp_path / "runs"
    shutil.copytree(checkpoints, runs)
    with make_client(runs, tmp_path / "data") as client:
        assert [m["id"] for m in client.get("/api/models").json()["models"]] == [MODEL]
        shutil.copytree(runs / MODEL, runs / "new-run")
        ids = [m["id"] for m in client.get("/api/models").json()["models"]]
        assert ids == sorted([MODEL, "new-run"])
        assert post(client, model="new-run").status_code == 202


@pytest.mark.parametrize("body", ['{"model": "x", "bars":', '{"model": "x"', '[1,2'])
def test_a_cut_off_json_body_says_so(checkpoints: Path, tmp_path: Path,  # noqa: F811
                                     body: str) -> None:
    with make_client(checkpoints, tmp_path) as client:
        answer = client.post("/api/compositions", content=body,
                             headers={"content-type": "application/json"})
    assert answer.status_code == 422
    assert answer.json()["field"] == "body"
    assert "not valid JSON at character" in answer.json()["detail"]


# -- a full disk ------------------------------------------------------------------------------
def test_a_full_disk_fails_the_job_or_refuses_with_507(
    checkpoints: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch  # noqa: F811
) -> None:
    import errno

    from cadenza.web import store as store_module

    def full(request: ComposeRequest) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    with make_client(checkpoints, tmp_path, compose_fn=fake_compose(full),
                     engrave=False) as client:
        job = wait_for(client, post(client).json()["id"], FINISHED)
        assert job["status"] == "failed"
        assert "no space left on the disk" in job["error"] and "MB free" in job["error"]
        before = client.get("/api/compositions").json()["counts"]

        def no_room(path: Any, data: Any, **kw: Any) -> None:
            raise OSError(errno.ENOSPC, "No space left on device")

        monkeypatch.setattr(store_module, "write_json_atomic", no_room)
        refused = post(client)
        assert refused.status_code == 507 and "no space left" in refused.json()["detail"]
        monkeypatch.setattr(uploads_module, "write_bytes_atomic", no_room)
        kept = upload(client, melody_bytes())
        assert kept.status_code == 507
        after = client.get("/api/compositions").json()
        assert after["counts"] == before and after["queue"]["waiting"] == 0
    assert not [p for p in (tmp_path / "uploads").glob("*") if p.is_dir()]
