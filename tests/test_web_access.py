"""Who may use the API: anyone on this machine by default; with ``--token``, only requests
that carry the token (the page passes on the one in its address). ``cadenza serve`` on an
address others can reach says so in one line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from test_web_api import checkpoints, fake_compose, make_client, post, wait_for  # noqa: F401
from typer.testing import CliRunner

from cadenza.cli import app as cli_app
from cadenza.web.access import TOKEN_HEADER

TOKEN = "s3cret-t0ken"


def test_with_a_token_every_api_route_requires_it(
    checkpoints: Path, tmp_path: Path  # noqa: F811
) -> None:
    header = {TOKEN_HEADER.decode(): TOKEN}
    with make_client(checkpoints, tmp_path, compose_fn=fake_compose(), token=TOKEN) as client:
        anonymous = [client.get("/api/models"), client.get("/api/compositions"),
                     post(client), client.delete("/api/compositions/" + "a" * 32),
                     client.post("/api/uploads", files={"file": ("x.mid", b"MThd")})]
        wrong = client.get("/api/models", headers={TOKEN_HEADER.decode(): "not-the-token"})
        page, script = client.get("/"), client.get("/static/app.js")
        job_id = client.post("/api/compositions", headers=header, json={
            "model": "pianoroll-debug", "bars": 2, "seed": 1}).json()["id"]
        client.headers.update(header)
        job = wait_for(client, job_id)
        del client.headers[TOKEN_HEADER.decode()]
        by_url = client.get(f"{job['urls']['midi']}?token={TOKEN}")  # what a link loads
        without = client.get(job["urls"]["midi"])
    assert [answer.status_code for answer in anonymous] == [401] * 5
    assert "needs its token" in anonymous[0].json()["detail"]
    assert wrong.status_code == 401 and "wrong token" in wrong.json()["detail"]
    assert page.status_code == 200 and script.status_code == 200  # the page needs none
    assert job["status"] == "done"
    assert by_url.status_code == 200 and by_url.content[:4] == b"MThd"
    assert without.status_code == 401


def test_without_a_token_the_api_is_open(checkpoints: Path, tmp_path: Path) -> None:  # noqa: F811
    with make_client(checkpoints, tmp_path, compose_fn=fake_compose()) as client:
        assert client.get("/api/models").status_code == 200


# -- cadenza serve ---------------------------------------------------------------------------
@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, Any]:
    """What ``cadenza serve`` hands to uvicorn (nothing is served, no thread count set, no
    model loaded ahead, and its temporary folder under ``tmp_path``)."""
    import tempfile

    import torch
    import uvicorn

    from cadenza.web.catalog import ModelCatalog

    calls: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: calls.update(app=app, **options))
    monkeypatch.setattr(torch, "set_num_threads", lambda n: None)
    monkeypatch.setattr(ModelCatalog, "warm", lambda self: None)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    return calls


def serve(tmp_path: Path, *options: str) -> Any:
    return CliRunner().invoke(cli_app, ["serve", "--data-dir", str(tmp_path / "data"),
                                        "--port", "8123", *options])


def warnings_in(output: str) -> list[str]:
    return [line for line in output.splitlines() if "warning:" in line]


def test_serving_beyond_this_machine_warns_in_one_line(served: dict[str, Any],
                                                       tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    local = serve(tmp_path)
    assert local.exit_code == 0, local.output
    assert warnings_in(local.output) == []
    open_to_all = serve(tmp_path, "--host", "0.0.0.0")
    assert open_to_all.exit_code == 0, open_to_all.output
    [line] = warnings_in(open_to_all.output)
    assert "anyone who can reach port 8123" in line and "--token TOKEN" in line
    assert served["host"] == "0.0.0.0"
    with TestClient(served["app"]) as client:  # open: no token asked for
        assert client.get("/api/compositions").status_code == 200

    guarded = serve(tmp_path, "--host", "0.0.0.0", "--token", TOKEN)
    assert guarded.exit_code == 0, guarded.output
    [line] = warnings_in(guarded.output)
    assert "has the token" in line
    assert f"http://0.0.0.0:8123/?token={TOKEN}" in guarded.output
    with TestClient(served["app"]) as client:
        assert client.get("/api/compositions").status_code == 401
        assert client.get("/api/compositions", headers={"X-Cadenza-Token": TOKEN}
                          ).status_code == 200


def test_a_weak_token_is_refused_in_one_line(served: dict[str, Any], tmp_path: Path) -> None:
    result = serve(tmp_path, "--host", "0.0.0.0", "--token", "short")
    assert result.exit_code == 2 and "app" not in served
    assert "--token must be at least 8 characters" in result.output
    assert "Traceback" not in result.output
