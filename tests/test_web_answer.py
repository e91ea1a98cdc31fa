"""Playing along: ``POST /api/answer`` and the exchange's downloads, through FastAPI's test
client, with the shipped default model (``biaxial-piano``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("fastapi", reason="the web extra (fastapi) is not installed")
try:
    from fastapi.testclient import TestClient
except RuntimeError as exc:  # Starlette's test client needs httpx2 (or the older httpx)
    pytest.skip(f"no HTTP client for the test client: {exc}", allow_module_level=True)

from cadenza.midi import ReadOptions, load_piece
from cadenza.score import make_notes
from cadenza.web.app import ServerSettings, create_app
from cadenza.web.exchange import Exchange, context_primer_notes

MODEL = "biaxial-piano"
LOW, HIGH = 24, 101  # the model's keys


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    settings = ServerSettings(data_dir=tmp_path_factory.mktemp("answer"), warm_models=False)
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def phrase(first_step: int = 0) -> list[dict[str, int]]:
    """A bar-long phrase from ``first_step`` whose last note ends on beat 4 (a rest
    before the bar line), with played velocities."""
    pitches = [60, 62, 64, 65, 67, 64]
    return [{"pitch": p, "start": first_step + 2 * i, "length": 2 if i < 5 else 3,
             "velocity": 60 + 5 * i} for i, p in enumerate(pitches)]


def answered(client: TestClient, notes: list[dict[str, Any]], **fields: Any) -> dict[str, Any]:
    response = client.post("/api/answer", json={"model": MODEL, "notes": notes, "bpm": 100.0,
                                                "seed": 3, **fields})
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_a_phrase_is_answered_after_it_in_range(client: TestClient) -> None:
    body = answered(client, phrase(), bars=2)
    answer = body["answer"]
    assert answer["start"] == 16  # the bar line after the phrase, its rest kept
    notes = answer["notes"]
    assert notes, "the model answered with silence"
    starts = np.array([n["start"] for n in notes])
    ends = starts + np.array([n["length"] for n in notes])
    assert starts.min() >= 16 and ends.max() <= 16 + 2 * 16
    assert (starts < 16 + 16).any()  # the answer begins in its first bar
    assert all(LOW <= n["pitch"] <= HIGH and 1 <= n["velocity"] <= 127 and n["length"] >= 1
               for n in notes)
    assert body["model"] == MODEL and body["bpm"] == 100.0 and body["compose_seconds"] > 0
    listed = {m["id"]: m["grid"] for m in client.get("/api/models").json()["models"]}
    assert listed["biaxial-piano"] and listed["pianoroll-piano"]  # grid models play along
    assert all(listed.values())  # every shipped model is a grid model


def test_the_same_seed_gives_the_same_answer(client: TestClient) -> None:
    first = answered(client, phrase(), seed=11)
    again = answered(client, phrase(), seed=11)
    assert first["answer"]["notes"] == again["answer"]["notes"]
    assert first["id"] != again["id"]


def test_the_next_answer_continues_the_whole_exchange(client: TestClient) -> None:
    first = answered(client, phrase(), bars=1)
    answer = first["answer"]["notes"]
    exchange = phrase() + answer + phrase(first_step=32)  # played, answered, played again
    second = answered(client, exchange, bars=1)
    assert second["answer"]["start"] == 48
    assert all(48 <= n["start"] < 64 for n in second["answer"]["notes"])
    midi = client.get(second["urls"]["midi"])
    assert midi.status_code == 200 and midi.content[:4] == b"MThd"
    assert 'filename="cadenza-play-along-biaxial-piano-' in midi.headers["content-disposition"]
    path = Path(client.app.state.store.root) / "exchange.mid"  # type: ignore[attr-defined]
    path.write_bytes(midi.content)
    score, _ = load_piece(path, ReadOptions(steps_per_quarter=4, time_signatures=None))
    kept = len(exchange) + len(second["answer"]["notes"])
    assert score.num_notes == kept  # the whole exchange with both answers
    assert int(score.notes["start"].min()) == 0 and score.end_tick <= 64


def test_the_exchange_downloads_as_musicxml(client: TestClient) -> None:
    pytest.importorskip("music21", reason="music21 (the notation extra) is not installed")
    body = answered(client, phrase())
    xml = client.get(body["urls"]["musicxml"])
    assert xml.status_code == 200 and b"<score-partwise" in xml.content
    assert xml.headers["content-type"].startswith("application/vnd.recordare.musicxml+xml")
    assert client.get(body["urls"]["musicxml"].replace("musicxml", "wav")).status_code == 404
    assert client.get(f"/api/exchanges/{'0' * 32}/midi").status_code == 404


def test_the_model_hears_the_last_bars_of_the_exchange() -> None:
    notes = make_notes([0, 20, 40, 70], [4, 4, 4, 4], [60, 62, 64, 65], 80)
    heard, cut = context_primer_notes(Exchange(notes, 80, 120.0), 2)
    assert cut == 48 and heard["start"].tolist() == [22]
    heard, cut = context_primer_notes(Exchange(notes[:2], 80, 120.0), 2)  # silent last bars
    assert cut == 16 and heard["start"].tolist() == [4]


BAD = [
    ({"notes": []}, "notes"),
    ({"notes": [{"pitch": 128, "start": 0, "length": 1}]}, "notes.0.pitch"),
    ({"notes": [{"pitch": 60, "start": "0", "length": 1}]}, "notes.0.start"),
    ({"notes": [{"pitch": 60, "start": 0, "length": 0}]}, "notes.0.length"),
    ({"notes": [{"pitch": 60, "start": 0, "length": 1, "velocity": 0}]}, "notes.0.velocity"),
    ({"notes": [{"pitch": 60, "start": 0, "length": 1, "hand": "left"}]}, "notes.0.hand"),
    ({"end": 20}, "end"),
    ({"end": 16, "notes": [{"pitch": 60, "start": 0, "length": 1},
                           {"pitch": 62, "start": 16, "length": 1}]}, "notes.1.start"),
    ({"bars": 9}, "bars"),
    ({"bars": 2, "end": 4096}, "bars"),
    ({"bpm": 30.0, "end": 2400}, "bars"),  # 20.3 minutes, past --max-minutes 20
    ({"bpm": 500.0}, "bpm"),
    ({"context_bars": 0}, "context_bars"),
    ({"seed": -1}, "seed"),
    ({"model": "nope"}, "model"),
    ({"colour": "red"}, "colour"),
    ({"notes": [{"pitch": 60, "start": i % 1000, "length": 1} for i in range(1025)]}, "notes"),
]


@pytest.mark.parametrize(("change", "field"), BAD, ids=[field for _, field in BAD])
def test_bad_exchanges_are_refused_naming_the_field(client: TestClient, change: dict[str, Any],
                                                    field: str) -> None:
    body = {"model": MODEL, "notes": phrase(), **change}
    response = client.post("/api/answer", json=body)
    assert response.status_code == 422, response.text
    assert response.json()["field"] == field
    assert response.json()["detail"].startswith(f"{field}: ")


def test_a_server_with_a_token_wants_it_for_answers(tmp_path: Path) -> None:
    settings = ServerSettings(data_dir=tmp_path, warm_models=False, token="secret-token")
    with TestClient(create_app(settings)) as guarded:
        refused = guarded.post("/api/answer", json={"model": MODEL, "notes": phrase()})
        assert refused.status_code == 401
        taken = guarded.post("/api/answer", json={"model": MODEL, "notes": phrase(), "bars": 1},
                             headers={"X-Cadenza-Token": "secret-token"})
        assert taken.status_code == 200 and taken.json()["answer"]["start"] == 16


def test_a_played_primer_is_one_choice_of_primer_and_keeps_its_rests() -> None:
    from cadenza.composing import ComposeRequest, played_primer, with_rests
    from cadenza.errors import ConfigError

    primer = played_primer(make_notes([0, 4], [2, 2], [60, 64], 80), 16, 4, 90.0)
    assert primer.end_tick == 16 and primer.score.end_tick == 6
    with pytest.raises(ConfigError, match="at most one"):
        ComposeRequest(primer_given=primer, composer="Bach")
    array = np.ones((6, 3, 2), np.uint8)
    padded = with_rests(array, 16)
    assert padded.shape == (16, 3, 2) and not padded[6:].any() and padded[:6].all()


def test_answers_past_the_workers_are_refused_and_a_slow_one_stops(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With ``--workers 1`` a second answer while one is composed gets 429 with
    ``Retry-After``; an answer past its deadline stops at its next step with 503."""
    import threading

    from cadenza.web.routes import answers

    entered, release = threading.Event(), threading.Event()

    def slow_compose(request: Any) -> Any:
        entered.set()
        release.wait(30)
        request.progress(1, 32)  # the generator's report after a step: past the deadline
        raise AssertionError("the deadline did not stop the answer")

    monkeypatch.setattr(answers, "compose", slow_compose)
    monkeypatch.setattr(answers, "ANSWER_TIMEOUT_SECONDS", 0.0)
    settings = ServerSettings(data_dir=tmp_path, warm_models=False, workers=1)
    body = {"model": MODEL, "notes": phrase()}
    with TestClient(create_app(settings)) as busy_client:
        first: dict[str, Any] = {}
        thread = threading.Thread(
            target=lambda: first.update(response=busy_client.post("/api/answer", json=body)))
        thread.start()
        assert entered.wait(60)
        refused = busy_client.post("/api/answer", json=body)
        assert refused.status_code == 429 and refused.headers["retry-after"] == "1"
        release.set()
        thread.join(60)
        stopped = first["response"]
        assert stopped.status_code == 503 and "longer than 0 s" in stopped.json()["detail"]
        assert busy_client.post("/api/answer", json={**body, "bars": 0}).status_code == 422
