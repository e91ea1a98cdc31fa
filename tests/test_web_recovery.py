"""What the server does when its disk or its data folder fails it: a write that fails names
the file and leaves nothing half-made; damaged records and a killed server's leftovers are
found at the next start."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
from test_web_api import checkpoints, fake_compose, make_client, post, wait_for  # noqa: F401

from cadenza.web import pipeline as pipeline_module
from cadenza.web import store as store_module

FINISHED = ("done", "failed", "cancelled")


# -- writes that fail --------------------------------------------------------------------------
@pytest.mark.parametrize(("kind", "error", "reason"), [
    ("notes.json", OSError(errno.ENOSPC, "No space left on device"), "no space left on the disk"),
    ("composition.wav", PermissionError(errno.EROFS, "Read-only file system"),
     "Read-only file system"),
])
def test_a_failed_write_names_the_file_and_keeps_nothing_half_made(
    checkpoints: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,  # noqa: F811
    kind: str, error: OSError, reason: str,
) -> None:
    real_write = pipeline_module.write_bytes_atomic

    def failing_write(path: Any, data: bytes, **options: Any) -> None:
        if Path(path).name == kind:
            raise error
        real_write(path, data, **options)

    def failing_render(score: Any, path: Path) -> Path:
        raise error

    monkeypatch.setattr(pipeline_module, "write_bytes_atomic", failing_write)
    with make_client(checkpoints, tmp_path, compose_fn=fake_compose(),
                     render_fn=failing_render) as client:
        job = wait_for(client, post(client).json()["id"], FINISHED)
        midi = client.get(f"/api/compositions/{job['id']}/midi")
    folder = tmp_path / "compositions" / job["id"]
    assert job["status"] == "failed"
    assert job["error"].startswith(f"could not write {kind} in {folder}")
    assert reason in job["error"]
    assert sorted(os.listdir(folder)) == ["job.json"]  # no MIDI, notes or score left over
    assert job["urls"] == {} and midi.status_code == 409


def test_a_job_whose_record_cannot_be_written_fails_instead_of_running_for_ever(
    checkpoints: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch  # noqa: F811
) -> None:
    """The record is written when the job starts: if that fails, the job fails (it stayed
    'running' for ever, holding a worker's place in the count)."""
    real_write = store_module.write_json_atomic

    def read_only_once_running(path: Any, record: dict[str, Any]) -> None:
        if record["status"] != "queued":
            raise PermissionError(errno.EROFS, "Read-only file system", str(path))
        real_write(path, record)

    monkeypatch.setattr(store_module, "write_json_atomic", read_only_once_running)
    with make_client(checkpoints, tmp_path, compose_fn=fake_compose()) as client:
        job_id = post(client).json()["id"]
        job = wait_for(client, job_id, FINISHED, seconds=10)
        queue = client.get("/api/compositions").json()["queue"]
    folder = tmp_path / "compositions" / job_id
    assert job["status"] == "failed"
    assert job["error"] == f"could not write job.json in {folder}: Read-only file system"
    assert queue["running"] == 0 and queue["waiting"] == 0
    assert sorted(os.listdir(folder)) == ["job.json"]


# -- records that cannot be read ---------------------------------------------------------------
def test_a_folder_with_an_unreadable_record_is_listed_not_orphaned(
    checkpoints: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture  # noqa: F811
) -> None:
    """A folder whose job.json is damaged or missing keeps its files (a finished MIDI may be
    in it) and is listed, with the reason, until someone deletes it; one that holds nothing
    but its broken record is removed, and said so in the log."""
    with make_client(checkpoints, tmp_path, compose_fn=fake_compose()) as client:
        good = post(client).json()["id"]
        wait_for(client, good)
    root = tmp_path / "compositions"
    damaged, missing, empty = root / ("a" * 32), root / ("b" * 32), root / ("c" * 32)
    for folder in (damaged, missing, empty):
        folder.mkdir()
    (damaged / "job.json").write_text('{"id": "aaaa", "sta')  # cut off
    (damaged / "composition.mid").write_bytes((root / good / "composition.mid").read_bytes())
    (missing / "composition.wav").write_bytes(b"RIFF")
    (empty / "job.json").write_text("[]")
    with make_client(checkpoints, tmp_path, compose_fn=fake_compose()) as client:
        listed = client.get("/api/compositions").json()
        assert client.get(f"/api/compositions/{damaged.name}").status_code == 404
        gone = client.delete(f"/api/compositions/{damaged.name}")
        after = client.get("/api/compositions").json()["unreadable"]
    assert [job["id"] for job in listed["compositions"]] == [good]
    unreadable = {folder["id"]: folder for folder in listed["unreadable"]}
    assert set(unreadable) == {damaged.name, missing.name}
    assert unreadable[damaged.name]["files"] == ["composition.mid"]
    assert unreadable[damaged.name]["reason"].startswith("job.json: ")
    assert unreadable[missing.name]["files"] == ["composition.wav"]
    assert not empty.exists()
    assert gone.status_code == 204 and not damaged.exists()
    assert [folder["id"] for folder in after] == [missing.name]
    said = " ".join(record.getMessage() for record in caplog.records)
    assert missing.name in said and str(empty) in said


# -- a killed server's temporary files -----------------------------------------------------------
KILLED_SERVER = """
import sys, tempfile, time
from pathlib import Path
from cadenza.web.scratch import server_scratch
with server_scratch(Path(sys.argv[1])):
    render = Path(tempfile.mkdtemp(prefix="cadenza-audio-"))  # as the WAV renderer does
    (render / "render.raw").write_bytes(bytes(4096))
    print(render, flush=True)
    time.sleep(120)
"""


def test_a_killed_servers_temporary_files_are_swept_at_the_next_start(
    checkpoints: Path, tmp_path: Path  # noqa: F811
) -> None:
    temp = tmp_path / "temp"
    temp.mkdir()
    killed = subprocess.Popen([sys.executable, "-c", KILLED_SERVER, str(temp)],
                              stdout=subprocess.PIPE, text=True)
    assert killed.stdout is not None
    render = Path(killed.stdout.readline().strip())
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    assert (render / "render.raw").is_file()  # what kill -9 leaves behind
    assert render.parent.name.startswith(f"cadenza-web-{killed.pid}-")
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    running = temp / f"cadenza-web-{alive.pid}-x"  # a server that runs now
    running.mkdir()
    others = temp / "cadenza-audio-y"  # a render of another program
    others.mkdir()
    try:
        with make_client(checkpoints, tmp_path / "data", scratch_root=temp) as client:
            assert client.get("/api/models").status_code == 200
            own = Path(tempfile.gettempdir())
            assert own.parent == temp and own.name.startswith(f"cadenza-web-{os.getpid()}-")
            assert not render.parent.exists()
            assert running.is_dir() and others.is_dir()
    finally:
        alive.kill()
        alive.wait()
    assert not own.exists() and Path(tempfile.gettempdir()) != own
