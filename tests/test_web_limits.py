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
)


# -- every 422 names its field ---------------------------------------------------------------
@pytest.mark.parametrize(("fields", "field"), [
    ({"pitch_range": "C9-C2"}, "pitch_range"),
    ({"pitch_range": "zz"}, "pitch_range"),
    ({"max_polyphony": 3, "pitch_range": "C4-C3"}, "pitch_range"),
    ({"key": "D minor", "key_strength": 0.5, "pitch_range": "C1-C0"}, "pitch_range"),
    ({"key": "H dorian", "pitch_range": "C2-C6"}, "key"),
    ({"density": "4..2", "humanise": 0.5}, "density"),
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
