"""The web server's JSON API through FastAPI's TestClient, on a debug model trained here."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("fastapi", reason="the web extra (fastapi) is not installed")
try:
    from fastapi.testclient import TestClient
except RuntimeError as exc:  # Starlette's test client needs httpx2 (or the older httpx)
    pytest.skip(f"no HTTP client for the test client: {exc}", allow_module_level=True)

from cadenza.audio import encode_wav
from cadenza.composing import ComposedPiece, ComposeRequest, ComposeResult
from cadenza.errors import AudioError, DataError
from cadenza.midi import write_midi
from cadenza.score import Score, Tempo, TimeSignature, make_notes
from cadenza.web.app import ServerSettings, create_app
from cadenza.web.store import RESTART_ERROR, Job

MODEL = "pianoroll-debug"
WAIT_SECONDS = 60.0


# -- fixtures and helpers --------------------------------------------------------------------
@pytest.fixture
def checkpoints(web_runs: Path) -> Path:
    """A folder holding one trained debug run (``runs/pianoroll-debug``; see conftest)."""
    return web_runs


def fake_wav(score: Score, path: Path) -> Path:
    """A stand-in for the FluidSynth renderer: a short silent but valid WAV file."""
    path.write_bytes(encode_wav(np.zeros((441, 2), dtype=np.int16), 44100))
    return path


def tiny_piece() -> Score:
    return Score(
        notes=make_notes([0, 4, 8, 12], [4, 4, 4, 4], [60, 64, 67, 72], 80),
        ticks_per_quarter=4,
        tempos=(Tempo(0, 120.0),),
        time_signatures=(TimeSignature(0, 4, 4),),
    )


def fake_compose(before: Callable[[ComposeRequest], None] | None = None
                 ) -> Callable[[ComposeRequest], ComposeResult]:
    """A compose function that writes a tiny piece, after calling ``before(request)``."""

    def compose(request: ComposeRequest) -> ComposeResult:
        if before is not None:
            before(request)
        if request.progress is not None:
            request.progress(1, 2)
        path = write_midi(tiny_piece(), request.out_dir / f"{request.name}.mid")
        piece = ComposedPiece(tiny_piece(), 8, files=[path])
        return ComposeResult([piece], "/somewhere/Bach/fake.mid", {}, request.out_dir)

    return compose


def make_client(checkpoints: Path, data_dir: Path, **options: Any) -> TestClient:
    compose_fn = options.pop("compose_fn", None)
    render_fn = options.pop("render_fn", fake_wav)
    engrave_fn = options.pop("engrave_fn", None)
    options.setdefault("include_shipped", False)
    options.setdefault("warm_models", False)
    settings = ServerSettings(data_dir=data_dir, checkpoints_dir=checkpoints, **options)
    return TestClient(create_app(settings, compose_fn=compose_fn, render_fn=render_fn,
                                 engrave_fn=engrave_fn))


def post(client: TestClient, **fields: Any) -> Any:
    body = {"model": MODEL, "composer": None, "bars": 2, "temperature": 1.0, "seed": 1}
    body.update(fields)
    return client.post("/api/compositions", json=body)


def wait_for(client: TestClient, job_id: str, statuses: tuple[str, ...] = ("done", "failed"),
             seconds: float = WAIT_SECONDS) -> dict[str, Any]:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        job = client.get(f"/api/compositions/{job_id}").json()
        if job["status"] in statuses:
            return job
        time.sleep(0.05)
    raise AssertionError(f"composition {job_id} never reached {statuses}: {job}")


# -- models and the page ---------------------------------------------------------------------
def test_models_lists_the_trained_run(checkpoints: Path, tmp_path: Path) -> None:
    with make_client(checkpoints, tmp_path) as client:
        models = client.get("/api/models").json()["models"]
    assert [m["id"] for m in models] == [MODEL]
    model = models[0]
    assert model["family"] == "pianoroll" and model["preset"] == MODEL
    assert model["corpus"]["name"] == "corpus" and model["corpus"]["pieces"] == 8
    assert model["composers"] == ["Bach", "Mozart"] and model["primers"] is True
    assert model["step"] == 5


# -- composing for real ----------------------------------------------------------------------
def test_compose_progress_and_downloads(checkpoints: Path, tmp_path: Path) -> None:
    with make_client(checkpoints, tmp_path) as client:
        response = post(client, composer="bach", bars=2, temperature=0.8, seed=7)
        assert response.status_code == 202, response.text
        job_id = response.json()["id"]
        assert len(job_id) == 32
        job = wait_for(client, job_id)
        assert job["status"] == "done", job["error"]
        assert job["composer"] == "Bach" and job["bars"] == 2 and job["seed"] == 7
        assert job["temperature"] == 0.8 and job["seed_given"] is True
        assert job["primer"].startswith("Bach/")
        assert job["form"] is None  # 2 bars: no second phrase for a drawn form to repeat
        assert job["progress"]["total"] > 0
        assert job["progress"]["done"] == job["progress"]["total"]
        assert job["progress"]["fraction"] == 1.0

        midi = client.get(job["urls"]["midi"])
        assert midi.status_code == 200 and midi.content[:4] == b"MThd"
        assert midi.headers["content-type"] == "audio/midi"
        disposition = midi.headers["content-disposition"]
        assert disposition.startswith("attachment") and job["downloads"]["midi"] in disposition
        assert job["downloads"]["midi"].endswith(".mid")

        wav = client.get(job["urls"]["wav"])
        assert wav.status_code == 200 and wav.headers["content-type"] == "audio/wav"
        assert wav.content[:4] == b"RIFF" and wav.content[8:12] == b"WAVE"
        assert "attachment" in wav.headers["content-disposition"]

        notes = client.get(job["urls"]["notes"]).json()
    parts = {note["part"] for note in notes["notes"]}
    assert parts == {"primer", "generated"}
    assert notes["tempo_qpm"] > 0 and notes["generated_start"]["beats"] > 0
    first_generated = min(n["start"] for n in notes["notes"] if n["part"] == "generated")
    assert first_generated >= notes["generated_start"]["beats"]
    assert all(0 <= n["pitch"] <= 127 and n["duration_seconds"] > 0 for n in notes["notes"])
    # The generated part spans at most the 2 bars asked for (plus notes held past it).
    assert notes["end"]["beats"] <= notes["generated_start"]["beats"] + 8 + 16


def test_same_seed_composes_the_same_piece(checkpoints: Path, tmp_path: Path) -> None:
    with make_client(checkpoints, tmp_path, workers=2) as client:
        ids = [post(client, composer="Mozart", seed=123).json()["id"] for _ in range(2)]
        jobs = [wait_for(client, job_id) for job_id in ids]
        assert all(job["status"] == "done" for job in jobs)
        notes = [client.get(job["urls"]["notes"]).json()["notes"] for job in jobs]
    assert notes[0] == notes[1]


def test_history_is_newest_first_with_parameters(checkpoints: Path, tmp_path: Path) -> None:
    with make_client(checkpoints, tmp_path, compose_fn=fake_compose()) as client:
        first = post(client, bars=3, seed=11).json()["id"]
        wait_for(client, first)
        second = post(client, bars=5, seed=None, temperature=0.5).json()["id"]
        wait_for(client, second)
        history = client.get("/api/compositions").json()
        limited = client.get("/api/compositions?limit=1").json()["compositions"]
        assert client.get("/api/compositions?limit=0").status_code == 422
    listed = history["compositions"]
    assert [job["id"] for job in listed] == [second, first]
    assert [job["id"] for job in limited] == [second]
    assert listed[1]["bars"] == 3 and listed[1]["seed"] == 11 and listed[1]["seed_given"]
    assert listed[0]["bars"] == 5 and listed[0]["temperature"] == 0.5
    assert not listed[0]["seed_given"] and 0 <= listed[0]["seed"] < 2**31  # drawn for it
    assert history["counts"]["done"] == 2


# -- validation --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"model": "no-such-model"}, "model"),
        ({"model": "../../etc"}, "model"),
        ({"composer": "Satie"}, "composer"),
        ({"bars": 0}, "bars"),
        ({"bars": 257}, "bars"),
        ({"bars": "16"}, "bars"),
        ({"bars": 2.5}, "bars"),
        ({"bars": True}, "bars"),
        ({"temperature": 0}, "temperature"),
        ({"temperature": -1.0}, "temperature"),
        ({"temperature": 5.01}, "temperature"),
        ({"temperature": "hot"}, "temperature"),
        ({"seed": -1}, "seed"),
        ({"seed": 2**31}, "seed"),
        ({"seed": 1.5}, "seed"),
        ({"seed": "7"}, "seed"),
        ({"model": 3}, "model"),
        ({"volume": 11}, "volume"),
    ],
    ids=lambda value: json.dumps(value) if isinstance(value, dict) else str(value),
)
def test_bad_requests_name_their_field(
    checkpoints: Path, tmp_path: Path, fields: dict[str, Any], field: str
) -> None:
    with make_client(checkpoints, tmp_path, compose_fn=fake_compose()) as client:
        response = post(client, **fields)
        history = client.get("/api/compositions").json()["compositions"]
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["field"] == field and body["detail"].startswith(f"{field}:")
    assert history == []  # nothing was queued


def test_missing_model_and_non_json_bodies(checkpoints: Path, tmp_path: Path) -> None:
    with make_client(checkpoints, tmp_path, compose_fn=fake_compose()) as client:
        missing = client.post("/api/compositions", json={"bars": 4})
        garbage = client.post("/api/compositions", content=b"bars=4",
                              headers={"content-type": "text/plain"})
        listing = client.post("/api/compositions", json=[MODEL])
    assert missing.status_code == 422 and missing.json()["field"] == "model"
    assert garbage.status_code == 422 and listing.status_code == 422


def test_edge_values_are_accepted(checkpoints: Path, tmp_path: Path) -> None:
    with make_client(checkpoints, tmp_path, compose_fn=fake_compose(), queue_size=8) as client:
        for fields in ({"bars": 1}, {"bars": 64}, {"temperature": 5}, {"seed": 0},
                       {"seed": 2**31 - 1}, {"composer": ""}, {"temperature": 0.01}):
            response = post(client, **fields)
            assert response.status_code == 202, (fields, response.text)
            wait_for(client, response.json()["id"])


# -- the pool: queue bound, failures, timeouts ------------------------------------------------
def test_full_queue_answers_429_and_loses_nothing(checkpoints: Path, tmp_path: Path) -> None:
    release = threading.Event()
    started = threading.Event()

    def block(_: ComposeRequest) -> None:
        started.set()
        assert release.wait(WAIT_SECONDS)

    with make_client(checkpoints, tmp_path, compose_fn=fake_compose(block), workers=1,
                     queue_size=1) as client:
        running = post(client).json()["id"]
        assert started.wait(WAIT_SECONDS)
        assert wait_for(client, running, ("running",))["status"] == "running"
        waiting = post(client)
        assert waiting.status_code == 202
        refused = post(client)
        assert refused.status_code == 429
        assert "queue is full" in refused.json()["detail"]
        assert int(refused.headers["retry-after"]) > 0
        assert client.get(f"/api/compositions/{waiting.json()['id']}").json()["status"] == "queued"
        release.set()
        assert wait_for(client, running)["status"] == "done"
        assert wait_for(client, waiting.json()["id"])["status"] == "done"
        again = post(client)  # room again
        assert again.status_code == 202
        wait_for(client, again.json()["id"])
        ids = {job["id"] for job in client.get("/api/compositions").json()["compositions"]}
    assert ids == {running, waiting.json()["id"], again.json()["id"]}


def test_failing_job_reports_its_error(checkpoints: Path, tmp_path: Path) -> None:
    def fail(_: ComposeRequest) -> None:
        raise DataError("primer piece is damaged")

    with make_client(checkpoints, tmp_path, compose_fn=fake_compose(fail)) as client:
        job_id = post(client).json()["id"]
        job = wait_for(client, job_id)
        midi = client.get(f"/api/compositions/{job_id}/midi")
        # The pool survives: the next job still runs.
        assert wait_for(client, post(client).json()["id"])["status"] == "failed"
    assert job["status"] == "failed" and job["error"] == "primer piece is damaged"
    assert job["urls"] == {} and job["finished"] is not None
    assert midi.status_code == 409


def test_unexpected_exception_becomes_the_jobs_error(checkpoints: Path, tmp_path: Path) -> None:
    def crash(_: ComposeRequest) -> None:
        raise ZeroDivisionError("oops")

    with make_client(checkpoints, tmp_path, compose_fn=fake_compose(crash)) as client:
        job = wait_for(client, post(client).json()["id"])
    assert job["status"] == "failed" and "ZeroDivisionError" in job["error"]


def test_missing_synthesiser_keeps_midi_and_explains(checkpoints: Path, tmp_path: Path) -> None:
    def no_synth(score: Score, path: Path) -> Path:
        raise AudioError("the fluidsynth program was not found on PATH")

    with make_client(checkpoints, tmp_path, compose_fn=fake_compose(),
                     render_fn=no_synth) as client:
        job = wait_for(client, post(client).json()["id"])
        wav = client.get(f"/api/compositions/{job['id']}/wav")
        midi = client.get(f"/api/compositions/{job['id']}/midi")
    assert job["status"] == "done" and "wav" not in job["urls"]
    assert "fluidsynth" in job["wav_error"]
    assert wav.status_code == 404 and "fluidsynth" in wav.json()["detail"]
    assert midi.status_code == 200 and midi.content[:4] == b"MThd"


def test_slow_job_times_out(checkpoints: Path, tmp_path: Path) -> None:
    def slow(request: ComposeRequest) -> None:
        for step in range(400):  # reports progress, so the deadline stops it
            assert request.progress is not None
            request.progress(step, 400)
            time.sleep(0.02)

    with make_client(checkpoints, tmp_path, compose_fn=fake_compose(slow),
                     job_timeout_seconds=0.4) as client:
        start = time.monotonic()
        job = wait_for(client, post(client).json()["id"], seconds=10)
    assert job["status"] == "failed" and job["error"] == "timed out after 0.4 s"
    assert time.monotonic() - start < 5


def test_stuck_job_is_failed_by_the_watchdog(checkpoints: Path, tmp_path: Path) -> None:
    release = threading.Event()

    def stuck(_: ComposeRequest) -> None:
        release.wait(WAIT_SECONDS)  # reports no progress at all

    with make_client(checkpoints, tmp_path, compose_fn=fake_compose(stuck),
                     job_timeout_seconds=0.4) as client:
        job_id = post(client).json()["id"]
        job = wait_for(client, job_id, seconds=10)
        release.set()
        time.sleep(0.3)  # the late result must not revive the job
        after = client.get(f"/api/compositions/{job_id}").json()
    assert job["status"] == "failed" and "timed out" in job["error"]
    assert after["status"] == "failed" and after["urls"] == {}


# -- ids and paths ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "path",
    [
        "/api/compositions/..%2F..%2Fetc%2Fpasswd",
        "/api/compositions/%2e%2e/midi",
        "/api/compositions/..%2F..%2Fetc/wav",
        "/api/compositions/0123456789abcdef0123456789abcdef",
        "/api/compositions/0123456789abcdef0123456789abcdef/notes",
        "/api/compositions/0123456789ABCDEF0123456789ABCDEF/midi",
        "/api/compositions/compositions/midi",
        "/api/compositions/%00/midi",
    ],
)
def test_unknown_or_malicious_ids_are_404(checkpoints: Path, tmp_path: Path, path: str) -> None:
    with make_client(checkpoints, tmp_path, compose_fn=fake_compose()) as client:
        wait_for(client, post(client).json()["id"])
        response = client.get(path)
    assert response.status_code == 404
    assert b"root:" not in response.content and b"MThd" not in response.content


def test_traversal_in_the_url_path_never_escapes(checkpoints: Path, tmp_path: Path) -> None:
    (tmp_path / "secret.txt").write_text("do not serve")
    with make_client(checkpoints, tmp_path / "data", compose_fn=fake_compose()) as client:
        responses = [client.get(p) for p in (
            "/api/compositions/../../secret.txt", "/static/../../../secret.txt",
            "/static/..%2F..%2F..%2Fsecret.txt", "/api/compositions/../../etc/passwd",
        )]
    for response in responses:
        assert response.status_code == 404
        assert b"do not serve" not in response.content


# -- persistence -----------------------------------------------------------------------------
def test_history_survives_a_restart(checkpoints: Path, tmp_path: Path) -> None:
    with make_client(checkpoints, tmp_path, compose_fn=fake_compose()) as client:
        done_id = post(client, bars=4, seed=99).json()["id"]
        assert wait_for(client, done_id)["status"] == "done"
    # A job that was running when the server died, and some debris.
    interrupted = Job(id="ab" * 16, model=MODEL, composer=None, bars=8, temperature=1.0,
                      seed=3, seed_given=True, created=time.time(), status="running")
    folder = tmp_path / "compositions" / interrupted.id
    folder.mkdir()
    (folder / "job.json").write_text(json.dumps(interrupted.to_dict()))
    (tmp_path / "compositions" / "not-an-id").mkdir()
    damaged = tmp_path / "compositions" / ("cd" * 16)
    damaged.mkdir()
    (damaged / "job.json").write_text("{not json")

    with make_client(checkpoints, tmp_path, compose_fn=fake_compose()) as client:
        listed = client.get("/api/compositions").json()["compositions"]
        again = client.get(f"/api/compositions/{done_id}").json()
        midi = client.get(f"/api/compositions/{done_id}/midi")
    assert {job["id"] for job in listed} == {done_id, interrupted.id}
    assert again["status"] == "done" and again["bars"] == 4 and again["seed"] == 99
    assert midi.status_code == 200 and midi.content[:4] == b"MThd"
    restarted = next(job for job in listed if job["id"] == interrupted.id)
    assert restarted["status"] == "failed" and restarted["error"] == RESTART_ERROR
    on_disk = json.loads((folder / "job.json").read_text())
    assert on_disk["status"] == "failed"


def test_job_files_are_written_atomically_in_their_own_folder(
    checkpoints: Path, tmp_path: Path
) -> None:
    with make_client(checkpoints, tmp_path, compose_fn=fake_compose()) as client:
        job_id = post(client).json()["id"]
        wait_for(client, job_id)
    folder = tmp_path / "compositions" / job_id
    assert sorted(os.listdir(folder)) == [
        "composition.mid", "composition.musicxml", "composition.wav", "job.json", "notes.json",
        "score.svg",
    ]
    record = json.loads((folder / "job.json").read_text())
    assert record["status"] == "done" and record["id"] == job_id


# -- what the server reads back ------------------------------------------------------------
def test_bad_records_are_skipped_and_the_rest_served(checkpoints: Path, tmp_path: Path) -> None:
    """A job.json holding [] or a record created "yesterday" is logged and skipped; the
    server starts and the history answers with the good records."""
    with make_client(checkpoints, tmp_path, compose_fn=fake_compose()) as client:
        good = post(client).json()["id"]
        wait_for(client, good)
    root = tmp_path / "compositions"
    for name, content in (("a" * 32, []), ("b" * 32, None)):
        folder = root / name
        folder.mkdir()
        record = json.loads((root / good / "job.json").read_text())
        record["id"] = name
        if content is None:
            record["created"] = "yesterday"
            content = record
        (folder / "job.json").write_text(json.dumps(content))
    with make_client(checkpoints, tmp_path, compose_fn=fake_compose()) as client:
        history = client.get("/api/compositions")
        assert history.status_code == 200
        assert [job["id"] for job in history.json()["compositions"]] == [good]


def test_a_composition_file_that_is_a_link_is_never_served(checkpoints: Path,
                                                          tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("not for the web")
    with make_client(checkpoints, tmp_path, compose_fn=fake_compose()) as client:
        job_id = post(client).json()["id"]
        wait_for(client, job_id)
        midi = tmp_path / "compositions" / job_id / "composition.mid"
        midi.unlink()
        midi.symlink_to(secret)
        response = client.get(f"/api/compositions/{job_id}/midi")
    assert response.status_code == 404 and "not for the web" not in response.text


def test_no_schema_page_and_a_temperature_floor(checkpoints: Path, tmp_path: Path) -> None:
    with make_client(checkpoints, tmp_path, compose_fn=fake_compose()) as client:
        assert client.get("/openapi.json").status_code == 404
        assert client.get("/docs").status_code == 404
        response = post(client, temperature=1e-300)
    assert response.status_code == 422 and response.json()["field"] == "temperature"


def test_large_bodies_are_refused_before_they_are_read(checkpoints: Path,
                                                       tmp_path: Path) -> None:
    with make_client(checkpoints, tmp_path, compose_fn=fake_compose()) as client:
        declared = client.post("/api/compositions", content=b"{" + b" " * 200_000 + b"}",
                               headers={"content-type": "application/json"})
        assert declared.status_code == 413 and "larger than" in declared.json()["detail"]

        def chunks() -> Iterator[bytes]:  # no Content-Length: streamed
            for _ in range(100):
                yield b" " * 10_000

        streamed = client.post("/api/compositions", content=chunks(),
                               headers={"content-type": "application/json"})
        assert streamed.status_code == 413
        assert post(client).status_code == 202  # a normal request still passes


def test_composing_controls_through_the_api(checkpoints: Path, tmp_path: Path) -> None:
    """Tempo, key, range and form reach the composer; a control the family cannot honour,
    or a bad value, is a 422 naming the field."""
    seen: list[ComposeRequest] = []
    with make_client(checkpoints, tmp_path, compose_fn=fake_compose(seen.append)) as client:
        response = post(client, bpm=60, key="D minor", pitch_range="C3-C6", form="AABA",
                        phrase_bars=1, ending="cadence", ending_hold=2, max_polyphony=4,
                        velocity=70)
        assert response.status_code == 202, response.text
        job = wait_for(client, response.json()["id"])
        assert job["status"] == "done" and job["options"]["bpm"] == 60
        request = seen[0]
        assert (request.bpm, request.key, request.pitch_range, request.form) == (
            60, "D minor", "C3-C6", "AABA")
        assert request.ending == "cadence" and request.max_polyphony == 4
        assert request.ending_hold == 2
        long_hold = post(client, ending_hold=5)
        assert long_hold.status_code == 422 and long_hold.json()["field"] == "ending_hold"
        bad_key = post(client, key="H dorian")
        assert bad_key.status_code == 422 and bad_key.json()["field"] == "key"
        bad_form = post(client, form="aaba")
        assert bad_form.status_code == 422 and bad_form.json()["field"] == "form"
        unknown = post(client, mood="happy")
        assert unknown.status_code == 422 and unknown.json()["field"] == "mood"
