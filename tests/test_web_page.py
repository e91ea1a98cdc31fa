"""What the page is made of: its files (served as they must be, nothing external), the
shipped models it offers, and the small pieces behind it: the notes its piano roll is drawn
from, the names of its downloads, the job records it lists."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from test_web_api import MODEL, TestClient, checkpoints, make_client, tiny_piece  # noqa: F401

from cadenza.errors import ConfigError
from cadenza.shipped import DEFAULT_MODEL, models_dir
from cadenza.web.app import STATIC_DIR, ServerSettings, create_app, download_name
from cadenza.web.notes import notes_json
from cadenza.web.store import Job


# -- the page ----------------------------------------------------------------------------------
def test_page_and_static_files_are_served_with_a_strict_policy(
    checkpoints: Path, tmp_path: Path  # noqa: F811
) -> None:
    modules = sorted(p.name for p in STATIC_DIR.glob("*.js"))
    with make_client(checkpoints, tmp_path) as client:
        page = client.get("/")
        scripts = {name: client.get(f"/static/{name}") for name in modules}
        style = client.get("/static/style.css")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert 'id="compose-form"' in page.text
    assert '<script type="module" src="/static/app.js">' in page.text
    assert "http://" not in page.text and "https://" not in page.text  # nothing external
    assert "default-src 'self'" in page.headers["content-security-policy"]
    # The page is split into ES modules, each imported by a relative path; a browser runs a
    # module only when it is served as JavaScript.
    assert {"app.js", "form.js", "result.js", "history.js", "shared.js"} <= set(modules)
    imported = set()
    for name, script in scripts.items():
        assert script.status_code == 200, name
        assert script.headers["content-type"].startswith("text/javascript"), name
        assert "http" not in script.text.replace("/api/", ""), name
        imported |= set(re.findall(r'from "\./([a-z]+\.js)"', script.text))
    assert imported == set(modules) - {"app.js"}  # every module is used, none is missing
    assert style.status_code == 200 and "text/css" in style.headers["content-type"]


# -- small pieces ----------------------------------------------------------------------------
def test_notes_json_splits_primer_and_generated() -> None:
    data = notes_json(tiny_piece(), generated_start_tick=8)
    assert [n["part"] for n in data["notes"]] == ["primer", "primer", "generated", "generated"]
    assert data["notes"][1]["start"] == 1.0 and data["notes"][1]["start_seconds"] == 0.5
    assert data["generated_start"] == {"beats": 2.0, "seconds": 1.0}
    assert data["end"]["beats"] == 4.0 and data["pitch_range"] == [60, 72]


def test_download_names_are_plain() -> None:
    job = Job(id="ef" * 16, model="runs/my model!", composer="Ravel/../x", bars=4,
              temperature=1.0, seed=1, seed_given=True, created=0.0)
    name = download_name(job, "midi")
    assert name == "cadenza-runs-my-model-Ravel-x-19700101-000000-efefefef.mid"


def test_job_records_are_checked() -> None:
    with pytest.raises(ConfigError):
        Job.from_dict({"id": "../../etc", "model": MODEL})
    good = Job(id="12" * 16, model=MODEL, composer=None, bars=4, temperature=1.0, seed=1,
               seed_given=True, created=0.0, files={"midi": "../../secret"})
    assert Job.from_dict(good.to_dict()).files == {}  # only the server's own file names


def test_shipped_models_are_described_by_their_card(tmp_path: Path) -> None:
    settings = ServerSettings(data_dir=tmp_path, include_shipped=True, warm_models=False)
    with TestClient(create_app(settings)) as client:
        models = {m["id"]: m for m in client.get("/api/models").json()["models"]}
    card = json.loads((models_dir() / "biaxial-piano" / "card.json").read_text())
    assert models["biaxial-piano"]["corpus"]["name"] == card["data"]["corpus"]
    assert models["biaxial-piano"]["corpus"]["name"].startswith("piano-midi.de")
    # the page selects the shipped default (the first model in id order is another)
    assert [name for name, m in models.items() if m["default"]] == [DEFAULT_MODEL]
    assert next(iter(sorted(models))) != DEFAULT_MODEL
